"""The training allocator setting: in effect on glibc, off when asked, harmless elsewhere."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

SNIPPET = "from cas_studio.training.allocator import keep_freed_memory as k; a = k(); print(a, k() == a)"


def _run(env_value: str | None) -> str:
    env = dict(os.environ)
    env.pop("CAS_STUDIO_MALLOC", None)
    if env_value is not None:
        env["CAS_STUDIO_MALLOC"] = env_value
    return subprocess.run([sys.executable, "-c", SNIPPET], env=env, capture_output=True, text=True,
                          check=True).stdout.split()


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_glibc_keeps_freed_memory_once_per_process():
    assert _run(None) == ["True", "True"]


def test_default_leaves_the_c_library_alone():
    assert _run("default") == ["False", "True"]


IDLE = """
import os, time
import torch
from cas_studio.training.allocator import keep_freed_memory, trim_when_idle
def rss_mb():
    return int(open('/proc/self/statm').read().split()[1]) * os.sysconf('SC_PAGE_SIZE') >> 20
keep_freed_memory()
thread = trim_when_idle(idle_s=0.3)
assert trim_when_idle(idle_s=0.3) is thread  # once per process
start = rss_mb()
xs = [torch.ones(25_000_000) for _ in range(4)]  # 4 x 100 MB, each kept by the heap when freed
del xs
kept = rss_mb()
time.sleep(2.0)
print(start, kept, rss_mb())
"""


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_an_idle_process_hands_its_kept_memory_back():
    """The 400 MB freed while working stay in the process (that is the speed-up) until it idles."""
    env = {k: v for k, v in os.environ.items() if k != "CAS_STUDIO_MALLOC"}
    start, kept, idle = map(int, subprocess.run([sys.executable, "-c", IDLE], env=env, capture_output=True,
                                                 text=True, check=True).stdout.split())
    assert kept - start > 300, (start, kept, idle)
    assert idle - start < 100, (start, kept, idle)


def test_trim_when_idle_refuses_a_nonsense_period():
    from cas_studio.training.allocator import trim_when_idle

    with pytest.raises(ValueError, match="idle_s"):
        trim_when_idle(idle_s=0)
