"""The error type every stage raises for bad input: the CLI prints its one-line message and exits 2."""

import codecs
import contextlib
import errno
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from asr.process_state import as_a_fresh_process


class InputError(Exception):
    """Bad input named by its file and line or utterance id; shown to the user without a traceback."""


def is_number(value: object) -> bool:
    """An int or float read from JSON or YAML, not a bool (which Python counts as an int)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler's or `kill`'s stop), raised where Ctrl-C would be, so that the same clean-up runs."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


def run_reporting_errors(prog: str, fn: Callable[[], int]) -> int:
    """Runs a command body; an `InputError` becomes one line on stderr and exit status 2, as does a file that
    cannot be written or read once the work has started (a folder in the way, no permission: they were
    tracebacks); Ctrl-C one line and exit status 130, SIGTERM one line and 143 (work that resumes, resumes on
    the next run; partial outputs are removed as on Ctrl-C: they were left behind). A process that called it (a
    notebook, a script) gets its own SIGTERM handling and random generators back (`as_a_fresh_process`)."""
    # not where a caller (accelerate, a test) set its own; Python takes handlers in its main thread only
    own_stop = (
        signal.getsignal(signal.SIGTERM) is signal.SIG_DFL and threading.current_thread() is threading.main_thread()
    )
    if own_stop:
        signal.signal(signal.SIGTERM, _terminate)
    stdout = sys.stdout
    if stdout is not None:  # None: a caller of the command's main() without one (the CLI refuses to start)
        sys.stdout = _NamedStdout(stdout)
    try:
        with as_a_fresh_process():
            return _reported(prog, fn)
    finally:
        if isinstance(sys.stdout, _NamedStdout):  # not where stopped_reading set it aside
            sys.stdout = stdout
        if own_stop:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


class _NamedStdout:
    """Standard output whose write errors name it: a full disk under `> FILE`, or `> /dev/full`, gave
    "error: No space left on device" naming nothing (the OSError of a write to a stream has no file name)."""

    NAME = "standard output"

    def __init__(self, stream) -> None:
        self._stream = stream

    def __getattr__(self, name: str):
        return getattr(self._stream, name)

    def write(self, text: str) -> int:
        try:
            return self._named(self._stream.write, text)
        except UnicodeEncodeError:  # a locale that cannot write it (PYTHONIOENCODING=ascii; LC_ALL=C, PYTHONUTF8=0):
            encoding = self._stream.encoding  # escaped, as standard error escapes it (it was a traceback, exit 1)
            return self._named(self._stream.write, text.encode(encoding, "backslashreplace").decode(encoding))

    def flush(self) -> None:
        self._named(self._stream.flush)

    @staticmethod
    def _named(call: Callable, *args):
        try:
            return call(*args)
        except OSError as err:
            if err.filename is None and not isinstance(err, BrokenPipeError):
                err.filename = _NamedStdout.NAME
            raise


def _reported(prog: str, fn: Callable[[], int]) -> int:
    """`fn()`, its errors and stops as `run_reporting_errors` says."""
    try:
        status = fn()
        if sys.stdout is not None:
            sys.stdout.flush()  # its last buffered text, whose write may fail too (while its errors are named)
        return status
    except InputError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    except Terminated:
        print(f"{prog}: terminated", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return stopped_reading()
    except (MemoryError, RuntimeError) as err:
        # numpy's and torch's (a CPU's "can't allocate memory", a GPU's OutOfMemoryError): a size asked for that
        # this machine does not have (num_negatives 10**9 was a traceback); other errors are bugs to show
        if not isinstance(err, MemoryError) and not _out_of_memory(err):
            raise
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:300]
        print(f"{prog}: error: out of memory ({reason}); ask for less (batch seconds, a size)", file=sys.stderr)
        return 2
    except UnicodeEncodeError as err:
        if (reason := _unwritable_name(err)) is None:
            raise
        print(f"{prog}: error: {reason}", file=sys.stderr)
        return 2
    except OSError as err:
        # a file name given as bytes (KenLM's, os.link's) printed as b'...'
        names = " -> ".join(os.fsdecode(n) if isinstance(n, bytes) else str(n)
                            for n in (err.filename, err.filename2) if n is not None)  # fmt: skip
        print(f"{prog}: error: {names + ': ' if names else ''}{err.strerror or err}", file=sys.stderr)
        if err.filename == _NamedStdout.NAME:  # its unwritten text set aside: the interpreter's last flush fails too
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return 2


def _unwritable_name(err: UnicodeEncodeError) -> str | None:
    """Why a name could not be written, where the locale is the reason (else None: a bug to show): a file name
    of bytes that are not text in the locale's encoding (surrogate-escaped: written into a UTF-8 report, or one
    of its characters under LC_ALL=C without PYTHONUTF8), or any non-ASCII name where the locale is ASCII
    (libsndfile takes names in it). Both were tracebacks."""
    ascii_locale = codecs.lookup(sys.getfilesystemencoding()).name == "ascii"
    failed = err.object[err.start : err.end]
    if not (any("\udc80" <= c <= "\udcff" for c in failed) or (ascii_locale and codecs.lookup(err.encoding).name
                                                                 == "ascii")):  # fmt: skip
        return None
    text, start, end = err.object, err.start, err.end  # the name: up to a space, a quote or a line's end around
    while start > 0 and text[start - 1] not in " \t\n\"'":
        start -= 1
    while end < len(text) and text[end] not in " \t\n\"'":
        end += 1
    shown = text[start:end].encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    advice = "run with a UTF-8 locale (LC_ALL=C.UTF-8) or PYTHONUTF8=1" if ascii_locale else "rename it"
    return f"{shown!a}: a name this locale's encoding ({sys.getfilesystemencoding()}) cannot write; {advice}"


def _out_of_memory(err: RuntimeError) -> bool:
    """torch's allocation failures: a GPU's OutOfMemoryError, a CPU's allocator's RuntimeError."""
    return type(err).__name__ == "OutOfMemoryError" or "can't allocate memory" in str(err)


def stopped_reading() -> int:
    """Output piped into `head` and the like, which stopped reading: the command ends quietly (it was a
    traceback after `--help`), with the status a shell gives a command that SIGPIPE ended, 141 (it was 1,
    `asr data check`'s "some items unusable")."""
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps the interpreter's final flush silent
    return 128 + signal.SIGPIPE


@contextlib.contextmanager
def writing(path: Path) -> Iterator[None]:
    """Errors while writing `path` as an OSError naming it: an OSError that names no file (a full disk's ENOSPC
    from a write), and the errors libsndfile ("System error."), safetensors ("I/O error") and torch's serialiser
    ("[enforce fail at inline_container.cc] unexpected pos") raise, which named nothing and ended in a
    traceback; with the space left on its disk. Other errors (a computation's) pass unchanged."""
    try:
        yield
    except shutil.Error as err:  # copytree's: a list of (source, destination, why), printed as a Python list
        listed = err.args[0] if err.args and isinstance(err.args[0], list) else None
        raise OSError(errno.EIO, str(listed[0][2] if listed else err), None if listed else str(path)) from None
    except OSError as err:
        if err.filename is None:
            err.filename = str(path)
        raise
    except Exception as err:
        if not _write_error(err):
            raise
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0][:200]
        raise OSError(errno.EIO, f"not written: {reason} ({_free(Path(path))} free on its disk)", str(path)) from None


