"""The task registry: what each kind of model does, and the rules that follow from it.

A weights file records its task by name; every rule that depends on the task (which metric picks
the best epoch, whether test-time flip averaging or a temperature applies, whether the output is
a saliency map or a label map, which decoders fit) is read from its :class:`Task` here. No other
module compares a task name with a string.

Example:
    >>> get_task("saliency").selection
    ('adp_fbeta', True)
    >>> [t.name for t in TASKS.values() if t.trainable]
    ['saliency', 'regions', 'texture']
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
        saliency_map: the output is one channel's probability map (thresholded into a mask, scored
            with SOD metrics); otherwise a label map of regions (scored with region metrics).
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
        crop: how training crops an image when a run does not say: ``"square"`` (squares of the
            shorter side) or ``"frame"`` (the whole frame, scaled). What is salient depends on the
            whole frame: a square crop can cut the object off or leave a background thing the most
            conspicuous one, so saliency trains, and fine-tunes, on whole frames.
    """

    name: str
    description: str
    channels: int
    selection: tuple[str, bool]
    saliency_map: bool = False
    flip_average: bool = False
    decoders: tuple[str, ...] = ()
    trainable: bool = True
    finetune: tuple[float, int] = (5e-4, 20)
    crop: str = "square"


TASKS: dict[str, Task] = {t.name: t for t in (
    Task("saliency", "salient object detection: a saliency map and its binary mask", 2, ("adp_fbeta", True),
         saliency_map=True, flip_average=True, finetune=(1e-4, 10), crop="frame"),
    Task("regions", "general multi-region segmentation (BSDS500-like)", 32, ("covering", True),
         decoders=("merge", *(d for d in DECODERS if d != "merge"))),
    Task("texture", "texture segmentation (Outex-like mosaics)", 8, ("covering", True),
         decoders=("cluster", *(d for d in DECODERS if d != "cluster"))),
    # The click-to-object model of cas_studio.interactive (``cas-studio train-clicks``).
    Task("clicks", "click-to-object: an object mask from positive and negative clicks", 2, ("iou@5", True),
         trainable=False),
)}
#: Tasks that ``cas-studio train`` trains and the Segment tab runs, in display order.
TRAINABLE = tuple(name for name, t in TASKS.items() if t.trainable)


def get_task(name: str) -> Task:
    """The :class:`Task` called ``name``; ``ValueError`` naming the known tasks otherwise."""
    try:
        return TASKS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown task {name!r}; choose one of {list(TASKS)}") from None
