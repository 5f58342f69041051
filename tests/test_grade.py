"""`python -m parity grade FILE` on a learner's whole file, right and with planted errors, and
`python -m parity exercises DIR` writing the blanks it grades."""
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from parity.__main__ import main
from parity.grade import CHAPTERS
from parity.learner import checkable_names

RIGHT = '''
import numpy as np

from numpy_impl import layers, optimizers
from numpy_impl.layers import Pooling as LibraryPooling  # bound now: while graded, layers.Pooling is this file's


class Relu(layers.Relu):
    pass


class Affine(layers.Affine):
    pass


class SGD(optimizers.SGD):
    pass


class Pooling:  # max pooling only, as the book writes it: no mode
    def __init__(self, pool_h, pool_w, stride=2, pad=0):
        self.layer = LibraryPooling(pool_h, pool_w, stride, pad)

    def forward(self, x):
        return self.layer.forward(x)

    def backward(self, dout):
        return self.layer.backward(dout)


def softmax(x):
    x = x - np.max(x, axis=-1, keepdims=True)
    return np.exp(x) / np.sum(np.exp(x), axis=-1, keepdims=True)
'''

# five pieces, each with one planted error
WRONG = '''
import numpy as np

from numpy_impl import layers, optimizers


class Relu(layers.Relu):
    def backward(self, dout):  # passes the gradient where the input was negative
        return dout * self.mask


class Sigmoid(layers.Sigmoid):
    def forward(self, x):  # the sign of the exponent
        self.out = 1 / (1 + np.exp(x))
        return self.out


class Affine(layers.Affine):
    def backward(self, dout):  # db not summed over the batch
        dx = super().backward(dout)
        self.db = dout.copy()
        return dx


class SGD(optimizers.SGD):
    def update(self, params, grads):  # twice the step
        for key in params:
            params[key] -= 2 * self.lr * grads[key]


class Convolution(layers.Convolution):
    def backward(self, dout):  # the bias gradient off by one
        dx = super().backward(dout)
        self.db = self.db + 1
        return dx
'''


def grade(tmp_path, source, capsys):
    path = tmp_path / "my_layers.py"
    path.write_text(textwrap.dedent(source))
    status = main(["grade", str(path), "--dtype", "float64"])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_every_checkable_piece_belongs_to_a_chapter():
    assert sorted(name for names in CHAPTERS.values() for name in names) == checkable_names()


def test_a_right_file_passes_piece_by_piece_in_chapter_order(tmp_path, capsys):
    status, out, _ = grade(tmp_path, RIGHT, capsys)
    assert status == 0, out
    lines = out.splitlines()
    order = [line.split()[0] for line in lines if line.startswith("  ") and not line.startswith("      ")]
    assert order == ["softmax", "Relu", "Affine", "SGD", "Pooling"]  # chapters 3-4, 5, 6, 7
    assert "  Pooling              pass (max pooling only: its __init__ takes no mode)" in out
    assert "5 of 5 written pieces pass" in out and "first to fix" not in out


def test_a_file_with_five_planted_errors_names_all_five_with_shapes_or_values(tmp_path, capsys):
    status, out, _ = grade(tmp_path, WRONG, capsys)
    assert status == 1
    for name in ("Relu", "Sigmoid", "Affine", "SGD", "Convolution"):
        verdict = next(line for line in out.splitlines() if line.startswith(f"  {name} "))
        assert "FAIL" in verdict, verdict
        detail = out.split(verdict)[1].splitlines()[1]
        assert detail.strip().startswith(f"FAIL {name}"), detail
        assert "the shapes differ" in detail or ("at index" in detail and "(numpy " in detail), detail
    assert "the shapes differ: numpy (3, 4), torch (4,)" in out or "the shapes differ" in out.split("Affine")[1]
    assert "0 of 5 written pieces pass" in out
    assert "first to fix: Relu (chapter 5): FAIL Relu" in out  # the first in the book's order


def test_blank_pieces_are_written_graded_as_blank_and_never_overwritten(tmp_path, capsys):
    assert main(["exercises", str(tmp_path), "--chapter", "6"]) == 0
    path = tmp_path / "chapter_6.py"
    assert f"python -m parity grade {path}" in capsys.readouterr().out
    text = path.read_text()
    assert "class Adam:" in text and "def update(self, params, grads):" in text and '"""Adam' in text
    assert main(["grade", str(path), "--dtype", "float64"]) == 1
    out = capsys.readouterr().out
    assert out.count("blank (not written yet)") == len(CHAPTERS["6"]) and "no piece written yet" in out
    path.write_text(text.replace('raise NotImplementedError("write SGD.__init__")', "self.lr = lr").replace(
        'raise NotImplementedError("write SGD.update")',
        "for key in params:\n            params[key] -= self.lr * grads[key]"))
    assert main(["grade", str(path), "--dtype", "float64"]) == 0  # SGD written, the rest blank: nothing to fix
    assert "1 of 1 written pieces pass" in capsys.readouterr().out
    assert main(["exercises", str(tmp_path), "--chapter", "6"]) == 2
    assert "exists: your work is there" in capsys.readouterr().err
    assert "self.lr = lr" in path.read_text()


