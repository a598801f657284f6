"""Defect detection from the damaged clip alone: boolean masks of one-frame defects and of line scratches.

One-frame defects (blotches, dust) are temporal outliers: with the previous and next frames motion-compensated onto
frame n (dense Farneback flow or codec motion vectors), a pixel is flagged

- SDIp (Kokaram): e_b = I_n - I_{n-1}(x + d_b), e_f = I_n - I_{n+1}(x + d_f); |e_b| > t, |e_f| > t, same sign;
- ROD (Nadenau & Mitra): six compensated references (the pixel and its vertical neighbours in each neighbour frame)
  sorted r1..r6; rod_i = I - r_(7-i) if I >= mean(r) else r_i - I, i = 1..3; flagged when any rod_i > T_i,
  T1 < T2 < T3.

The threshold follows the clip's noise (a robust sigma of e_b), detections grow from strong seeds into weaker same-sign
outliers (hysteresis), single isolated pixels are dropped, and the mask is dilated by 1-2 px for the defects' halos.
Line scratches are not temporal outliers (they persist): a pixel is a line pixel when it is brighter (or darker) than
both its horizontal neighbours at +-w px, consistently over a long vertical run, in this frame and a neighbouring one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from .motion import METHODS, codec_flows, consistent, farneback_flow, luminance, warp

DETECTORS = ("sdi", "rod")
SEED = 1.5  # seeds of a detection need SEED x the threshold; grown pixels the threshold
CACHED_FLOWS = 64  # flows a Compensator keeps
CONTINUITY = 0.9  # share of a scratch's vertical run where its line response exceeds half the threshold


@dataclass
class Detection:
    """Boolean `(F, H, W)` masks: `masks` = dilated union of `one_frame` (blotches, dust) and `scratches`."""

    masks: np.ndarray
    one_frame: np.ndarray
    scratches: np.ndarray


class Compensator:
    """The neighbours of each frame motion-compensated onto it, brightness-matched to it (flicker).

    Flows come from `method` (Farneback or codec vectors); the last `CACHED_FLOWS` are kept. Where the direct flow to a neighbour fails the
    forward-backward check (typically on a defect of this frame, which the neighbour lacks), the flow between the two
    neighbours themselves, halved, stands in for it (constant velocity): the defect does not disturb that flow.
    """

    def __init__(self, frames: np.ndarray, method: str = "farneback"):
        if method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {method!r}")
        self.frames = frames
        self.luma = luminance(frames)
        self.method = method
        self._codec = codec_flows(frames) if method == "codec" else None
        self._flows: dict[tuple[int, int], np.ndarray] = {}

    def flow(self, a: int, b: int) -> np.ndarray:
        """Flow from frame `a` to frame `b` (cached)."""
        if (a, b) not in self._flows:
            if self.method == "codec" and abs(a - b) == 1:
                flow = self._codec[0 if b < a else 1][a]
            elif self.method == "codec":  # chain the one-frame block flows
                step = 1 if b > a else -1
                flow = self.flow(a, a + step)
                flow = flow + warp(self.flow(a + step, b), flow)
            else:
                flow = farneback_flow(self.luma[a], self.luma[b])
            if len(self._flows) >= CACHED_FLOWS:  # frames go in order: drop the oldest (a long clip stays small)
                del self._flows[next(iter(self._flows))]
            self._flows[(a, b)] = flow
        return self._flows[(a, b)]

    def neighbours(self, index: int) -> tuple[int, int]:
        """Previous and next frame; at the clip's ends the two nearest frames on the one side."""
        last = len(self.luma) - 1
        return (index - 1, index + 1) if 0 < index < last else (1, 2) if index == 0 else (last - 1, last - 2)

    def reliable_flow(self, index: int, other: int, partner: int) -> np.ndarray:
        """Flow `index` -> `other`, replaced by the (scaled) flow `partner` -> `other` where it is inconsistent."""
        direct = self.flow(index, other)
        ok = consistent(direct, self.flow(other, index))
        if ok.all():
            return direct
        scale = (other - index) / (other - partner)
        bridge = self.flow(partner, other) * scale
        return np.where(ok[..., None], direct, bridge)

    def compensated(self, image: np.ndarray, index: int, other: int) -> np.ndarray:
        """`image` (frame `other`'s pixels or values) motion-compensated onto frame `index`."""
        partner = [n for n in self.neighbours(index) if n != other]
        flow = self.reliable_flow(index, other, partner[0]) if partner else self.flow(index, other)
        return warp(image, flow)

    def luma_neighbours(self, index: int) -> list[np.ndarray]:
        """The two neighbours' luma compensated onto frame `index` and matched to its brightness and contrast."""
        out = []
        for other in self.neighbours(index):
            warped = self.compensated(self.luma[other], index, other)
            out.append(match_brightness(warped, self.luma[index]))
        return out


