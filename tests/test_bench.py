"""Smoke tests of the benchmarks: each runs small and prints well-formed, positive numbers.

Timings themselves are never asserted (machines are shared and noisy); the format and the sanity
of the numbers are.
"""

from __future__ import annotations

import re

import numpy as np

import pytest

from cas_studio.bench import annotator as bench_annotate
from cas_studio.bench import finetune as bench_finetune
from cas_studio.bench import infer as bench_infer
from cas_studio.bench import loss as bench_loss
from cas_studio.models.weights import load_model

NUMBER = r"(\d+(?:\.\d+)?)"


def test_loss_benchmark_lines(monkeypatch, capsys):
    monkeypatch.setattr(bench_loss, "CASES", [bench_loss.Case(2, 4, 4, 32)])
    assert bench_loss.main(["--quick", "--device", "cpu"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("# forward+backward time ratios")
    names = []
    for line in lines[1:]:
        m = re.fullmatch(r"(\S+) K=4 M=4 32x32: " + NUMBER, line)
        assert m, line
        assert float(m.group(2)) > 0
        names.append(m.group(1))
    assert names == ["cas/ce", "cas/torch_ce", "discriminative/ce"]


def test_loss_benchmark_adds_the_loop_baseline_and_the_scaling_lines(monkeypatch):
    monkeypatch.setattr(bench_loss, "CASES", [bench_loss.Case(1, 2, 4, 128), bench_loss.Case(1, 2, 4, 512)])
    lines = list(bench_loss.run(devices=[bench_loss.torch.device("cpu")], min_run_time=0.02, loop=True))
    loop = [line for line in lines if line.startswith("loop/cas")]
    assert [line.split(":")[0] for line in loop] == ["loop/cas K=4 M=2 128x128"]  # 512 is too big to loop
    scaling = [line for line in lines if "(16x pixels)" in line]
    assert [line.split(" ")[0] for line in scaling] == ["cas", "torch_ce"]
    assert all(float(line.rsplit(": ", 1)[1]) > 0 for line in loop + scaling)


def test_infer_benchmark_lines(capsys):
    assert bench_infer.main(["--size", "64", "--min-run-time", "0.05"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert re.fullmatch(r"infer \S+ \(untrained baseline\) 64x64: " + NUMBER + r" ms, " + NUMBER + " of target",
                        lines[0]), lines[0]
    names, flipped = set(), set()
    for line in lines[1:]:
        m = re.fullmatch(r"infer (\S+) 64x64: " + NUMBER + r" ms, " + NUMBER + r" of target, " + NUMBER + "x baseline"
                         r"(; as shipped \(flip average\): " + NUMBER + r" ms, " + NUMBER + r" of target)?", line)
        assert m and float(m.group(2)) > 0, line
        names.add(m.group(1))
        if m.group(5):
            flipped.add(m.group(1))
            assert float(m.group(6)) > 0, line  # no timing is compared: a busy machine reorders them
    assert {"saliency", "regions", "texture"} <= names  # every shipped model is timed
    # The two-pass figure appears exactly for the models whose weights ask for the flip average.
    assert flipped == {name for name in names if load_model(name, device="cpu").info.flip_average}


def test_annotate_benchmark_lines():
    lines = bench_annotate.run(repeat=1)
    assert re.fullmatch(r"baseline skimage.watershed 1.0MP: \d+ ms", lines[0])
    methods = {re.match(r"oversegment (\S+)", line).group(1) for line in lines if line.startswith("oversegment")}
    assert {"watershed", "slic", "felzenszwalb", "model"} <= methods
    edits = [re.fullmatch(r"edit (.+) (\d)MP: \d+ ms, [\d.]+ of target", line) for line in lines if line.startswith("edit ")]
    assert all(edits), lines
    names = ["merge", "lasso", "grow", "paint-to-merge", "split", "brush stroke", "erase", "granularity"]
    assert [(m.group(1), m.group(2)) for m in edits] == [(n, mp) for mp in "14" for n in names]


@pytest.mark.slow
def test_finetune_benchmark_line(capsys):
    assert bench_finetune.main(["--epochs", "1", "--images", "2"]) == 0
    out = capsys.readouterr().out.strip()
    m = re.fullmatch(r"finetune regions 2 images 256x256 x 1 epochs: " + NUMBER + r" s, " + NUMBER
                     + r" of target, " + NUMBER + r"x one epoch; estimate " + NUMBER + r" s, " + NUMBER
                     + r"x the run, computed in " + NUMBER + " s", out)
    assert m and float(m.group(1)) > 0 and float(m.group(4)) > 0, out


def test_finetune_benchmark_refuses_a_missing_model(capsys):
    assert bench_finetune.main(["--base", "no-such-model"]) == 2
    assert "no model 'no-such-model'" in capsys.readouterr().out


def test_train_benchmark_line(capsys):
    from cas_studio.bench import train as bench_train

    assert bench_train.main(["--size", "32", "--batch", "2", "--steps", "1"]) == 0
    line = capsys.readouterr().out.strip()
    m = re.fullmatch(r"train efficientnet_lite0_fpn 32x32 batch 2 \(cpu\): " + NUMBER + r" img/s, " + NUMBER
                     + r" of target, " + NUMBER + r"x lraspp_mobilenet_v3_large \(" + NUMBER + r" img/s\)", line)
    assert m and float(m.group(1)) > 0 and float(m.group(4)) > 0, line


def test_large_photo_benchmark_lines():
    """`bench annotate --large` on a photo just over the 1 MP working size: one line per size."""
    (line,) = bench_annotate.large((1.2,))
    m = re.fullmatch(r"large 1.2MP \((\d+)x(\d+)\): oversegment and save " + NUMBER + r" s, canvas (\d+)x(\d+) in "
                     + NUMBER + r" ms \(with a selection and its grow preview " + NUMBER + r" ms\), select \+ merge \+ save "
                     + NUMBER + r" ms, (\d+) regions, peak RSS " + NUMBER + " MB", line)
    assert m, line
    assert int(m.group(4)) * int(m.group(5)) <= int(m.group(1)) * int(m.group(2)) and int(m.group(9)) > 1


@pytest.mark.slow
@pytest.mark.data
def test_frames_benchmark_scores_base_and_fine_tuned_on_other_sequences(data_dir, capsys):
    assert bench_finetune.main(["--frames", "--epochs", "1", "--splits", "2"]) == 0
    out = capsys.readouterr().out
    splits = re.findall(r"split (\d): fine-tuned on 10 frames of (.+) \(8 training, 1 epochs at 256, frame crops.*scored "
                        r"on (\d+) frames of the other 27 sequences", out)
    assert [s[0] for s in splits] == ["0", "1"], out
    assert splits[0][1] != splits[1][1] and all(int(s[2]) > 100 for s in splits), out
    scores = re.findall(r"  (base|fine-tuned): adaptive F-beta " + NUMBER, out)
    assert [name for name, _ in scores] == ["base", "fine-tuned"] * 2
    m = re.search(r"frames verdict: (improved|no clear change|not improved): adaptive F-beta ([+-]" + NUMBER
                  + r") on the held-out sequences, the mean of 2 splits", out)
    assert m, out
    values = [float(v) for _, v in scores]
    assert float(m.group(2)) == pytest.approx(((values[1] - values[0]) + (values[3] - values[2])) / 2, abs=2e-3)


def test_propagate_memory_benchmark_runs_each_length_in_its_own_process(capsys):
    from cas_studio.bench import propagate_memory

    assert propagate_memory.main(["--frames", "6", "--short", "3", "--seconds", "1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    runs = [re.search(r"^(\d+) frames at 1920x1080: peak memory (\d+) MB, .* J ([\d.]+)$", line) for line in lines[:2]]
    assert [int(m.group(1)) for m in runs] == [3, 6] and all(float(m.group(3)) > 0.5 for m in runs)  # the disc is found
    assert re.fullmatch(r"peak memory 6 / 3 frames: [\d.]+x", lines[2])


def test_the_synthetic_video_has_the_disc_where_its_mask_says(tmp_path):
    import cv2

    from cas_studio.bench.propagate_memory import disc_mask, write_video

    video = cv2.VideoCapture(str(write_video(tmp_path / "v.mp4", 5)))
    ok, frame = video.read()
    video.release()
    inside, outside = frame[disc_mask(0, 5)], frame[~disc_mask(0, 5)]
    assert ok and inside[:, 2].mean() > 150 > outside[:, 2].mean()  # red disc (BGR) on green-brown


def test_the_propagation_annotator_counts_clicks_that_correct_against_clicks_from_nothing():
    from cas_studio.bench.propagate import MAX_CLICKS, clicks_to

    class Disks:  # a stand-in click model: disks at the clicks, over the mask being refined
        def set_image(self, image):
            self.shape, self.last = image.shape[:2], None

        def predict(self, clicks, previous=None):
            yy, xx = np.mgrid[: self.shape[0], : self.shape[1]]
            base = previous if previous is not None else (self.last if len(clicks) > 1 else None)
            mask = np.zeros(self.shape, bool) if base is None else np.asarray(base, bool).copy()
            for x, y, positive in clicks[-1:] if base is not None else clicks:
                disk = (xx - x) ** 2 + (yy - y) ** 2 <= 12 ** 2
                mask = mask | disk if positive else mask & ~disk
            self.last = mask
            return mask

    image = np.zeros((80, 80, 3), np.uint8)
    yy, xx = np.mgrid[:80, :80]
    target = (xx - 40) ** 2 + (yy - 40) ** 2 <= 12 ** 2
    assert clicks_to(Disks(), image, target, start=target) == 0  # already right: nothing to click
    assert clicks_to(Disks(), image, target) == 1  # one click at the centre is the disk
    holed = target & ((xx - 40) ** 2 + (yy - 40) ** 2 > 5 ** 2)  # a propagation with a hole: IoU 0.82
    assert clicks_to(Disks(), image, target, start=holed) == 1  # one click in the hole refines it
    assert clicks_to(Disks(), image, np.zeros_like(target) | (xx < 2), start=target) == MAX_CLICKS  # never reached


def test_infer_benchmark_times_the_python_api_with_and_without_the_allocator_setting(capsys):
    assert bench_infer.main(["--api", "--repeat", "1", "--size", "64"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert re.fullmatch(r"api predict_saliency 64x64, allocator as it comes: [\d.]+ ms", lines[0])
    assert re.fullmatch(r"api predict_saliency 64x64, after keep_freed_memory\(\): [\d.]+ ms", lines[1])
    assert re.fullmatch(r"api keep_freed_memory\(\): [\d.]+x faster", lines[2])


def test_clicks_adapt_benchmark_scores_the_other_frames_before_and_after(data_dir, capsys, monkeypatch):
    from cas_studio.bench import clicks_adapt

    monkeypatch.setenv("CAS_DATA", str(data_dir))
    assert clicks_adapt.main(["--only", "bear", "--steps", "2", "--accepted", "7"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    row = re.match(r"bear\s+(\d+) frames\s+NoC@90\s+([\d.]+) ->\s+([\d.]+)", lines[0])
    assert row and int(row.group(1)) == 2  # bear's 9 frames, 7 accepted: scored on the other 2
    assert 1 <= float(row.group(2)) <= 20 and 1 <= float(row.group(3)) <= 20
    assert re.fullmatch(r"davis: NoC@90 [\d.]+ -> [\d.]+, NoC@85 [\d.]+ -> [\d.]+, [\d.]+ s per adaptation", lines[-1])
    assert clicks_adapt.main(["--only", "bear", "--accepted", "9"]) == 1  # nothing left to score