@pytest.mark.parametrize("source, message", [
    ("import nowhere_to_be_found\n", "cannot be imported: ModuleNotFoundError"),
    ("x = 1\n", "defines none of the book's pieces"),
    ("import sys\nsys.exit(3)\n", "cannot be imported: SystemExit: it called sys.exit(3)"),
    ("raise KeyboardInterrupt\n", "cannot be imported: KeyboardInterrupt: it raised what Ctrl-C raises"),
])
def test_a_file_that_cannot_be_graded_says_why(tmp_path, capsys, source, message):
    status, _, err = grade(tmp_path, source, capsys)
    assert status == 2 and message in err
    assert main(["grade", str(tmp_path / "missing.py")]) == 2
    assert "missing.py: no such file" in capsys.readouterr().err


def test_a_folder_or_a_device_in_place_of_a_file_is_named_as_such(tmp_path, capsys):
    assert main(["exercises", str(tmp_path / "work"), "--chapter", "5"]) == 0
    capsys.readouterr()
    assert main(["grade", str(tmp_path / "work")]) == 2
    assert f"{tmp_path / 'work'} is a folder; grade takes one Python file (in it: chapter_5.py)" in \
        capsys.readouterr().err
    assert main(["grade", "/dev/null"]) == 2
    assert "/dev/null is not a regular file" in capsys.readouterr().err
    (tmp_path / "a file").write_text("")
    assert main(["exercises", str(tmp_path / "a file"), "--chapter", "5"]) == 2
    assert f"{tmp_path / 'a file'} is a file, not a folder" in capsys.readouterr().err


def test_a_piece_that_never_returns_fails_on_the_time_limit_and_the_others_are_graded(tmp_path, capsys):
    source = tmp_path / "endless.py"
    source.write_text(textwrap.dedent('''
        import numpy as np

        def sigmoid(x):
            return 1 / (1 + np.exp(-x))

        def relu(x):
            while True:
                pass

        def tanh(x):
            return np.tanh(x)
    '''))
    assert main(["grade", str(source), "--time-limit", "0.5", "--dtype", "float64"]) == 1
    report = capsys.readouterr().out
    assert "relu                 FAIL  PieceTimedOut: its checks took longer than 0.5 s (an endless loop?)" in report
    assert "sigmoid              pass" in report and "tanh                 pass" in report  # graded after it
    for limit in ("0", "inf", "nan"):  # inf had overflowed the timer, and the piece it was set for failed
        with pytest.raises(SystemExit):
            main(["grade", str(source), "--time-limit", limit])
        assert (f"--time-limit must be a number of seconds above 0, at most 1e+06; got {float(limit)}"
                in capsys.readouterr().err)
    from parity.grade import GradeError, grade
    with pytest.raises(GradeError, match="the time limit must be a number of seconds above 0, at most 1e"):
        grade(source, seconds=float("inf"))


def test_a_piece_that_exits_or_raises_keyboardinterrupt_fails_and_the_others_are_graded(tmp_path, capsys):
    source = tmp_path / "abrupt.py"
    source.write_text(textwrap.dedent('''
        import sys
        import numpy as np

        def sigmoid(x):
            raise KeyboardInterrupt

        def relu(x):
            sys.exit(0)

        def tanh(x):
            return np.tanh(x)
    '''))
    assert main(["grade", str(source), "--dtype", "float64"]) == 1
    report = capsys.readouterr().out
    assert "sigmoid              FAIL  KeyboardInterrupt: it raised what Ctrl-C raises, which would have ended " \
           "the grading" in report
    assert "relu                 FAIL  SystemExit: it called sys.exit(0)" in report
    assert "tanh                 pass" in report


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_ctrl_c_or_sigterm_stops_the_grading_with_no_verdict(signum, tmp_path):
    source = tmp_path / "endless.py"
    started = tmp_path / "started"
    source.write_text(textwrap.dedent(f'''
        from pathlib import Path

        def relu(x):
            Path({str(started)!r}).touch()
            while True:
                pass
    '''))
    process = subprocess.Popen([sys.executable, "-m", "parity", "grade", str(source)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not started.exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.02)
    process.send_signal(signum)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signum, err
    assert "interrupted before every piece was checked: no verdict" in err
    assert "Traceback" not in err and "FAIL" not in out


def test_a_book_name_bound_to_an_instance_or_a_value_fails_instead_of_being_called_missing(tmp_path, capsys):
    source = tmp_path / "values.py"
    source.write_text(textwrap.dedent('''
        import numpy as np
        from numpy_impl import layers
        from numpy_impl.layers import Affine  # imported, not written here: not graded

        Relu = layers.Relu()
        sigmoid = 5

        def tanh(x):
            return np.tanh(x)
    '''))
    assert main(["grade", str(source), "--dtype", "float64"]) == 1
    report = capsys.readouterr().out
    assert "Relu                 FAIL  ValueError: implementation must be a class" in report
    assert "pass Relu itself, not an instance of it" in report
    assert "sigmoid              FAIL  ValueError: implementation must be a class" in report and "got 5" in report
    assert "tanh                 pass" in report
    not_in_file = report.split("not in the file: ")[1].splitlines()[0].split(", ")
    assert "Affine" in not_in_file and "Relu" not in not_in_file and "sigmoid" not in not_in_file
