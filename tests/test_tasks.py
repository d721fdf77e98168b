"""The task registry: one owner for every task rule."""

from __future__ import annotations

import pytest

from cas_studio.inference.outputs import output_of
from cas_studio.inference.tasks import TASKS, TRAINABLE, get_task
from cas_studio.training.config import TrainConfig
from cas_studio.models.weights import WeightsInfo, check_flip_average


def test_unknown_task_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown task 'salience'.*saliency"):
        get_task("salience")
    with pytest.raises(ValueError, match="unknown task"):
        WeightsInfo(arch="efficientnet_lite0_fpn", out_channels=2, task="salience")


def test_only_saliency_may_be_flip_averaged():
    assert check_flip_average(True, "saliency") is True
    for name in set(TASKS) - {"saliency"}:
        with pytest.raises(ValueError, match="flip averaging applies to saliency models only"):
            check_flip_average(True, name)
        assert check_flip_average(False, name) is False


def test_click_models_are_recorded_but_not_trained_by_cas_studio_train():
    assert "clicks" in TASKS and "clicks" not in TRAINABLE
    WeightsInfo(arch="efficientnet_lite1_fpn_clicks", out_channels=2, task="clicks")
    with pytest.raises(ValueError, match="cas-studio train trains"):
        TrainConfig(task="clicks")


def test_every_task_selects_on_a_metric_and_region_tasks_name_decoders():
    for task in TASKS.values():
        key, higher = task.selection
        assert isinstance(key, str) and higher is True
        assert task.click_maps or output_of(task).binary or task.decoders
    assert get_task("regions").decoders[0] == "merge" and get_task("texture").decoders[0] == "cluster"


def test_only_region_tasks_record_a_decoder():
    WeightsInfo(arch="efficientnet_lite0_fpn", out_channels=8, task="regions", decoder={"method": "merge"})
    with pytest.raises(ValueError, match="a saliency model has no region decoder"):
        WeightsInfo(arch="efficientnet_lite0_fpn", out_channels=2, task="saliency", decoder={"method": "merge"})


def test_each_task_has_fine_tune_settings_and_saliency_starts_gentler():
    from cas_studio.inference.tasks import TRAINABLE, get_task

    for name in TRAINABLE:
        lr, epochs = get_task(name).finetune
        assert 0 < lr <= 1e-2 and epochs >= 1
    assert get_task("saliency").finetune[0] < get_task("regions").finetune[0]


def test_the_click_task_has_no_output_kind_of_its_own():
    with pytest.raises(ValueError, match="clicks task's output .'clicks'. has no output kind"):
        output_of("clicks")
