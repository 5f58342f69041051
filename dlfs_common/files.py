"""Writing a file so that it is either complete or absent, never half-written."""
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


class NotARegularFile(OSError):
    """The path to write is a device, a FIFO, a socket or a folder, which a finished write would replace."""


@contextmanager
def atomic_write(path):
    """Open a temporary file beside `path` for binary writing; on success it replaces `path` (the file a
    symbolic link points to, for a link), on disk before it does, so that even a crash of the machine leaves
    the old file or the new one; on any error (Ctrl-C included) it is deleted and `path` is left as it was.
    NotARegularFile for a `path` that exists and is not a regular file."""
    path = Path(os.path.realpath(path))
    if path.exists() and not path.is_file():
        raise NotARegularFile(f"{path} is not a regular file (a folder, device, FIFO or socket): not replaced")
    try:
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    except OSError as error:  # its message would name the temporary file, which the caller never named
        why = f"no such folder {path.parent}" if isinstance(error, FileNotFoundError) else error.strerror or str(error)
        raise type(error)(error.errno, f"cannot write {path}: {why}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp_name, 0o666 & ~current_umask())  # mkstemp makes it private; give it the usual mode
        os.replace(tmp_name, path)
    except BaseException:
        os.unlink(tmp_name)
        raise
    sync_folder(path.parent)


def sync_folder(folder: Path) -> None:
    """Put a folder's entries on disk (a rename is durable only then); a file system that cannot is left be."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask
