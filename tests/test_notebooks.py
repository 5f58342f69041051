"""The chapter notebooks: each source (notebooks/chNN.py) executes cleanly in a fresh kernel, in quick mode, and
each stored notebook (notebooks/chNN.ipynb) is its source, executed, with outputs and no error."""
import importlib.util
import re
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parent.parent / "tools" / "notebooks.py"
spec = importlib.util.spec_from_file_location("notebook_tool", TOOL)
notebook_tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(notebook_tool)


@pytest.mark.slow
@pytest.mark.parametrize("chapter", notebook_tool.CHAPTERS)
def test_the_notebook_executes_cleanly_in_quick_mode(chapter, fashion_mnist, tmp_path):
    notebook = notebook_tool.read_source(chapter)
    assert "FULL_RUN = False" in notebook_tool.code_cells(notebook)[0]
    notebook_tool.execute(notebook, tmp_path)  # raises, naming the cell, if one fails
    sources = "\n".join(notebook_tool.code_cells(notebook))
    assert "numpy_impl" in sources and "torch" in sources and "parity." in sources  # both sides, checked
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert any("image/png" in output.get("data", {}) for output in outputs), "no figure drawn"
    assert not any(output.output_type == "error" for output in outputs)
    printed = "".join(output.get("text", "") for output in outputs)
    reports = re.findall(r"\d+ checks of \d+ twins: \d+ passed, (\d+) failed", printed)
    assert reports, "no parity report"
    assert sum(int(failed) > 0 for failed in reports) == FAILING_REPORTS.get(chapter, 0)
    assert not list(tmp_path.iterdir()), "the notebook wrote files"


# the exercises that show a learner's slip before its fix: the naive softmax (ch04), the averaged bias (ch05)
FAILING_REPORTS = {"ch04": 1, "ch05": 1}


@pytest.mark.parametrize("chapter", notebook_tool.CHAPTERS)
def test_the_stored_notebook_is_its_source_executed(chapter):
    import jupytext

    stored = jupytext.read(notebook_tool.stored_path(chapter))
    source = notebook_tool.read_source(chapter)
    assert [(cell.cell_type, cell.source) for cell in stored.cells] == \
        [(cell.cell_type, cell.source) for cell in source.cells], f"run `make notebooks` after editing {chapter}.py"
    code = [cell for cell in stored.cells if cell.cell_type == "code"]
    assert [cell.execution_count for cell in code] == list(range(1, len(code) + 1)), "not executed top to bottom"
    assert not any(output.output_type == "error" for cell in code for output in cell.outputs)
    assert any("image/png" in output.get("data", {}) for cell in code for output in cell.outputs)


def test_a_notebook_whose_cell_fails_leaves_the_stored_one_as_it_was(tmp_path, monkeypatch, capsys):
    (tmp_path / "ch04.py").write_text("# %%\nFULL_RUN = False\n\n# %%\nraise ValueError('planted')\n")
    (tmp_path / "ch04.ipynb").write_text("the stored notebook")
    monkeypatch.setattr(notebook_tool, "NOTEBOOKS", tmp_path)
    assert notebook_tool.main(["ch04"]) == 1
    assert (tmp_path / "ch04.ipynb").read_text() == "the stored notebook"
    error = capsys.readouterr().err
    assert "ch04: a cell failed" in error and "planted" in error
    assert sorted(path.name for path in tmp_path.iterdir()) == ["ch04.ipynb", "ch04.py"]


def test_a_notebook_that_runs_is_stored_with_its_outputs(tmp_path, monkeypatch):
    (tmp_path / "ch05.py").write_text("# %%\nFULL_RUN = False\nprint(6 * 7)\n")
    monkeypatch.setattr(notebook_tool, "NOTEBOOKS", tmp_path)
    assert notebook_tool.main(["ch05"]) == 0
    import nbformat
    stored = nbformat.read(tmp_path / "ch05.ipynb", as_version=4)
    assert stored.cells[0].outputs[0].text == "42\n"
    assert (tmp_path / "ch05.ipynb").stat().st_mode & 0o777 == 0o644


def test_the_tool_refuses_an_unknown_notebook(capsys):
    with pytest.raises(SystemExit) as exit_info:
        notebook_tool.main(["ch09"])
    assert exit_info.value.code == 2 and "unknown notebook(s) ch09" in capsys.readouterr().err
