"""Procedural moving-shapes videos with ground truth: the project's own training and evaluation data.

A clip is 1-3 coloured shapes (circle, square, triangle) gliding along smooth curves over a static background,
growing or shrinking a little, drawn back to front. Backgrounds are procedural (plain, stripes, checker, gradient,
texture) or, with ``backgrounds`` including "photo", a muted crop of one of scikit-image's bundled sample photos
(:data:`PHOTO_IMAGES`: no download), so that clips look less foreign next to real videos. Everything is decided by one integer seed; the scene is sampled in
resolution-free units, so one seed gives the same scene at any frame count and size.

Ground truth per clip: the frames, a caption ("a red circle moving to the upper left on a striped background"),
full (amodal) object masks, centroid trajectories in pixels, and a depth map by z-order (near = large, as MiDaS'
inverse depth: background 0, the k-th of K objects from the back (k+1)/K).

Split rule: training clips use seeds ``0 <= seed < EVAL_SEED_START``; held-out evaluation clips use seeds
``>= EVAL_SEED_START``. :func:`clip_seeds` hands out seeds by split and refuses ranges that would cross the boundary.
"""

import csv
import functools
import io
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

from ..atomic_files import atomic_write_bytes

SHAPES = ("circle", "square", "triangle")
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 175, 60),
    "blue": (40, 80, 225),
    "yellow": (235, 215, 40),
    "orange": (245, 135, 25),
    "purple": (140, 55, 195),
    "cyan": (40, 205, 215),
}
PROCEDURAL_BACKGROUNDS = ("plain", "stripes", "checker", "gradient", "texture")
BACKGROUNDS = (*PROCEDURAL_BACKGROUNDS, "photo")
#: scikit-image sample images (shipped in its wheel) that "photo" backgrounds crop from.
PHOTO_IMAGES = ("astronaut", "coffee", "chelsea", "rocket", "camera", "coins", "moon", "brick", "grass", "gravel",
                "clock", "immunohistochemistry")  # fmt: skip
_PHOTO_SATURATION = 0.5  # photo colours are pulled halfway to grey ...
_PHOTO_CONTRAST = 0.6  # ... and 40% towards a muted tone, so every object colour stands out
# Muted tones only, so that every object colour stands out from every background.
BACKGROUND_TONES: tuple[tuple[int, int, int], ...] = (
    (200, 200, 200),
    (95, 95, 95),
    (215, 200, 170),
    (110, 120, 135),
    (175, 160, 125),
    (130, 112, 100),
    (150, 165, 148),
)
MAX_OBJECTS = 3
EVAL_SEED_START = 1_000_000
CAPTION_COLUMNS = ("videoid", "name")  # WebVid's id and caption columns: what VideoTextDataset reads by default

_BACKGROUND_WORDS = {
    "plain": "plain",
    "stripes": "striped",
    "checker": "checkered",
    "gradient": "gradient",
    "texture": "textured",
    "photo": "photo",
}
# Compass sectors of 45 degrees, counter-clockwise from "right", in image terms (y grows downwards).
DIRECTIONS = ("right", "upper right", "up", "upper left", "left", "lower left", "down", "lower right")
# Half-extent of each shape relative to the radius of a circle of equal area: square half-side, triangle circumradius.
_SHAPE_AREA_FACTOR = {"circle": 1.0, "square": math.sqrt(math.pi) / 2, "triangle": math.sqrt(4 * math.pi / 27**0.5)}
# Circumradius over size, the bound that keeps a shape inside the frame.
_SHAPE_REACH = {"circle": 1.0, "square": math.sqrt(math.pi / 2), "triangle": math.sqrt(4 * math.pi / 27**0.5)}
_SIZE_RANGE = (0.08, 0.13)  # radius of the equal-area circle, fraction of min(height, width)
_SCALE_RANGE = (0.75, 1.3)  # size factor at the first and at the last frame
_GROWTH_WORD_RATIO = 1.25  # last/first size beyond which the caption says "growing" (or "shrinking" for the inverse)
_SHADING = 0.15  # relative brightness change across an object's radius (light from the upper left)


