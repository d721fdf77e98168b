"""Light modules stay light: reading images or annotating imports neither torch nor gradio."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", ["cas_studio.io", "cas_studio.annotation", "cas_studio.inference.tasks"])
def test_module_imports_without_torch_or_gradio(module):
    code = f"import sys, {module}; print(sorted(m for m in ('torch', 'gradio') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_package_root_still_offers_its_public_names():
    import cas_studio

    assert callable(cas_studio.cas_loss) and callable(cas_studio.load_model)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        cas_studio.nope  # noqa: B018
