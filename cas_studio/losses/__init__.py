"""Region losses: CAS and its baselines, each a function plus a thin ``nn.Module``."""

from .balance import ChannelBalanceLoss, channel_balance_loss
from .cace import CACELoss, cace_loss
from .cas import CASLoss, CASTerms, cas_bounds, cas_loss, cas_terms
from .ce import CELoss, ce_loss
from .discriminative import DiscriminativeLoss, discriminative_loss

LOSSES = {"cas": cas_loss, "ce": ce_loss, "cace": cace_loss, "discriminative": discriminative_loss}

__all__ = [
    "LOSSES", "CACELoss", "ChannelBalanceLoss", "channel_balance_loss", "CASLoss", "CASTerms", "CELoss", "DiscriminativeLoss",
    "cace_loss", "cas_bounds", "cas_loss", "cas_terms", "ce_loss", "discriminative_loss",
]
