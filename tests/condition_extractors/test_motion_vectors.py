import warnings

import numpy as np
import pytest
import torch

from condition_extractors import MotionVectorExtractor, extract_conditions, motion_field_from_vectors
from condition_extractors.motion_vectors import map_vectors_to_crop
from condition_extractors.video import load_video

VELOCITY = (3, 2)
SQUARE, START = 64, (16, 16)


def as_float(frames: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255.0


def vectors_inside_square(field: torch.Tensor, t: int) -> torch.Tensor:
    """(N, 2) vectors at 16x16 block centres whose block lies inside the square at frames t and t - 1."""
    x_low, y_low = START[0] + VELOCITY[0] * t, START[1] + VELOCITY[1] * t
    x_high, y_high = START[0] + VELOCITY[0] * (t - 1) + SQUARE, START[1] + VELOCITY[1] * (t - 1) + SQUARE
    centres = [c for c in range(8, field.shape[-1], 16)]
    xs = [c for c in centres if c - 8 >= x_low and c + 8 <= x_high]
    ys = [c for c in centres if c - 8 >= y_low and c + 8 <= y_high]
    return torch.stack([field[:, y, x] for y in ys for x in xs])


def test_field_builder_writes_displacement_at_destination_and_zero_elsewhere():
    field = motion_field_from_vectors(np.array([[2, 1], [5, 6]]), np.array([[3.0, -2.0], [0.5, 4.0]]), 8, 10)
    assert field.shape == (2, 8, 10) and field.dtype == torch.float32
    assert field[:, 1, 2].tolist() == [3.0, -2.0] and field[:, 6, 5].tolist() == [0.5, 4.0]
    assert torch.count_nonzero(field) == 4


def test_field_builder_last_vector_wins_and_points_are_clipped_like_the_original():
    field = motion_field_from_vectors(
        torch.tensor([[1, 1], [1, 1], [50, -3]]), torch.tensor([[1.0, 1.0], [2.0, 2.0], [7.0, 8.0]]), 4, 4
    )
    assert field[:, 1, 1].tolist() == [2.0, 2.0]
    assert field[:, 0, 3].tolist() == [7.0, 8.0]  # (50, -3) clipped to (w - 1, 0)
    assert torch.count_nonzero(field) == 4


def test_field_builder_rounds_float_points_and_accepts_no_vectors():
    field = motion_field_from_vectors(np.array([[1.6, 0.4]]), np.array([[1.0, 0.0]]), 3, 3)
    assert field[0, 0, 2] == 1.0
    assert torch.count_nonzero(motion_field_from_vectors(np.zeros((0, 2)), np.zeros((0, 2)), 3, 3)) == 0


def test_field_builder_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"dst_xy must be \(N, 2\)"):
        motion_field_from_vectors(np.zeros((3,)), np.zeros((3,)), 4, 4)
    with pytest.raises(ValueError, match=r"displacement must have the shape"):
        motion_field_from_vectors(np.zeros((3, 2)), np.zeros((2, 2)), 4, 4)
    with pytest.raises(ValueError, match=r"height and width"):
        motion_field_from_vectors(np.zeros((1, 2)), np.zeros((1, 2)), 0, 4)
    with pytest.raises(ValueError, match=r"finite"):
        motion_field_from_vectors(np.array([[np.nan, 0]]), np.zeros((1, 2)), 4, 4)


def test_moving_square_vectors_point_the_right_way_with_the_right_magnitude(square_frames):
    fields = MotionVectorExtractor()(as_float(square_frames(8)))
    assert fields.shape == (8, 2, 128, 128)
    for t in range(1, 8):
        inside = vectors_inside_square(fields[t], t)
        close = ((inside - torch.tensor(VELOCITY, dtype=torch.float32)).abs() <= 1.0).all(dim=1)
        assert close.float().mean() >= 0.75, (t, inside)
        assert (inside.median(dim=0).values - torch.tensor(VELOCITY, dtype=torch.float32)).abs().max() <= 0.5


def test_field_is_sparse_one_vector_per_macroblock_centre(square_frames):
    fields = MotionVectorExtractor()(as_float(square_frames(4)))
    _, _, ys, xs = torch.nonzero(fields, as_tuple=True)
    assert len(xs) > 0 and (xs % 16 == 8).all() and (ys % 16 == 8).all()


def test_static_video_gives_zero_vectors():
    # a smooth random texture; a periodic texture can give a few spurious half-pel vectors (codec behaviour)
    texture = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    image = torch.nn.functional.interpolate(texture, size=(128, 128), mode="bicubic").clamp(0, 1)
    assert torch.count_nonzero(MotionVectorExtractor()(image.expand(6, -1, -1, -1))) == 0


