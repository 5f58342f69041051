"""Reading the book's pickled parameter files (params.pkl, deep_convnet_params.pkl) without running them.

A pickle is a program: unpickling calls whatever functions it names, so `pickle.load` on a file from
elsewhere can run any command. The book's parameter files are dicts of NumPy arrays, which need only
NumPy's array reconstruction; this unpickler admits exactly that and refuses any other global by name,
before anything is called.
"""
import io
import pickle

import numpy as np

# what pickle.dump of a dict of NumPy arrays refers to: NumPy's array reconstruction (numpy 1.x wrote
# numpy.core, numpy 2 writes numpy._core; protocol 5 rebuilds from a buffer), and, in protocol 2, the
# str-to-bytes encoding of the array's raw data. None of these runs anything beyond building the values.
ALLOWED_GLOBALS = {
    (module, name)
    for module in ("numpy.core.multiarray", "numpy._core.multiarray")
    for name in ("_reconstruct", "scalar")
} | {(module, "_frombuffer") for module in ("numpy.core.numeric", "numpy._core.numeric")} | {
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}
PICKLE_PROTOCOL_MARK = b"\x80"


class RefusedGlobal(pickle.UnpicklingError):
    """A pickle asked for a function or class outside ALLOWED_GLOBALS."""


class ArrayUnpickler(pickle.Unpickler):
    """An Unpickler that resolves only ALLOWED_GLOBALS."""

    def find_class(self, module, name):
        if (module, name) not in ALLOWED_GLOBALS:
            raise RefusedGlobal(
                f"refusing {module}.{name}: a parameter file holds a dict of NumPy arrays, and loading it "
                "needs nothing else; this file asks for more, so it is not loaded (it may run code)")
        return super().find_class(module, name)


def is_pickle(data: bytes) -> bool:
    return data[:1] == PICKLE_PROTOCOL_MARK


def load_array_dict(data: bytes, source: str = "the data") -> dict[str, np.ndarray]:
    """The {name: ndarray} dict pickled in `data`; ValueError naming `source` for anything else."""
    try:
        loaded = ArrayUnpickler(io.BytesIO(data)).load()
    except RefusedGlobal as error:
        raise ValueError(f"{source}: {error}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as error:
        raise ValueError(f"{source} is not a pickled dict of arrays ({type(error).__name__}: {error})") from None
    if not isinstance(loaded, dict) or not all(isinstance(key, str) and isinstance(value, np.ndarray)
                                               for key, value in loaded.items()):
        raise ValueError(f"{source} holds a {type(loaded).__name__}, not a dict of named NumPy arrays")
    return loaded
