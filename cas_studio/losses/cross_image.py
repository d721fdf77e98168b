"""Cross-image discriminator: keeps the regions of different images of a batch apart."""

from __future__ import annotations

import torch

from ._regions import LossModule, accumulation_dtype, check_inputs, index_regions, pair_distance_sum


def cross_image_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    *,
    from_logits: bool = True,
    ignore_index: int = -1,
) -> torch.Tensor:
    r"""Minus the mean squared distance between region means of *different* images of a batch.

    .. math::

        \mathrm{X} = -\frac{1}{|P|} \sum_{(i, j) \in P} \|\hat s_i - \hat s_j\|^2

    with :math:`P` the ordered pairs of regions that lie in different images and :math:`\hat s_i`
    a region's mean softmax. It is CAS's discriminator carried across the batch and averaged over
    its pairs, so it lies in :math:`[-2, 0]`; CAS's own discriminator already covers the pairs
    within each image.

    Why: the CAS discriminator only sees the regions that meet in one image. A convolutional
    network, which cannot choose a channel per image, then gives each texture a fixed channel and
    can squeeze hundreds of textures onto a few channels, so two textures that meet in a new image
    often share one (measured on Outex: in every mosaic). Regions of different images are almost
    always different content, so pushing them apart asks the network to spread its content over
    all M channels. Unlike balancing the batch's mean softmax (:func:`channel_balance_loss` with
    ``scope="batch"``), it cannot be met by blurring every pixel's code: mixed region means are
    closer together, not further apart. It reads regions, never classes.

    Args:
        input: (B, M, H, W) logits (``from_logits=True``) or probabilities.
        target: (B, H, W) integer region ids (any numbering; ids are per image, so id 3 of two
            images are two regions).
        from_logits: apply a softmax over dim 1 first.
        ignore_index: pixels whose target equals this are left out.

    Returns:
        A scalar in [-2, 0] (float32; float64 for float64 input); 0 when fewer than two images
        hold a labelled pixel.

    Raises:
        ValueError: on bad shapes or dtypes, or NaN/inf input.

    Example:
        >>> target = torch.zeros(2, 1, 2, dtype=torch.long)          # two 1x2 images, one region each
        >>> same = torch.tensor([[[[9., 9.]], [[-9., -9.]]]] * 2)    # both on channel 0
        >>> apart = torch.cat([same[:1], same[:1].flip(1)])          # image 2 on channel 1
        >>> round(cross_image_loss(same, target).item(), 4), round(cross_image_loss(apart, target).item(), 4)
        (0.0, -2.0)
    """
    check_inputs(input, target, name="cross_image_loss")
    b, m = input.shape[:2]
    index = index_regions(target, ignore_index, name="cross_image_loss")
    x = input.to(accumulation_dtype(input))
    probs = torch.softmax(x, dim=1) if from_logits else x
    sizes = index.region_size.to(x.dtype)  # (B, K); absent slots have size 0 and sum 0
    means = index.region_sum(probs.reshape(b, m, -1)) / sizes.clamp_min(1).unsqueeze(1)  # (B, M, K)
    # The cross-image pairs are all the batch's pairs less those within each image.
    k = index.regions_per_image.to(x.dtype)
    sq = (means * means).sum(1).sum(1)  # (B,)
    total = means.sum(2)  # (B, M)
    n = k.sum()
    all_pairs = pair_distance_sum(n, sq.sum(), total.sum(0))
    within = pair_distance_sum(k, sq, total).sum()
    pairs = n * n - (k * k).sum()
    if float(pairs) == 0:
        return x.new_zeros(())
    return (within - all_pairs).clamp_max(0.0) / pairs


class CrossImageLoss(LossModule):
    """Module form of :func:`cross_image_loss`."""

    function = staticmethod(cross_image_loss)
