"""Reading and writing images and label maps, with clear errors, and atomic file writes."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .constants import MAX_ID


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it over ``path`` in one step.

    Readers see either the old file or the complete new one, never a half-written file; on an
    exception the temporary file is removed and ``path`` is untouched.

    Example:
        >>> import tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
        >>> with atomic_path(target) as tmp:
        ...     _ = tmp.write_text("done")
        >>> target.read_text()
        'done'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # mkstemp makes the file private (0600); the result should keep the old file's mode, or the
    # usual 0644 for a new one.
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as f:  # make the bytes durable before the rename publishes them
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        _fsync_folder(path.parent)  # the rename itself survives a power cut
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform or file system can open a folder
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


#: Largest image we decode (decompression-bomb guard), in pixels.
MAX_PIXELS = 40_000_000
#: Smallest image side a file may have: below it there is nothing to segment (a 1x1 PNG is a mistake).
MIN_SIDE = 8
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
#: Largest region id a label-map PNG holds (16-bit).
MAX_LABEL = MAX_ID


class ImageError(ValueError):
    """An image or label map that cannot be used; the message names the file and the problem."""


def _check_size(height: int, width: int, source: str) -> None:
    if height * width > MAX_PIXELS:
        raise ImageError(f"{source}: image is {width}x{height} = {height * width / 1e6:.1f} megapixels, "
                         f"over the {MAX_PIXELS / 1e6:.0f} MP limit; downscale it first")
    if height < 1 or width < 1:
        raise ImageError(f"{source}: image has no pixels ({width}x{height})")


def _header_size(path: Path) -> tuple[int, int] | None:
    """(height, width) from the file header without decoding pixels, when PIL can tell."""
    import warnings

    from PIL import Image

    # PIL's own bomb guard stays as it is for the rest of the process (gradio relies on it); here
    # its warning is silenced and its error turned into our clearer message.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                return im.height, im.width
    except Image.DecompressionBombError as err:
        raise ImageError(f"{path}: image is over the {MAX_PIXELS / 1e6:.0f} MP limit ({err})") from None
    except Exception:
        pass
    # Pillow opens no floating-point colour TIFF (a scientific camera's or a renderer's); tifffile
    # (scikit-image's TIFF reader) reads its header, and OpenCV decodes it.
    try:
        import tifffile

        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            return int(page.imagelength), int(page.imagewidth)
    except Exception:
        return None


def to_rgb8(array: np.ndarray, *, source: str = "image") -> np.ndarray:
    """Any decoded image (gray, gray+alpha, RGB, RGBA; 8 or 16 bit; float in [0, 1]) -> HxWx3 uint8."""
    a = np.asarray(array)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim == 2:
        a = np.repeat(a[..., None], 3, axis=2)
    elif a.ndim == 3 and a.shape[2] == 2:  # gray + alpha
        a = np.repeat(a[..., :1], 3, axis=2)
    elif a.ndim == 3 and a.shape[2] == 4:  # alpha dropped: we segment what is visible
        a = a[..., :3]
    if a.ndim != 3 or a.shape[2] != 3:
        raise ImageError(f"{source}: expected a gray, RGB or RGBA image, got shape {a.shape}")
    _check_size(a.shape[0], a.shape[1], source)
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a)
    if a.dtype == np.uint16:
        return (a // 257).astype(np.uint8)
    if a.dtype == bool:
        return a.astype(np.uint8) * 255
    if np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise ImageError(f"{source}: image contains NaN or inf")
        scale = 255.0 if a.max(initial=0) <= 1.0 else 1.0
        return np.clip(a * scale, 0, 255).round().astype(np.uint8)
    if np.issubdtype(a.dtype, np.integer):
        return np.clip(a, 0, 255).astype(np.uint8)
    raise ImageError(f"{source}: unsupported pixel type {a.dtype}")


#: The formats we decode, by their leading bytes (whatever the file is named).
FORMATS = {"PNG": (b"\x89PNG\r\n\x1a\n",), "JPEG": (b"\xff\xd8\xff",), "BMP": (b"BM",),
           "TIFF": (b"II*\x00", b"MM\x00*"), "WebP": (b"RIFF",)}


def image_format(path: str | os.PathLike) -> str | None:
    """The format of a file by its leading bytes (a key of :data:`FORMATS`), or None."""
    with open(path, "rb") as f:
        head = f.read(16)
    for name, magics in FORMATS.items():
        if any(head.startswith(m) for m in magics) and (name != "WebP" or head[8:12] == b"WEBP"):
            return name
    return None


def _decode(path: Path, what: str) -> np.ndarray:
    """Decode a file as stored (any depth and channel count), refusing huge or unreadable ones.

    The format is told by the leading bytes and must be one we list; the pixel count is read from
    the header and checked before any decoder allocates (OpenCV alone would decode up to 2^30
    pixels of any format it knows, e.g. a Radiance HDR renamed ``.png``).
    """
    import cv2

    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    if image_format(path) is None:
        raise ImageError(f"{path}: not a readable {what}: not a {', '.join(FORMATS)} file")
    size = _header_size(path)
    if size is None:
        raise ImageError(f"{path}: not a readable {what} (its header cannot be read: corrupt or truncated)")
    _check_size(*size, str(path))
    data = np.fromfile(path, dtype=np.uint8)
    decoded = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if decoded is None:
        raise ImageError(f"{path}: not a readable {what} (corrupt, truncated or not an image file)")
    return decoded


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as HxWx3 uint8 RGB.

    Gray, RGBA and 16-bit images are converted; images over :data:`MAX_PIXELS` are refused before
    decoding.

    Raises:
        FileNotFoundError: no such file.
        ImageError: not an image, corrupt or truncated, too large, or under :data:`MIN_SIDE` pixels a side.
    """
    path = Path(path)
    decoded = _decode(path, "image")
    if min(decoded.shape[:2]) < MIN_SIDE:
        raise ImageError(f"{path.name}: image is {decoded.shape[1]}x{decoded.shape[0]} pixels, too small to segment "
                         f"(at least {MIN_SIDE} pixels a side)")
    if decoded.ndim == 3:  # OpenCV decodes to BGR(A)
        decoded = decoded[..., [2, 1, 0, 3][: decoded.shape[2]]] if decoded.shape[2] in (3, 4) else decoded
    return to_rgb8(_upright(decoded, path), source=str(path))


