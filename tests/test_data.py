"""Dataset layouts, augmentation and the label-noise setting."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cas_studio.data import NAMED, Augment, RegionDataset, augment_pair, folder_items, read_target, region_label_noise, resolve
from cas_studio.io import ImageError, write_image, write_label_map
from cas_studio.losses import cas_loss, ce_loss

from .helpers import make_figure_ground


def test_figure_ground_folder(tmp_path):
    make_figure_ground(tmp_path / "set", n=3)
    items = resolve(tmp_path / "set")
    assert len(items) == 3 and items[0].kind == "mask"
    assert set(np.unique(read_target(items[0]))) == {0, 1}


def test_duts_layout(tmp_path):
    make_figure_ground(tmp_path / "tmp", n=2)
    (tmp_path / "duts").mkdir()
    (tmp_path / "tmp" / "images").rename(tmp_path / "duts" / "DUTS-TE-Image")
    (tmp_path / "tmp" / "masks").rename(tmp_path / "duts" / "DUTS-TE-Mask")
    assert len(folder_items(tmp_path / "duts")) == 2


def test_label_map_folder_and_size_mismatch(tmp_path):
    write_image(tmp_path / "images" / "a.png", np.zeros((10, 12, 3), np.uint8))
    write_label_map(tmp_path / "labels" / "a.png", np.arange(120).reshape(10, 12))
    (item,) = folder_items(tmp_path)
    assert read_target(item).max() == 119
    with pytest.raises(ImageError, match="a.png"):
        read_target(item, shape=(11, 12))


def test_unknown_layout_and_empty_dataset(tmp_path):
    (tmp_path / "x").mkdir()
    with pytest.raises(ValueError, match="unknown dataset layout"):
        resolve(tmp_path / "x")
    with pytest.raises(ValueError, match="empty"):
        RegionDataset([])


def test_augment_keeps_image_and_labels_aligned():
    rng = np.random.default_rng(0)
    image = np.zeros((50, 80, 3), np.uint8)
    labels = np.zeros((50, 80), np.int64)
    image[:, 40:] = 255
    labels[:, 40:] = 1
    for _ in range(10):
        im, lab = augment_pair(image, labels, 32, Augment(jitter=0.0), rng)
        assert im.shape == (32, 32, 3) and lab.shape == (32, 32)
        bright = im[..., 0] > 127
        assert (bright == (lab == 1)).mean() > 0.95


def test_dataset_is_reproducible(tmp_path):
    items = resolve(make_figure_ground(tmp_path / "s", n=2))
    a = RegionDataset(items, size=32, seed=3)[1]
    b = RegionDataset(items, size=32, seed=3)[1]
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    ds = RegionDataset(items, size=32, seed=3)
    ds.set_epoch(1)
    assert not torch.equal(ds[1][0], a[0])


def test_label_noise_swaps_ids_but_keeps_regions():
    rng = np.random.default_rng(0)
    labels = np.array([[0, 0, 1], [2, 2, -1]])
    noisy = region_label_noise(labels, 1.0, rng)
    assert (noisy != labels)[labels >= 0].all() and noisy[1, 2] == -1
    same_region = lambda a: a[:, :, None] == a.reshape(-1)[None, None, :]  # noqa: E731
    assert (same_region(noisy) == same_region(labels)).all()
    assert (region_label_noise(labels, 0.0, rng) == labels).all()
    with pytest.raises(ValueError, match="probability"):
        region_label_noise(labels, 1.5, rng)


def test_cas_is_invariant_to_label_noise_and_ce_is_not():
    rng = np.random.default_rng(1)
    labels = (rng.random((4, 16, 16)) > 0.5).astype(np.int64)
    noisy = np.stack([region_label_noise(l, 1.0, rng) for l in labels])
    x = torch.randn(4, 2, 16, 16)
    t, tn = torch.from_numpy(labels), torch.from_numpy(noisy)
    torch.testing.assert_close(cas_loss(x, tn), cas_loss(x, t))
    assert not torch.allclose(ce_loss(x, tn), ce_loss(x, t))


@pytest.mark.data
@pytest.mark.parametrize("name", NAMED)
def test_named_sets_load(data_dir, name):
    items = resolve(name)
    assert items
    x, t = RegionDataset(items, size=64)[0]
    assert x.shape == (3, 64, 64) and t.shape == (64, 64)
    assert len(torch.unique(t)) >= 2


@pytest.mark.data
def test_sod_split_follows_bsds_and_is_disjoint(data_dir):
    train = {it.image.stem for it in resolve("sod:train")}
    val = {it.image.stem for it in resolve("sod:val")}
    assert len(train) == 200 and len(val) == 100 and not train & val


def test_mosaics_have_the_requested_regions_and_real_borders():
    from cas_studio.data.mosaics import MosaicDataset, compose_mosaic, random_layout

    rng = np.random.default_rng(0)
    layout = random_layout(64, 5, rng)
    assert sorted(np.unique(layout)) == [0, 1, 2, 3, 4]
    textures = [np.full((20, 20, 3), 40 * k, np.uint8) for k in range(6)]
    image, labels = compose_mosaic(textures, 64, rng, regions=(3, 3))
    assert len(np.unique(labels)) == 3
    for k in np.unique(labels):  # each region is filled from exactly one texture
        assert len(np.unique(image[labels == k][:, 0])) == 1
    ds = MosaicDataset(textures, size=32, length=5, seed=1)
    x, t = ds[2]
    assert x.shape == (3, 32, 32) and torch.equal(t, MosaicDataset(textures, size=32, length=5, seed=1)[2][1])


def test_mosaic_fill_keeps_texture_orientation():
    from cas_studio.data.mosaics import _fill

    yy, xx = np.mgrid[:40, :40]
    stripes = np.repeat((((yy + xx) // 4) % 2 * 255).astype(np.uint8)[..., None], 3, axis=2)  # "\\" stripes
    for seed in range(10):
        out = _fill(stripes, 96, np.random.default_rng(seed))[..., 0].astype(np.float64)
        assert out.shape == (96, 96)
        # Along the stripes ("\\" runs down-left) pixels agree; across a mirror they would not.
        along = np.abs(out[1:, :-1] - out[:-1, 1:]).mean()
        across = np.abs(out[1:, 1:] - out[:-1, :-1]).mean()
        assert along < 0.5 * across, seed


@pytest.mark.data
def test_outex_textures_and_items(data_dir):
    from cas_studio.data.mosaics import outex_textures

    textures = outex_textures(data_dir / "outex", mosaics=[0, 1])
    assert len(textures) == 10 and min(t.shape[0] for t in textures) >= 64
    items = resolve("outex")
    assert len(items) == 50 and len(np.unique(read_target(items[0]))) == 5


def test_to_gray_keeps_luminance_in_three_equal_channels():
    from cas_studio.data.mosaics import to_gray

    red = np.zeros((4, 5, 3), np.uint8)
    red[..., 0] = 200
    (gray,) = to_gray([red])
    assert gray.shape == (4, 5, 3) and (gray == gray[..., :1]).all()
    assert 50 < gray[0, 0, 0] < 70  # 0.299 * 200, not 200 or 0


@pytest.mark.data
def test_named_mosaics_are_gray_like_the_outex_mosaics(data_dir):
    from cas_studio.data import make_dataset

    for source in ("mosaics", "outex-mosaics"):
        x, _ = make_dataset(source, size=64)[0]
        assert torch.allclose(x[0] * 0.229 + 0.485, x[1] * 0.224 + 0.456, atol=1e-5), source


@pytest.mark.data
def test_outex_mosaics_use_the_outex_regions_only(data_dir):
    from cas_studio.data import make_dataset

    outex, both = make_dataset("outex-mosaics", size=32), make_dataset("mosaics", size=32)
    assert len(outex.textures) == 50 * 5  # 50 mosaics x 5 regions
    assert len(both.textures) > len(outex.textures)


def test_composites_paste_the_masked_object(tmp_path):
    from cas_studio.data import make_dataset
    from cas_studio.data.composites import paste

    rng = np.random.default_rng(0)
    fg = np.zeros((40, 40, 3), np.uint8)
    fg[10:20, 10:30] = 255
    mask = fg[..., 0] > 0
    bg = np.full((50, 60, 3), 30, np.uint8)
    image, labels = paste(fg, mask, bg, 32, rng)
    assert image.shape == (32, 32, 3) and set(np.unique(labels)) == {0, 1}
    assert (image[labels == 1] == 255).all() and (image[labels == 0] == 30).all()
    ds = make_dataset("composites:" + str(make_figure_ground(tmp_path / "fg", n=3, size=40)), size=32)
    x, t = ds[0]
    assert x.shape == (3, 32, 32) and set(t.unique().tolist()) <= {0, 1}
    with pytest.raises(ValueError, match="at least two"):
        make_dataset("composites:" + str(make_figure_ground(tmp_path / "one", n=1, size=40)), size=32)


def test_frame_crop_keeps_the_whole_image_and_its_aspect():
    image = np.zeros((40, 80, 3), np.uint8)
    image[:, 60:] = 255  # a white band at the right end
    labels = np.zeros((40, 80), np.int64)
    labels[:, 60:] = 1
    rng = np.random.default_rng(0)
    whole = Augment(flip=False, scale=(1.0, 1.0), jitter=0.0, frame=True)
    im, lab = augment_pair(image, labels, 32, whole, rng)
    assert im.shape == (32, 32, 3) and lab.shape == (32, 32)
    assert lab[:, -1].all() and not lab[:, 0].any()  # both ends of the long side survive
    square = Augment(flip=False, scale=(1.0, 1.0), jitter=0.0)
    seen = {int(augment_pair(image, labels, 32, square, np.random.default_rng(s))[1].any()) for s in range(8)}
    assert 0 in seen  # a square crop of the short side can miss the band entirely


def test_the_new_layout_texture_set_is_made_once_from_textures_held_out_of_training(tmp_path, monkeypatch):
    from cas_studio.data.mosaics import TRAIN_MOSAICS, VAL_MOSAICS, layout_set

    assert not set(TRAIN_MOSAICS) & set(VAL_MOSAICS)
    rng = np.random.default_rng(0)
    textures = [rng.integers(0, 255, (40, 40, 3), dtype=np.uint8) for _ in range(6)]
    folder = layout_set(tmp_path / "layouts", textures, n=4, size=64)
    first = sorted((folder / "labels").iterdir())
    stamp = [p.stat().st_mtime_ns for p in first]
    again = layout_set(tmp_path / "layouts", textures, n=4, size=64)  # the same arguments: not rewritten
    assert [p.stat().st_mtime_ns for p in sorted((again / "labels").iterdir())] == stamp
    from cas_studio.io import read_label_map

    for p in first:
        ids = np.unique(read_label_map(p))
        assert ids.min() == 1 and 2 <= len(ids) <= 5  # every region an id from 1: none read as unlabelled
