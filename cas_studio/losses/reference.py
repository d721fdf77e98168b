"""Plain-loop reference implementations: the definitions, written to be read, not to be fast.

The tests check the vectorised losses against these; the benchmark and the notebooks use them to
show what vectorising buys.
"""

from __future__ import annotations

import itertools

import torch


def cas_terms_reference(input: torch.Tensor, target: torch.Tensor, *, from_logits: bool = True,
                        ignore_index: int = -1) -> tuple[torch.Tensor, torch.Tensor]:
    """Uniformer and discriminator (each (B,)) by looping over images, regions and pairs."""
    s = torch.softmax(input, dim=1) if from_logits else input
    uniformers, discriminators = [], []
    for b in range(s.shape[0]):
        ids = [int(i) for i in torch.unique(target[b]) if int(i) != ignore_index]
        means, uniformer = [], s.new_zeros(())
        for i in ids:
            pixels = s[b][:, target[b] == i]  # (M, |r_i|)
            mean = pixels.mean(dim=1)
            means.append(mean)
            uniformer = uniformer + ((pixels - mean[:, None]) ** 2).sum(dim=0).mean()
        discriminator = s.new_zeros(())
        for mi, mj in itertools.permutations(means, 2):
            discriminator = discriminator + ((mi - mj) ** 2).sum()
        uniformers.append(uniformer)
        discriminators.append(discriminator)
    return torch.stack(uniformers), torch.stack(discriminators)


def cas_loss_reference(input: torch.Tensor, target: torch.Tensor, *, alpha: float = 0.5,
                       from_logits: bool = True, ignore_index: int = -1) -> torch.Tensor:
    """Per-image CAS loss (B,) straight from Eq. 1 of the paper."""
    u, d = cas_terms_reference(input, target, from_logits=from_logits, ignore_index=ignore_index)
    return alpha * u - (1 - alpha) * d
