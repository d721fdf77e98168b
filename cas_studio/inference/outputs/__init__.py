"""Output kinds: what a task's model outputs, and how to predict, decode, score, show and write it.

Each kind is one :class:`~cas_studio.inference.outputs.base.Output` in its own module, registered
here; a :class:`~cas_studio.inference.tasks.Task` names its kind. Callers ask
:func:`output_of` instead of branching on the task. Adding an output kind is one module plus one
:func:`register_output` call (and a task that names it: :func:`~cas_studio.inference.tasks.register_task`).

Example:
    >>> output_of("saliency").binary, output_of("regions").binary
    (True, False)
"""

from __future__ import annotations

from ..tasks import Task, get_task
from .base import Output, Unsupported
from .labels import RegionsOutput
from .saliency import SaliencyOutput

_REGISTRY: dict[str, Output] = {}


def register_output(output: Output) -> Output:
    """Add an output kind under its ``id`` (a plug-in's or a test's)."""
    if not output.id:
        raise ValueError("an output kind needs an id")
    _REGISTRY[output.id] = output
    return output


def unregister_output(output_id: str) -> None:
    """Remove an output kind; unknown ids are ignored."""
    _REGISTRY.pop(output_id, None)


def output_of(task: str | Task) -> Output:
    """The output kind of ``task`` (a name or a :class:`Task`); ``ValueError`` naming the problem otherwise."""
    task = get_task(task) if isinstance(task, str) else task
    try:
        return _REGISTRY[task.output]
    except KeyError:
        raise ValueError(f"the {task.name} task's output ({task.output!r}) has no output kind here; "
                         f"known: {sorted(_REGISTRY)}") from None


register_output(SaliencyOutput())
register_output(RegionsOutput())

__all__ = ["Output", "Unsupported", "RegionsOutput", "SaliencyOutput", "output_of", "register_output", "unregister_output"]
