"""Execute the chapter notebooks and store them with their outputs.

The source of each notebook is its jupytext twin, notebooks/chNN.py (percent format, diff-friendly); the
stored notebooks/chNN.ipynb is that source executed top to bottom, with its outputs, so that it reads on
GitHub. `make notebooks` runs this for all five; the test suite executes every source (tests/test_notebooks.py)
and checks that each stored notebook is its source, executed.
"""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
CHAPTERS = ("ch04", "ch05", "ch06", "ch07", "ch08")


def source_path(chapter: str) -> Path:
    return NOTEBOOKS / f"{chapter}.py"


def stored_path(chapter: str) -> Path:
    return NOTEBOOKS / f"{chapter}.ipynb"


def read_source(chapter: str):
    """The notebook of notebooks/<chapter>.py, without outputs."""
    import jupytext

    if chapter not in CHAPTERS:
        raise ValueError(f"unknown notebook {chapter!r}; expected one of {CHAPTERS}")
    notebook = jupytext.read(source_path(chapter))
    for index, cell in enumerate(notebook.cells):  # by position, not random: a re-run changes no id
        cell.id = f"cell-{index}"
    return notebook


def execute(notebook, working_dir, timeout: int = 600):
    """Run every cell of `notebook` in a fresh kernel of this Python, in `working_dir`, in place; a cell that
    raises stops the run with nbclient's CellExecutionError, which names the cell and shows its traceback."""
    from nbclient import NotebookClient

    # no per-cell timestamps in the stored file: its diff shows what the code printed, nothing else
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(working_dir)}})
    client.execute()
    return notebook


def code_cells(notebook) -> list[str]:
    return [cell.source for cell in notebook.cells if cell.cell_type == "code"]


def write_atomically(notebook, path: Path) -> None:
    """Write `notebook` as .ipynb at `path` through a temporary file: an interrupted run leaves the old one."""
    import jupytext

    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part.ipynb")
    os.close(handle)
    try:
        jupytext.write(notebook, temporary, fmt="ipynb")
        os.chmod(temporary, 0o644)  # mkstemp's file is private; the notebook is not
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python tools/notebooks.py",
        description="Execute the chapter notebooks' sources (notebooks/chNN.py, quick settings) in a fresh kernel "
                    "each and store them with their outputs as notebooks/chNN.ipynb. A notebook whose cell fails "
                    "is not written, and the command exits with status 1.")
    parser.add_argument("chapters", nargs="*", metavar="CHAPTER",
                        help=f"which notebooks ({', '.join(CHAPTERS)}); default all")
    args = parser.parse_args(argv)
    unknown = [chapter for chapter in args.chapters if chapter not in CHAPTERS]
    if unknown:
        parser.error(f"unknown notebook(s) {', '.join(unknown)}; expected some of {', '.join(CHAPTERS)}")
    from nbclient.exceptions import CellExecutionError

    failed = []
    for chapter in args.chapters or CHAPTERS:
        start = time.perf_counter()
        notebook = read_source(chapter)
        try:
            execute(notebook, NOTEBOOKS)
        except CellExecutionError as error:
            print(f"{chapter}: a cell failed; {stored_path(chapter).name} left as it was\n{error}", file=sys.stderr)
            failed.append(chapter)
            continue
        write_atomically(notebook, stored_path(chapter))
        print(f"{chapter}: executed in {time.perf_counter() - start:.1f} s, written to "
              f"{stored_path(chapter).relative_to(NOTEBOOKS.parent)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
