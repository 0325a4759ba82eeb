"""Replacing a folder whole, or a set of files together: what readers of an output folder (LMs, best/, model/,
checkpoints, manifests, score reports) never see half-written."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from asr.errors import InputError, stops_deferred, writable_dir, writing

T = TypeVar("T")


def write_whole(out: Path, write: Callable[[Path], T], option: str = "--out") -> T:
    """Has `write` fill ``<out>.partial``, which then takes the place of `out`: a failed or interrupted write
    leaves `out` as it was and nothing beside it; returns what `write` returns. `option` names the output in
    the error for a folder that cannot be written. A link's target is replaced, not the link."""
    check_not_current(out, option)
    out = out.resolve() if out.is_symlink() else out.absolute()  # the partial folder beside the target
    partial = out.with_name(out.name + ".partial")
    # held while written: two commands writing one `out` emptied each other's partial folder (both failed); and
    # `out` itself, where it is: a decode writing its results there lost its hold when it was moved away
    held = writing_alone(out, option) if out.is_dir() else contextlib.nullcontext()
    if partial.is_symlink():  # planted beside a downloaded folder: its target was emptied (files deleted outside)
        partial.unlink()
    with writing_alone(partial, option, shown=out), held:
        for leftover in partial.iterdir():  # of a write that was killed
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover)
            else:
                leftover.unlink()
        try:
            with writing(out):
                result = write(partial)
                synced(partial)
                replace_folder(partial, out)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
    return result


def unlinked(path: Path) -> Path:
    """`path`, a name a command chooses in its own output folder (best/, model/, a checkpoint, a log), with a link
    planted there removed (a downloaded run folder's; never what it points to): what is written or removed there
    stays in the folder (R67: a `best` link's target was emptied and the model written there)."""
    if path.is_symlink():
        path.unlink()
    return path


def leads_outside(path: Path, folder: Path) -> bool:
    """Whether `path`, in `folder`, is a link to something outside it; a hub cache snapshot's links to its
    ``../../blobs/<hash>`` count as inside (the snapshot reached through a link too)."""
    if not path.is_symlink():
        return False
    real = folder.resolve()
    inside = [real]
    if real.parent.name == "snapshots":
        inside.append((real.parent.parent / "blobs").resolve())
    return not any(path.resolve().is_relative_to(root) for root in inside)


def umask_modes(path: Path) -> None:
    """Gives the safetensors file `path`, or those in the folder `path`, the mode a plain write would: safetensors
    0.8 writes through a private temporary file, 0600 whatever the umask (safetensors#782, open): colleagues
    could read a model's config but not its weights."""
    mask = os.umask(0)
    os.umask(mask)
    for file in [path] if path.is_file() else path.glob("*.safetensors"):
        file.chmod(0o666 & ~mask)


def name_start(text: str, limit: int = 100) -> str:
    """The whole characters of `text`'s first `limit` bytes: a part of a file name made from a name of any length
    (a file system takes 255 bytes), which a hash beside it keeps apart from others."""
    return text.encode()[:limit].decode(errors="ignore")


def check_not_current(out: Path, option: str = "--out") -> None:
    """Refuses an `out` to be replaced whole that is the current folder or one above it (the move set the
    folder aside with the process inside it, and relative paths then named places inside the old folder)."""
    if Path.cwd().is_relative_to(out.resolve()):
        raise InputError(f"{option} {out}: the current folder or one above it (it is replaced whole); give another")


def replace_folder(new: Path, out: Path) -> None:
    """Puts the complete folder `new` in the place of `out` (set aside under a fresh name first, then removed):
    at every moment `out` is the old folder or the new one. A link's target is replaced, not the link."""
    new, out = new.absolute(), out.resolve() if out.is_symlink() else out.absolute()
    if not out.exists():
        new.rename(out)
        return
    # a leftover OUT.old of an earlier run is never in the way, nor removed; the name cut to fit the file
    # system's 255 bytes (a long --out's could never be replaced)
    old = Path(tempfile.mkdtemp(prefix=f"{out.name.encode()[:200].decode(errors='ignore')}.old.", dir=out.parent))
    with stops_deferred():  # a Ctrl-C between the two renames left no `out`, one after them the old folder
        out.rename(old / out.name)
        try:
            new.rename(out)
        except OSError:
            (old / out.name).rename(out)
            old.rmdir()
            raise
        shutil.rmtree(old, ignore_errors=True)


def synced(path: Path) -> None:
    """Flushes the file `path`, or the folder `path` with everything in it, to the disk (`fsync`) before it is
    renamed into place: what a power loss leaves is then the old or the new, never a file of zeros or one cut
    short under the new name (R70: a checkpoint's weights, all zeros at the end, resumed as a diverging run)."""
    found = [path]
    if path.is_dir():
        found += [Path(root, name) for root, folders, files in os.walk(path) for name in [*folders, *files]]
    for item in found:
        if item.is_symlink() or not (item.is_file() or item.is_dir()):
            continue
        fd = os.open(item, os.O_RDONLY)
        try:
            os.fsync(fd)
        except OSError as err:
            if item.is_file() or err.errno not in (errno.EINVAL, errno.ENOTSUP):  # some file systems sync no folder
                raise
        finally:
            os.close(fd)


def part_path(path: Path) -> Path:
    """The name `write_together` first writes `path` under."""
    return path.with_name(path.name + ".part")


