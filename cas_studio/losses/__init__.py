"""Region losses: CAS and its baselines, each a function plus a thin ``nn.Module``."""

from .balance import ChannelBalanceLoss, channel_balance_loss
from .cace import CACELoss, cace_loss
from .cross_image import CrossImageLoss, cross_image_loss
from .cas import CASLoss, CASTerms, cas_bounds, cas_loss, cas_terms
from .ce import CELoss, ce_loss
from .discriminative import DiscriminativeLoss, discriminative_loss
from ._regions import LossModule

#: The region losses by name: each a :class:`~cas_studio.losses._regions.LossModule` whose
#: ``function`` is the plain loss function. Training looks losses up here, and nowhere else.
LOSSES: dict[str, type[LossModule]] = {"cas": CASLoss, "ce": CELoss, "cace": CACELoss,
                                       "discriminative": DiscriminativeLoss}


def make_loss(name: str, **options) -> LossModule:
    """The loss module ``name`` with those of ``options`` that it takes (options of other losses
    are left out, so one set of training options serves every loss; an option no loss takes is
    refused).

    Example:
        >>> make_loss("ce", alpha=0.3)  # CE takes no alpha
        CELoss()
    """
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose one of {sorted(LOSSES)}")
    # An option no loss takes is a typo, never silently dropped.
    known = set().union(*(c.option_names() or () for c in LOSSES.values()))
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(f"unknown loss option(s) {unknown}; the losses take {sorted(known)}")
    cls = LOSSES[name]
    accepted = cls.option_names()
    return cls(**{k: v for k, v in options.items() if accepted is None or k in accepted})

__all__ = [
    "LOSSES", "LossModule", "make_loss", "CACELoss", "ChannelBalanceLoss", "channel_balance_loss", "CASLoss", "CASTerms", "CELoss", "CrossImageLoss", "cross_image_loss", "DiscriminativeLoss",
    "cace_loss", "cas_bounds", "cas_loss", "cas_terms", "ce_loss", "discriminative_loss",
]
