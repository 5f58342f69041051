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
        os.replace(tmp_name, path)
    except BaseException:
        os.unlink(tmp_name)
        raise
