import io

import av
import numpy as np
import pytest
import torch

from videocomposer.motion.render import macroblock_centres, render_motion_field, strokes_to_motion_vectors
from videocomposer.motion.strokes import Stroke, strokes_to_trajectories


def _codec_destinations(height, width, num_frames=3):
    """(dst_x, dst_y) of every MPEG-4 part 2 motion vector PyAV exports for a small textured clip moving right."""
    buffer = io.BytesIO()
    container = av.open(buffer, "w", format="avi")
    stream = container.add_stream("mpeg4", rate=4)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    yy, xx = np.mgrid[:height, :width]
    for f in range(num_frames):
        image = (128 + 60 * np.sin((xx - 4 * f) / 5.0) + 60 * np.cos(yy / 7.0)).astype(np.uint8)
        frame = av.VideoFrame.from_ndarray(np.repeat(image[..., None], 3, axis=2), format="rgb24")
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    buffer.seek(0)
    with av.open(buffer) as container:
        stream = container.streams.video[0]
        stream.codec_context.options = {"flags2": "+export_mvs"}
        destinations = set()
        for frame in container.decode(stream):
            side_data = frame.side_data.get("MOTION_VECTORS")
            if side_data is not None:
                vectors = side_data.to_ndarray()
                destinations |= set(zip(vectors["dst_x"].tolist(), vectors["dst_y"].tolist()))
    return destinations


def test_macroblock_centres_are_the_codec_destination_points():
    assert _codec_destinations(48, 64) == {tuple(c) for c in macroblock_centres(48, 64).tolist()}


def test_macroblock_centres_of_partial_blocks_are_clipped_into_the_frame():
    centres = macroblock_centres(40, 20)
    assert sorted(set(centres[:, 0].tolist())) == [8, 19]
    assert sorted(set(centres[:, 1].tolist())) == [8, 24, 39]


def test_rendered_field_matches_the_trajectory_inside_the_region_only():
    height, width, radius = 96, 128, 20.0
    trajectories = strokes_to_trajectories([Stroke([(10, 30), (60, 60), (118, 40)], radius=radius)], 8, width, height)
    field = render_motion_field(trajectories, [radius], height, width)
    assert field.shape == (2, 8, height, width) and field.dtype == np.float32
    assert not field[:, 0].any()  # first frame: like an I-frame

    centres = macroblock_centres(height, width)
    is_centre = np.zeros((height, width), dtype=bool)
    is_centre[centres[:, 1], centres[:, 0]] = True
    yy, xx = np.mgrid[:height, :width]
    for f in range(1, 8):
        position, displacement = trajectories[0, f], trajectories[0, f] - trajectories[0, f - 1]
        inside = is_centre & (np.hypot(xx - position[0], yy - position[1]) <= radius)
        assert inside.any()
        nonzero = np.any(field[:, f] != 0, axis=0)
        assert not (nonzero & ~inside).any()  # nothing outside the region or off the block centres
        np.testing.assert_allclose(field[0, f][inside], displacement[0], rtol=1e-6, atol=1e-6)  # float32 of float64 px
        np.testing.assert_allclose(field[1, f][inside], displacement[1], rtol=1e-6, atol=1e-6)


def test_overlapping_regions_take_the_nearest_stroke():
    # Two strokes moving in opposite directions, regions overlapping around x = 64.
    trajectories = np.array([[[40.0, 24.0], [48.0, 24.0]], [[88.0, 24.0], [80.0, 24.0]]])
    field = render_motion_field(trajectories, [40.0, 40.0], 48, 128)
    row = field[0, 1, 24]
    assert row[56] == 8.0 and row[40] == 8.0  # nearer the first stroke (at x = 48)
    assert row[72] == -8.0 and row[88] == -8.0  # nearer the second stroke (at x = 80)


def test_render_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"trajectories must have shape \(S, F >= 1, 2\)"):
        render_motion_field(np.zeros((2, 3)), [1.0], 32, 32)
    with pytest.raises(ValueError, match="radii must hold one positive radius per trajectory"):
        render_motion_field(np.zeros((2, 3, 2)), [1.0], 32, 32)
    with pytest.raises(ValueError, match="trajectories must be finite"):
        render_motion_field(np.full((1, 3, 2), np.nan), [1.0], 32, 32)


def test_strokes_to_motion_vectors_is_the_pipeline_argument():
    strokes = [Stroke([(8, 8), (56, 40)], radius=16), Stroke([(60, 10), (60, 40)], radius=12)]
    motion = strokes_to_motion_vectors(strokes, num_frames=5, height=48, width=64)
    assert motion.shape == (1, 2, 5, 48, 64) and motion.dtype == torch.float32
    expected = render_motion_field(strokes_to_trajectories(strokes, 5), [16, 12], 48, 64)
    torch.testing.assert_close(motion[0], torch.from_numpy(expected))
    assert motion[:, 0].abs().sum() > 0 and motion[:, 1].abs().sum() > 0


def test_strokes_outside_the_frame_are_rejected_before_rendering():
    with pytest.raises(ValueError, match=r"stroke 0: point 1 \(70, 5\) is outside the frame"):
        strokes_to_motion_vectors([Stroke([(1, 1), (70, 5)])], num_frames=4, height=48, width=64)


