"""What the app says to its user about a finished fine-tune: the library states the facts
(:class:`cas_studio.training.trainer.Outcome`), this module turns them into advice."""

from __future__ import annotations

from ..training.trainer import Outcome


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
    if outcome.verdict == "unscored":
        return f"best {name} {outcome.best:.3f} (epoch {outcome.best_epoch})" if outcome.best is not None else "no scores"
    on = f" on {outcome.holdout} held-out image{'s' * (outcome.holdout != 1)}" if outcome.holdout else ""
    if outcome.verdict == "no clear change":
        return (f"no clear change{on}: {name} {outcome.start:.2f} -> {outcome.best:.2f} (epoch {outcome.best_epoch}) is "
                f"within the epoch-to-epoch swing of {outcome.noise:.2f}; annotate more images for a clear verdict")
    if outcome.verdict == "improved":
        return f"improved held-out {name} {outcome.start:.2f} -> {outcome.best:.2f}{on} (epoch {outcome.best_epoch})"
    reached = outcome.best_trained if outcome.best_trained is not None else outcome.best
    return (f"did not beat the base model ({outcome.start:.2f} -> {reached:.2f}); the base stays selected. "
            f"Annotate more images, or confirm more regions.")


def run_message(status: dict) -> str:
    """The message line of a run: the app's sentence when the run recorded an outcome, else the
    message the run wrote."""
    message = str(status.get("message", ""))
    outcome = outcome_from_status(status)
    if outcome is None or outcome.start is None or status.get("state") not in ("finished", "stopped"):
        return message
    # The trainer ends its message with the outcome's summary; the app's words take its place. A
    # message that does not (a run written by another version) is shown as it is.
    if not message.endswith(outcome.summary()):
        return message
    head = message.removesuffix(outcome.summary()).removesuffix("; ")
    return f"{head}; {outcome_sentence(outcome)}" if head else outcome_sentence(outcome)
