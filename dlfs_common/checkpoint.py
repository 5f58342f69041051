"""The checkpoint file both Trainers write: a payload behind its SHA-256 digest, written atomically, so that
a file altered or cut short (a kill during the write leaves none: dlfs_common.files.atomic_write) is refused
whole on loading; and the comparison that refuses a checkpoint of another run."""
import hashlib
import io
import zipfile
from pathlib import Path

from .files import atomic_write

CHECKPOINT_MAGIC = b"dlfs-twins checkpoint sha256 "
HEADER_SIZE = len(CHECKPOINT_MAGIC) + 65  # the magic, 64 hex digits, a newline


def write_checkpoint_file(path, payload: bytes) -> None:
    """Write `payload` behind its digest to `path`, atomically: the old file or the new one, never half."""
    with atomic_write(path) as f:
        f.write(CHECKPOINT_MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload)


def read_checkpoint_file(path) -> bytes:
    """The payload of a checkpoint file; ValueError naming the file if it cannot be read, is not a
    checkpoint, or does not match its digest."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise ValueError(f"{path}: cannot be read ({error.strerror or error})") from None
    if not data.startswith(CHECKPOINT_MAGIC) or len(data) < HEADER_SIZE or data[HEADER_SIZE - 1:HEADER_SIZE] != b"\n":
        raise ValueError(f"{path} is not a checkpoint written by Trainer.save_checkpoint")
    digest, payload = data[len(CHECKPOINT_MAGIC):HEADER_SIZE - 1].decode(), data[HEADER_SIZE:]
    if hashlib.sha256(payload).hexdigest() != digest:
        raise ValueError(f"{path} was altered or cut short: its contents do not match the digest stored with it")
    return payload


def unreadable_checkpoint(path, payload: bytes, reader: str, error: Exception) -> ValueError:
    """The refusal of a checkpoint `payload` (from `path`) whose digest matches but which `reader`
    ('numpy_impl' or 'torch_impl') cannot read: it names the other side when the other side's Trainer wrote it."""
    try:
        with zipfile.ZipFile(io.BytesIO(payload)) as archive:
            names = archive.namelist()
    except zipfile.BadZipFile:
        names = []
    writer = ("numpy_impl" if "description.npy" in names else
              "torch_impl" if any(name.endswith("/data.pkl") for name in names) else None)
    if writer is not None and writer != reader:
        return ValueError(f"{path} is a checkpoint of {writer}'s Trainer, which {reader}'s Trainer cannot load "
                          "(parity.convert carries a network's weights from one side to the other)")
    return ValueError(f"{path} is not a checkpoint {reader}'s Trainer can read ({error})")


def first_difference(saved: dict, own: dict, what: str = "") -> str:
    """'' if the two dicts of settings are equal, else the first key where they differ, with both values."""
    for key in sorted(set(saved) | set(own), key=str):
        if saved.get(key, "(none)") != own.get(key, "(none)"):
            return (f"it was written with {what}{key}={saved.get(key, '(none)')!r}, this one has "
                    f"{own.get(key, '(none)')!r}")
    return ""


def arrays_difference(saved: dict, own: dict) -> str:
    """'' if a checkpoint's arrays are this network's, else what differs; both {name: (dtype name, shape)}."""
    if set(saved) != set(own):
        return f"its network has {sorted(set(saved) - set(own))} where this one has {sorted(set(own) - set(saved))}"
    for key, (dtype, shape) in own.items():
        if saved[key] != (dtype, shape):
            return f"{key} is {saved[key][0]} {saved[key][1]}, this network's is {dtype} {shape}"
    return ""
