"""The pure annotation operations and the project format."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from skimage import data

from cas_studio import annotation as ann
from cas_studio.data import resolve
from cas_studio.data.project import create_project, export_zip, open_project
from cas_studio.io import write_image, write_label_map


@pytest.fixture(scope="module")
def coffee():
    return data.coffee()[::2, ::2]


@pytest.mark.parametrize("method", ["watershed", "slic", "felzenszwalb"])
def test_oversegment_covers_image_with_many_regions(coffee, method):
    labels = ann.oversegment(coffee, method)
    assert labels.shape == coffee.shape[:2] and labels.dtype == np.int32
    assert labels.min() == 1  # no unlabelled pixel
    n = len(np.unique(labels))
    assert 20 < n < 5000
    assert labels.max() == n  # ids are 1..N


def test_oversegment_follows_region_count(coffee):
    few = len(np.unique(ann.oversegment(coffee, "watershed", regions=50)))
    many = len(np.unique(ann.oversegment(coffee, "watershed", regions=800)))
    assert many > 3 * few


def test_oversegment_large_image_is_downscaled_but_full_size(coffee):
    big = np.tile(coffee, (3, 3, 1))  # 1.2 MP
    labels = ann.oversegment(big, "slic", regions=200)
    assert labels.shape == big.shape[:2]


def test_oversegment_bad_arguments(coffee):
    with pytest.raises(ValueError, match="unknown over-segmentation method"):
        ann.oversegment(coffee, "kmeans")
    with pytest.raises(ValueError, match="no parameter"):
        ann.oversegment(coffee, "slic", scale=3)
    with pytest.raises(ValueError, match="needs a loaded regions model"):
        ann.oversegment(coffee, "model")


def test_merge_split_paint_erase_are_pure():
    labels = np.array([[1, 1, 2], [3, 3, 2]], np.int32)
    before = labels.copy()
    merged = ann.merge(labels, [2, 3])
    assert (merged == np.array([[1, 1, 2], [2, 2, 2]])).all()
    assert (labels == before).all()
    painted = ann.paint(labels, labels == 1)
    assert set(np.unique(painted)) == {2, 3, 4}
    grown = ann.paint(labels, np.array([[0, 0, 0], [1, 0, 0]], bool), region=2)
    assert grown[1, 0] == 2
    erased = ann.erase(labels, labels == 3)
    assert (erased[1, :2] == 0).all()
    with pytest.raises(ValueError, match="unlabelled"):
        ann.merge(erased, [0, 1])


def test_split_makes_new_regions_by_colour():
    image = np.zeros((20, 20, 3), np.uint8)
    image[:, 10:] = 255
    labels = np.ones((20, 20), np.int32)
    out = ann.split(labels, image, 1, parts=2)
    assert len(np.unique(out)) == 2
    assert len(np.unique(out[:, :10])) == 1 and len(np.unique(out[:, 10:])) == 1
    with pytest.raises(ValueError, match="does not exist"):
        ann.split(labels, image, 9)


@pytest.mark.parametrize("parts", [2, 3, 5])
def test_split_makes_exactly_the_pieces_asked_for_on_texture(parts):
    """A textured region used to shatter into one region per connected blob (154 for one horse)."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (120, 160, 3)).astype(np.uint8)
    labels = np.ones((120, 160), np.int32)
    labels[:, 100:] = 2
    out = ann.split(labels, image, 1, parts=parts)
    inside = np.unique(out[:, :100])
    assert len(inside) == parts and 1 in inside and (out[:, 100:] == 2).all()
    assert set(inside) - {1} == set(range(3, 3 + parts - 1))  # new ids follow the largest


def test_split_refuses_ids_past_the_16_bit_range():
    image = np.zeros((4, 4, 3), np.uint8)
    labels = np.ones((4, 4), np.int32)
    labels[0, 0] = ann.MAX_ID
    with pytest.raises(ValueError, match="above 65535"):
        ann.split(labels, image, 1, parts=2)


def test_overlay_mutes_proposed_regions():
    image = np.full((2, 4, 3), 100, np.uint8)
    labels = np.array([[1, 1, 2, 2], [1, 1, 2, 2]])
    out = ann.overlay(image, labels, muted=[2])
    assert (out[:, 3] == 100).all() and not (out[:, 0] == 100).all()


def test_stroke_mask_and_region_at():
    mask = ann.stroke_mask((50, 50), [(5, 5), (40, 5)], radius=3)
    assert mask[5, 20] and not mask[30, 20]
    labels = np.arange(12).reshape(3, 4)
    assert ann.region_at(labels, x=3, y=1) == 7
    with pytest.raises(ValueError, match="outside"):
        ann.region_at(labels, 4, 0)


