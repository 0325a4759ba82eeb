"""Leaderboard reports from `asr decode` results: tables (Markdown, CSV, JSON), an HTML page with plots, exports."""
