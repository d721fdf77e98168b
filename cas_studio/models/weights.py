"""The weights format: safetensors tensors plus metadata describing the model, and loading it."""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field, fields, replace
from importlib import resources
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from ..constants import IMAGENET_MEAN, IMAGENET_STD
from ..inference.decoders import DECODERS
from ..io import atomic_path
from .factory import ARCHITECTURES, DEFAULT_ARCH, SegmentationNet, build_model
from ..inference.tasks import DEFAULT_TASK, get_task

FORMAT = "cas-studio-weights/1"
#: Environment variable naming an extra folder searched for bare weight names.
WEIGHTS_DIR_ENV = "CAS_STUDIO_WEIGHTS"


#: Largest channel count and input side that weights metadata may ask for.
MAX_CHANNELS = 256
MAX_INPUT_SIZE = 4096
#: Softmax temperatures that weights metadata may ask for (outside, the map is all 0/1 or flat).
MIN_TEMPERATURE, MAX_TEMPERATURE = 0.05, 20.0


def check_temperature(value: object) -> float:
    """``value`` as a softmax temperature; ``ValueError`` naming the allowed range otherwise."""
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or not MIN_TEMPERATURE <= value <= MAX_TEMPERATURE):
        raise ValueError(f"temperature must be a number in [{MIN_TEMPERATURE}, {MAX_TEMPERATURE}], got {value!r}")
    return float(value)


def check_flip_average(flip: bool, task: str) -> bool:
    """``flip`` if a ``task`` model may be flip-averaged; ``ValueError`` for flip on a region model."""
    if flip and not get_task(task).flip_average:
        raise ValueError(f"flip averaging applies to saliency models only, not to this {task} model: "
                         "a region model's channels may swap between an image and its mirror image")
    return flip


@dataclass(frozen=True)
class WeightsInfo:
    """What a weights file records about its model.

    Attributes:
        arch: a key of :data:`cas_studio.models.ARCHITECTURES`.
        out_channels: M, the number of softmax channels.
        task: ``saliency``, ``regions`` or ``texture``.
        input_size: side length the model was trained at (inference resizes to about this).
        mean, std: per-channel input normalisation (RGB, images in [0, 1]).
        saliency_channel: for saliency models, the channel that means "salient" (chosen by
            correlation with the ground truth on validation data); ``None`` otherwise.
        training_data: what the model was trained on (sets, splits, licences).
        recipe: the exact command that trained it.
        metrics: measured validation metrics, name -> value.
        decoder: for region models, how the CAS code becomes regions (see
            :func:`cas_studio.inference.infer.predict_regions`); empty means arg-max.
        flip_average: average the logits of the image and of its mirror image at inference
            (test-time augmentation; it suits models whose channels mean the same thing in both,
            such as saliency models, and doubles the cost of a prediction).
        temperature: the softmax temperature at inference, ``softmax(logits / temperature)``;
            above 1 it spreads the saliency map's values without changing its ranking.
    """

    arch: str
    out_channels: int
    task: str
    input_size: int = 320
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    saliency_channel: int | None = None
    training_data: str = ""
    recipe: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    decoder: dict = field(default_factory=dict)
    flip_average: bool = False
    temperature: float = 1.0

    def __post_init__(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {self.arch!r}; choose one of {sorted(ARCHITECTURES)}")
        task = get_task(self.task)  # ValueError naming the known tasks
        if self.decoder and not task.decoders:
            raise ValueError(f"a {self.task} model has no region decoder, got {self.decoder!r}")
        # Ranges are checked before anything is allocated from them (a hostile file could ask for
        # a billion channels or a 10^6-pixel input side).
        if not isinstance(self.out_channels, int) or not 2 <= self.out_channels <= MAX_CHANNELS:
            raise ValueError(f"out_channels must be an integer in [2, {MAX_CHANNELS}], got {self.out_channels!r}")
        if not isinstance(self.input_size, int) or not 16 <= self.input_size <= MAX_INPUT_SIZE:
            raise ValueError(f"input_size must be an integer in [16, {MAX_INPUT_SIZE}], got {self.input_size!r}")
        for name in ("mean", "std"):
            values = getattr(self, name)
            if (not isinstance(values, (list, tuple)) or len(values) != 3
                    or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)):
                raise ValueError(f"{name} must be 3 finite numbers, got {values!r}")
        if not all(0 < v for v in self.std):
            raise ValueError(f"std must be positive, got {self.std!r}")
        if not isinstance(self.decoder, dict) or self.decoder.get("method", "argmax") not in DECODERS:
            raise ValueError(f"decoder must be a dict with a method among {DECODERS}, got {self.decoder!r}")
        if not isinstance(self.flip_average, bool):
            raise ValueError(f"flip_average must be true or false, got {self.flip_average!r}")
        check_flip_average(self.flip_average, self.task)
        check_temperature(self.temperature)
        if self.saliency_channel is not None and not 0 <= self.saliency_channel < self.out_channels:
            raise ValueError(f"saliency_channel {self.saliency_channel} is not a channel of an "
                             f"{self.out_channels}-channel model")

    def to_metadata(self) -> dict[str, str]:
        """Flatten to safetensors' str -> str metadata (JSON for non-string values)."""
        meta = {"format": FORMAT}
        for key, value in asdict(self).items():
            meta[key] = value if isinstance(value, str) else json.dumps(value)
        return meta

    @classmethod
    def from_metadata(cls, meta: dict[str, str] | None, *, source: str = "weights") -> WeightsInfo:
        """Parse metadata written by :meth:`to_metadata`; ``ValueError`` names what is wrong."""
        meta = meta or {}
        if meta.get("format") != FORMAT:
            raise ValueError(f"{source}: not a CAS Studio weights file (metadata format is "
                             f"{meta.get('format')!r}, expected {FORMAT!r})")
        values = {}
        try:
            for f in fields(cls):
                if f.name not in meta:
                    continue
                raw = meta[f.name]
                values[f.name] = raw if f.type == "str" else json.loads(raw)
            values["mean"], values["std"] = tuple(values.get("mean", IMAGENET_MEAN)), tuple(
                values.get("std", IMAGENET_STD))
            return cls(**values)
        except (TypeError, json.JSONDecodeError, ValueError) as err:
            raise ValueError(f"{source}: bad weights metadata: {err}") from err


