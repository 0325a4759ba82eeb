"""Progress bars into a log: redrawn every LOG_INTERVAL seconds at most where standard error is no terminal."""

from __future__ import annotations

import io

from asr.progress import LOG_INTERVAL, progress_bar


def test_a_bar_into_a_log_is_redrawn_every_few_seconds_and_one_on_a_terminal_as_tqdm_draws_it(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stderr", io.StringIO())
    with progress_bar(total=1) as bar:
        assert bar.mininterval == LOG_INTERVAL
    monkeypatch.setattr("sys.stderr", Terminal())
    with progress_bar(total=1) as bar:
        assert bar.mininterval == 0.1  # tqdm's own