#: EXIF orientation -> the numpy steps that show the picture upright (PIL's exif_transpose table).
_ORIENT = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
           5: lambda a: a.swapaxes(0, 1), 6: lambda a: np.rot90(a, -1),
           7: lambda a: a.swapaxes(0, 1)[::-1, ::-1], 8: lambda a: np.rot90(a, 1)}


def _upright(image: np.ndarray, path: Path) -> np.ndarray:
    """``image`` turned as its EXIF orientation says (a phone's portrait photo stored sideways),
    once, at decode: every pixel coordinate in the project then refers to what a person sees."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            orientation = im.getexif().get(0x0112, 1)
    except (OSError, UnidentifiedImageError, SyntaxError):
        return image
    turn = _ORIENT.get(orientation)
    return image if turn is None else np.ascontiguousarray(turn(image))


def read_label_map(path: str | os.PathLike) -> np.ndarray:
    """Read an 8- or 16-bit single-channel PNG label map as HxW int32 region ids.

    A palette (VOC-style) PNG is read as its index values, not its colours.
    """
    path = Path(path)
    decoded = _decode(path, "label map")
    if decoded.ndim == 3 and _is_palette(path):
        from PIL import Image

        with Image.open(path) as im:
            return np.asarray(im, dtype=np.int32)
    if decoded.ndim == 3:
        if not (decoded == decoded[..., :1]).all():
            raise ImageError(f"{path}: label map must have one channel, got {decoded.shape[2]} differing channels")
        decoded = decoded[..., 0]
    if decoded.dtype not in (np.uint8, np.uint16):
        raise ImageError(f"{path}: label map must be 8 or 16 bit, got {decoded.dtype}")
    return decoded.astype(np.int32)


def _is_palette(path: Path) -> bool:
    from PIL import Image

    with Image.open(path) as im:
        return im.mode == "P"


def write_label_map(path: str | os.PathLike, labels: np.ndarray) -> Path:
    """Write HxW region ids in [0, 65535] as a 16-bit PNG, atomically."""
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ImageError(f"{path}: label map must be HxW, got shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() > MAX_LABEL):
        raise ImageError(f"{path}: region ids must lie in [0, {MAX_LABEL}], got "
                         f"[{labels.min()}, {labels.max()}]")
    return _write_encoded(path, ".png", labels.astype(np.uint16), "label map")


def write_image(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Write an HxW gray or HxWx3/4 RGB(A) uint8 image (format from the suffix), atomically."""
    image = np.asarray(image)
    if image.ndim == 3:
        image = image[..., [2, 1, 0, 3][: image.shape[2]]]  # OpenCV writes BGR(A)
    return _write_encoded(path, Path(path).suffix or ".png", image, "image")


def _write_encoded(path: str | os.PathLike, suffix: str, array: np.ndarray, what: str) -> Path:
    """Encode with OpenCV and write atomically."""
    import cv2

    ok, buf = cv2.imencode(suffix, array)
    if not ok:
        raise ImageError(f"{path}: could not encode {what}")
    with atomic_path(path) as tmp:
        tmp.write_bytes(buf.tobytes())
    return Path(path)


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files directly in ``folder``, sorted; ``ValueError`` if there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"folder not found: {folder}")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise ValueError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
    return files
