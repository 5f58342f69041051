"""dlfs_common.memory: glibc's malloc keeping freed memory for the next arrays."""
import platform
import subprocess
import sys

import numpy as np
import pytest

from dlfs_common import memory

# Page faults (ru_minflt) of three rounds of allocating, writing and freeing four 24 MB arrays, after a first
# round: under glibc's own thresholds the freed memory goes back to the kernel (the top of the heap beyond twice
# the mmap threshold is trimmed), and each round faults as it writes new memory.
ROUNDS = """
import resource, sys
import numpy as np
from dlfs_common.memory import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
faults = []
for _ in range(4):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    arrays = [np.ones(3_000_000) for _ in range(4)]
    del arrays
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(sum(faults[1:]))
"""


def faults_after_the_first_round(setting):
    done = subprocess.run([sys.executable, "-c", ROUNDS, setting], capture_output=True, text=True, check=True)
    return int(done.stdout)


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc's malloc")
def test_freed_memory_is_reused_without_page_faults():
    assert faults_after_the_first_round("default") > 100  # 96 MB in pages of 2 MB at most, three times
    assert faults_after_the_first_round("keep") < 10


def test_elsewhere_it_changes_nothing_and_says_so(monkeypatch):
    monkeypatch.setattr(platform, "libc_ver", lambda: ("", ""))
    assert memory.keep_freed_memory() is False


# After a Trainer's train(): the resident memory of a process that then allocates and frees 40 arrays of 16 MB.
# glibc's own thresholds give freed blocks of that size back; keep_freed_memory() keeps them.
AFTER_TRAINING = """
import sys
import numpy as np
from dlfs_common.memory import keep_freed_memory
from numpy_impl.networks import TwoLayerNet
from numpy_impl.trainer import Trainer
if sys.argv[1] == "asked":
    keep_freed_memory()
x, t = np.zeros((4, 3)), np.arange(4) % 2
Trainer(TwoLayerNet(3, 2, 2), x, t, x, t, epochs=1, mini_batch_size=2, verbose=False).train()
arrays = [np.ones(2_000_000) for _ in range(40)]
del arrays
print(int(open("/proc/self/statm").read().split()[1]) * 4096 >> 20)
"""


def resident_mib_after_training(setting):
    done = subprocess.run([sys.executable, "-c", AFTER_TRAINING, setting], capture_output=True, text=True,
                          check=True)
    return int(done.stdout)


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc's malloc")
def test_a_trainer_gives_the_process_its_memory_setting_back():
    assert resident_mib_after_training("trainer only") < 300  # measured 41 MiB; 680 MiB were allocated
    assert resident_mib_after_training("asked") > 600  # a process that asked keeps its freed memory


def test_the_trainers_keep_freed_memory_while_they_train(monkeypatch):
    from dlfs_common import memory
    from numpy_impl.networks import TwoLayerNet
    from numpy_impl.trainer import Trainer
    settings = []
    monkeypatch.setattr(memory, "_asked_for", False)  # conftest asked for it for the whole test process
    monkeypatch.setattr(memory, "_set_thresholds", lambda: settings.append("kept") or True)
    monkeypatch.setattr(memory, "_libc", lambda: type("Libc", (), {"mallopt": lambda *a: settings.append("back"),
                                                                    "malloc_trim": lambda *a: None})())
    x, t = np.zeros((4, 3)), np.arange(4) % 2
    trainer = Trainer(TwoLayerNet(3, 2, 2), x, t, x, t, epochs=1, mini_batch_size=2, verbose=False,
                      progress=lambda *args: settings.append("step"))
    assert settings == []
    trainer.train()
    assert settings == ["kept", "step", "step", "back", "back"]
