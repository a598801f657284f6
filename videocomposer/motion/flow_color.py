"""Optical-flow colouring with the Middlebury colour wheel (Baker et al., "A Database and Evaluation Methodology for
Optical Flow", 2011; the ``computeColor`` / ``flowToColor`` reference code).

Conventions matched (the same as Middlebury and as ``mmcv.flow2rgb``): flow (u, v) = (dx, dy) with y pointing down;
hue from the angle atan2(-v, -u) over a 55-bin wheel (red-yellow 15, yellow-green 6, green-cyan 4, cyan-blue 11,
blue-magenta 13, magenta-red 6), so motion to the right is red, to the left cyan; saturation from the magnitude
divided by the largest magnitude (zero flow is white); colours beyond the normalising radius are darkened by 0.75;
non-finite vectors are black. Differences from ``mmcv.flow2rgb``: we return uint8 RGB (mmcv: float in [0, 1]), accept
``(2, H, W)`` as well as ``(H, W, 2)`` and torch tensors, and take an optional fixed ``max_radius`` so the colours of a
video do not change from frame to frame.
"""

import numpy as np
import torch

WHEEL_SEGMENTS = (15, 6, 4, 11, 13, 6)  # red->yellow, yellow->green, green->cyan, cyan->blue, blue->magenta, ->red


def middlebury_color_wheel() -> np.ndarray:
    """The 55 colours ``(55, 3)`` in [0, 1] of the Middlebury wheel, each segment a linear ramp of one channel."""
    colours = []
    for segment, length in enumerate(WHEEL_SEGMENTS):
        ramp = np.arange(length) / length
        rising, falling, ones, zeros = ramp, 1.0 - ramp, np.ones(length), np.zeros(length)
        channels = [
            (ones, rising, zeros),  # red -> yellow
            (falling, ones, zeros),  # yellow -> green
            (zeros, ones, rising),  # green -> cyan
            (zeros, falling, ones),  # cyan -> blue
            (rising, zeros, ones),  # blue -> magenta
            (ones, zeros, falling),  # magenta -> red
        ][segment]
        colours.append(np.stack(channels, axis=1))
    return np.concatenate(colours)


def flow_to_color(flow: np.ndarray | torch.Tensor, max_radius: float | None = None) -> np.ndarray:
    """Colour a flow field ``(2, H, W)`` or ``(H, W, 2)`` (dx, dy) -> uint8 RGB ``(H, W, 3)``.

    A leading dimension of 2 is read as channels-first. With r = |(u, v)| / R (R = ``max_radius``, or the largest
    finite magnitude in ``flow``) and a = atan2(-v, -u) / pi:  k = (a + 1) / 2 * (55 - 1),  colour = linear blend of
    wheel[floor(k)] and wheel[floor(k) + 1 mod 55];  r <= 1: 1 - r (1 - colour);  r > 1: 0.75 colour.
    """
    if isinstance(flow, torch.Tensor):
        flow = flow.detach().cpu().numpy()
    flow = np.asarray(flow, dtype=np.float64)
    if flow.ndim != 3 or 2 not in (flow.shape[0], flow.shape[-1]):
        raise ValueError(f"flow must have shape (2, H, W) or (H, W, 2), got {flow.shape}")
    if max_radius is not None and not max_radius > 0:
        raise ValueError(f"max_radius must be > 0, got {max_radius}")
    u, v = (flow[0], flow[1]) if flow.shape[0] == 2 else (flow[..., 0], flow[..., 1])
    unknown = ~(np.isfinite(u) & np.isfinite(v))
    u, v = np.where(unknown, 0.0, u), np.where(unknown, 0.0, v)

    radius = np.hypot(u, v)
    scale = max_radius if max_radius is not None else radius.max()
    if scale > np.finfo(np.float64).eps:
        u, v, radius = u / scale, v / scale, radius / scale

    wheel = middlebury_color_wheel()
    num_bins = len(wheel)
    position = (np.arctan2(-v, -u) / np.pi + 1.0) / 2.0 * (num_bins - 1)
    lower = np.floor(position).astype(np.int64)
    upper = (lower + 1) % num_bins
    fraction = (position - lower)[..., None]
    colour = (1.0 - fraction) * wheel[lower] + fraction * wheel[upper]
    inside = (radius <= 1.0)[..., None]
    colour = np.where(inside, 1.0 - radius[..., None] * (1.0 - colour), 0.75 * colour)
    colour[unknown] = 0.0
    return np.round(colour * 255.0).astype(np.uint8)