@dataclass(frozen=True)
class ShapeObject:
    """One object of a scene, in resolution-free units.

    Attributes:
        shape: one of :data:`SHAPES`.
        color: one of the keys of :data:`COLORS`.
        size: radius of the circle of equal area, as a fraction of ``min(height, width)``.
        scale: size factor at the first and at the last frame (linear in between).
        control_points: (4, 2) cubic Bezier control points (x, y) in the unit square of admissible centres; the curve
            stays inside their convex hull, hence inside the frame.
    """

    shape: str
    color: str
    size: float
    scale: tuple[float, float]
    control_points: np.ndarray


@dataclass(frozen=True)
class SyntheticClip:
    """A rendered clip and its ground truth.

    Attributes:
        frames: (F, H, W, 3) uint8 RGB.
        caption: one sentence naming every object, its motion and the background.
        masks: (F, K, H, W) bool, the full silhouette of each object (occluded parts included).
        trajectories: (K, F, 2) float32 centroid (x, y) of each object in pixels (pixel centres at integers).
        depth: (F, H, W) float32 by z-order, near = large: background 0, object k of K (drawn k-th) (k + 1) / K.
        objects: the K objects, back to front.
        directions: (K,) the direction word of each object's net displacement, one of :data:`DIRECTIONS`.
        background: one of :data:`BACKGROUNDS`.
        seed: the seed that made the clip.
    """

    frames: np.ndarray
    caption: str
    masks: np.ndarray
    trajectories: np.ndarray
    depth: np.ndarray
    objects: tuple[ShapeObject, ...]
    directions: tuple[str, ...]
    background: str
    seed: int

    @property
    def visible_masks(self) -> np.ndarray:
        """(F, K, H, W) bool: the pixels where each object is the front-most one."""
        covered_from_front = np.cumsum(self.masks[:, ::-1], axis=1)[:, ::-1]  # objects at index >= k covering a pixel
        in_front = np.concatenate([covered_from_front[:, 1:], np.zeros_like(covered_from_front[:, :1])], axis=1)
        return self.masks & (in_front == 0)


def clip_seeds(split: str, num_clips: int, seed: int = 0) -> list[int]:
    """Seeds of ``num_clips`` clips of a split: "train" uses ``seed + i``, "eval" uses ``EVAL_SEED_START + seed + i``.

    Raises ValueError if a training range would reach into the evaluation seeds, so the two never overlap.
    """
    if split not in ("train", "eval"):
        raise ValueError(f"split must be 'train' or 'eval', got {split!r}")
    _check_int("num_clips", num_clips, minimum=1)
    _check_int("seed", seed, minimum=0)
    if split == "train":
        if seed + num_clips > EVAL_SEED_START:
            raise ValueError(
                f"seed + num_clips must be <= EVAL_SEED_START ({EVAL_SEED_START}) for split 'train', got "
                f"{seed} + {num_clips}: larger seeds are reserved for held-out evaluation"
            )
        return list(range(seed, seed + num_clips))
    return list(range(EVAL_SEED_START + seed, EVAL_SEED_START + seed + num_clips))