def test_history_undo_redo():
    h = ann.History(np.zeros((2, 2), np.int32), limit=2)
    for v in (1, 2, 3):
        h.push(np.full((2, 2), v))
    assert h.undo()[0, 0] == 2 and h.undo()[0, 0] == 1
    assert h.undo()[0, 0] == 1  # limit reached: the oldest states were dropped
    assert h.redo()[0, 0] == 2
    h.push(np.full((2, 2), 9))
    assert not h.can_redo


def test_overlay_and_boundaries():
    labels = np.array([[1, 1, 2], [1, 1, 2]], np.int32)
    b = ann.boundaries(labels)
    assert b[:, 1].all() and not b[:, 0].any()
    out = ann.overlay(np.zeros((2, 3, 3), np.uint8), labels, highlight=[2])
    assert out.shape == (2, 3, 3) and (out[:, 1] == 255).all()


@pytest.mark.parametrize("grey", [0, 128, 255])
def test_outlines_contrast_with_the_image_under_them(grey):
    labels = np.array([[1, 1, 2, 2]] * 3, np.int32)
    image = np.full((3, 4, 3), grey, np.uint8)
    out = ann.overlay(image, labels, muted=[1, 2])  # outlined only, as proposals are
    edge = ann.boundaries(labels)
    assert np.abs(out[edge].astype(int) - grey).min() >= 127


def test_project_round_trip_and_training_items(tmp_path, coffee):
    src = tmp_path / "in"
    write_image(src / "a.png", coffee)
    write_image(src / "b.jpg", coffee)
    project = create_project(tmp_path / "proj")
    added = project.add_images([src / "a.png", src / "b.jpg", src / "a.png"])
    assert [p.name for p in added] == ["a.png", "b.jpg", "a_1.png"]
    labels = ann.oversegment(coffee, "watershed", regions=40)
    labels[:5] = 0
    project.save_labels(added[0], labels, method="watershed", params={"regions": 40}, edits=3)
    # every region confirmed, but 5 rows unlabelled: not a whole image yet
    assert project.progress() == "0 of 3 images confirmed"
    project.save_labels(added[0], labels, method="watershed", params={"regions": 40}, edits=3, image_confirmed=True)
    assert project.progress() == "1 of 3 images confirmed"
    side = project.sidecar(added[0])
    assert side["method"] == "watershed" and side["edits"] == 3 and len(side["image_sha256"]) == 64
    assert (open_project(project.root).load_labels(added[0]) == labels).all()
    items = resolve(project.root)
    assert len(items) == 1 and items[0].kind == "annotation"
    from cas_studio.data import read_target

    target = read_target(items[0])
    assert (target[:5] == -1).all() and target.min() == -1
    zpath = export_zip(project, tmp_path / "out.zip")
    with zipfile.ZipFile(zpath) as z:
        names = set(z.namelist())
        assert {"project.json", "images/a.png", "labels/a.png.png", "labels/a.png.json"} <= names
        z.extractall(tmp_path / "unzipped")
    assert len(resolve(tmp_path / "unzipped")) == 1
    assert json.loads((tmp_path / "unzipped" / "project.json").read_text())["images"] == ["a.png"]


def test_export_writes_coco_that_pycocotools_reads_back(tmp_path, coffee):
    from pycocotools.coco import COCO

    project = create_project(tmp_path / "p")
    write_image(tmp_path / "a.png", coffee[:60, :80])
    (img,) = project.add_images([tmp_path / "a.png"])
    labels = np.zeros((60, 80), np.int32)
    labels[:, :30], labels[:, 30:70] = 3, 7  # columns 70.. stay unlabelled
    project.save_labels(img, labels)
    with zipfile.ZipFile(export_zip(project, tmp_path / "out.zip")) as z:
        z.extractall(tmp_path / "unzipped")
    coco = COCO(str(tmp_path / "unzipped" / "annotations.coco.json"))
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == ["region"]
    (image_id,) = coco.getImgIds()
    assert coco.loadImgs(image_id)[0]["file_name"] == "images/a.png"
    anns = coco.loadAnns(coco.getAnnIds(imgIds=image_id))
    assert sorted(a["region_id"] for a in anns) == [3, 7]
    for a in anns:
        assert (coco.annToMask(a).astype(bool) == (labels == a["region_id"])).all()
        assert a["area"] == (labels == a["region_id"]).sum() and a["confirmed"]


def test_export_refuses_a_link_out_of_the_project(tmp_path, coffee):
    project = create_project(tmp_path / "p")
    write_image(tmp_path / "a.png", coffee[:40, :40])
    (img,) = project.add_images([tmp_path / "a.png"])
    project.save_labels(img, np.ones((40, 40), np.int32))
    secret = write_image(tmp_path / "secret.png", coffee[:40, :40])
    img.unlink()
    img.symlink_to(secret)  # a link placed inside the project
    with pytest.raises(ValueError, match="links or lie outside the project: images/a.png"):
        export_zip(project, tmp_path / "out.zip")
    assert not (tmp_path / "out.zip").exists()


def test_export_refuses_a_project_json_linked_outside(tmp_path, coffee):
    project = create_project(tmp_path / "p")
    write_image(tmp_path / "a.png", coffee[:40, :40])
    (img,) = project.add_images([tmp_path / "a.png"])
    project.save_labels(img, np.ones((40, 40), np.int32))
    outside = tmp_path / "elsewhere.json"
    outside.write_text(project.manifest.read_text())
    project.manifest.unlink()
    project.manifest.symlink_to(outside)
    with pytest.raises(ValueError, match="links or lie outside the project: project.json"):
        export_zip(project, tmp_path / "out.zip")
    assert not (tmp_path / "out.zip").exists()


def test_progress_counts_whole_images_confirmed(tmp_path, coffee):
    project = create_project(tmp_path / "p")
    for name in ("a.png", "b.png"):
        write_image(tmp_path / name, coffee[:40, :40])
    a, b = project.add_images([tmp_path / "a.png", tmp_path / "b.png"])
    proposal = np.repeat(np.arange(1, 5), 10)[None, :].repeat(40, 0).astype(np.int32)
    project.save_proposal(a, proposal)
    merged = proposal.copy()
    merged[merged == 2] = 1
    project.save_labels(a, merged)  # one region confirmed (the merge), two still proposed
    assert len(project.confirmed()) == 1 and project.progress() == "0 of 2 images confirmed"
    project.save_labels(a, merged, image_confirmed=True)
    assert project.progress() == "1 of 2 images confirmed"


def test_project_refuses_bad_input(tmp_path, coffee):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("x")
    with pytest.raises(ValueError, match="not empty"):
        create_project(tmp_path / "full")
    with pytest.raises(ValueError, match="not an annotation project"):
        open_project(tmp_path / "full")
    project = create_project(tmp_path / "p")
    (tmp_path / "bad.png").write_bytes(b"junk")
    with pytest.raises(ValueError, match="not a readable image"):
        project.add_images([tmp_path / "bad.png"])
    assert project.images() == []
    with pytest.raises(ValueError, match="nothing to export"):
        export_zip(project, tmp_path / "e.zip")
    write_image(tmp_path / "ok.png", coffee)
    (img,) = project.add_images([tmp_path / "ok.png"])
    with pytest.raises(ValueError, match="label map is"):
        project.save_labels(img, np.ones((3, 3), np.int32))


def test_import_binary_mask_and_label_map(tmp_path, coffee):
    project = create_project(tmp_path / "p")
    write_image(tmp_path / "ok.png", coffee)
    (img,) = project.add_images([tmp_path / "ok.png"])
    mask = np.zeros(coffee.shape[:2], np.uint8)
    mask[50:100, 50:100] = 255
    write_label_map(tmp_path / "m.png", mask)
    project.import_labels(img, tmp_path / "m.png", binary=True)
    assert set(np.unique(project.load_labels(img))) == {1, 2}
    project.import_labels(img, tmp_path / "m.png", binary=False)
    assert set(np.unique(project.load_labels(img))) == {1, 256}


def test_matched_colours_paint_regions_of_one_reference_region_alike():
    reference = np.array([[1, 1, 2, 2], [1, 1, 2, 2], [0, 0, 0, 0]])
    before = np.array([[5, 5, 6, 6], [5, 5, 6, 6], [7, 7, 7, 7]])
    after = np.array([[1, 2, 3, 3], [1, 2, 3, 3], [4, 4, 4, 4]])  # splits reference region 1 in two
    b, a = ann.matched_colours(before, reference), ann.matched_colours(after, reference)
    assert (b[:2] == reference[:2]).all() and (a[:2] == reference[:2]).all()
    assert (a[2] == 0).all()  # a region over unlabelled pixels only keeps the unlabelled colour
    big, big_ids = np.kron(after, np.ones((4, 4), int)), np.kron(a, np.ones((4, 4), int))
    out = ann.overlay(np.zeros((12, 16, 3), np.uint8), big, colour_ids=big_ids)
    assert (out[1, 1] == out[1, 5]).all()  # the two halves of the split region: one colour
    assert ann.boundaries(big)[1, 3] and not (out[1, 3] == out[1, 1]).all()  # and an outline between them


def test_a_fine_cut_is_shown_as_a_picture_with_faint_outlines_and_edits_keep_full_ones():
    from cas_studio.annotation import render

    image = data.coffee()[::2, ::2]
    hierarchy = ann.build_regions(image)
    fine = hierarchy.cut(hierarchy.regions_at(1.0))
    ids = np.unique(fine)
    assert len(ids) > render.FAINT_ABOVE  # the default start: thousands of superpixels
    shown = render.overlay(image, fine, muted=ids.tolist())
    edge = render.boundaries(fine)
    change = np.abs(shown.astype(int) - image)[edge].mean()
    full = np.abs(render.overlay(image, fine, muted=ids[:render.FAINT_ABOVE].tolist()).astype(int) - image)
    assert change < 0.4 * full[edge & np.isin(fine, ids[:render.FAINT_ABOVE])].mean()  # faint, not a mesh
    assert (shown[~edge] == image[~edge]).all()  # proposed regions keep the plain photo
    # An edited region (not muted) keeps its full outline among faint ones.
    edited = ids[len(ids) // 2]
    mine = render.overlay(image, fine, muted=[i for i in ids.tolist() if i != edited])
    ring = edge & (fine == edited)
    assert set(np.unique(mine[ring])) <= {0, 255}


@pytest.fixture(scope="module")
def coffee_cut() -> tuple[np.ndarray, np.ndarray]:
    """The coffee photo (half size) and its hierarchy cut at granularity 0.5."""
    image = data.coffee()[::2, ::2]
    hierarchy = ann.build_regions(image)
    return image, hierarchy.cut(hierarchy.regions_at(0.5))


def test_touching_regions_never_share_a_colour_and_far_ones_keep_theirs(coffee_cut):
    from cas_studio.colours import adjacent_pairs, colorize, neighbour_colours

    _, labels = coffee_cut
    ids = np.unique(labels)
    table = neighbour_colours(labels, ids)
    pairs = adjacent_pairs(labels, ids)
    assert len(pairs) > len(ids) // 2
    assert not any((table[a] == table[b]).all() for a, b in pairs.tolist())
    shown = colorize(labels, distinct=ids)
    a, b = pairs[0]
    assert not (shown[labels == a][0] == shown[labels == b][0]).all()
    # Merging two regions recolours only around them: a region touching neither keeps its colour.
    merged = ann.merge(labels, [int(a), int(b)])
    again = neighbour_colours(merged, np.unique(merged))
    near = {int(x) for p in pairs.tolist() if a in p or b in p for x in p}
    far = [i for i in ids.tolist() if i not in near and i in merged]
    kept = np.mean([(again[i] == table[i]).all() for i in far])
    assert kept > 0.8


def test_region_colours_differ_from_the_image_under_them_and_from_their_neighbours(coffee_cut):
    from cas_studio.colours import DISTINCT, MIN_CONTRAST, adjacent_pairs, neighbour_colours, region_means

    image, labels = coffee_cut
    ids = np.unique(labels)
    plain = neighbour_colours(labels, ids)
    under = region_means(labels, image)
    close = [i for i in ids.tolist() if np.linalg.norm(plain[i].astype(float) - under[i]) < MIN_CONTRAST]
    assert close  # the wooden table and the cup: some slots fall near the photo's own colours
    table = neighbour_colours(labels, ids, image=image)
    contrast = np.linalg.norm(table[ids].astype(float) - under[ids], axis=1)
    best = np.linalg.norm(DISTINCT[None].astype(float) - under[ids][:, None], axis=2).max(1)
    assert (contrast >= np.minimum(MIN_CONTRAST, best - 1e-6)).mean() > 0.95
    assert all(np.linalg.norm(table[i].astype(float) - under[i]) > np.linalg.norm(plain[i].astype(float) - under[i])
               for i in close if not (table[i] == plain[i]).all())
    pairs = adjacent_pairs(labels, ids)
    assert not any((table[a] == table[b]).all() for a, b in pairs.tolist())
    # A region the colour of its own slot (a flat patch painted in it) is given another colour.
    flat = np.zeros((40, 60), np.int32)
    flat[:, 30:] = 1
    picture = np.zeros((40, 60, 3), np.uint8)
    picture[flat == 1] = DISTINCT[1 % len(DISTINCT)]
    assert not (neighbour_colours(flat, np.array([1]), image=picture)[1] == DISTINCT[1]).all()
    assert (neighbour_colours(flat, np.array([1]))[1] == DISTINCT[1]).all()
    with pytest.raises(ValueError, match="label map"):
        neighbour_colours(flat, np.array([1]), image=picture[:20])
