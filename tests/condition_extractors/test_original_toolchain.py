"""Our ``mode="original"`` against the original tool chain itself: the ffmpeg CLI re-encode
(``ffmpeg -i clip -filter:v fps=4 -c:v mpeg4 -f rawvideo``) read by ``mvextractor``, then the original's field
construction and ``mv_transforms`` written out here. Optional: needs ``motion-vector-extractor`` (x86-64 Linux wheel)
and ``imageio-ffmpeg`` (its ffmpeg binary), both in the ``test`` extra; skipped with the reason otherwise.
"""

import os
import subprocess
from fractions import Fraction

import av
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from condition_extractors import extract_conditions

videocap = pytest.importorskip("mvextractor.videocap", reason="motion-vector-extractor (mvextractor) is not installed")
imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg", reason="imageio-ffmpeg (an ffmpeg binary) is not installed")


def smooth_texture(height: int, width: int, seed: int) -> np.ndarray:
    """Camera-like texture: bicubically upsampled noise plus fine grain, uint8 (H, W, 3)."""
    rng = np.random.default_rng(seed)
    coarse = torch.from_numpy(rng.random((3, height // 8 + 4, width // 8 + 4)).astype(np.float32))[None]
    smooth = F.interpolate(coarse, scale_factor=8, mode="bicubic", align_corners=False)[0].permute(1, 2, 0).numpy()
    grain = rng.random(smooth.shape).astype(np.float32) * 0.15
    return ((smooth * 0.85 + grain).clip(0, 1) * 255).astype(np.uint8)


def write_panning_clip(
    path: str,
    height: int,
    width: int,
    rate: Fraction,
    seconds: float,
    pix_fmt: str = "yuv420p",
    codec: str = "libx264",
    container_format: str | None = None,
    timestamps_ms: np.ndarray | None = None,
) -> str:
    """A panning, gently bobbing textured background with an object moving over it, at ``rate`` (or at the given
    millisecond timestamps: variable frame rate)."""
    count = int(seconds * rate) + 1 if timestamps_ms is None else len(timestamps_ms)
    background = smooth_texture(height + 64, width + 4 * count, 0)
    item = smooth_texture(height // 3 // 2 * 2, width // 4 // 2 * 2, 1)
    options = {"crf": "18", "preset": "ultrafast"} if codec == "libx264" else {}
    with av.open(path, "w", format=container_format) as container:
        stream = container.add_stream(codec, rate=rate, options=options)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if timestamps_ms is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        for i in range(count):
            y = int(32 + 24 * np.sin(i / 9))
            image = background[y : y + height, 2 * i : 2 * i + width].copy()
            top = int(height / 4 + 1.5 * i) % (height - item.shape[0])
            left = int(width / 4 + 3 * i) % (width - item.shape[1])
            image[top : top + item.shape[0], left : left + item.shape[1]] = item
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            if timestamps_ms is not None:
                frame.pts, frame.time_base = int(timestamps_ms[i]), Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def original_tool_chain(path: str, num_frames: int, size: int) -> torch.Tensor:
    """``(F, 2, size, size)`` motion vectors exactly as the original's ``extract_motion_vectors`` + ``mv_transforms``."""
    encoded = path + ".m4v"
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-threads", "8", "-loglevel", "error", "-i", path,
               "-filter:v", "fps=4", "-c:v", "mpeg4", "-f", "rawvideo", encoded]  # fmt: skip
    subprocess.run(command, check=True, timeout=300)
    cap = videocap.VideoCap()
    assert cap.open(encoded)
    fields = []
    while True:
        ret, frame, vectors, _frame_type, _timestamp = cap.read()
        if not ret:
            break
        height, width = frame.shape[:2]
        field = np.zeros((height, width, 2))
        if len(vectors):
            position = vectors[:, 5:7].clip((0, 0), (width - 1, height - 1))
            field[position[:, 1], position[:, 0]] = vectors[:, 0:1] * vectors[:, 7:9] / vectors[:, 9:]
        fields.append(field)
    cap.release()
    os.remove(encoded)
    fields = torch.from_numpy(np.stack(fields[:num_frames])).permute(0, 3, 1, 2).float()
    # torchvision Resize(size) on a tensor (bilinear, no antialias in 2023) then CenterCrop(size)
    height, width = fields.shape[2:]
    if height <= width:
        new_height, new_width = size, int(size * width / height)
    else:
        new_height, new_width = int(size * height / width), size
    fields = F.interpolate(fields, size=(new_height, new_width), mode="bilinear", align_corners=False)
    top, left = int(round((new_height - size) / 2.0)), int(round((new_width - size) / 2.0))
    return fields[:, :, top : top + size, left : left + size]


def compare_with_the_tool_chain(path: str, num_frames: int) -> None:
    expected = original_tool_chain(path, num_frames, 256)
    got = extract_conditions(path, ["motion"], num_frames=num_frames, fps=4, height=256, width=256, progress=False)
    got = got["motion_vectors"][0].permute(1, 0, 2, 3)
    support_got, support_expected = got.abs().sum(1) > 0, expected.abs().sum(1) > 0
    iou = (support_got & support_expected).sum() / (support_got | support_expected).sum()
    error = (got - expected).norm(dim=1)[support_got & support_expected]
    assert support_expected[1:].float().mean() > 0.01  # the clip really moves
    assert iou >= 0.9 and error.median() <= 0.5, (iou, error.median())
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)  # in fact: the same field


@pytest.mark.parametrize(
    "height,width,rate,num_frames",
    [(720, 1280, Fraction(25), 6), (272, 640, Fraction(30), 12), (144, 176, Fraction(30000, 1001), 16)],
)
def test_original_mode_equals_the_original_tool_chain(tmp_path, height, width, rate, num_frames):
    path = write_panning_clip(str(tmp_path / "clip.mp4"), height, width, rate, seconds=num_frames / 4 + 0.3)
    compare_with_the_tool_chain(path, num_frames)


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("vfr.mkv", dict(height=144, width=256, rate=Fraction(25), timestamps_ms=np.cumsum([0] + [20, 55, 35] * 30))),
        ("clip.ts", dict(height=144, width=256, rate=Fraction(30), container_format="mpegts")),  # non-zero start
        ("full_range.mp4", dict(height=144, width=256, rate=Fraction(25), pix_fmt="yuvj420p")),
        ("odd_444.mp4", dict(height=145, width=257, rate=Fraction(24), pix_fmt="yuv444p")),
        ("mpeg4.avi", dict(height=144, width=192, rate=Fraction(50), codec="mpeg4")),
    ],
)
def test_original_mode_equals_the_tool_chain_on_other_sources(tmp_path, name, kwargs):
    path = write_panning_clip(str(tmp_path / name), seconds=3.3, **kwargs)
    compare_with_the_tool_chain(path, 12)