def generate_clip(
    seed: int,
    num_frames: int = 16,
    height: int = 64,
    width: int = 64,
    num_objects: int | tuple[int, int] = (1, MAX_OBJECTS),
    shapes: Sequence[str] = SHAPES,
    colors: Sequence[str] = tuple(COLORS),
    backgrounds: Sequence[str] = PROCEDURAL_BACKGROUNDS,
) -> SyntheticClip:
    """Render the clip of ``seed``.

    Args:
        seed: non-negative integer; the same seed and arguments give identical clips.
        num_frames: frames F (>= 2).
        height, width: frame size in pixels (>= 16 each).
        num_objects: a count, or an inclusive (min, max) range to draw from, within 1..3.
        shapes, colors, backgrounds: the choices to draw from (subsets of :data:`SHAPES`, :data:`COLORS`,
            :data:`BACKGROUNDS`; "photo" needs scikit-image); objects of one clip get distinct colours, so ``colors`` needs as many entries as the
            largest object count.
    """
    _check_int("seed", seed, minimum=0)
    _check_int("num_frames", num_frames, minimum=2)
    _check_int("height", height, minimum=16)
    _check_int("width", width, minimum=16)
    count_range = _check_num_objects(num_objects)
    _check_choices("shapes", shapes, SHAPES)
    _check_choices("colors", colors, tuple(COLORS))
    _check_choices("backgrounds", backgrounds, BACKGROUNDS)
    if len(set(colors)) < count_range[1]:
        raise ValueError(
            f"colors must hold at least {count_range[1]} distinct names (one per object), got {list(colors)}"
        )

    rng = np.random.default_rng(seed)
    background = str(rng.choice(list(backgrounds)))
    tones = rng.choice(len(BACKGROUND_TONES), size=2, replace=False)
    pattern = None if background == "photo" else _background_pattern(background, rng, height, width)
    k = int(rng.integers(count_range[0], count_range[1] + 1))
    object_colors = rng.choice(list(dict.fromkeys(colors)), size=k, replace=False)
    objects = tuple(_sample_object(rng, str(rng.choice(list(shapes))), str(color)) for color in object_colors)

    tone0, tone1 = (np.asarray(BACKGROUND_TONES[i], dtype=np.float32) for i in tones)
    still = (
        _photo_background(rng, tone0, height, width)
        if pattern is None
        else tone0 + (tone1 - tone0) * pattern[..., None]
    )
    canvas = np.broadcast_to(still, (num_frames, height, width, 3)).copy()
    depth = np.zeros((num_frames, height, width), dtype=np.float32)
    masks = np.zeros((num_frames, k, height, width), dtype=bool)
    trajectories = np.zeros((k, num_frames, 2), dtype=np.float32)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    for index, obj in enumerate(objects):  # back to front: later objects are painted over earlier ones
        centres, radii = _object_track(obj, num_frames, height, width)
        dx = xs[None] - centres[:, 0, None, None]
        dy = ys[None] - centres[:, 1, None, None]
        r = radii[:, None, None]
        mask = _shape_mask(obj.shape, dx, dy, r)
        shade = 1.0 - _SHADING * (dx + dy) / (math.sqrt(2.0) * r)
        color = np.asarray(COLORS[obj.color], dtype=np.float32)
        canvas = np.where(mask[..., None], color * shade[..., None], canvas)
        depth[mask] = (index + 1) / k
        masks[:, index] = mask
        trajectories[index] = centres

    directions = tuple(direction_word(track[-1] - track[0]) for track in trajectories)
    caption = describe(objects, directions, background)
    frames = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
    return SyntheticClip(frames, caption, masks, trajectories, depth, objects, directions, background, seed)


def direction_word(displacement: np.ndarray) -> str:
    """The compass word of a displacement (dx, dy) in image coordinates (y down), one of :data:`DIRECTIONS`."""
    angle = math.degrees(math.atan2(-float(displacement[1]), float(displacement[0])))  # counter-clockwise, y up
    return DIRECTIONS[round(angle / 45.0) % 8]


