"""The house: no import circle, and no module imports a floor above its own (grimp's import graph).

Floors, top to bottom (the most specific name wins; ``TYPE_CHECKING`` imports are left out, they
never run):

- faces: ``cli``, ``app``, ``bench``
- sessions: ``annotation``, ``interactive``, ``video``
- ``training``
- ``inference`` (running models: infer, outputs, scoring, evaluate, predict, baselines)
- ``models`` (networks and the weights format)
- decoding rules without torch: ``inference.tasks``, ``inference.decoders`` and the numpy code they
  run (``grouping``, ``clustering``, ``labelling``), which the weights format checks a file against
- ``data``
- base: ``losses``, ``metrics``, ``io``, ``constants``, ``colours``
"""

from __future__ import annotations

import grimp
import pytest

FLOORS = [
    ("cas_studio.cli", "cas_studio.app", "cas_studio.bench"),
    ("cas_studio.annotation", "cas_studio.interactive", "cas_studio.video"),
    ("cas_studio.training",),
    ("cas_studio.inference",),
    ("cas_studio.models",),
    ("cas_studio.inference.tasks", "cas_studio.inference.decoders", "cas_studio.inference.grouping",
     "cas_studio.inference.clustering", "cas_studio.inference.labelling"),
    ("cas_studio.data",),
    ("cas_studio.losses", "cas_studio.metrics", "cas_studio.io", "cas_studio.constants", "cas_studio.colours",
     "cas_studio._lazy"),
]


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph("cas_studio", include_external_packages=False, exclude_type_checking_imports=True)


def floor(module: str) -> int | None:
    """The floor of ``module`` (0 is the top): the most specific listed name that contains it."""
    best = None
    for level, names in enumerate(FLOORS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and (best is None or len(name) > len(best[1])):
                best = (level, name)
    return None if best is None else best[0]


def test_every_module_has_a_floor(graph):
    assert sorted(m for m in graph.modules if m != "cas_studio" and floor(m) is None) == []


def test_no_module_imports_a_floor_above_its_own(graph):
    upward = sorted(f"{a} -> {b}" for a in graph.modules for b in graph.find_modules_directly_imported_by(a)
                    if a != "cas_studio" and floor(b) < floor(a))
    assert upward == []


def test_no_import_circle(graph):
    circles = sorted({tuple(sorted((a, b))) for a in graph.modules for b in graph.find_modules_directly_imported_by(a)
                      if graph.find_shortest_chain(importer=b, imported=a)})
    assert circles == []


def test_the_check_sees_an_upward_import():  # the floors catch what they are meant to
    assert floor("cas_studio.models.weights") > floor("cas_studio.inference.infer")
    assert floor("cas_studio.inference.tasks") > floor("cas_studio.models.weights")