def info_of(model: torch.nn.Module) -> WeightsInfo:
    """The weights metadata ``model`` was loaded with; a network built fresh (or any module without
    metadata) gets a default record: the library's defaults (ImageNet normalisation, input 320, no
    flip averaging, temperature 1, arg-max decoding, channel 1 salient)."""
    info = getattr(model, "info", None)
    if info is not None:
        return info
    arch = getattr(model, "arch", DEFAULT_ARCH)
    return WeightsInfo(arch=arch if arch in ARCHITECTURES else DEFAULT_ARCH,
                       out_channels=max(2, int(getattr(model, "out_channels", 2))), task=DEFAULT_TASK)


def weights_dirs() -> list[Path]:
    """Folders searched for bare names, in order: ``$CAS_STUDIO_WEIGHTS``, then the shipped ones."""
    dirs = [Path(os.environ[WEIGHTS_DIR_ENV])] if os.environ.get(WEIGHTS_DIR_ENV) else []
    try:
        dirs.append(Path(str(resources.files("cas_studio._weights"))))
    except ModuleNotFoundError:  # a source tree used without installing
        pass
    dirs.append(Path(__file__).resolve().parent.parent / "weights")
    return list(dict.fromkeys(d.resolve() for d in dirs))


def _read(name_or_path: str | os.PathLike, *, tensors: bool) -> tuple[dict[str, torch.Tensor], WeightsInfo]:
    """The tensors (only if asked) and metadata of a weights file, with clear errors for bad files."""
    path = resolve_weights(name_or_path)
    try:
        with safe_open(str(path), framework="pt") as f:
            info = WeightsInfo.from_metadata(f.metadata(), source=str(path))
            state = {k: f.get_tensor(k) for k in f.keys()} if tensors else {}
    except SafetensorError as err:
        raise ValueError(f"{path}: not a readable safetensors file (truncated or corrupt?): {err}") from err
    # A diverged run's NaN or infinite weights would predict a constant map without a word.
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise ValueError(f"{Path(path).name}: {len(bad)} tensor(s) hold NaN or infinite values ({', '.join(bad[:3])}"
                         f"{', ...' if len(bad) > 3 else ''}); the run that wrote them diverged. Use another model.")
    return state, info


def read_info(name_or_path: str | os.PathLike) -> WeightsInfo:
    """The metadata of a weights file, without reading its tensors."""
    return _read(name_or_path, tensors=False)[1]