def test_i_frames_are_zero(square_frames):
    fields = MotionVectorExtractor(gop_size=4)(as_float(square_frames(9)))
    nonzero = [bool(torch.count_nonzero(f)) for f in fields]
    assert nonzero == [False, True, True, True, False, True, True, True, False]


def test_odd_sizes_are_encoded_at_their_own_size():
    fields = MotionVectorExtractor()(torch.rand(3, 3, 31, 33))
    assert fields.shape == (3, 2, 31, 33) and torch.count_nonzero(fields[0]) == 0


def test_bad_constructor_arguments_raise():
    with pytest.raises(ValueError, match=r"bit_rate and gop_size"):
        MotionVectorExtractor(gop_size=0)


def test_extract_conditions_gives_pipeline_layout_at_video_size(tmp_path, video_writer, square_frames):
    path = video_writer(tmp_path / "square.mp4", square_frames(8), fps=4)
    out = extract_conditions(path, ["motion"], num_frames=8, fps=4, height=128, width=128, progress=False)
    assert list(out) == ["motion_vectors"] and out["motion_vectors"].shape == (1, 2, 8, 128, 128)
    inside = vectors_inside_square(out["motion_vectors"][0, :, 3], 3)
    assert (inside.median(dim=0).values - torch.tensor(VELOCITY, dtype=torch.float32)).abs().max() <= 0.5


def test_bitstream_mode_reads_h264_vectors_without_reencoding(tmp_path, video_writer, square_frames):
    path = video_writer(tmp_path / "square.mp4", square_frames(8), fps=4, options={"refs": "1", "bf": "0"})
    out = extract_conditions(
        path, ["motion"], num_frames=8, fps=4, height=128, width=128, progress=False, motion={"mode": "bitstream"}
    )
    fields = out["motion_vectors"][0].permute(1, 0, 2, 3)
    assert torch.count_nonzero(fields[0]) == 0  # the first frame is an I-frame
    for t in range(1, 8):
        moving = fields[t].flatten(1).T
        moving = moving[moving.abs().sum(dim=1) > 0.75]  # the static background carries zero vectors
        vectors, counts = moving.unique(dim=0, return_counts=True)
        most_common = vectors[counts.argmax()]  # x264 picks a few other matches on the periodic texture
        assert (most_common - torch.tensor(VELOCITY, dtype=torch.float32)).abs().max() <= 1.0, (t, vectors, counts)


def test_vectors_follow_the_frames_through_resize_and_crop():
    dst = np.array([[9, 3], [23, 9], [1, 1]])
    displacement = np.array([[2.0, 4.0], [-2.0, 0.0], [1.0, 1.0]], np.float32)
    # 16x32 -> resize to 8x16 -> centre crop 8x8 (left offset 4)
    mapped, scaled = map_vectors_to_crop(dst, displacement, 16, 32, 8, 8)
    # (9.5 / 2 - 0.5 - 4, 3.5 / 2 - 0.5) = (0.25, 1.25) -> (0, 1); (1, 1) -> (-3.25, ..) leaves the crop
    assert mapped.tolist() == [[0, 1], [7, 4]]
    assert scaled.tolist() == [[1.0, 2.0], [-1.0, 0.0]]


def test_bitstream_mode_at_half_size_halves_the_vectors(tmp_path, video_writer, square_frames):
    path = video_writer(tmp_path / "square.mp4", square_frames(4), fps=4, options={"refs": "1", "bf": "0"})
    half = MotionVectorExtractor.from_file(path, 4, 64, 64)
    assert half.shape == (4, 2, 64, 64)
    moving = half[2].flatten(1).T
    vectors, counts = moving[moving.abs().sum(dim=1) > 0.3].unique(dim=0, return_counts=True)
    assert vectors[counts.argmax()].tolist() == [1.5, 1.0]


def test_bitstream_mode_rejects_codecs_without_vectors_and_frames_input(tmp_path, video_writer, square_frames):
    path = video_writer(tmp_path / "square.webm", square_frames(4), fps=4, codec="libvpx-vp9")
    with pytest.raises(ValueError, match=r"codec 'vp9' stores no motion vectors"):
        MotionVectorExtractor.from_file(path, 4, 64, 64)
    with pytest.raises(TypeError, match=r"needs a video file path"):
        extract_conditions(
            torch.rand(4, 3, 64, 64),
            ["motion"],
            num_frames=4,
            height=64,
            width=64,
            progress=False,
            motion={"mode": "bitstream"},
        )


