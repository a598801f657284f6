from fractions import Fraction

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


def test_start_time_skips_ffmpeg_output_slots(counter_video):
    frames = load_video(counter_video, num_frames=4, fps=2.0, start_time=1.0)
    # slots n = 2..5 of the 0.5 s grid; slot n holds the last 8 fps frame with t < (n + 0.5) / 2
    assert red_index(frames) == [9, 13, 17, 21]
    assert red_index(load_video(counter_video, num_frames=2, fps=2.0, start_time=0.8)) == [9, 13]  # rounded up


def test_slow_source_repeats_frames(tmp_path, video_writer, indexed_frames):
    path = video_writer(tmp_path / "slow.mp4", indexed_frames(6), fps=2)
    assert red_index(load_video(path, num_frames=None, fps=4.0)) == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]


def test_num_frames_none_returns_every_sample_until_the_end(counter_video):
    assert load_video(counter_video, num_frames=None, fps=4.0).shape[0] == 20


def ffmpeg_fps_reference(times: list[Fraction], fps: Fraction, end: Fraction) -> list[int]:
    """Indices ffmpeg's fps filter outputs, written from its definition: output pts n runs from round(t0 * fps) while
    n + 1/2 <= end * fps; slot n takes the last frame whose pts rounded to the output time base is <= n."""

    def rounded(x: Fraction) -> int:  # nearest, halves away from zero (times are >= 0)
        return int(x + Fraction(1, 2)) if x >= 0 else -int(-x + Fraction(1, 2))

    picks, n = [], rounded(times[0] * fps)
    while n + Fraction(1, 2) <= end * fps:
        picks.append(max(i for i, t in enumerate(times) if rounded(t * fps) <= n))
        n += 1
    return picks


@pytest.mark.parametrize("rate", [Fraction(25), Fraction(30000, 1001), Fraction(30), Fraction(60), Fraction(3)])
@pytest.mark.parametrize("fps", [Fraction(4), Fraction(8)])
def test_sample_at_fps_follows_ffmpeg_on_constant_rates(rate, fps):
    times = [Fraction(i) / rate for i in range(int(5 * rate))]
    got = sample_at_fps(iter((t, i) for i, t in enumerate(times)), None, float(fps), 0.0, lambda item: 1 / rate)
    expected = ffmpeg_fps_reference(times, fps, times[-1] + 1 / rate)
    assert got == expected
    # the k-th pick is the last frame strictly before (k + 1/2) / fps, e.g. frame 3 (t = 0.12 s) first at 25 fps
    assert all(times[i] < (k + Fraction(1, 2)) / fps for k, i in enumerate(got))
    assert all(times[i + 1] >= (k + Fraction(1, 2)) / fps for k, i in enumerate(got) if i + 1 < len(times))
    if rate == 25 and fps == 4:
        assert got[:4] == [3, 9, 15, 21] and len(got) == 20


def test_sample_at_fps_follows_ffmpeg_on_variable_frame_rate_and_late_first_frame():
    rng = np.random.default_rng(0)
    times = [Fraction(int(t), 1000) for t in 730 + np.cumsum(rng.integers(5, 400, 40))]  # gaps up to 0.4 s
    got = sample_at_fps(iter((t, i) for i, t in enumerate(times)), None, 4.0, 0.0, lambda item: Fraction(1, 25))
    assert got == ffmpeg_fps_reference(times, Fraction(4), times[-1] + Fraction(1, 25))
    assert got[0] == max(i for i, t in enumerate(times) if t * 4 < round(times[0] * 4) + Fraction(1, 2))
    # num_frames stops early, start_time skips whole slots of the same grid
    assert sample_at_fps(iter((t, i) for i, t in enumerate(times)), 5, 4.0, 0.0) == got[:5]
    first_slot = round(times[0] * 4)
    assert sample_at_fps(iter((t, i) for i, t in enumerate(times)), 3, 4.0, (first_slot + 2) / 4) == got[2:5]


def test_sample_at_fps_ties_go_to_the_next_slot_and_tail_ends_at_the_last_frame_end():
    exact = [(Fraction(t, 8), t) for t in range(8)]  # t = 1/8 lies exactly on slot 0's bound (0 + 1/2) / 4
    assert sample_at_fps(iter(exact), None, 4.0, 0.0) == [0, 2, 4, 6]  # last frame lasts the last step (1/8 s)
    assert sample_at_fps(iter(exact), None, 4.0, 0.0, lambda item: Fraction(1, 4)) == [0, 2, 4, 6, 7]


def test_clip_with_known_frames_samples_like_the_rule(tmp_path, video_writer):
    """Encoded clips whose frame i shows i: the decoded picks equal the rule's on their timestamps."""
    for rate, count in [(25, 60), (Fraction(30000, 1001), 70), (30, 70), (60, 130)]:
        frames = np.zeros((count, 32, 32, 3), np.uint8)
        frames[..., 0] = (np.arange(count) * 7 % 256)[:, None, None]
        frames[..., 1] = (np.arange(count) * 7 // 256 * 50)[:, None, None]
        path = video_writer(tmp_path / f"clip{float(rate):.2f}.mp4", frames, fps=rate, options={"crf": "0"})
        video = load_video(path, num_frames=None, fps=4.0).float()
        shown = ((video[:, 0].mean((1, 2)) + (video[:, 1].mean((1, 2)) / 50).round() * 256) / 7).round().int()
        times = [Fraction(i) / Fraction(rate) for i in range(count)]
        assert shown.tolist() == ffmpeg_fps_reference(times, Fraction(4), times[-1] + 1 / Fraction(rate)), rate


def test_in_memory_inputs_agree(indexed_frames):
    array = indexed_frames(5)
    from_numpy = load_video(array, num_frames=5)
    from_tensor = load_video(torch.from_numpy(array).permute(0, 3, 1, 2), num_frames=5)
    from_float = load_video(torch.from_numpy(array).permute(0, 3, 1, 2).float() / 255, num_frames=5)
    from_pil = load_video([PIL.Image.fromarray(a) for a in array], num_frames=5)
    for other in (from_tensor, from_float, from_pil):
        assert torch.equal(other, from_numpy)  # exact: same kernels, same shapes, one process
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