def write_together(writes: dict[Path, str | Callable[[Path], object]]) -> None:
    """Fills each path's `part_path` (with the text, UTF-8, or by the writer given for it), then moves them all
    in: a failed or interrupted write leaves the earlier files as they were (not a mix of two runs') and no part
    behind. The moves, a rename each, are made with Ctrl-C and SIGTERM deferred (`stops_deferred`): a stop among
    them takes effect once all are in; only a kill there leaves the parts not yet moved (a rerun replaces them).
    A link's target is written, not the link."""
    writes = {(path.resolve() if path.is_symlink() else path): write for path, write in writes.items()}
    # a folder in a file's place fails its move: found before any, not after some moved in (a decode's new
    # hypotheses stood beside the old score reports); a device or a pipe was replaced by a file (as root,
    # `asr data merge --out /dev/null` made the system's /dev/null a manifest)
    for path in writes:
        if path.is_dir() or not path.name:
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        if path.exists() and not path.is_file():
            raise InputError(f"{path}: not a regular file (a device or a pipe), which a written file would replace; "
                             "write to a file")  # fmt: skip
    parts = {path: part_path(path) for path in writes}
    try:
        for path, write in writes.items():
            with writing(path):
                # a leftover part is ours to replace, and a link planted there (a downloaded folder's) was written
                # through: anywhere, as the report's text
                parts[path].unlink(missing_ok=True)
                if isinstance(write, str):
                    parts[path].write_text(write, encoding="utf-8")
                else:
                    write(parts[path])
                synced(parts[path])
        with stops_deferred():
            for path, part in parts.items():
                part.replace(path)
    except BaseException:
        for part in parts.values():
            part.unlink(missing_ok=True)
        raise


def write_report(path: Path, text: str) -> None:
    """Writes the report file `path` whole (`write_together`: a full disk or a kill left a cut JSON in place of
    the earlier report), or straight into the device or pipe it names (`--json /dev/stdout`, a shell's
    ``>(jq ...)``), which a file must not replace."""
    if path.exists() and not path.is_file() and not path.is_dir():
        with writing(path):
            path.write_text(text, encoding="utf-8")
    else:
        write_together({path: text})


@contextlib.contextmanager
def writing_alone(folder: Path, option: str, shown: Path | None = None) -> Iterator[None]:
    """Holds an exclusive lock on the folder `folder` (made here) while this command writes in it: another
    command writing there meanwhile is refused, naming it (or `shown`, the output it is written for) (two
    trainings in one output_dir both reported success, their logs interleaved beside the model of one of
    them). The lock (flock, on the folder itself: nothing is written) ends with the process, however it ends."""
    fd = os.open(writable_dir(folder, option), os.O_RDONLY)
    try:
        if not locked_alone(fd, folder):
            raise InputError(f"{option} {shown or folder}: another command is writing there now; wait for it to "
                             f"end, or give another {option}")  # fmt: skip
        yield
    finally:
        os.close(fd)


def locked_alone(fd: int, path: Path) -> bool:
    """Takes an exclusive lock on `fd`, the open file or folder `path`, without waiting: False where another
    process holds it, or where `path` now names another one (the holder moved it away and ended); True also on a
    file system without locks (some FUSE mounts: written unheld, as before locks). Released with the fd."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except (BlockingIOError, FileNotFoundError):
        return False
    except OSError as err:
        if err.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
            raise
        return True


@contextlib.contextmanager
def removed_if_left_empty(path: Path) -> Iterator[None]:
    """Removes the folder `path` (and the parents made with it) where the body made it and failed leaving it
    empty: a run refused after its output folder was made (a model that does not load) leaves no folder."""
    made = [p for p in [path, *path.parents] if not p.exists()]  # the folder and the parents it would make
    try:
        yield
    except BaseException:
        for folder in made:
            try:
                folder.rmdir()
            except FileNotFoundError:  # another process removed it
                continue
            except OSError:  # not empty: nor are the folders above it
                break
        raise


@contextlib.contextmanager
def output_folder(folder: Path, option: str) -> Iterator[None]:
    """A command's output folder while it writes there: held (`writing_alone`), and removed if it is left
    empty."""
    with removed_if_left_empty(folder), writing_alone(folder, option):
        yield


def run_folder(out: Path, option: str = "output_dir") -> contextlib.AbstractContextManager:
    """A training run's output_dir (a decode's --out) while it writes there: the main process's
    `output_folder` (under accelerate launch the other processes are its own; they only remove it if it is left
    empty)."""
    # RANK alone (a SLURM or Kubernetes job's) is not a process group: a lone process holds its folder
    main = os.environ.get("RANK", "0") == "0" or os.environ.get("WORLD_SIZE", "1") == "1"
    return output_folder(out, option) if main else removed_if_left_empty(out)


def files_under(root: Path) -> list[Path]:
    """Every file under `root`, sorted, through linked folders too (Path.rglob leaves them out: a split folder
    linked into a corpus was lost unseen); a folder reached twice (a link back up the tree) is read once."""
    seen: set[str] = set()
    found: list[Path] = []
    for folder, subfolders, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            subfolders.clear()
            continue
        seen.add(real)
        # real folders first, by name: a folder reached both ways is found under its own name, whatever the order
        # the file system lists them in
        subfolders.sort(key=lambda name: (os.path.islink(os.path.join(folder, name)), name))
        found += [Path(folder, name) for name in files]
    return sorted(found)