def test_original_mode_equals_reencode_when_the_source_already_has_the_target_size(square_frames):
    source = torch.from_numpy(square_frames(6)).permute(0, 3, 1, 2)
    original = MotionVectorExtractor(mode="original").original_recipe(source, 128, 128)
    # exact: same kernels, same shapes, one process
    torch.testing.assert_close(original, MotionVectorExtractor()(source.float() / 255.0), rtol=0, atol=0)


def test_original_mode_resizes_the_source_size_field_like_the_original_transforms(square_frames):
    source = torch.from_numpy(square_frames(6)).permute(0, 3, 1, 2)  # 128x128, square moving (3, 2) px per frame
    extractor = MotionVectorExtractor(mode="original")
    fields = extractor.original_recipe(source, 64, 64)
    # independent: the source-size field, then plain bilinear (no antialias) sampling at the output pixel centres
    full = extractor(source.float() / 255.0)
    expected = torch.nn.functional.interpolate(full, size=(64, 64), mode="bilinear", align_corners=False)
    assert fields.shape == (6, 2, 64, 64)
    torch.testing.assert_close(fields, expected, rtol=1e-6, atol=1e-6)
    # values stay in source pixels (about (3, 2)), diluted by the 2x2 bilinear taps: a block centre gets weight 1/4
    moving = fields[1:].abs().amax(dim=(0, 2, 3))
    torch.testing.assert_close(moving, full[1:].abs().amax(dim=(0, 2, 3)) / 4)
    assert 2.5 <= full[1:, 0].abs().max() <= 3.5
    assert torch.count_nonzero(fields[0]) == 0


def write_textured_clip(path, frames: np.ndarray, rate=25, pix_fmt: str = "yuv420p") -> str:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=rate, options={"crf": "10"})
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], pix_fmt
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return str(path)


def test_motion_defaults_to_the_original_recipe():
    from condition_extractors import get_extractor

    assert MotionVectorExtractor().mode == "original" and get_extractor("motion").mode == "original"
    with pytest.raises(ValueError, match=r"mode must be one of \('original', 'reencode', 'bitstream'\)"):
        MotionVectorExtractor(mode="ffmpeg")


def test_original_mode_hands_the_decoded_yuv_planes_to_the_encoder_untouched(tmp_path, square_frames, monkeypatch):
    """Decode -> encoder input is bit-identical: the planes the encoder gets are those PyAV decodes at the picked
    timestamps (an independent decode here), not an RGB round trip of them; the file is decoded once."""
    import av

    from condition_extractors import video as video_module
    from condition_extractors.motion_vectors import yuv420p_planes

    path = write_textured_clip(tmp_path / "square.mp4", square_frames(24, size=128, velocity=(1, 1)), rate=12)
    fed, decodes = [], []
    real_encode_decode, real_decode = MotionVectorExtractor._encode_decode, video_module.decode_sampled

    def spy_encode_decode(self, frames, fps):
        fed.extend(yuv420p_planes(frame) for frame in frames)
        return real_encode_decode(self, frames, fps)

    def spy_decode(*args, **kwargs):
        decodes.append(args[0])
        return real_decode(*args, **kwargs)

    monkeypatch.setattr(MotionVectorExtractor, "_encode_decode", spy_encode_decode)
    monkeypatch.setattr(video_module, "decode_sampled", spy_decode)
    out = extract_conditions(path, ["motion"], num_frames=6, fps=4, height=64, width=64, progress=False)
    assert out["motion_vectors"].shape == (1, 2, 6, 64, 64) and len(decodes) == 1
    with av.open(path) as container:  # 12 fps -> 4 fps: slot k holds the last frame with t < (k + 1/2) / 4
        decoded = [frame for frame in container.decode(video=0)]
    expected = [decoded[index] for index in (1, 4, 7, 10, 13, 16)]
    assert len(fed) == 6
    for got, frame in zip(fed, expected):
        for plane_got, plane_expected in zip(got, yuv420p_planes(frame)):
            assert plane_got.dtype == np.uint8 and np.array_equal(plane_got, plane_expected)
    # the RGB round trip would have changed them
    rgb = av.VideoFrame.from_ndarray(expected[2].to_ndarray(format="rgb24"), format="rgb24").reformat(format="yuv420p")
    assert not all(np.array_equal(a, b) for a, b in zip(yuv420p_planes(rgb), fed[2]))


