"""The documentation stays inside the repository (every relative link of the README and docs/ resolves), and the
README's snippets and commands run, on a machine without a GPU."""
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "golden" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_resolves_inside_the_repository(page):
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+://", target):
            continue
        resolved = (page.parent / target).resolve()
        assert resolved.is_relative_to(ROOT), f"{page.name} links {target}, outside the repository"
        assert resolved.exists(), f"{page.name} links {target}, which does not exist"
    assert "../shared" not in page.read_text(), f"{page.name} points at ../shared, which users never see"


README = (ROOT / "README.md").read_text()
PYTHON_SNIPPETS = re.findall(r"```python\n(.*?)```", README, re.S)
SHELL_LINES = [line.split("  #")[0].strip() for block in re.findall(r"```sh\n(.*?)```", README, re.S)
               for line in block.splitlines() if line.strip()]
# what a machine without a GPU sees, wherever the suite runs
NO_GPU = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}


@pytest.mark.slow
@pytest.mark.parametrize("snippet", PYTHON_SNIPPETS, ids=lambda code: code.splitlines()[0][:40])
def test_every_python_snippet_of_the_readme_runs_without_a_gpu(snippet, fashion_mnist, tmp_path):
    result = subprocess.run([sys.executable, "-c", snippet], cwd=tmp_path, env=NO_GPU, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


def runs_here(line):
    """A command of the README that this machine runs: python or torchrun, on the CPU, on one machine."""
    return line.split()[0] in ("python", "torchrun") and "cuda" not in line and "--nnodes" not in line


@pytest.mark.slow
@pytest.mark.parametrize("command", [line for line in SHELL_LINES if runs_here(line)])
def test_every_command_of_the_readme_runs_without_a_gpu(command, fashion_mnist, tmp_path):
    program = [sys.executable] if command.startswith("python ") else [sys.executable, "-m", "torch.distributed.run"]
    result = subprocess.run(program + shlex.split(command)[1:], cwd=tmp_path, env=NO_GPU, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


def test_the_readme_commands_not_run_here_are_the_set_up_and_gpu_ones():
    """`make test` and `make demo` are what CI runs; others set up and activate the environment, install and
    open JupyterLab (the `lab` extra they install must exist), or need GPUs or several machines."""
    others = [line for line in SHELL_LINES if not runs_here(line)]
    assert others[:7] == ["make test", "make demo", "make setup", "source .venv/bin/activate", "make setup",
                          ".venv/bin/pip install -e '.[lab]'", ".venv/bin/jupyter lab notebooks/"]
    assert all("--device cuda" in line for line in others[7:]) and len(others) == 10
    lab = re.search(r"^lab = \[(.*?)\]", (ROOT / "pyproject.toml").read_text(), re.M | re.S)  # no tomllib in 3.10
    assert lab and '"jupyterlab>=' in lab.group(1)


def test_the_parity_table_in_docs_lists_every_twin():
    from parity import registry
    rows = {line.split(" | ")[0].removeprefix("| ") for line in (ROOT / "docs" / "parity.md").read_text().splitlines()
            if line.startswith("| ")}
    missing = [twin.name for twin in registry.all_twins() if twin.name not in rows and "cuda" not in twin.name]
    assert not missing, f"regenerate docs/parity.md (docs/contributing.md says how); missing {missing}"


def test_the_misuse_suites_counts_in_checking_md_are_its_tests():
    import test_misuse
    section = (ROOT / "docs" / "checking.md").read_text().split("## The misuse suite")[1]
    stated = {name: int(count) for name, count in re.findall(r"^\| ([a-z ]+) \| (\d+) \|", section, re.M)}

    def cases(test):
        count = 1
        for mark in getattr(test, "pytestmark", []):
            if mark.name == "parametrize":
                count *= len(mark.args[1])
        return count
    counted = {}
    for name, suite in vars(test_misuse).items():
        if name.startswith("Test") and isinstance(suite, type):
            category = re.sub(r"(?<!^)([A-Z])", r" \1", name[len("Test"):]).lower()
            counted[category] = sum(cases(test) for attribute, test in vars(suite).items()
                                    if attribute.startswith("test_"))
    assert stated == counted
