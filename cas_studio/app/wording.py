"""What the app says to its user about a finished fine-tune: the library states the facts
(:class:`cas_studio.training.trainer.Outcome`), this module turns them into advice."""

from __future__ import annotations

from ..training.runs import state_of
from ..training.trainer import Outcome, Verdict


def outcome_from_status(status: dict) -> Outcome | None:
    """The :class:`Outcome` a run's ``status.json`` recorded, or None (a run without one, or an
    older file whose fields no longer match)."""
    fields = status.get("outcome")
    if not isinstance(fields, dict):
        return None
    try:
        return Outcome(**fields)
    except TypeError:
        return None


def outcome_sentence(outcome: Outcome) -> str:
    """One plain sentence for the user, e.g. "improved held-out covering 0.41 -> 0.58 on 3 held-out images"."""
    name = outcome.key.replace("adp_fbeta", "adaptive F-beta")
    if outcome.verdict is Verdict.UNSCORED:
        return f"best {name} {outcome.best:.3f} (epoch {outcome.best_epoch})" if outcome.best is not None else "no scores"
    on = f" on {outcome.holdout} held-out image{'s' * (outcome.holdout != 1)}" if outcome.holdout else ""
    if outcome.verdict is Verdict.NO_CLEAR_CHANGE:
        change = f"{name} {outcome.start:.2f} -> {outcome.best:.2f} (epoch {outcome.best_epoch})"
        if outcome.holdout is not None and outcome.holdout < 2:
            why = "one held-out image is too few to tell a change from chance"
        elif outcome.noise is None or outcome.noise <= 0:
            why = "too few epochs to measure how much the score swings on its own"
        else:
            why = f"within the epoch-to-epoch swing of {outcome.noise:.2f}"
        return f"no clear change{on}: {change}; {why}; annotate more images for a clear verdict"
    if outcome.verdict is Verdict.IMPROVED:
        return f"improved held-out {name} {outcome.start:.2f} -> {outcome.best:.2f}{on} (epoch {outcome.best_epoch})"
    reached = outcome.best_trained if outcome.best_trained is not None else outcome.best
    return (f"did not beat the base model ({outcome.start:.2f} -> {reached:.2f}); the base stays selected. "
            f"Annotate more images, or confirm more regions.")


def run_message(status: dict) -> str:
    """The message line of a run: the app's sentence when the run recorded an outcome, else the
    message the run wrote."""
    message = str(status.get("message", ""))
    outcome = outcome_from_status(status)
    if outcome is None or outcome.start is None or not state_of(status).ended_well:
        return message
    # The trainer records its message without the outcome as ``head``; the app's words take the
    # outcome's place. A status without one (written by an older version) is shown as it is.
    head = status.get("head")
    if not isinstance(head, str):
        return message
    return f"{head}; {outcome_sentence(outcome)}" if head else outcome_sentence(outcome)
