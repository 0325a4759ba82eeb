"""Progress bars as the toolkit draws them: tqdm, redrawn at most every `LOG_INTERVAL` seconds where standard error
is no terminal (a log file, a recipe's pipe to tee), so that a long run's log holds some hundred redraws, not one
per step (a 10-minute training wrote 1,400 to one line of its log; a LibriSpeech grid's log held a 303 kB line)."""

from __future__ import annotations

import sys

LOG_INTERVAL = 10.0  # seconds between redraws into a log


def progress_bar(iterable=None, **options):
    """`tqdm(iterable, **options)`, redrawn at most every `LOG_INTERVAL` seconds where standard error is no terminal."""
    from tqdm import tqdm

    if not sys.stderr.isatty():
        options.setdefault("mininterval", LOG_INTERVAL)
    return tqdm(iterable, **options)
