"""A full disk while writing: the OSError (ENOSPC, EDQUOT) becomes a PileprepError naming the directory.

A run writes spill files, temporaries of its outputs and the manifest; when the file system under
one of them fills up, the user needs to know which directory it was and what to do, not the
traceback of a write deep inside a DoFn. The message starts with NO_SPACE, so the launcher can
recognise it through the runner's wrapping (transforms/errors.py) and add what it knows: the
space the run needs there in all (pipeline/disk.py).

    with disk_full_is_an_error("out/shards", "shards/shard-00000.npy"):
        os.write(fd, data)  # an OSError of errno ENOSPC raises PileprepError("no space left in ...")
"""
import contextlib
import errno
import os

from transforms.errors import PileprepError

NO_SPACE = "no space left in"  # how every such message starts: pipeline/run.py looks for it
_ERRNOS = (errno.ENOSPC, errno.EDQUOT)  # device full; disk quota exceeded


def out_of_space(error: BaseException | None) -> int | None:
    """ENOSPC or EDQUOT when an error is (or was caused by) a write that found the device full or
    the quota used up; None otherwise."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in _ERRNOS:
            return error.errno
        # Beam's FileSystems collect per-path errors into BeamIOError(message, {path: error})
        details = getattr(error, "exception_details", None)
        for inner in (details.values() if isinstance(details, dict) else ()):
            if isinstance(inner, BaseException) and out_of_space(inner):
                return out_of_space(inner)
        error = error.__cause__ or error.__context__
    return None


OUTPUT_FIX = ("free space there, or choose another --output on a larger disk; the same command then replaces "
              "this incomplete run (its .tmp- files and any outputs already written)")


def disk_full_message(directory: str, what: str, error: BaseException | None = None, fix: str = OUTPUT_FIX) -> str:
    """The message of a write that ran out of space: the directory, what was written, the fix."""
    why = "its disk quota is used up" if out_of_space(error) == errno.EDQUOT else "its file system is full"
    return f"{NO_SPACE} {directory} ({why}) while writing {what}: {fix}"


@contextlib.contextmanager
def disk_full_is_an_error(directory: str, what: str, fix: str = OUTPUT_FIX):
    """Turn a full disk under the block into a PileprepError about `directory`; anything else passes."""
    try:
        yield
    except OSError as e:
        raise_if_full(e, directory, what, fix)
        raise


def raise_if_full(error: OSError, directory: str, what: str, fix: str = OUTPUT_FIX):
    """Raise the PileprepError of a full disk if `error` is one (for a hot path's own `except OSError`,
    where a context manager per call would cost more than the write)."""
    if out_of_space(error):
        raise PileprepError(disk_full_message(_shown(directory), what, error, fix)) from error


def _shown(directory: str) -> str:
    return directory if "://" in directory else os.path.abspath(directory)