def write_dataset(
    out_dir: str | os.PathLike,
    num_clips: int,
    seed: int = 0,
    split: str = "train",
    fps: int = 8,
    num_frames: int = 16,
    height: int = 64,
    width: int = 64,
    codec: str = "libx264",
    **clip_kwargs,
) -> Path:
    """Write ``num_clips`` clips of a split as mp4 files, one ground-truth ``.npz`` each, and ``captions.csv``.

    Files: ``{out_dir}/{videoid}.mp4`` and ``{videoid}.npz`` (the fields of :class:`SyntheticClip`, frames
    included, lossless), and ``captions.csv`` with WebVid's columns ``videoid,name`` (the default columns of
    :class:`~videocomposer.data.video_dataset.VideoTextDataset`). Every file is written under a temporary name and
    renamed when complete; the captions file comes last. Clip seeds follow :func:`clip_seeds`.

    Args:
        out_dir: folder to write into (created if missing).
        num_clips, seed, split: which clips, as in :func:`clip_seeds`.
        fps: frame rate stored in the mp4 files.
        num_frames, height, width, clip_kwargs: forwarded to :func:`generate_clip`; height and width must be even
            (yuv420p video).
        codec: a PyAV video encoder, "libx264" (default) or "mpeg4".

    Returns:
        The path of the captions file.
    """
    seeds = clip_seeds(split, num_clips, seed)
    _check_int("fps", fps, minimum=1)
    for name, value in (("height", height), ("width", width)):
        _check_int(name, value, minimum=16)
        if value % 2:
            raise ValueError(f"{name} must be even for yuv420p video, got {value}")
    if codec not in ("libx264", "mpeg4"):
        raise ValueError(f"codec must be 'libx264' or 'mpeg4', got {codec!r}")
    if codec not in av.codecs_available:
        raise ValueError(f"codec {codec!r} is not available in this PyAV build; use 'mpeg4'")

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for clip_seed in seeds:
        clip = generate_clip(clip_seed, num_frames=num_frames, height=height, width=width, **clip_kwargs)
        videoid = f"{split}_{clip_seed:08d}"
        atomic_write_bytes(out / f"{videoid}.mp4", encode_mp4(clip.frames, fps=fps, codec=codec))
        atomic_write_bytes(out / f"{videoid}.npz", _ground_truth_npz(clip))
        rows.append((videoid, clip.caption))

    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(CAPTION_COLUMNS)
    writer.writerows(rows)
    captions = out / "captions.csv"
    atomic_write_bytes(captions, text.getvalue().encode("utf-8"))
    return captions