def _write_error(err: Exception) -> bool:
    """Whether `err` is a library's failure to write a file (others, a computation's, keep their traceback)."""
    if type(err).__name__ in ("LibsndfileError", "SafetensorError"):
        return True
    return isinstance(err, RuntimeError) and any(
        mark in str(err) for mark in ("inline_container", "PytorchStreamWriter")
    )


def _free(path: Path) -> str:
    """The space left on the disk that holds `path` (or would hold it), in a person's units."""
    while not path.exists() and path != path.parent:
        path = path.parent
    free = shutil.disk_usage(path).free
    return f"{free / 2**20:.1f} MiB" if free < 2**30 else f"{free / 2**30:.1f} GiB"


def writable_dir(path: Path, option: str) -> Path:
    """Creates the output folder `path` (with its parents) and checks that files can be written in it; one
    line naming `option` when it cannot be (a file in the way, no permission), before any work is done."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as err:
        raise InputError(f"{option} {path}: cannot write there ({err.strerror or err})") from None
    return path


STOPS = {signal.SIGINT, signal.SIGTERM}


@contextlib.contextmanager
def stops_held() -> Iterator[None]:
    """Holds Ctrl-C and SIGTERM back in this thread while it starts worker processes (a pool, and the threads that
    start its later workers): they start with them held until their initializer (`ignore_interrupts`,
    `default_termination`) has set their own handling. A stop that reached a worker before that ran the parent's
    handler in it, or was lost where the handler changed as it arrived: the worker lived on, blocked on the
    queue lock of one the stop had killed, and the parent's pool waited for it forever (a hang in 1 of many
    SIGTERM tests under load). It holds nothing back from this process: another thread takes the stop."""
    held = signal.pthread_sigmask(signal.SIG_BLOCK, STOPS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)


@contextlib.contextmanager
def stops_deferred() -> Iterator[None]:
    """Defers Ctrl-C and SIGTERM to the end of a short step that a stop must not cut (the moves that put several
    outputs in place): a stop is recorded, then sent again once the step is done. Python runs its handlers in
    the main thread whichever thread the signal reached, so this holds where a mask on the main thread did not
    (torch's threads took the stop, which cut the moves). Outside the main thread it defers nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stops: list[int] = []
    previous = {signum: signal.signal(signum, lambda signum, frame: stops.append(signum)) for signum in STOPS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)  # None: not set from Python
        if stops:
            signal.raise_signal(stops[0])


def worker_pool(processes: int, *setup: object) -> "multiprocessing.pool.Pool":  # noqa: F821 - imported here
    """A pool of `processes` forked workers that leave Ctrl-C to the parent and end at SIGTERM (`ignore_interrupts`),
    started with both held (`stops_held`); `setup`, a function and its arguments (handed over in the fork, not
    pickled), is called in each worker as it starts."""
    import multiprocessing

    with stops_held():
        return multiprocessing.get_context("fork").Pool(processes, initializer=_worker_started, initargs=setup)


def _worker_started(setup: Callable[..., object] | None = None, *args: object) -> None:
    ignore_interrupts()
    if setup is not None:
        setup(*args)


def ignore_interrupts() -> None:
    """A worker process's initializer: Ctrl-C reaches the whole process group, and the parent alone answers
    it (one line, exit 130) and ends its pool, instead of every worker printing a traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    default_termination()


def default_termination() -> None:
    """A worker process's initializer: SIGTERM ends it at once, as the pool's terminate() means it to (the
    handler it inherits from `run_reporting_errors` would raise in it); the stops `stops_held` held back from
    it are let through now."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOPS)
