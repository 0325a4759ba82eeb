"""A command called in a caller's process (a notebook, a sweep) runs as in a fresh one and leaves the caller's
random generators as it found them."""

from __future__ import annotations

import contextlib
import random
import sys
from collections.abc import Iterator
from types import ModuleType


@contextlib.contextmanager
def as_a_fresh_process() -> Iterator[None]:
    """Runs the body with torch's gradients on and float32 its default dtype where the caller has imported torch
    (a caller's ``no_grad`` or ``inference_mode`` made a training a traceback, R68/R69; a float64 default wrote an
    LM twice the size, R69), and restores Python's global generator, and NumPy's and torch's where the caller has
    imported them (torch's on the CPU and on each GPU already initialised), as the body found them (R68: a
    training seeded them, and an unseeded sweep's every draw after a run repeated; loading a model drew from
    torch's)."""
    python = random.getstate()
    numpy = sys.modules.get("numpy")
    numpy_state = numpy.random.get_state() if numpy is not None else None
    torch = sys.modules.get("torch")
    kept = contextlib.ExitStack()
    if torch is not None:
        kept.enter_context(torch.inference_mode(False))
        kept.enter_context(torch.enable_grad())
        kept.enter_context(_float32_default(torch))
        gpus = range(torch.cuda.device_count()) if torch.cuda.is_initialized() else []
        kept.enter_context(torch.random.fork_rng(devices=gpus))
    try:
        with kept:
            yield
    finally:
        random.setstate(python)
        if numpy is not None:
            numpy.random.set_state(numpy_state)


@contextlib.contextmanager
def _float32_default(torch: ModuleType) -> Iterator[None]:
    """torch's default dtype float32 in the body, the caller's again after it."""
    callers = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    try:
        yield
    finally:
        torch.set_default_dtype(callers)


@contextlib.contextmanager
def default_plot_style() -> Iterator[None]:
    """matplotlib's default style, math notation off (a ``$`` in a name is drawn as written), whatever the caller
    set (R68: a caller's dark style, dpi or font size changed the toolkit's plots)."""
    import matplotlib.style

    with matplotlib.style.context("default"), matplotlib.rc_context({"text.parse_math": False}):
        yield