def _disc_clip(path, height, width, radius, velocity, num_frames=8):
    """H.264 at 4 fps: a textured disc moving ``velocity`` px per frame over a static texture; its centres (F, 2)."""
    rng = np.random.default_rng(0)
    coarse = torch.from_numpy(rng.random((1, 3, height // 8 + 1, width // 8 + 1)).astype(np.float32))
    smooth = torch.nn.functional.interpolate(coarse, scale_factor=8, mode="bicubic")[0].permute(1, 2, 0).numpy()
    background = (smooth.clip(0, 1) * 255).astype(np.uint8)[:height, :width]
    item = background[::-1, ::-1][: 2 * radius, : 2 * radius]
    yy, xx = np.mgrid[: 2 * radius, : 2 * radius]
    inside = (xx - radius + 0.5) ** 2 + (yy - radius + 0.5) ** 2 <= radius**2
    start = np.array([width / 2, height / 2]) - np.array(velocity) * (num_frames - 1) / 2
    centres = np.array([start + np.array(velocity) * t for t in range(num_frames)])
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=4, options={"crf": "16"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for cx, cy in centres:
            image = background.copy()
            region = image[int(round(cy)) - radius : int(round(cy)) + radius, int(round(cx)) - radius :][
                :, : 2 * radius
            ]
            region[inside] = item[inside]
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return centres


def _support_and_magnitude(field: torch.Tensor) -> tuple[float, float]:
    support = field[:, 1:].abs().sum(0) > 0
    return support.float().mean().item(), field[:, 1:].norm(dim=0)[support].mean().item()


def test_strokes_at_the_source_size_look_like_the_original_recipe_on_the_same_motion(tmp_path):
    """A 596x336 (WebVid) clip of a disc moving 12 px per frame: the stroke along its path, rendered for that source,
    has about the support and magnitude of the original recipe's field; at the condition size it has neither."""
    from condition_extractors import extract_conditions

    height, width, radius, velocity = 336, 596, 60, (12, 0)
    centres = _disc_clip(tmp_path / "disc.mp4", height, width, radius, velocity)
    real = extract_conditions(str(tmp_path / "disc.mp4"), ["motion"], num_frames=8, fps=4, height=256, width=256,
                              progress=False)["motion_vectors"][0]  # fmt: skip
    factor, left = 256 / 336, (round(596 * 256 / 336) - 256) // 2
    points = [((x + 0.5) * factor - 0.5 - left, (y + 0.5) * factor - 0.5) for x, y in centres[[0, -1]]]
    stroke = [Stroke(points=points, radius=radius * factor)]
    source = strokes_to_motion_vectors(stroke, 8, 256, 256, source_short_side=336)[0]
    plain = strokes_to_motion_vectors(stroke, 8, 256, 256)[0]
    (real_support, real_magnitude), (support, magnitude) = _support_and_magnitude(real), _support_and_magnitude(source)
    assert 0.7 <= support / real_support <= 1.4 and 0.75 <= magnitude / real_magnitude <= 1.33
    plain_support, plain_magnitude = _support_and_magnitude(plain)
    assert plain_support / real_support < 0.4 and plain_magnitude / real_magnitude > 2.5
    # every vector points along the motion (+x), in source pixels at most the 12 px step
    moving = source[:, 1:].permute(1, 2, 3, 0)[source[:, 1:].abs().sum(0) > 0]
    assert (moving[:, 0] > 0).all() and moving[:, 1].abs().max() < 1e-4 and moving[:, 0].max() <= 12.0 + 1e-4


def test_source_short_side_resizes_the_source_field_like_mv_transforms():
    from condition_extractors.motion_vectors import mv_transforms

    strokes = [Stroke([(8, 20), (56, 28)], radius=12)]
    motion = strokes_to_motion_vectors(strokes, 4, 48, 64, source_short_side=96)[0]
    # independent: the same strokes drawn on the 96 x 128 source (pixel centres scaled by 2), radius doubled
    source_strokes = [Stroke([(2 * x + 0.5, 2 * y + 0.5) for x, y in strokes[0].points], radius=24)]
    source = render_motion_field(strokes_to_trajectories(source_strokes, 4), [24.0], 96, 128)
    expected = torch.nn.functional.interpolate(
        torch.from_numpy(source).transpose(0, 1), size=(48, 64), mode="bilinear", align_corners=False
    ).transpose(0, 1)
    torch.testing.assert_close(motion, expected, rtol=1e-5, atol=1e-5)
    # exact: same kernels, same shapes, one process
    assert torch.equal(mv_transforms(torch.from_numpy(source).transpose(0, 1), 48, 64).transpose(0, 1), motion)
    same = strokes_to_motion_vectors(strokes, 4, 48, 64, source_short_side=48)
    # exact: same kernels, same shapes, one process
    assert torch.equal(same, strokes_to_motion_vectors(strokes, 4, 48, 64))
    with pytest.raises(ValueError, match=r"source_short_side must be an int >= 2 or None, got 1.5"):
        strokes_to_motion_vectors(strokes, 4, 48, 64, source_short_side=1.5)
