"""Writing a file so that it is either complete or absent, never half-written."""
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_write(path):
    """Open a temporary file beside `path` for binary writing; on success it replaces `path`,
    on any error (Ctrl-C included) it is deleted and `path` is left as it was."""
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
        os.chmod(tmp_name, 0o666 & ~current_umask())  # mkstemp makes it private; give it the usual mode
        os.replace(tmp_name, path)
    except BaseException:
        os.unlink(tmp_name)
        raise


def current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask
