"""Reading and writing images and label maps, with clear errors for bad files."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from cas_studio.io import ImageError, list_images, read_image, read_label_map, to_rgb8, write_image, write_label_map


def test_reads_gray_rgba_and_16bit_as_rgb8(tmp_path):
    gray = (np.arange(64, dtype=np.uint8).reshape(8, 8) * 4)
    cv2.imwrite(str(tmp_path / "g.png"), gray)
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., 2], rgba[..., 3] = 200, 128  # BGRA on disk: red 200
    cv2.imwrite(str(tmp_path / "a.png"), rgba)
    deep = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 1000)
    cv2.imwrite(str(tmp_path / "d.png"), deep)
    g, a, d = (read_image(tmp_path / n) for n in ("g.png", "a.png", "d.png"))
    assert g.shape == a.shape == d.shape == (8, 8, 3) and g.dtype == np.uint8
    assert (g[..., 0] == gray).all()
    assert (a[..., 0] == 200).all() and (a[..., 2] == 0).all()  # channel order is RGB
    assert d[..., 0].max() == 63000 // 257


@pytest.mark.parametrize("content,message", [(b"", "not a readable image"), (b"hello, world", "not a readable image")])
def test_corrupt_files(tmp_path, content, message):
    path = tmp_path / "bad.jpg"
    path.write_bytes(content)
    with pytest.raises(ImageError, match=message):
        read_image(path)


def test_truncated_png(tmp_path):
    path = tmp_path / "t.png"
    cv2.imwrite(str(path), np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ImageError, match="t.png"):
        read_image(path)


def test_huge_image_refused_before_decoding(tmp_path):
    from PIL import Image

    path = tmp_path / "huge.png"
    Image.new("L", (7000, 6000)).save(path)  # 42 MP, tiny on disk
    with pytest.raises(ImageError, match="megapixels"):
        read_image(path)


def test_missing_file():
    with pytest.raises(FileNotFoundError, match="image not found"):
        read_image("/nonexistent/x.png")


def test_label_map_round_trip_16bit(tmp_path):
    labels = np.random.default_rng(1).integers(0, 65536, (20, 30))
    write_label_map(tmp_path / "l.png", labels)
    assert (read_label_map(tmp_path / "l.png") == labels).all()
    with pytest.raises(ImageError, match="65535"):
        write_label_map(tmp_path / "x.png", np.full((2, 2), 70000))


def test_write_image_round_trip(tmp_path):
    rgb = np.random.default_rng(2).integers(0, 255, (9, 11, 3), dtype=np.uint8)
    write_image(tmp_path / "x.png", rgb)
    assert (read_image(tmp_path / "x.png") == rgb).all()


def test_to_rgb8_float_and_bad_shapes():
    assert to_rgb8(np.ones((4, 4))).max() == 255
    with pytest.raises(ImageError, match="shape"):
        to_rgb8(np.zeros((4, 4, 5), np.uint8))


def test_empty_folder(tmp_path):
    with pytest.raises(ValueError, match="no images"):
        list_images(tmp_path)


@pytest.mark.parametrize("shape", [(1, 1, 3), (4, 200, 3), (200, 7)])
def test_an_image_too_small_to_segment_is_refused_by_name(tmp_path, shape):
    from cas_studio.io import MIN_SIDE

    path = write_image(tmp_path / "tiny.png", np.zeros(shape, np.uint8))
    with pytest.raises(ImageError, match=f"tiny.png: image is {shape[1]}x{shape[0]} pixels, too small to segment "
                                         f"\\(at least {MIN_SIDE}"):
        read_image(path)


def test_a_jpeg_with_an_exif_rotation_is_read_upright(tmp_path):
    from PIL import Image

    from cas_studio.io import read_image

    stored = np.zeros((40, 60, 3), np.uint8)
    stored[:10] = 255  # a white band along the stored top edge
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to show"
    Image.fromarray(stored).save(tmp_path / "phone.jpg", exif=exif, quality=95)
    Image.fromarray(stored).save(tmp_path / "plain.jpg", quality=95)
    shown = read_image(tmp_path / "phone.jpg")
    assert shown.shape == (60, 40, 3) and shown[:, -10:].mean() > 200 and shown[:, :10].mean() < 50
    assert read_image(tmp_path / "plain.jpg").shape == (40, 60, 3)


def test_a_floating_point_colour_tiff_is_read_not_called_corrupt(tmp_path):
    import cv2

    rgb = np.random.default_rng(0).random((40, 50, 3)).astype(np.float32)  # values in [0, 1]
    cv2.imwrite(str(tmp_path / "float.tif"), rgb[..., ::-1])  # Pillow cannot open this one
    image = read_image(tmp_path / "float.tif")
    assert image.dtype == np.uint8 and image.shape == (40, 50, 3)
    assert np.abs(image.astype(int) - np.round(rgb * 255)).max() <= 1
