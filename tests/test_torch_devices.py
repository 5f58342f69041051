"""torch_impl.devices: choosing a device, and the settings CUDA results are compared in."""
import os

import pytest
import torch
from threadpoolctl import threadpool_info, threadpool_limits

from torch_impl.devices import cuda_settings, exact_mode, resolve_device, share_cores


def settings():
    backends = torch.backends
    return (backends.cuda.matmul.allow_tf32, backends.cudnn.allow_tf32, backends.cudnn.benchmark,
            backends.cudnn.enabled, torch.are_deterministic_algorithms_enabled())


def test_exact_mode_turns_off_tf32_and_cudnn_asks_for_determinism_and_restores_everything():
    before = settings()
    with exact_mode():
        assert settings() == (False, False, False, False, True)
    assert settings() == before


def test_cuda_settings_are_restored_when_the_block_raises():
    before = settings()
    with pytest.raises(RuntimeError, match="inside"), cuda_settings(tf32=True, deterministic=True, cudnn=True):
        assert settings() == (True, True, False, True, True)
        raise RuntimeError("inside")
    assert settings() == before


def test_auto_resolves_to_a_device_that_exists():
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")


def test_share_cores_divides_the_cores_and_keeps_a_lower_omp_num_threads(monkeypatch):
    blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
    torch_threads = torch.get_num_threads()
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    monkeypatch.setenv("OMP_NUM_THREADS", "64")  # higher than a share: the share wins; restored after the test
    try:
        assert share_cores(2) == 4 and torch.get_num_threads() == 4 and os.environ["OMP_NUM_THREADS"] == "4"
        assert all(pool["num_threads"] == 4 for pool in threadpool_info() if pool["user_api"] == "blas")
        assert share_cores(16) == 1
        monkeypatch.setenv("OMP_NUM_THREADS", "2")
        assert share_cores(2) == 2 and os.environ["OMP_NUM_THREADS"] == "2"
    finally:
        torch.set_num_threads(torch_threads)
        for pool in blas:
            threadpool_limits(pool["num_threads"], user_api="blas")
