"""`python -m parity grade FILE`: a learner's whole file checked piece by piece, chapter by chapter, and
`python -m parity exercises DIR --chapter N`: blank pieces of chapter N to fill in.

grade finds the classes and functions FILE defines under the book's names (any subset of them), runs each
against its torch twins as parity.check does, and prints a short report: each piece's verdict, and the first
thing to fix with how it failed (the shapes, or the worst element's two values).
"""
import importlib.util
import inspect
import signal
import sys
import textwrap
import threading
from contextlib import contextmanager
from pathlib import Path

from dlfs_common.signals import StopSignal, raise_stop, signals_handled

from .learner import HOMES, check_records, checkable_names
from .report import failure_lines
from .sources import COMPUTING_METHODS

CHAPTERS = {  # the pieces a learner writes, chapter by chapter, in the book's order
    "3-4": ("sigmoid", "relu", "tanh", "leaky_relu", "softmax"),
    "5": ("Relu", "Sigmoid", "Tanh", "LeakyRelu", "Affine", "SoftmaxWithLoss"),
    "6": ("SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam", "BatchNormalization", "Dropout"),
    "7": ("unfold", "fold", "Convolution", "Pooling"),
}
# pieces a learner may write in part: (argument whose absence marks the part, the twins of that part, what it is)
PARTS = {"Pooling": ("mode", "Pooling[max*", "max pooling only: its __init__ takes no mode")}
BLANK = "NotImplementedError: write {}"  # what a blank piece of write_exercises raises


class GradeError(ValueError):
    """The file cannot be graded: missing, not importable, or defining no piece under a book's name."""


TIME_LIMIT = 60.0  # seconds a piece's checks may take: the reference's take well under one
MAX_TIME_LIMIT = 1e6  # what the interval timer takes on every platform (inf overflows it)


class PieceTimedOut(BaseException):
    """A piece's checks ran past the time limit (an endless loop, say): a BaseException, so that neither the
    learner's code nor the harness, which turn an Exception into a finding and go on, catch it."""


@contextmanager
def time_limit(seconds: float | None):
    """Within, PieceTimedOut once `seconds` (at most MAX_TIME_LIMIT) have passed (SIGALRM; in the main thread
    only, else no limit)."""
    if seconds is None or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expired(signum, frame):
        raise PieceTimedOut(f"its checks took longer than {seconds:g} s (an endless loop?)")
    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def load_learner_file(path) -> object:
    """The module that the Python file at `path` defines, imported under a name of its own."""
    path = Path(path)
    if path.is_dir():
        chapters = sorted(child.name for child in path.glob("chapter_*.py"))
        raise GradeError(f"{path} is a folder; grade takes one Python file" + (f" (in it: {', '.join(chapters)})"
                                                                               if chapters else ""))
    if path.exists() and not path.is_file():
        raise GradeError(f"{path} is not a regular file (a device, FIFO or socket): give a Python file")
    if not path.is_file():
        raise GradeError(f"{path}: no such file")
    name = f"learner_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look their module up by name
    try:
        spec.loader.exec_module(module)
    except StopSignal:  # Ctrl-C or SIGTERM (grade's handlers): the grading stops
        del sys.modules[name]
        raise
    except (Exception, SystemExit, KeyboardInterrupt) as error:  # the learner's sys.exit() or raise: a finding
        del sys.modules[name]
        raise GradeError(f"{path} cannot be imported: {what_it_raised(error)}") from None
    return module


def what_it_raised(error: BaseException) -> str:
    """The learner's error in words: its type and message, or what raising it meant."""
    if isinstance(error, SystemExit):
        return f"SystemExit: it called sys.exit({error.code!r}), which would have ended the grading"
    if isinstance(error, KeyboardInterrupt):
        return "KeyboardInterrupt: it raised what Ctrl-C raises, which would have ended the grading"
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def pieces_of(module) -> dict:
    """{book name: what `module` binds to it} for each checkable name, in chapter order: the classes and
    functions it defines (not those it imports), and any other value (an instance, a number), which is graded
    as a failing piece, so that the report never calls it missing."""
    def is_piece(obj):
        if callable(obj):
            return getattr(obj, "__module__", None) == module.__name__
        return not inspect.ismodule(obj)
    defined = {name: obj for name, obj in vars(module).items() if is_piece(obj)}
    return {name: defined[name] for chapter in CHAPTERS.values() for name in chapter if name in defined}


def part_of(name: str, implementation) -> tuple:
    """(glob of the twins to run or None, a note) for a piece written in part (PARTS)."""
    if name in PARTS and inspect.isclass(implementation):
        argument, only, note = PARTS[name]
        if argument not in inspect.signature(implementation.__init__).parameters:
            return only, note
    return None, ""


def chapter_of(name: str) -> str:
    return next(chapter for chapter, names in CHAPTERS.items() if name in names)


def grade(path, dtypes=("float64", "float32"), seconds: float | None = TIME_LIMIT) -> tuple[int, str]:
    """(exit status, report) for the learner's file at `path`: 0 if every piece passed, 1 if one failed. A piece
    whose checks take longer than `seconds` (None: no limit) fails, and the others are graded. Ctrl-C or SIGTERM
    stops the grading (StopSignal); a KeyboardInterrupt that the learner's code raises fails its piece."""
    if seconds is not None and not 0 < seconds <= MAX_TIME_LIMIT:  # before any piece, which it would fail
        raise GradeError(f"the time limit must be a number of seconds above 0, at most {MAX_TIME_LIMIT:g}; got "
                         f"{seconds}")
    with signals_handled(raise_stop):
        return grade_pieces(path, dtypes, seconds)


