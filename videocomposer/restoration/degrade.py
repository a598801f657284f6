"""Seeded synthetic old-film damage that also returns where the local defects are.

Local defects (what restoration must find and fill), each with its true mask:
- blotches: opaque irregular spots, dark or bright, in ONE frame only (dirt on one print frame);
- dust: small specks (1-4 px), dark or bright, one frame only;
- scratches: thin vertical lines (1-3 px) that persist over many frames, drift slowly sideways, bright or dark.
Global damage (no mask: it touches every pixel): colour fading, blur, flicker (per-frame brightness and contrast),
film grain and JPEG compression, as the synthetic degradations of "Bringing Old Films Back to Life" (CVPR 2022).

`OldFilmDegradation` is a callable, so it also serves as an on-the-fly training transform.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch


@dataclass(frozen=True)
class Severity:
    """How much of each damage a clip gets (counts are per frame, sizes in pixels at 256 px frame height)."""

    blotches: float  # mean number of blotches per frame (Poisson)
    blotch_radius: tuple[float, float]  # radius range
    dust: float  # mean number of dust specks per frame
    scratches: int  # scratches alive at once at most
    flicker: float  # std of the per-frame brightness gain
    grain: float  # std of the grain on [0, 255]
    blur: float  # Gaussian blur sigma (0: none)
    fade: float  # 0: original colours, 1: sepia-grey
    jpeg_quality: int  # 100: no compression


SEVERITIES: dict[str, Severity] = {
    "light": Severity(1.0, (2.0, 5.0), 3.0, 1, 0.02, 2.0, 0.0, 0.15, 95),
    "medium": Severity(2.5, (3.0, 9.0), 8.0, 2, 0.04, 4.0, 0.5, 0.3, 85),
    "heavy": Severity(5.0, (4.0, 14.0), 16.0, 3, 0.07, 6.0, 0.8, 0.5, 75),
}


@dataclass
class DegradedClip:
    """The damaged frames (same type and layout as the input) and the true masks of the local defects.

    `masks` is boolean `(F, H, W)`: every pixel the blotches, dust specks and scratches changed by at least `VISIBLE`
    grey levels (before grain and compression); `one_frame` (blotches and dust) and `scratches` split it by kind
    (where both touched a pixel, it is in both).
    """

    frames: np.ndarray | torch.Tensor
    masks: np.ndarray
    one_frame: np.ndarray
    scratches: np.ndarray


def _as_uint8_frames(frames: np.ndarray | torch.Tensor) -> np.ndarray:
    """uint8 `(F, H, W, 3)` numpy, or float tensor `(F, 3, H, W)` in [0, 1] -> uint8 `(F, H, W, 3)`."""
    if isinstance(frames, torch.Tensor):
        if frames.ndim != 4 or frames.shape[1] != 3 or not frames.is_floating_point():
            raise ValueError(f"frames: a tensor must be float (F, 3, H, W) in [0, 1], got {tuple(frames.shape)}, "
                             f"{frames.dtype}")  # fmt: skip
        return (frames.detach().cpu().clamp(0, 1).permute(0, 2, 3, 1).numpy() * 255.0).round().astype(np.uint8)
    if not isinstance(frames, np.ndarray):
        raise TypeError(f"frames must be a numpy array or a torch tensor, got {type(frames).__name__}")
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames: a numpy array must be uint8 (F, H, W, 3), got {frames.shape}, {frames.dtype}")
    if frames.shape[0] < 1:
        raise ValueError("frames: zero frames")
    return frames


def _blotch_alpha(rng: np.random.Generator, height: int, width: int, radius: float) -> np.ndarray:
    """An irregular opaque spot: a few overlapping ellipses, edges softened over ~1 px."""
    alpha = np.zeros((height, width), np.float32)
    cx, cy = rng.uniform(0, width), rng.uniform(0, height)
    for _ in range(int(rng.integers(1, 4))):
        ox, oy = rng.normal(0, radius * 0.5, 2)
        axes = (max(1, int(radius * rng.uniform(0.4, 1.0))), max(1, int(radius * rng.uniform(0.4, 1.0))))
        cv2.ellipse(alpha, (int(cx + ox), int(cy + oy)), axes, rng.uniform(0, 180), 0, 360, 1.0, -1)
    return cv2.GaussianBlur(alpha, (3, 3), 0.7)


def _dust_alpha(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A speck of 1-4 px, sometimes a short hair-like stroke."""
    alpha = np.zeros((height, width), np.float32)
    x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
    if rng.random() < 0.3:
        angle = rng.uniform(0, np.pi)
        length = rng.uniform(3, 8)
        end = (int(x + length * np.cos(angle)), int(y + length * np.sin(angle)))
        cv2.line(alpha, (x, y), end, 1.0, 1, cv2.LINE_AA)
    else:
        cv2.circle(alpha, (x, y), int(rng.integers(0, 3)), 1.0, -1)
    return alpha


VISIBLE = 10.0  # a defect's true mask holds the pixels it changed by at least this much (grey levels, any channel)


def _paste(frame: np.ndarray, alpha: np.ndarray, value: float) -> np.ndarray:
    """Blend `value` into `frame` (float `(H, W, 3)`) with opacity `alpha`, in place; returns where it touched."""
    frame *= 1.0 - alpha[..., None]
    frame += alpha[..., None] * value
    return alpha > 0


