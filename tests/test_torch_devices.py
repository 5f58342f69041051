"""torch_impl.devices: choosing a device, and the settings CUDA results are compared in."""
import pytest
import torch

from torch_impl.devices import cuda_settings, exact_mode, resolve_device


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