def match_brightness(image: np.ndarray, target: np.ndarray, where: np.ndarray | None = None) -> np.ndarray:
    """`a * image + b` with `a`, `b` the least-squares fit to `target` over the pixels (of `where`, default all) that
    agree best (the middle 90% of the differences), so flicker does not read as an outlier."""
    where = np.ones(image.shape, bool) if where is None else where
    difference = target - image
    low, high = np.percentile(difference[where], [5, 95])
    keep = where & (difference >= low) & (difference <= high)
    x, y = image[keep].astype(np.float64), target[keep].astype(np.float64)
    if x.size == 0:
        return image.astype(np.float32)
    variance = x.var()
    a = ((x - x.mean()) * (y - y.mean())).mean() / variance if variance > 1e-6 else 1.0  # flat: offset only
    b = y.mean() - a * x.mean()
    return (a * image + b).astype(np.float32)


def robust_sigma(values: np.ndarray) -> float:
    """1.4826 x the median absolute value: the std of the Gaussian part of `values`, outliers ignored."""
    return float(1.4826 * np.median(np.abs(values)))


def sdi_score(frame: np.ndarray, previous: np.ndarray, following: np.ndarray) -> np.ndarray:
    """Signed SDIp strength: min(|e_b|, |e_f|) with the common sign of e_b and e_f, 0 where the signs differ."""
    e_b, e_f = frame - previous, frame - following
    same = np.sign(e_b) == np.sign(e_f)
    return np.where(same, np.sign(e_b) * np.minimum(np.abs(e_b), np.abs(e_f)), 0.0).astype(np.float32)


def rod_scores(frame: np.ndarray, previous: np.ndarray, following: np.ndarray) -> np.ndarray:
    """ROD differences `(3, H, W)` (rod_1..rod_3, signed: + for a bright outlier) from six references per pixel."""
    refs = []
    for image in (previous, following):
        refs += [image, np.roll(image, 1, axis=0), np.roll(image, -1, axis=0)]
    r = np.sort(np.stack(refs), axis=0)
    bright = frame >= r.mean(axis=0)
    rods = np.stack([np.where(bright, frame - r[5 - i], -(r[i] - frame)) for i in range(3)])
    return rods.astype(np.float32)


def hysteresis(strong: np.ndarray, weak: np.ndarray) -> np.ndarray:
    """The connected components (8-neighbourhood) of `weak` that contain a pixel of `strong`."""
    count, labels = cv2.connectedComponents(weak.astype(np.uint8), connectivity=8)
    keep = np.zeros(count, bool)
    keep[np.unique(labels[strong & weak])] = True
    keep[0] = False
    return keep[labels]


