"""The condition schema: every STC condition as one `ConditionSpec`, and `ConditionProcessor`, which turns condition
inputs into the STC encoder's inputs (as diffusers' `VaeImageProcessor` does for images).

A spec's `name` is an STC branch (a key of an encoder's `condition_channels`), its `inputs` the pipeline keywords that
feed it. A package adds one with `register_condition(ConditionSpec(name="edges", channels=1))` or through the
entry-point group ``videocomposer.conditions`` (entry-point name = condition name, object = the `ConditionSpec`).
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import PIL.Image
import torch

ENTRY_POINT_GROUP = "videocomposer.conditions"
ConditionInput = torch.Tensor | np.ndarray | PIL.Image.Image | Sequence[PIL.Image.Image]
DISPLAYS = ("image", "flow", "colormap", "masked")


@dataclass(frozen=True)
class ConditionSpec:
    """One STC condition.

    Args:
        name: STC branch name (`condition_channels` key of an `STCEncoder` config).
        channels: channels the STC branch takes.
        inputs: pipeline keyword -> channels, in channel order (default: `{name: channels}`).
        value_range: `(low, high)` of every input, checked by the processor (`None`: unbounded). PIL images map
            0..255 onto it.
        scale: spatial size the extractors produce relative to the video (the original: 1.5, motion 1.0).
        single_frame: one frame stands for the whole clip (repeated over the frames).
        pixel_units: the values are pixel displacements of the condition frame, so its size must be exactly
            `scale` x the video size.
        extractors: registry names of the extractors that make it (default: `(name,)`).
        display: how the grid draws it: ``image`` (grey / RGB), ``flow`` (colour wheel), ``colormap`` (inferno),
            ``masked`` (first input with the second's hole in black, then the second in grey).
        combine: inputs (each `(B, C_k, F, H, W)`) -> the STC tensor (default: the inputs concatenated on channels).
    """

    name: str
    channels: int
    inputs: Mapping[str, int] | None = None
    value_range: tuple[float, float] | None = (0.0, 1.0)
    scale: float = 1.5
    single_frame: bool = False
    pixel_units: bool = False
    extractors: tuple[str, ...] | None = None
    display: str = "image"
    combine: Callable[[dict[str, torch.Tensor]], torch.Tensor] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"ConditionSpec.name: expected an identifier, got {self.name!r}")
        if not isinstance(self.channels, int) or self.channels < 1:
            raise ValueError(f"ConditionSpec {self.name!r}: channels must be a positive int, got {self.channels!r}")
        inputs = dict(self.inputs) if self.inputs is not None else {self.name: self.channels}
        if sum(inputs.values()) != self.channels or not all(isinstance(c, int) and c > 0 for c in inputs.values()):
            raise ValueError(f"ConditionSpec {self.name!r}: inputs {inputs} must have positive channels summing to "
                             f"{self.channels}")  # fmt: skip
        if self.value_range is not None and not self.value_range[0] < self.value_range[1]:
            raise ValueError(f"ConditionSpec {self.name!r}: value_range must be (low, high), got {self.value_range}")
        if not self.scale > 0 or self.display not in DISPLAYS:
            raise ValueError(f"ConditionSpec {self.name!r}: expected scale > 0 and display in {DISPLAYS}, got "
                             f"{self.scale!r}, {self.display!r}")  # fmt: skip
        object.__setattr__(self, "inputs", MappingProxyType(inputs))
        object.__setattr__(self, "extractors", (self.name,) if self.extractors is None else tuple(self.extractors))

    def size(self, height: int, width: int) -> tuple[int, int]:
        """The `(height, width)` the extractors produce for a `height` x `width` video."""
        return round(height * self.scale), round(width * self.scale)

    def to_stc(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """The STC encoder's `(B, channels, F, H, W)` input from this condition's checked input tensors."""
        if self.combine is not None:
            return self.combine(inputs)
        return torch.cat([inputs[key] for key in self.inputs], dim=1)


def _masked_video_and_keep_mask(inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """The original's masked condition: cat(video·(1−m) in [−1, 1], 1−m); m = 1 marks the hole."""
    keep = 1.0 - inputs["mask"].to(inputs["masked_video"].dtype)
    return torch.cat([(inputs["masked_video"] * 2.0 - 1.0) * keep, keep], dim=1)


# The conditions of the original code, in its summation order. `canny` has a branch in the original's code but no
# extractor of its own here (the `canny` extractor makes the `sketch` condition, as the release was trained).
BUILT_IN_CONDITIONS: tuple[ConditionSpec, ...] = (
    ConditionSpec("depth", 1, value_range=(0.0, 10.0), display="colormap"),  # MiDaS inverse depth / 20, clamped
    ConditionSpec("local_image", 3, inputs={"image": 3}, single_frame=True, extractors=("image",)),
    ConditionSpec(
        "motion", 2, inputs={"motion_vectors": 2}, value_range=None, scale=1.0, pixel_units=True, display="flow"
    ),  # fmt: skip
    ConditionSpec("canny", 1, extractors=()),
    ConditionSpec("sketch", 1, extractors=("sketch", "canny")),
    ConditionSpec("single_sketch", 1, single_frame=True),
    ConditionSpec(
        "masked",
        4,
        inputs={"masked_video": 3, "mask": 1},
        extractors=("mask",),
        display="masked",
        combine=_masked_video_and_keep_mask,
    ),  # fmt: skip
)
#: The conditions of the released checkpoint (an `STCEncoder`'s default).
RELEASE_CONDITION_NAMES: tuple[str, ...] = ("depth", "local_image", "motion", "sketch", "single_sketch", "masked")

_REGISTRY: dict[str, ConditionSpec] = {spec.name: spec for spec in BUILT_IN_CONDITIONS}


def register_condition(spec: ConditionSpec) -> ConditionSpec:
    """Add `spec` to the schema; its name and input keywords must be new (the same spec again is a no-op)."""
    if not isinstance(spec, ConditionSpec):
        raise TypeError(f"register_condition expects a ConditionSpec, got {type(spec).__name__}")
    if spec.name in _REGISTRY:
        if _REGISTRY[spec.name] != spec:
            raise ValueError(f"condition name {spec.name!r} is already registered as {_REGISTRY[spec.name]}")
        return _REGISTRY[spec.name]
    taken = {key: other.name for other in _REGISTRY.values() for key in other.inputs}
    clash = sorted(key for key in spec.inputs if key in taken)
    if clash:
        raise ValueError(f"condition {spec.name!r}: input keyword(s) {clash} already feed {taken[clash[0]]!r}")
    _REGISTRY[spec.name] = spec
    return spec


@functools.cache
def _load_entry_points() -> None:
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        spec = entry_point.load()
        if not isinstance(spec, ConditionSpec) or spec.name != entry_point.name:
            raise TypeError(f"entry point {entry_point.name!r} ({entry_point.value}) must give a ConditionSpec of "
                            f"that name, got {spec!r}")  # fmt: skip
        register_condition(spec)


def condition_specs() -> tuple[ConditionSpec, ...]:
    """Every known condition: the built-in ones in the original's summation order, then the registered ones."""
    _load_entry_points()
    return tuple(_REGISTRY.values())


def get_condition(name: str) -> ConditionSpec:
    """The spec of the STC condition `name`; an unknown name is a ValueError naming it."""
    _load_entry_points()
    if name not in _REGISTRY:
        raise ValueError(f"unknown condition {name!r}; known: {list(_REGISTRY)} "
                         f"(add one with videocomposer.conditions.register_condition)")  # fmt: skip
    return _REGISTRY[name]


def condition_of_input(keyword: str) -> ConditionSpec:
    """The spec a pipeline condition keyword (`depth`, `motion_vectors`, `mask`, ...) feeds."""
    for spec in condition_specs():
        if keyword in spec.inputs:
            return spec
    raise ValueError(f"unknown condition {keyword!r}; known condition inputs: {list(condition_inputs())} (add one "
                     f"with videocomposer.conditions.register_condition)")  # fmt: skip


def _specs_of(keywords: Iterable[str]) -> dict[str, ConditionSpec]:
    """STC name -> spec of the conditions the pipeline keywords `keywords` feed, in first-seen order."""
    return {spec.name: spec for spec in map(condition_of_input, keywords)}


def condition_inputs() -> tuple[str, ...]:
    """Every pipeline condition keyword, in the schema's order."""
    return tuple(key for spec in condition_specs() for key in spec.inputs)


def check_condition_shape(
    key: str, shape: Sequence[int], *, num_frames: int, height: int, width: int, batch_size: int | None = None
) -> None:
    """`ValueError` naming the condition input `key` when its `(B, C, F, H, W)` `shape` does not fit a `num_frames` x
    `height` x `width` video: the spec's channels, one frame per video frame (or a single one, repeated), the video's
    aspect ratio (exactly the spec's size for pixel displacements), a batch of 1 or `batch_size`."""
    spec, shape = condition_of_input(key), tuple(shape)
    channels = spec.inputs[key]
    if len(shape) != 5:
        raise ValueError(f"`{key}` has to be 5-D (B, {channels}, F, H, W), got shape {shape}.")
    b, c, f, h, w = shape
    if c != channels:
        raise ValueError(f"`{key}` has to have {channels} channels, got shape {shape}.")
    if f not in (1, num_frames):
        raise ValueError(
            f"`{key}` has {f} frames but `num_frames` is {num_frames}; give one frame per video frame, or a single "
            f"frame to repeat over every frame (condition {f}x{h}x{w}, video {num_frames}x{height}x{width})."
        )
    if h * width != w * height:
        raise ValueError(
            f"`{key}` is {h}x{w}, whose aspect ratio differs from height x width = {height}x{width}; conditions are "
            "never resized, give them at the video's aspect ratio."
        )
    if spec.pixel_units and (h, w) != spec.size(height, width):
        raise ValueError(
            f"`{key}` is {h}x{w} but the video is {height}x{width}: its values are pixel displacements, so it has to "
            f"be {'x'.join(map(str, spec.size(height, width)))} (extract it at the video's size)."
        )
    if batch_size is not None and b not in (1, batch_size):
        raise ValueError(f"`{key}` has batch {b}, which cannot broadcast to {batch_size} prompts.")


def check_condition_values(inputs: Mapping[str, torch.Tensor | np.ndarray], where: str = "") -> None:
    """`ValueError` (prefixed by `where`) naming the first input, in name order, that holds NaN / inf or values
    outside its spec's `value_range` (0-255 images get a hint)."""
    for key, value in sorted(inputs.items()):
        tensor = torch.as_tensor(value)
        if not torch.isfinite(tensor).all():
            raise ValueError(f"{where}`{key}` contains NaN or inf.")
        value_range = condition_of_input(key).value_range
        if value_range is None:  # unbounded (motion vectors): no min / max to compute
            continue
        low, high = value_range
        smallest, largest = tensor.min().item(), tensor.max().item()
        if smallest < low or largest > high:
            hint = "; 0-255 image values: divide them by 255" if high == 1.0 and largest > 1.0 else ""
            raise ValueError(
                f"{where}`{key}` has to be in [{low:g}, {high:g}], got values in [{smallest:.3g}, {largest:.3g}]{hint}."
            )


def native_size(unet_config: Mapping, vae_scale_factor: int) -> int | None:
    """The model's native height and width, `sample_size * vae_scale_factor` (`None` when the config has none)."""
    sample_size = unet_config.get("sample_size")
    return sample_size * vae_scale_factor if sample_size else None


def video_size(
    unet_config: Mapping,
    vae_scale_factor: int,
    num_frames: int | None = None,
    height: int | None = None,
    width: int | None = None,
) -> tuple[int | None, int, int]:
    """`(num_frames, height, width)` with every `None` replaced by the model's native size (`unet` config's
    `num_frames`, `sample_size * vae_scale_factor`); `num_frames` stays `None` when the config has none."""
    native = native_size(unet_config, vae_scale_factor)
    if (height is None or width is None) and native is None:
        raise ValueError("`height` and `width` have to be given: the unet config has no `sample_size` (native size).")
    frames = unet_config.get("num_frames") if num_frames is None else num_frames
    return frames, native if height is None else height, native if width is None else width


class ConditionProcessor:
    """Condition inputs -> checked tensors -> the STC encoder's inputs, for an encoder built with `condition_channels`.

    Args:
        condition_channels: the encoder config's STC name -> channels.
    """

    def __init__(self, condition_channels: Mapping[str, int]):
        self.condition_channels = dict(condition_channels)

    @staticmethod
    def to_tensor(keyword: str, value: ConditionInput, num_frames: int) -> torch.Tensor:
        r"""
        One condition input -> float tensor `(B, C, F, H, W)`, never resized. Tensors and numpy arrays are taken as
        they are (layout `(B, C, F, H, W)`, canonical range); a single frame is repeated over `num_frames`. PIL images
        (1- or 3-channel inputs) are read at their own size, 0..255 mapped onto the spec's value range; a list holds
        one image a frame, and one image stands for every frame.
        """
        spec = condition_of_input(keyword)
        channels = spec.inputs[keyword]
        readable = channels in (1, 3) and spec.value_range is not None
        images = [value] if isinstance(value, PIL.Image.Image) else value if isinstance(value, (list, tuple)) else ()
        if isinstance(value, (torch.Tensor, np.ndarray)):
            tensor = torch.as_tensor(value)
        elif readable and images and all(isinstance(image, PIL.Image.Image) for image in images):
            sizes = {image.size for image in images}
            if len(sizes) != 1:
                raise ValueError(f"`{keyword}`: all PIL images must have one size, got sizes {sorted(sizes)}.")
            mode = "L" if channels == 1 else "RGB"
            frames = np.stack([np.atleast_3d(image.convert(mode)) for image in images])  # (F, H, W, C) uint8
            tensor = torch.from_numpy(frames).permute(3, 0, 1, 2)[None] / 255.0
            low, high = spec.value_range
            tensor = tensor * (high - low) + low
        else:
            allowed = "a torch.Tensor, a np.ndarray" + (" or (a list of) PIL images" if readable else "")
            raise TypeError(f"`{keyword}` must be {allowed}, got {type(value).__name__}.")
        if not tensor.is_floating_point():
            raise TypeError(
                f"`{keyword}` must hold floating point values in its canonical range, got dtype {tensor.dtype}."
            )
        if tensor.ndim == 5 and tensor.shape[2] == 1:  # one frame stands for every frame
            tensor = tensor.expand(-1, -1, num_frames, -1, -1)
        return tensor

    def preprocess(self, inputs: Mapping[str, ConditionInput | None], num_frames: int) -> dict[str, torch.Tensor]:
        """The given (not `None`) inputs as tensors, unknown keywords refused."""
        return {key: self.to_tensor(key, value, num_frames) for key, value in inputs.items() if value is not None}

    def check_shapes(
        self,
        shapes: Mapping[str, Sequence[int]],
        *,
        num_frames: int,
        height: int,
        width: int,
        batch_size: int | None = None,
    ) -> None:
        """Raise `ValueError` naming the input when the shapes `(B, C, F, H, W)` do not fit a `num_frames` x `height`
        x `width` video of this encoder (needs no tensor: the CLI checks a conditions file's header with it)."""
        for spec in _specs_of(shapes).values():
            given = [key for key in spec.inputs if key in shapes]
            if len(given) != len(spec.inputs):
                raise ValueError(f"{' and '.join(f'`{k}`' for k in spec.inputs)} have to be given together.")
            if spec.name not in self.condition_channels:
                raise ValueError(f"`{given[0]}`: the stc_encoder was not built with the {spec.name!r} condition; it "
                                 f"has {list(self.condition_channels)}.")  # fmt: skip
            if self.condition_channels[spec.name] != spec.channels:
                raise ValueError(
                    f"`{given[0]}`: the stc_encoder's {spec.name!r} branch takes "
                    f"{self.condition_channels[spec.name]} channels, the schema's {spec.channels}."
                )
            for key in given:
                check_condition_shape(
                    key, shapes[key], num_frames=num_frames, height=height, width=width, batch_size=batch_size
                )
                if tuple(shapes[key][-2:]) != tuple(shapes[given[0]][-2:]):
                    raise ValueError(
                        f"`{key}` {tuple(shapes[key])} and `{given[0]}` {tuple(shapes[given[0]])} have to share "
                        "their frame size."
                    )

    def check(
        self, inputs: Mapping[str, torch.Tensor], *, num_frames: int, height: int, width: int, batch_size: int
    ) -> None:
        """`check_shapes`, then `check_condition_values`."""
        self.check_shapes({k: tuple(v.shape) for k, v in inputs.items()}, num_frames=num_frames, height=height,
                          width=width, batch_size=batch_size)  # fmt: skip
        check_condition_values(inputs)

    @staticmethod
    def to_stc(
        inputs: Mapping[str, torch.Tensor], batch_size: int, device: torch.device, dtype: torch.dtype
    ) -> dict[str, torch.Tensor]:
        """STC name -> `(batch_size, C, F, H, W)` tensor on `device` in `dtype`, from checked inputs."""
        return {
            name: spec.to_stc(
                {
                    key: inputs[key].to(device=device, dtype=dtype).expand(batch_size, -1, -1, -1, -1)
                    for key in spec.inputs
                }
            )  # fmt: skip
            for name, spec in _specs_of(inputs).items()
        }


def save_condition_file(
    path: str | os.PathLike, conditions: Mapping[str, torch.Tensor], metadata: dict[str, str] | None = None
) -> None:
    """Write condition tensors (pipeline keyword -> tensor) atomically to the safetensors file
    `videocomposer generate --conditions` reads."""
    from safetensors.torch import save

    from .atomic_files import atomic_write_bytes

    atomic_write_bytes(path, save({key: value.contiguous() for key, value in conditions.items()}, metadata=metadata))


def summation_order(names: Iterable[str]) -> list[str]:
    """`names` in the original's summation order for built-in conditions, other names alphabetically after (the same
    order in every process, whatever was registered)."""
    names = set(names)
    known = [spec.name for spec in BUILT_IN_CONDITIONS if spec.name in names]
    return known + sorted(names - set(known))
