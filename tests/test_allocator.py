"""The training allocator setting: in effect on glibc, off when asked, harmless elsewhere."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

SNIPPET = "from cas_studio.allocator import keep_freed_memory as k; a = k(); print(a, k() == a)"


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