def load_ground_truth(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a ground-truth ``.npz`` written by :func:`write_dataset` into a dict of arrays (caption as a 0-d str)."""
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def encode_mp4(frames: np.ndarray, fps: int = 8, codec: str = "libx264") -> bytes:
    """Encode (F, H, W, 3) uint8 RGB frames as an mp4 file in memory (yuv420p, near-lossless quality)."""
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 of shape (F, H, W, 3), got {frames.dtype} {frames.shape}")
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": "12"}
        else:
            stream.bit_rate = 2_000_000
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return buffer.getvalue()


def _sample_object(rng: np.random.Generator, shape: str, color: str) -> ShapeObject:
    """Draw size, growth and a curved path whose net displacement points into a random compass sector."""
    size = float(rng.uniform(*_SIZE_RANGE))
    scale = (float(rng.uniform(*_SCALE_RANGE)), float(rng.uniform(*_SCALE_RANGE)))
    # Aim at a sector centre (+- 15 degrees) so the caption's direction word is unambiguous.
    angle = math.radians(45.0 * int(rng.integers(8)) + rng.uniform(-15.0, 15.0))
    length = rng.uniform(0.5, 0.9)
    delta = np.array([math.cos(angle), -math.sin(angle)]) * length  # y down
    delta *= min(1.0, 0.95 / np.abs(delta).max())  # the path must fit in the unit square
    low, high = np.maximum(0.0, -delta), np.minimum(1.0, 1.0 - delta)
    start = rng.uniform(low, high)
    end = start + delta
    normal = np.array([-delta[1], delta[0]])
    inner = [start + delta * f + normal * rng.uniform(-0.4, 0.4) for f in (1 / 3, 2 / 3)]
    control_points = np.clip(np.stack([start, *inner, end]), 0.0, 1.0)
    return ShapeObject(shape, color, size, scale, control_points)


def _object_track(obj: ShapeObject, num_frames: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Centres (F, 2) in pixels and equal-area radii (F,) in pixels of an object over the clip."""
    t = np.linspace(0.0, 1.0, num_frames)
    radii = obj.size * min(height, width) * (obj.scale[0] + (obj.scale[1] - obj.scale[0]) * t)
    # B(t) = (1-t)^3 P0 + 3(1-t)^2 t P1 + 3(1-t) t^2 P2 + t^3 P3
    basis = np.stack([(1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t**2, t**3], axis=1)
    unit = basis @ obj.control_points
    margin = _SHAPE_REACH[obj.shape] * radii.max() + 1.0
    span = np.array([width - 1 - 2 * margin, height - 1 - 2 * margin])
    centres = margin + unit * span
    return centres.astype(np.float32), radii.astype(np.float32)


def _shape_mask(shape: str, dx: np.ndarray, dy: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Pixels inside a shape of equal-area radius ``radius`` centred (centroid) at the origin of (dx, dy)."""
    half = _SHAPE_AREA_FACTOR[shape] * radius
    if shape == "circle":
        return dx**2 + dy**2 <= half**2
    if shape == "square":
        return (np.abs(dx) <= half) & (np.abs(dy) <= half)
    # Upward equilateral triangle of circumradius `half`: inside all three edges, each at inradius half / 2.
    s = math.sqrt(3.0) / 2
    return (dy <= half / 2) & (s * dx - 0.5 * dy <= half / 2) & (-s * dx - 0.5 * dy <= half / 2)


def _background_pattern(kind: str, rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """(H, W) float32 blend weight in [0, 1] between the two background tones; smooth, never pixel noise."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32) / min(height, width)
    softness = 3.0  # tanh(softness * sin) gives soft-edged bands that codecs can track

    def band(coordinate: np.ndarray) -> np.ndarray:
        period = rng.uniform(0.15, 0.3)
        return np.tanh(softness * np.sin(2 * np.pi * coordinate / period + rng.uniform(0, 2 * np.pi)))

    def smooth_texture() -> np.ndarray:  # two octaves of a coarse random grid, bicubically upsampled
        octaves = [
            cv2.resize(rng.standard_normal((cells, cells)).astype(np.float32), (width, height), cv2.INTER_CUBIC)
            / octave
            for octave, cells in enumerate((8, 16), start=1)
        ]
        return _normalise(sum(octaves))

    if kind == "plain":
        return np.zeros((height, width), dtype=np.float32)
    if kind == "stripes":
        theta = math.radians(45.0 * int(rng.integers(4)))
        return _normalise(band(xs * math.cos(theta) + ys * math.sin(theta)))
    if kind == "checker":
        return _normalise(band(xs) * band(ys))
    if kind == "gradient":
        # A pure ramp matches itself shifted along its iso-lines, and codecs then invent background motion there;
        # a faint texture on top pins it down.
        theta = rng.uniform(0, 2 * np.pi)
        return _normalise(0.75 * _normalise(xs * math.cos(theta) + ys * math.sin(theta)) + 0.25 * smooth_texture())
    return smooth_texture()


@functools.lru_cache(maxsize=len(PHOTO_IMAGES))
def _photo(name: str) -> np.ndarray:
    """scikit-image sample image ``name`` as (H, W, 3) float32 RGB in [0, 255]."""
    try:
        import skimage.data
    except ImportError as error:
        raise ImportError('backgrounds "photo" needs scikit-image: pip install scikit-image') from error
    image = np.asarray(getattr(skimage.data, name)(), dtype=np.float32)
    return np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image[..., :3]


def _photo_background(rng: np.random.Generator, tone: np.ndarray, height: int, width: int) -> np.ndarray:
    """(H, W, 3) float32: a random crop (a third to all of the short side) of a random :data:`PHOTO_IMAGES` photo,
    resized to the frame, desaturated and blended towards ``tone``."""
    image = _photo(str(rng.choice(PHOTO_IMAGES)))
    rows, cols = image.shape[:2]
    side = min(rows, cols) * rng.uniform(0.35, 1.0)
    crop_h, crop_w = (side, side * width / height) if width <= height else (side * height / width, side)
    top, left = rng.uniform(0, rows - crop_h), rng.uniform(0, cols - crop_w)
    crop = image[int(top) : int(top + crop_h), int(left) : int(left + crop_w)]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    crop = cv2.resize(np.ascontiguousarray(crop), (width, height), interpolation=cv2.INTER_AREA)
    grey = crop.mean(axis=2, keepdims=True)
    muted = grey + _PHOTO_SATURATION * (crop - grey)
    return (_PHOTO_CONTRAST * muted + (1 - _PHOTO_CONTRAST) * tone).astype(np.float32)


def _normalise(pattern: np.ndarray) -> np.ndarray:
    """Stretch to [0, 1]."""
    low, high = pattern.min(), pattern.max()
    return ((pattern - low) / max(high - low, 1e-6)).astype(np.float32)


def describe(
    objects: Sequence[ShapeObject],
    directions: Sequence[str],
    background: str,
    with_motion: bool = True,
    with_background: bool = True,
) -> str:
    """The caption of a scene: 'a red circle moving to the upper left and a growing blue square moving up on a striped
    background'; without ``with_motion`` the growth and direction words are left out ('a red circle and a blue
    square on a striped background'), without ``with_background`` the background phrase."""
    phrases = []
    for obj, direction in zip(objects, directions):
        if not with_motion:
            phrases.append(f"a {obj.color} {obj.shape}")
            continue
        ratio = obj.scale[1] / obj.scale[0]
        growth = "growing " if ratio >= _GROWTH_WORD_RATIO else "shrinking " if ratio <= 1 / _GROWTH_WORD_RATIO else ""
        where = f"to the {direction}" if " " in direction else direction
        phrases.append(f"a {growth}{obj.color} {obj.shape} moving {where}")
    text = " and ".join(phrases)
    return f"{text} on a {_BACKGROUND_WORDS[background]} background" if with_background else text


def _ground_truth_npz(clip: SyntheticClip) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        frames=clip.frames,
        caption=np.array(clip.caption),
        masks=clip.masks,
        trajectories=clip.trajectories,
        depth=clip.depth,
        shapes=np.array([obj.shape for obj in clip.objects]),
        colors=np.array([obj.color for obj in clip.objects]),
        directions=np.array(clip.directions),
        background=np.array(clip.background),
        seed=np.array(clip.seed),
    )
    return buffer.getvalue()


def _check_int(name: str, value: object, minimum: int) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")


def _check_num_objects(num_objects: int | tuple[int, int]) -> tuple[int, int]:
    bounds = (num_objects, num_objects) if isinstance(num_objects, (int, np.integer)) else num_objects
    is_pair = isinstance(bounds, Sequence) and len(bounds) == 2
    if not is_pair or not all(isinstance(b, (int, np.integer)) for b in bounds):
        raise TypeError(f"num_objects must be an int or a (min, max) pair of ints, got {num_objects!r}")
    if not 1 <= bounds[0] <= bounds[1] <= MAX_OBJECTS:
        raise ValueError(f"num_objects must lie within 1..{MAX_OBJECTS} with min <= max, got {num_objects!r}")
    return int(bounds[0]), int(bounds[1])


def _check_choices(name: str, values: Sequence[str], allowed: tuple[str, ...]) -> None:
    if isinstance(values, str) or len(values) == 0:
        raise ValueError(f"{name} must be a non-empty sequence of names from {allowed}, got {values!r}")
    unknown = [v for v in values if v not in allowed]
    if unknown:
        raise ValueError(f"{name} has unknown entries {unknown}; expected names from {allowed}")