def drop_isolated_pixels(mask: np.ndarray, strength: np.ndarray, threshold: float) -> np.ndarray:
    """Removes one-pixel components whose strength is below `threshold` (grain spikes)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    single = stats[:, cv2.CC_STAT_AREA] == 1
    single[0] = False
    weak_single = single[labels] & (strength < threshold)
    return mask & ~weak_single


def one_frame_defects(
    frames: np.ndarray, method: str = "farneback", detector: str = "sdi", threshold: float = 4.0,
    minimum: float = 25.0, progress: Callable[[int], None] | None = None, compensator: Compensator | None = None,
) -> np.ndarray:  # fmt: skip
    """Boolean `(F, H, W)` one-frame defects of uint8 RGB frames `(F, H, W, 3)` (undilated).

    `threshold` is in robust noise sigmas of the compensated differences (never below `minimum` grey levels); seeds
    need twice that, grown pixels the threshold itself.
    """
    if detector not in DETECTORS:
        raise ValueError(f"detector must be one of {DETECTORS}, got {detector!r}")
    compensator = compensator or Compensator(frames, method)
    luma = compensator.luma
    masks = np.zeros(luma.shape, bool)
    if len(luma) < 3:
        return masks
    for index in range(len(luma)):
        previous, following = compensator.luma_neighbours(index)
        if detector == "sdi":
            score = sdi_score(luma[index], previous, following)
        else:
            rods = rod_scores(luma[index], previous, following) / np.array([1.0, 1.5, 2.0], np.float32)[:, None, None]
            # T_i = t * (1, 1.5, 2): the signed score is the rod_i / factor_i farthest from zero on the pixel's side
            score = np.where(rods[0] >= 0, rods.max(axis=0), rods.min(axis=0))
        t = max(minimum, threshold * robust_sigma(score))
        strength = np.abs(score)
        mask = np.zeros(strength.shape, bool)
        for sign in (1, -1):
            signed = sign * score
            mask |= hysteresis(signed > SEED * t, signed > t)
        masks[index] = drop_isolated_pixels(mask, strength, 3 * t)
        if progress is not None:
            progress(1)
    return masks


def line_candidates(luma: np.ndarray, width: int, threshold: float, run: int) -> np.ndarray:
    """Boolean `(H, W)` pixels of long thin vertical lines in one luma frame (see `line_scratches`)."""
    image = cv2.GaussianBlur(luma, (1, 3), 0)
    left, right = np.roll(image, width, axis=1), np.roll(image, -width, axis=1)
    found = np.zeros(image.shape, bool)
    for sign in (1, -1):
        response = np.minimum(sign * (image - left), sign * (image - right))
        response[:, :width] = 0
        response[:, -width:] = 0
        mean = cv2.blur(response, (1, run), borderType=cv2.BORDER_REFLECT)
        steady = cv2.blur((response > threshold / 2).astype(np.float32), (1, run), borderType=cv2.BORDER_REFLECT)
        # a column is a line where the long vertical mean is strong and the response holds along the run (a scratch
        # is even; scene structures vary); grow along it where the pixel responds
        line = (mean > threshold) & (steady >= CONTINUITY)
        along = cv2.dilate(line.astype(np.uint8), np.ones((run, 1), np.uint8)) > 0
        found |= along & (response > threshold / 3)
    return found


def line_scratches(
    frames: np.ndarray, width: int = 3, threshold: float = 30.0, min_length: float = 0.25,
    compensator: Compensator | None = None,
) -> np.ndarray:  # fmt: skip
    """Boolean `(F, H, W)` vertical line scratches of uint8 RGB frames (undilated).

    A pixel's line response is min(I(x) - I(x - w), I(x) - I(x + w)) for bright lines (negated for dark ones): zero on
    edges, positive on lines up to 2w - 1 px wide. A pixel is a line pixel when the response, averaged over a vertical
    run of `min_length` x height, exceeds `threshold` (grey levels) there and its own response is positive. A line
    pixel is a scratch when a neighbouring frame has a line within 2 px at the same place in the frame (scratches
    persist on the film) but not where the scene's motion takes the pixel (a line that moves with the scene, such as a
    pole under a panning camera, is content). Where the scene does not move, the two cannot be told apart.
    """
    compensator = compensator or Compensator(frames)
    luma = compensator.luma
    num_frames, height, _ = luma.shape
    run = max(3, int(min_length * height) | 1)
    lines = np.stack([line_candidates(image, width, threshold, run) for image in luma])
    if num_frames == 1:
        return lines
    scratches = np.zeros_like(lines)
    for index in range(num_frames):
        persists = np.zeros(lines.shape[1:], bool)
        for other in (index - 1, index + 1):
            if not 0 <= other < num_frames:
                continue
            nearby = cv2.dilate(lines[other].astype(np.uint8), np.ones((1, 5), np.uint8)) > 0
            flow = compensator.flow(index, other)
            moved = cv2.dilate(warp(lines[other].astype(np.float32), flow), np.ones((1, 3), np.uint8)) > 0.5
            moving = np.abs(flow[..., 0]) > 1.0
            persists |= nearby & ~(moved & moving)
        # the columns of this frame's lines that persist
        columns = (lines[index] & persists).any(axis=0)
        columns = cv2.dilate(columns[None].astype(np.uint8), np.ones((1, 3), np.uint8))[0] > 0
        scratches[index] = lines[index] & columns & persists.any(axis=0, keepdims=True)
    return scratches


def detect_defects(
    frames: np.ndarray, method: str = "farneback", detector: str = "sdi", dilation: int = 2, scratches: bool = True,
    threshold: float = 4.0, progress: Callable[[int], None] | None = None,
) -> Detection:  # fmt: skip
    """Masks of one-frame defects and line scratches of uint8 RGB frames `(F, H, W, 3)`, dilated by `dilation` px."""
    if not isinstance(frames, np.ndarray) or frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        got = getattr(frames, "shape", type(frames).__name__), getattr(frames, "dtype", None)
        raise ValueError(f"frames must be a uint8 array (F, H, W, 3), got {got}")
    if not isinstance(dilation, int) or dilation < 0:
        raise ValueError(f"dilation must be an int >= 0, got {dilation!r}")
    compensator = Compensator(frames, method)
    one_frame = one_frame_defects(frames, method, detector, threshold, progress=progress, compensator=compensator)
    lines = line_scratches(frames, compensator=compensator) if scratches else np.zeros_like(one_frame)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilation + 1, 2 * dilation + 1))
    dilated = np.stack([cv2.dilate((o | s).astype(np.uint8), kernel) > 0 for o, s in zip(one_frame, lines)])
    return Detection(dilated, one_frame, lines)