def available_weights() -> list[str]:
    """Bare names that :func:`resolve_weights` can find."""
    return sorted({p.stem for d in weights_dirs() if d.is_dir() for p in d.glob("*.safetensors")})


def resolve_weights(name_or_path: str | os.PathLike) -> Path:
    """Turn a bare name (``saliency``, ``regions``, ``texture``, ...) or a path into a file path."""
    text = os.fspath(name_or_path)
    looks_like_name = os.sep not in text and "/" not in text and not text.endswith(".safetensors")
    if looks_like_name:
        for d in weights_dirs():
            candidate = d / f"{text}.safetensors"
            if candidate.is_file():
                return candidate
        raise FileNotFoundError(f"no weights named {text!r}; available: {available_weights() or 'none'} "
                                f"(or pass a path to a .safetensors file)")
    path = Path(text)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    return path


def save_weights(model: torch.nn.Module, path: str | os.PathLike, info: WeightsInfo, *,
                 half: bool = False) -> Path:
    """Write ``model``'s parameters and ``info`` to a safetensors file, atomically.

    ``half=True`` stores floating-point tensors as float16 (half the size; they are loaded back
    as float32).
    """
    if isinstance(model, SegmentationNet) and (model.arch, model.out_channels) != (info.arch, info.out_channels):
        raise ValueError(f"model is {model.arch} with {model.out_channels} channels but info says "
                         f"{info.arch} with {info.out_channels}")
    tensors = {}
    for key, value in model.state_dict().items():
        value = value.detach().cpu()
        if half and value.is_floating_point():
            value = value.half()
        tensors[key] = value.contiguous()
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=info.to_metadata())
    return Path(path)


def read_weights(name_or_path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], WeightsInfo]:
    """Read the tensors and metadata of a weights file, with clear errors for bad files."""
    return _read(name_or_path, tensors=True)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` means CUDA when present, else CPU."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def load_model(name_or_path: str | os.PathLike, device: str | torch.device = "auto", *,
               out_channels: int | None = None) -> SegmentationNet:
    """Load a model from a shipped name or a path; the result is in eval mode with ``.info`` set.

    Args:
        name_or_path: a shipped name (``saliency``, ``regions``, ...) or a ``.safetensors`` path.
        device: ``auto`` (CUDA when present), ``cpu`` or ``cuda``.
        out_channels: give a model with this many channels instead of the stored number: every
            tensor whose shape fits is loaded and the output layers that do not fit are freshly
            initialised (transfer learning, e.g. a 2-channel saliency model from an 8-channel
            regions model). ``.info`` then records the new channel count.

    Raises:
        FileNotFoundError: no such file or name.
        ValueError: the file is truncated or corrupt, is not CAS Studio weights, or its tensors do
            not fit the architecture its metadata names (beyond the output layers when
            ``out_channels`` differs).
    """
    tensors, info = read_weights(name_or_path)
    channels = info.out_channels if out_channels is None else int(out_channels)
    model = build_model(info.arch, channels)
    state = model.state_dict()
    missing = sorted(set(state) - set(tensors))
    unexpected = sorted(set(tensors) - set(state))
    wrong = [k for k in state if k in tensors and tensors[k].shape != state[k].shape]
    if channels != info.out_channels:
        # Only the output layers may differ: their leading dimension is the channel count.
        head = [k for k in wrong if tensors[k].shape[0] == info.out_channels and state[k].shape[0] == channels
                and tensors[k].shape[1:] == state[k].shape[1:]]
        wrong = [k for k in wrong if k not in head]
        for k in head:
            del tensors[k]
    if missing or unexpected or wrong:
        detail = "; ".join(part for part in (
            f"missing {missing[:3]}" if missing else "",
            f"unexpected {unexpected[:3]}" if unexpected else "",
            f"shape mismatch {[(k, tuple(tensors[k].shape), tuple(state[k].shape)) for k in wrong[:3]]}"
            if wrong else "") if part)
        raise ValueError(f"{name_or_path}: tensors do not fit {info.arch} with {info.out_channels} "
                         f"channels: {detail}")
    state.update({k: v.to(state[k].dtype) for k, v in tensors.items()})
    model.load_state_dict(state)
    model.info = info if channels == info.out_channels else replace(info, out_channels=channels,
                                                                      saliency_channel=None)
    return model.to(resolve_device(device)).eval()
