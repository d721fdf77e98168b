"""The task registry: what each kind of model is, and the facts that follow from it.

A weights file records its task by name; every fact that depends on the task (which metric picks
the best epoch, whether test-time flip averaging applies, which decoders fit, how many channels a
fresh model has, what a fine-tune starts with) is read from its :class:`Task` here, and what its
output is and how to predict, score, show and write it from its output kind
(:func:`cas_studio.inference.outputs.output_of`). No module compares a task name with a string.

This module is declarations only (no torch, no inference), so the weights layer below inference
can check a file's task against it.

Example:
    >>> get_task("saliency").selection
    ('adp_fbeta', True)
    >>> trainable_tasks()
    ('saliency', 'regions', 'texture')
"""

from __future__ import annotations

from dataclasses import dataclass

from .decoders import DECODERS


@dataclass(frozen=True)
class Task:
    """One task's rules.

    Attributes:
        name: the name weights files and the command line use.
        description: one line for help texts.
        channels: the default number of softmax channels M.
        selection: the validation metric that picks the best checkpoint, and whether higher is better.
        output: the id of its output kind (:mod:`cas_studio.inference.outputs`): ``"saliency"`` (one
            channel's probability map, thresholded into a mask, scored with SOD metrics) or
            ``"regions"`` (a label map of regions, scored with region metrics); ``"clicks"`` has no
            output kind of its own (:class:`~cas_studio.interactive.ClickSegmenter` runs it).
        flip_average: test-time flip averaging is allowed (a channel means the same thing in an
            image and its mirror image).
        decoders: how the CAS code may become regions (region tasks); the first is the default.
        trainable: ``cas-studio train`` trains it and the Segment tab runs it.
        finetune: (learning rate, epochs) a fine-tune in the app starts with. Saliency's gentler
            pair is measured: ``cas-studio bench finetune --frames`` on davis sequences, 5e-4 x 20
            epochs lost 0.036 and 0.083 adaptive F-beta on the held-out sequences of two splits;
            1e-4 x 10 moves them least (+0.018 on the mean of eight splits, with the held-out
            check keeping the best epoch); 2e-4 x 10 and 1e-4 x 20 swung more from split to split
            (see the saliency model card).
        click_maps: the network takes click maps (positive, negative, previous mask) beside the image.
        alpha: the CAS loss's weight of the uniformer a run or a fine-tune starts with.
        min_size: the smallest region (pixels) decoding keeps.
        crop: how training crops an image when a run does not say: ``"square"`` (squares of the
            shorter side) or ``"frame"`` (the whole frame, scaled). What is salient depends on the
            whole frame: a square crop can cut the object off or leave a background thing the most
            conspicuous one, so saliency trains, and fine-tunes, on whole frames.
    """

    name: str
    description: str
    channels: int
    selection: tuple[str, bool]
    output: str = "regions"
    flip_average: bool = False
    decoders: tuple[str, ...] = ()
    trainable: bool = True
    finetune: tuple[float, int] = (5e-4, 20)
    crop: str = "square"
    click_maps: bool = False
    alpha: float = 0.5
    min_size: int = 64

    @property
    def default_decoder(self) -> str:
        """The decoder a fresh region model records (the first of :attr:`decoders`); arg-max for none."""
        return self.decoders[0] if self.decoders else "argmax"


TASKS: dict[str, Task] = {t.name: t for t in (
    Task("saliency", "salient object detection: a saliency map and its binary mask", 2, ("adp_fbeta", True),
         output="saliency", flip_average=True, finetune=(1e-4, 10), crop="frame"),
    Task("regions", "general multi-region segmentation (BSDS500-like)", 32, ("covering", True),
         decoders=("merge", *(d for d in DECODERS if d != "merge"))),
    Task("texture", "texture segmentation (Outex-like mosaics)", 8, ("covering", True),
         decoders=("cluster", *(d for d in DECODERS if d != "cluster"))),
    # The click-to-object model of cas_studio.interactive (``cas-studio train-clicks``).
    Task("clicks", "click-to-object: an object mask from positive and negative clicks", 2, ("iou@5", True),
         output="clicks", trainable=False, click_maps=True),
)}


#: The task a network without weights metadata is taken for (channel 1 salient, arg-max regions).
DEFAULT_TASK = "saliency"


def register_task(task: Task) -> Task:
    """Add ``task`` (a plug-in's or a test's); its output kind must be registered where it is used."""
    TASKS[task.name] = task
    return task


def unregister_task(name: str) -> None:
    """Remove a task added with :func:`register_task`; unknown names are ignored."""
    TASKS.pop(name, None)


def trainable_tasks() -> tuple[str, ...]:
    """Tasks that ``cas-studio train`` trains and the Segment tab runs, in display order."""
    return tuple(name for name, t in TASKS.items() if t.trainable)


#: The built-in trainable tasks (command-line choices; :func:`trainable_tasks` includes plug-ins).
TRAINABLE = trainable_tasks()


def get_task(name: str) -> Task:
    """The :class:`Task` called ``name``; ``ValueError`` naming the known tasks otherwise."""
    try:
        return TASKS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown task {name!r}; choose one of {list(TASKS)}") from None
