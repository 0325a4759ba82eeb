"""The error type every stage raises for bad input: the CLI prints its one-line message and exits 2."""

import os
import sys
from collections.abc import Callable


class InputError(Exception):
    """Bad input named by its file and line or utterance id; shown to the user without a traceback."""


def run_reporting_errors(prog: str, fn: Callable[[], int]) -> int:
    """Runs a command body; an `InputError` becomes one line on stderr and exit status 2."""
    try:
        return fn()
    except InputError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps the interpreter's final flush silent
        return 1