class OldFilmDegradation:
    """Callable old-film damage model: `OldFilmDegradation("medium", seed=0)(frames) -> DegradedClip`.

    Args:
        severity: a name of `SEVERITIES` (`light`, `medium`, `heavy`) or a `Severity`.
        seed: seed of the damage; `None` draws new damage on every call (training), an int repeats it exactly.
        global_damage: apply fading, flicker, blur, grain and compression besides the local defects.
    """

    def __init__(self, severity: str | Severity = "medium", seed: int | None = None, global_damage: bool = True):
        if isinstance(severity, str):
            if severity not in SEVERITIES:
                raise ValueError(f"severity must be one of {list(SEVERITIES)} or a Severity, got {severity!r}")
            severity = SEVERITIES[severity]
        elif not isinstance(severity, Severity):
            raise TypeError(f"severity must be a name or a Severity, got {type(severity).__name__}")
        self.severity = severity
        self.seed = seed
        self.global_damage = global_damage

    def __call__(self, frames: np.ndarray | torch.Tensor) -> DegradedClip:
        """Damage uint8 `(F, H, W, 3)` frames or a float tensor `(F, 3, H, W)` in [0, 1] (returned in kind)."""
        pixels = _as_uint8_frames(frames)
        rng = np.random.default_rng(self.seed)
        s = self.severity
        num_frames, height, width = pixels.shape[:3]
        size = height / 256.0
        clip = pixels.astype(np.float32)
        if self.global_damage and s.fade > 0:
            grey = clip @ np.array([0.299, 0.587, 0.114], np.float32)
            sepia = grey[..., None] * np.array([1.07, 0.98, 0.82], np.float32)
            clip = (1 - s.fade) * clip + s.fade * sepia
        if self.global_damage and s.blur > 0:
            clip = np.stack([cv2.GaussianBlur(f, (0, 0), s.blur * size) for f in clip])
        if self.global_damage and s.flicker > 0:
            gains = 1.0 + s.flicker * rng.standard_normal(num_frames).astype(np.float32)
            offsets = 4.0 * s.flicker / 0.04 * rng.standard_normal(num_frames).astype(np.float32)
            clip = clip * gains[:, None, None, None] + offsets[:, None, None, None]

        before = clip.copy()
        one_frame = np.zeros((num_frames, height, width), bool)
        scratches = np.zeros((num_frames, height, width), bool)
        for index in range(num_frames):
            for _ in range(rng.poisson(s.blotches)):
                radius = rng.uniform(*s.blotch_radius) * size
                alpha = _blotch_alpha(rng, height, width, radius)
                self._defect(rng, clip[index], alpha, one_frame[index])
            for _ in range(rng.poisson(s.dust)):
                self._defect(rng, clip[index], _dust_alpha(rng, height, width), one_frame[index])
        for track in self._scratch_tracks(rng, num_frames, height, width):
            for index, alpha, value in track:
                scratches[index] |= _paste(clip[index], alpha, value)

        # the true masks: what the defects changed visibly in the end (a white speck on white paper is no defect)
        changed = np.abs(clip - before).max(axis=-1) >= VISIBLE
        one_frame &= changed
        scratches &= changed
        if self.global_damage and s.grain > 0:
            clip += s.grain * rng.standard_normal(clip.shape).astype(np.float32)
        damaged = np.clip(clip, 0, 255).round().astype(np.uint8)
        if self.global_damage and s.jpeg_quality < 100:
            params = [cv2.IMWRITE_JPEG_QUALITY, s.jpeg_quality]
            damaged = np.stack([
                cv2.imdecode(cv2.imencode(".jpg", f[..., ::-1], params)[1], cv2.IMREAD_COLOR)[..., ::-1]
                for f in damaged
            ])  # fmt: skip
        out: np.ndarray | torch.Tensor = damaged
        if isinstance(frames, torch.Tensor):
            out = torch.from_numpy(damaged).permute(0, 3, 1, 2).float().div(255.0).to(frames.dtype)
        return DegradedClip(out, changed, one_frame, scratches)

    @staticmethod
    def _defect(rng: np.random.Generator, frame: np.ndarray, alpha: np.ndarray, mask: np.ndarray) -> None:
        """Paste one dark or bright spot (near black or near white) and record where it touched."""
        dark = rng.random() < 0.5
        value = rng.uniform(5, 40) if dark else rng.uniform(215, 250)
        mask |= _paste(frame, alpha, value)

    def _scratch_tracks(
        self, rng: np.random.Generator, num_frames: int, height: int, width: int
    ) -> list[list[tuple[int, np.ndarray, float]]]:
        """Scratches: each lives over a run of frames, drifts by a slow random walk, covers a long vertical span."""
        tracks = []
        for _ in range(int(rng.integers(min(1, self.severity.scratches), self.severity.scratches + 1))):
            start = int(rng.integers(0, num_frames))
            end = min(num_frames, start + int(rng.integers(max(2, num_frames // 2), num_frames + 1)))
            x = rng.uniform(0.05 * width, 0.95 * width)
            drift = rng.uniform(-0.6, 0.6)
            thickness = int(rng.integers(1, 3))
            top = int(rng.uniform(0, 0.4) * height)
            bottom = int(rng.uniform(0.6, 1.0) * height)
            value = rng.uniform(200, 245) if rng.random() < 0.6 else rng.uniform(10, 50)
            track = []
            for index in range(start, end):
                x = float(np.clip(x + drift + rng.normal(0, 0.3), 1, width - 2))
                alpha = np.zeros((height, width), np.float32)
                cv2.line(alpha, (int(round(x)), top), (int(round(x + rng.normal(0, 1.0))), bottom), 0.85,
                         thickness, cv2.LINE_AA)  # fmt: skip
                track.append((index, alpha, value))
            tracks.append(track)
        return tracks
