"""Which regions a person has confirmed: the one rule the project format and the session share.

A label map is *proposed* by an over-segmentation (or a model); a region nobody has changed since
(pixel for pixel one region of the proposal) is still proposed, unless a person confirmed it by
hand; every other region is confirmed. Confirming the whole image confirms every region.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..constants import UNLABELLED


def untouched_regions(labels: np.ndarray, proposal: np.ndarray) -> np.ndarray:
    """Ids of the regions of ``labels`` that are exactly one region of ``proposal``, pixel for pixel.

    Proposal id 0 means "no proposal here" (pixels a person had already settled when the proposal
    was made), so a region lying there is never untouched.

    Returns
    -------
    ndarray of int
        Sorted region ids (never 0): the regions nobody changed since the over-segmentation.
    """
    labels, proposal = np.asarray(labels), np.asarray(proposal)
    if labels.shape != proposal.shape:
        return np.zeros(0, np.int64)
    # O(pixels), no sort: each region takes the proposal id of one of its pixels (any: fancy
    # assignment keeps one), then counts the pixels that disagree with it.
    lab = labels.ravel().astype(np.int64)
    prop = proposal.ravel().astype(np.int64)
    n = int(lab.max()) + 1
    rep = np.zeros(n, np.int64)
    rep[lab] = prop
    disagree = np.bincount(lab[prop != np.take(rep, lab)], minlength=n)
    sizes = np.bincount(lab, minlength=n)
    proposal_sizes = np.bincount(prop, minlength=int(rep.max()) + 1)
    keep = (sizes > 0) & (disagree == 0) & (rep != 0) & (sizes == proposal_sizes[rep])
    keep[UNLABELLED] = False
    return np.flatnonzero(keep).astype(np.int64)


def proposed_regions(labels: np.ndarray, proposal: np.ndarray | None, *, by_hand: Iterable[int] = (),
                     image_confirmed: bool = False) -> np.ndarray:
    """Sorted ids of the regions of ``labels`` still proposed: untouched and not confirmed by hand."""
    if proposal is None or image_confirmed:
        return np.zeros(0, np.int64)
    return np.setdiff1d(untouched_regions(labels, proposal), np.asarray(list(by_hand), np.int64))


def confirmed_regions(labels: np.ndarray, proposal: np.ndarray | None, *, by_hand: Iterable[int] = (),
                      image_confirmed: bool = False) -> np.ndarray:
    """Sorted ids of the regions of ``labels`` (never unlabelled) a person has confirmed."""
    ids = np.unique(np.asarray(labels))
    ids = ids[ids != UNLABELLED].astype(np.int64)
    return np.setdiff1d(ids, proposed_regions(labels, proposal, by_hand=by_hand, image_confirmed=image_confirmed))