def test_original_mode_through_extract_conditions_is_the_recipe_on_the_source_planes(tmp_path, square_frames):
    from condition_extractors.motion_vectors import mv_transforms
    from condition_extractors.video import sample_video

    path = write_textured_clip(tmp_path / "square.mp4", square_frames(6), rate=4)
    got = extract_conditions(path, ["motion"], num_frames=6, fps=4, height=64, width=64, progress=False)
    extractor = MotionVectorExtractor()
    expected = mv_transforms(extractor.codec_fields(sample_video(path, 6, 4.0).frames, 4.0), 64, 64)
    # exact: same kernels, same shapes, one process
    torch.testing.assert_close(got["motion_vectors"][0].permute(1, 0, 2, 3), expected, rtol=0, atol=0)
    assert torch.count_nonzero(expected[0]) == 0 and torch.count_nonzero(expected[1:]) > 0
    # reencode and bitstream stay available by name
    reencode = extract_conditions(path, ["motion"], num_frames=6, fps=4, height=64, width=64, progress=False,
                                  motion={"mode": "reencode"})["motion_vectors"]  # fmt: skip
    assert reencode.shape == (1, 2, 6, 64, 64) and not torch.equal(reencode, got["motion_vectors"])


def test_original_mode_keeps_an_odd_source_size_and_converts_other_formats_like_ffmpeg(tmp_path, square_frames):
    """ffmpeg's inserted scaler: yuv444p -> yuv420p bicubic; full range (yuvj420p) -> limited range; odd sizes kept."""
    import av

    from condition_extractors.motion_vectors import encoder_planes, yuv420p_planes
    from condition_extractors.video import sample_video

    frames = np.ascontiguousarray(square_frames(6, size=128)[:, :127, :125])  # odd height and width
    path = write_textured_clip(tmp_path / "odd.mp4", frames, rate=4, pix_fmt="yuv444p")
    clip = sample_video(path, 6, 4.0)
    assert clip.frames[0].format.name == "yuv444p"
    y, u, v = encoder_planes(clip.frames[0])
    assert y.shape == (127, 125) and u.shape == v.shape == (64, 63)
    bicubic = yuv420p_planes(clip.frames[0].reformat(format="yuv420p", interpolation="BICUBIC"))
    assert all(np.array_equal(a, b) for a, b in zip((y, u, v), bicubic))
    fields = MotionVectorExtractor().codec_fields(clip.frames, 4.0)
    assert fields.shape == (6, 2, 127, 125) and torch.count_nonzero(fields[1:]) > 0

    full = write_textured_clip(tmp_path / "full.mp4", square_frames(2), rate=4, pix_fmt="yuvj420p")
    with av.open(full) as container:
        frame = next(container.decode(video=0))
    assert frame.format.name == "yuvj420p"
    raw_luma = yuv420p_planes(frame.reformat(format="yuv420p"))[0]  # a copy: swscale sees no range to convert
    luma = encoder_planes(frame)[0].astype(np.float64)
    expected = 16 + raw_luma.astype(np.float64) * 219 / 255  # full -> limited range
    assert np.abs(luma - expected).max() <= 1.0 and not np.array_equal(luma, raw_luma)


def test_raise_fps_samples_a_short_clip_at_the_original_rate_with_a_warning(tmp_path, square_frames):
    path = write_textured_clip(tmp_path / "short.mp4", square_frames(12), rate=8)  # 1.5 s: 6 frames at 4 fps
    with pytest.raises(ValueError, match=r"fewer than num_frames=8"):
        extract_conditions(path, ["motion"], num_frames=8, fps=4, height=64, width=64, progress=False)
    with pytest.warns(UserWarning, match=r"1\.5 s from start_time=0.0 is too short .* sampling at fps=6 instead"):
        out = extract_conditions(path, ["motion"], num_frames=8, fps=4, height=64, width=64, progress=False,
                                 raise_fps=True)  # fmt: skip
    assert out["motion_vectors"].shape == (1, 2, 8, 64, 64)  # int(8 / 1.5) + 1 = 6 fps
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # long enough: no change, no warning
        load_video(path, num_frames=4, fps=4.0, raise_fps=True)


def test_random_iframe_start_is_seeded_and_on_the_gop_grid(tmp_path, square_frames):
    from condition_extractors.video import random_iframe_start

    path = write_textured_clip(
        tmp_path / "long.mp4", square_frames(40, size=96, velocity=(1, 0), square=32), rate=4
    )  # 10 s
    starts = {random_iframe_start(path, num_frames=8, fps=4.0, seed=seed, gop_size=12) for seed in range(40)}
    # 40 output frames, 8 needed: I-frames 0, 12, 24 fit (32 + 8 would pass the end)
    assert starts == {0.0, 3.0, 6.0}
    assert random_iframe_start(path, 8, 4.0, seed=3) == random_iframe_start(path, 8, 4.0, seed=3)
    assert random_iframe_start(path, 40, 4.0, seed=3) == 0.0
    with pytest.raises(ValueError, match=r"gop_size must be a positive int"):
        random_iframe_start(path, 8, 4.0, seed=0, gop_size=0)