def grade_pieces(path, dtypes, seconds) -> tuple[int, str]:
    """grade's work, with its signal handlers in place."""
    module = load_learner_file(path)
    pieces = pieces_of(module)
    if not pieces:
        raise GradeError(f"{path} defines none of the book's pieces ({', '.join(checkable_names())}): name a "
                         "class or function as the book does, or write the stubs with `python -m parity exercises`")
    lines, failures, blanks, passed = [f"grading {path}: {len(pieces)} piece(s) of the book's"], [], [], 0
    current = None
    for name, implementation in pieces.items():
        if chapter_of(name) != current:
            current = chapter_of(name)
            lines.append(f"chapter {current}")
        only, note = part_of(name, implementation)
        try:
            with time_limit(seconds):
                records = check_records(implementation, name, dtypes, "cpu", only)
        except StopSignal:
            raise
        except (Exception, SystemExit, KeyboardInterrupt, PieceTimedOut) as error:  # not even set up, endless,
            # or raising what ends a program: a finding too
            lines.append(f"  {name:20s} FAIL  {what_it_raised(error)}")
            failures.append((name, what_it_raised(error)))
            continue
        failed = failure_lines(records)
        if failed and all(BLANK.format(name) in line for line in failed):
            lines.append(f"  {name:20s} blank (not written yet)")
            blanks.append(name)
            continue
        verdict = "pass" if not failed else f"FAIL  {len(failed)} of {len(records)} checks"
        lines.append(f"  {name:20s} {verdict}" + (f" ({note})" if note else "")
                     + ("" if failed else f"  ({len(records)} checks)"))
        for line in failed[:3]:
            lines.append(f"      {line}")
        if len(failed) > 3:
            lines.append(f"      ... and {len(failed) - 3} more")
        passed += not failed
        if failed:
            failures.append((name, failed[0]))
    missing = [name for name in checkable_names() if name not in pieces]
    written = len(pieces) - len(blanks)
    lines.append(f"{passed} of {written} written pieces pass" + (f"; blank: {', '.join(blanks)}" if blanks else "")
                 + (f"; not in the file: {', '.join(missing)}" if missing else ""))
    if failures:
        name, first = failures[0]
        lines.append(f"first to fix: {name} (chapter {chapter_of(name)}): {first}")
    elif not written:
        lines.append("no piece written yet: fill in a blank, then grade again")
    return (1 if failures or not written else 0), "\n".join(lines)


def plain_signature(function) -> str:
    """The function's signature without annotations, as a stub file (importing numpy alone) can state it."""
    signature = inspect.signature(function)
    parameters = [parameter.replace(annotation=inspect.Parameter.empty)
                  for parameter in signature.parameters.values()]
    return str(signature.replace(parameters=parameters, return_annotation=inspect.Signature.empty))


def stub_of(name: str) -> str:
    """The blank of numpy_impl's piece `name`: its docstring, and its signature and methods raising
    NotImplementedError."""
    original = next(getattr(module, name) for module in HOMES if hasattr(module, name))
    doc = textwrap.indent(f'"""{inspect.getdoc(original) or name}"""', "    ")
    if inspect.isfunction(original):
        return (f"def {name}{plain_signature(original)}:\n{doc}\n"
                f"    raise NotImplementedError(\"write {name}\")\n")
    methods = ["__init__", *(m for m in COMPUTING_METHODS if inspect.isfunction(getattr(original, m, None)))]
    body = [f"class {name}:", doc, ""]
    for method in methods:
        body += [f"    def {method}{plain_signature(getattr(original, method))}:",
                 f"        raise NotImplementedError(\"write {name}.{method}\")", ""]
    return "\n".join(body).rstrip() + "\n"


def write_exercises(folder, chapter: str) -> Path:
    """Write `folder`/chapter_N.py: the blank pieces of chapter N; refuses to replace a file there."""
    if chapter not in CHAPTERS:
        raise GradeError(f"--chapter must be one of {', '.join(CHAPTERS)}; got {chapter!r}")
    folder = Path(folder)
    path = folder / f"chapter_{chapter.replace('-', '_')}.py"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise GradeError(f"{folder} is a file, not a folder: give the folder to write chapter files into") from None
    except OSError as error:
        raise GradeError(f"cannot make the folder {folder} ({error.strerror or error})") from None
    header = (f'"""The pieces of chapter {chapter}, blank: write each, then `python -m parity grade {path}`\n'
              "checks them against PyTorch (any subset: the others are skipped). Each keeps the book's\n"
              'signature; the docstrings are numpy_impl\'s."""\nimport numpy as np  # noqa: F401\n\n\n')
    text = header + "\n\n".join(stub_of(name) for name in CHAPTERS[chapter])
    try:
        with open(path, "x") as f:  # created here or not at all: never over a learner's file, even one made meanwhile
            f.write(text)
    except FileExistsError:
        raise GradeError(f"{path} exists: your work is there; delete or move it to write the blanks again") from None
    return path
