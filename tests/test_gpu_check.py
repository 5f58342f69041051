"""tools/gpu_check.sh and tools/cuda_exactness.py where no GPU is usable: they say so and run nothing."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parent.parent / "tools"
NO_GPU = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHON": sys.executable}


def test_gpu_check_refuses_without_a_gpu_and_writes_nothing(tmp_path):
    result = subprocess.run(["bash", str(TOOLS / "gpu_check.sh")], env={**NO_GPU, "OUT": str(tmp_path / "out")},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "no CUDA device is usable" in result.stderr and "nothing was run" in result.stderr
    assert not any((tmp_path / "out").iterdir())


@pytest.mark.slow
def test_gpu_check_and_cuda_exactness_have_help():
    result = subprocess.run(["bash", str(TOOLS / "gpu_check.sh"), "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "pytest -m cuda" in result.stdout and "make gpu-data" in result.stdout
    result = subprocess.run([sys.executable, str(TOOLS / "cuda_exactness.py"), "--help"], capture_output=True,
                            text=True, env=NO_GPU)
    assert result.returncode == 0 and "float64" in result.stdout


@pytest.mark.slow
def test_cuda_exactness_refuses_without_a_gpu():
    result = subprocess.run([sys.executable, str(TOOLS / "cuda_exactness.py")], capture_output=True, text=True,
                            env=NO_GPU, timeout=120)
    assert result.returncode == 2 and "no CUDA device" in result.stderr
