"""The ``cas-studio`` command: one subcommand per task, each a thin call into the library."""

from __future__ import annotations

import argparse
import importlib
import sys

from .training.allocator import keep_freed_memory

# subcommand -> (module with a main(argv) function, one-line help). Modules load lazily so that
# `cas-studio bench loss` does not pay for importing gradio.
COMMANDS: dict[str, tuple[str, str]] = {
    "app": ("cas_studio.app.main", "serve the browser app on 127.0.0.1:7860"),
    "train": ("cas_studio.training.command", "train a model (CAS or a baseline loss) on real or your own data"),
    "predict": ("cas_studio.inference.predict", "saliency maps or label maps for image files and folders"),
    "eval": ("cas_studio.inference.evaluate", "metrics of a model, a predictions folder or a baseline on a dataset"),
    "low-fidelity": ("cas_studio.training.low_fidelity", "the paper's experiment: CE, CACE, CAS on clean and flipped labels"),
    "train-clicks": ("cas_studio.interactive.train", "train the click-to-object model (iterative click simulation)"),
    "average": ("cas_studio.models.averaging", "average the weights of several fine-tunes of one network (a model soup)"),
    "propagate": ("cas_studio.video.command", "label every frame of a video from a few annotated frames"),
    "distill": ("cas_studio.training.distill", "train one network to do in one pass what a model does with its flip average"),
}
BENCHMARKS: dict[str, tuple[str, str]] = {
    "loss": ("cas_studio.bench.loss", "CAS vs CE forward+backward time ratios"),
    "annotate": ("cas_studio.bench.annotator", "over-segmentation and edit times at 1 and 4 MP; --clicks: simulated annotator"),
    "clicks": ("cas_studio.bench.noc", "click-to-object NoC@85/90 on davis and SOD val, beside GrabCut"),
    "clicks-adapt": ("cas_studio.bench.clicks_adapt",
                     "davis: NoC on a sequence's other frames before and after fine-tuning on 3 accepted objects"),
    "browser": ("cas_studio.bench.browser", "click-to-object round trip in Chromium at 1 MP (target 300 ms)"),
    "infer": ("cas_studio.bench.infer", "inference time per 256x256 image of the shipped models"),
    "finetune": ("cas_studio.bench.finetune", "fine-tuning 10 annotated 256x256 images for 20 epochs"),
    "train": ("cas_studio.bench.train", "training images per second at 256x256 (CPU or GPU)"),
    "propagate": ("cas_studio.bench.propagate", "davis: the first frame's mask propagated, J against the base and a copy"),
    "propagate-memory": ("cas_studio.bench.propagate_memory",
                         "a 1080p video of 1,000 frames propagated: peak memory against 100 frames"),
    "soak": ("cas_studio.bench.soak", "50 sessions editing and saving one project at once: no lost edit"),
}


def _dispatch(table: dict[str, tuple[str, str]], prog: str, argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog=prog)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (_, help_text) in table.items():
        sub.add_parser(name, help=help_text, add_help=False)
    args, rest = parser.parse_known_args(argv[:1])
    module = importlib.import_module(table[args.command][0])
    return int(module.main(argv[1:]) or 0)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``cas-studio`` console script."""
    argv = sys.argv[1:] if argv is None else argv
    keep_freed_memory()  # every command here is a batch job: throughput over returning memory
    table = {**COMMANDS, "bench": ("cas_studio.cli", "benchmarks: " + ", ".join(BENCHMARKS))}
    if argv[:1] == ["bench"]:
        return _dispatch(BENCHMARKS, "cas-studio bench", argv[1:])
    return _dispatch(table, "cas-studio", argv)


if __name__ == "__main__":
    sys.exit(main())
