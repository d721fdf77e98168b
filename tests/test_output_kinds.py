"""A new output kind is one module plus its registry entries: a toy "edges" task, registered from
this test, works through ``cas-studio predict`` and ``cas-studio eval`` without touching other modules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from cas_studio.cli import main
from cas_studio.data import Item
from cas_studio.inference import outputs
from cas_studio.inference.scoring import ground_truths
from cas_studio.inference.tasks import TASKS, Task, register_task, unregister_task
from cas_studio.io import read_image, read_label_map, write_image, write_label_map
from cas_studio.metrics import boundary_map
from cas_studio.models.factory import build_model
from cas_studio.models.weights import WeightsInfo, save_weights

from .helpers import PACKAGE, modules_comparing


class EdgesOutput(outputs.Output):
    """Toy kind: where the arg-max channel changes, as an 8-bit edge map; scored by edge agreement."""

    id = "edges"
    score_name = "edge agreement"

    def decode(self, model, probs, image, *, size=None, min_size=None):
        return boundary_map(probs.argmax(0))

    def predict(self, model, image, *, size=None, **options):
        from cas_studio.inference.infer import predict_probabilities

        return self.decode(model, predict_probabilities(model, image, size=size), image)

    def write(self, stem, output, image, *, extras=()):
        write_image(stem.with_name(stem.name + ".png"), output.astype(np.uint8) * 255)

    def read(self, path, shape):
        return read_label_map(path) > 127

    def evaluate(self, predict, items, *, progress=True, scores=None):
        agree = []
        for it in items:
            image = read_image(it.image)
            truth = boundary_map(ground_truths(it, image.shape[:2])[0])
            agree.append(float((predict(it, image) == truth).mean()))
            if scores is not None:
                scores.append((it, agree[-1]))
        return {"edge_agreement": float(np.mean(agree))}


@pytest.fixture
def edges_task(tmp_path):
    outputs.register_output(EdgesOutput())
    register_task(Task("edges", "region boundaries (a test's toy task)", 4, ("edge_agreement", True), output="edges"))
    torch.manual_seed(0)
    info = WeightsInfo(arch="lraspp_mobilenet_v3_large", out_channels=4, task="edges", input_size=64)
    weights = save_weights(build_model(info.arch, 4), tmp_path / "edges.safetensors", info)
    yield weights
    unregister_task("edges")
    outputs.unregister_output("edges")


def _dataset(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for i in range(2):
        write_image(root / "images" / f"{i}.png", rng.integers(0, 255, (40, 48, 3), dtype=np.uint8))
        write_label_map(root / "labels" / f"{i}.png", (np.arange(40 * 48).reshape(40, 48) // 480).astype(np.int32))
    return root


def test_a_toy_output_kind_works_through_predict_and_eval(edges_task, tmp_path, capsys):
    data = _dataset(tmp_path / "d")
    assert main(["predict", "--weights", str(edges_task), "--task", "edges", str(data / "images"),
                 "--out", str(tmp_path / "pred")]) == 0
    saved = read_label_map(tmp_path / "pred" / "0.png")
    assert saved.shape == (40, 48) and set(np.unique(saved)) <= {0, 255}
    capsys.readouterr()
    assert main(["eval", "--task", "edges", "--data", str(data), "--pred", str(tmp_path / "pred"),
                 "--worst", str(tmp_path / "worst.png")]) == 2  # the toy kind shows no panels: refused, named
    assert "edges output kind does not show" in capsys.readouterr().err
    assert main(["eval", "--task", "edges", "--data", str(data), "--pred", str(tmp_path / "pred")]) == 0
    assert "edge_agreement" in capsys.readouterr().out
    assert main(["eval", "--task", "edges", "--data", str(data), "--weights", str(edges_task)]) == 2
    assert "edges output kind does not predict a dataset" in capsys.readouterr().err
    assert "edges" in TASKS  # registered from here, found by the CLI


def test_an_output_kind_answers_what_it_does_not_do_by_name():
    with pytest.raises(NotImplementedError, match="the toy output kind does not give an object mask"):
        type("Toy", (outputs.Output,), {"id": "toy"})().object_mask(None, np.zeros((2, 2, 3), np.uint8))


def test_no_module_compares_a_task_name_with_a_string_literal():
    names = set(TASKS)
    assert modules_comparing(names) == {}


def test_no_info_is_none_check_outside_the_weights_module():
    hits = [str(f.relative_to(PACKAGE)) for f in PACKAGE.rglob("*.py")
            if f.name != "weights.py" and ("info is None" in f.read_text() or "info is not None" in f.read_text())]
    assert hits == []


def test_item_kinds_are_not_task_names():  # the grep above would miss a task compared through an Item
    assert not set(TASKS) & {"mask", "label_map", "annotation"}
    assert Item(Path("a.png"), Path("b.png"), "mask").kind == "mask"
