import av
import numpy as np
import PIL.Image
import pytest
import torch
import torch.nn.functional as F

from condition_extractors import load_video, resize_center_crop
from condition_extractors.video import sample_at_fps


def red_index(frames: torch.Tensor) -> list[int]:
    """Frame index encoded as red = 5 * index (lossy codecs: nearest)."""
    return [round(v / 5) for v in frames[:, 0].float().mean(dim=(1, 2)).tolist()]


@pytest.mark.parametrize(
    "extension,codec", [("mp4", "libx264"), ("mov", "libx264"), ("mkv", "libx264"), ("webm", "libvpx-vp9")]
)
def test_containers_decode_and_sample_every_other_frame_at_4fps_from_8fps(
    tmp_path, video_writer, indexed_frames, extension, codec
):
    path = video_writer(tmp_path / f"clip.{extension}", indexed_frames(40), fps=8, codec=codec)
    frames = load_video(path, num_frames=16, fps=4.0)
    assert frames.dtype == torch.uint8 and frames.shape == (16, 3, 48, 64)
    assert red_index(frames) == list(range(0, 32, 2))


def test_gif_decodes_with_its_own_timestamps(tmp_path, video_writer):
    frames = np.zeros((8, 32, 32, 3), np.uint8)
    frames[:, :, :, 0] = np.where(np.arange(8) % 2 == 0, 0, 255)[:, None, None]  # alternate black / red
    path = video_writer(tmp_path / "clip.gif", frames, fps=4, codec="gif")
    video = load_video(path, num_frames=8, fps=4.0)
    assert video.shape == (8, 3, 32, 32)
    red = video[:, 0].float().mean(dim=(1, 2))
    assert (red > 200).tolist() == [False, True] * 4 and (red[::2] < 50).all()


def test_start_time_and_fps_select_nearest_frames(counter_video):
    frames = load_video(counter_video, num_frames=4, fps=2.0, start_time=1.0)
    assert red_index(frames) == [8, 12, 16, 20]  # t = 1.0, 1.5, 2.0, 2.5 s at 8 fps


def test_slow_source_repeats_frames(tmp_path, video_writer, indexed_frames):
    path = video_writer(tmp_path / "slow.mp4", indexed_frames(6), fps=2)
    assert red_index(load_video(path, num_frames=None, fps=4.0)) == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]


def test_num_frames_none_returns_every_sample_until_the_end(counter_video):
    assert load_video(counter_video, num_frames=None, fps=4.0).shape[0] == 20


def test_sample_at_fps_picks_nearest_with_ties_to_earlier():
    items = [(t / 10, t) for t in range(10)]  # 10 fps, 1 s
    assert sample_at_fps(iter(items), None, fps=4.0, start_time=0.0) == [0, 2, 5, 7]  # 0, .25, .5, .75 s
    assert sample_at_fps(iter(items), 2, fps=5.0, start_time=0.3) == [3, 5]  # 0.3, 0.5 s
    exact = [(t / 8, t) for t in range(8)]  # binary fractions: exact ties
    assert sample_at_fps(iter(exact), 2, fps=4.0, start_time=1 / 16) == [0, 2]  # 1/16 between 0 and 1/8: earlier


def test_in_memory_inputs_agree(indexed_frames):
    array = indexed_frames(5)
    from_numpy = load_video(array, num_frames=5)
    from_tensor = load_video(torch.from_numpy(array).permute(0, 3, 1, 2), num_frames=5)
    from_float = load_video(torch.from_numpy(array).permute(0, 3, 1, 2).float() / 255, num_frames=5)
    from_pil = load_video([PIL.Image.fromarray(a) for a in array], num_frames=5)
    for other in (from_tensor, from_float, from_pil):
        assert torch.equal(other, from_numpy)
    assert from_numpy[3, 0, 0, 0] == 15


def test_in_memory_frames_are_truncated_to_num_frames(indexed_frames):
    assert red_index(load_video(indexed_frames(10), num_frames=4)) == [0, 1, 2, 3]


def test_missing_file_raises_naming_it(tmp_path):
    with pytest.raises(ValueError, match=r"video=.*nope\.mp4.*no such file"):
        load_video(tmp_path / "nope.mp4")


def test_corrupt_file_raises_naming_it(tmp_path):
    path = tmp_path / "garbage.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(ValueError, match=r"video=.*garbage\.mp4.*not a readable video"):
        load_video(path)


@pytest.mark.parametrize("extension", ["mp4", "mkv"])  # index at the end / streamable: both must fail clearly
def test_truncated_file_raises_naming_it(tmp_path, video_writer, indexed_frames, extension):
    path = video_writer(tmp_path / f"cut.{extension}", indexed_frames(40), fps=8)
    with open(path, "r+b") as handle:
        handle.truncate(len(handle.read()) // 2)
    with pytest.raises(ValueError, match=rf"video=.*cut\.{extension}.*(truncated|only \d+ frames)"):
        load_video(path, num_frames=16)


def test_file_without_video_stream_raises(tmp_path):
    path = str(tmp_path / "tone.wav")
    with av.open(path, "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with pytest.raises(ValueError, match=r"video=.*tone\.wav.*no video stream"):
        load_video(path)


def test_fewer_frames_than_requested_raises(counter_video):
    with pytest.raises(ValueError, match=r"video=.*counter\.mp4.*only 20 frames.*num_frames=32"):
        load_video(counter_video, num_frames=32, fps=4.0)


def test_start_after_the_end_gives_zero_frames_error(counter_video):
    with pytest.raises(ValueError, match=r"no frame decoded at or after start_time=60"):
        load_video(counter_video, num_frames=1, start_time=60.0)


def test_bad_in_memory_inputs_raise():
    with pytest.raises(ValueError, match=r"video: zero frames"):
        load_video(torch.zeros(0, 3, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"\(F, 3, H, W\)"):
        load_video(torch.zeros(4, 8, 8, 3))
    with pytest.raises(ValueError, match=r"\(F, H, W, 3\)"):
        load_video(np.zeros((4, 3, 8, 8), np.uint8))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        load_video(torch.full((2, 3, 8, 8), 2.0))
    with pytest.raises(ValueError, match=r"2 frames given, fewer than num_frames=16"):
        load_video(torch.zeros(2, 3, 8, 8))
    with pytest.raises(TypeError, match=r"PIL image"):
        load_video([np.zeros((8, 8, 3))])
    with pytest.raises(ValueError, match=r"num_frames"):
        load_video(torch.zeros(2, 3, 8, 8), num_frames=0)
    with pytest.raises(ValueError, match=r"fps"):
        load_video(torch.zeros(2, 3, 8, 8), fps=0)


def test_resize_center_crop_matches_resize_then_slice():
    frames = torch.rand(2, 3, 60, 100)
    out = resize_center_crop(frames, 30, 30)
    expected = F.interpolate(frames, size=(30, 50), mode="bilinear", antialias=True, align_corners=False)[..., 10:40]
    assert out.shape == (2, 3, 30, 30)
    torch.testing.assert_close(out, expected.clamp(0, 1))


def test_resize_center_crop_keeps_the_centre_and_scales_uint8():
    frames = torch.zeros(1, 3, 20, 40, dtype=torch.uint8)
    frames[..., 10:30] = 255  # a centred white square
    out = resize_center_crop(frames, 20, 20)
    assert out.dtype == torch.float32 and torch.equal(out, torch.ones(1, 3, 20, 20))


def test_resize_center_crop_upscales_portrait_video():
    out = resize_center_crop(torch.rand(1, 3, 40, 20), 64, 48)
    assert out.shape == (1, 3, 64, 48)
