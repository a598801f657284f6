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


def write_panning_clip(path: str, height: int, width: int, rate: Fraction, seconds: float) -> str:
    """A panning, gently bobbing textured background with an object moving over it, H.264 yuv420p at ``rate``."""
    count = int(seconds * rate) + 1
    background = smooth_texture(height + 64, width + 4 * count, 0)
    item = smooth_texture(height // 3 // 2 * 2, width // 4 // 2 * 2, 1)
    with av.open(path, "w") as container:
        stream = container.add_stream("libx264", rate=rate, options={"crf": "18", "preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(count):
            y = int(32 + 24 * np.sin(i / 9))
            image = background[y : y + height, 2 * i : 2 * i + width].copy()
            top = int(height / 4 + 1.5 * i) % (height - item.shape[0])
            left = int(width / 4 + 3 * i) % (width - item.shape[1])
            image[top : top + item.shape[0], left : left + item.shape[1]] = item
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
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


@pytest.mark.parametrize(
    "height,width,rate,num_frames",
    [(720, 1280, Fraction(25), 6), (272, 640, Fraction(30), 12), (144, 176, Fraction(30000, 1001), 16)],
)
def test_original_mode_equals_the_original_tool_chain(tmp_path, height, width, rate, num_frames):
    path = write_panning_clip(str(tmp_path / "clip.mp4"), height, width, rate, seconds=num_frames / 4 + 0.3)
    expected = original_tool_chain(path, num_frames, 256)
    got = extract_conditions(path, ["motion"], num_frames=num_frames, fps=4, height=256, width=256, progress=False)
    got = got["motion_vectors"][0].permute(1, 0, 2, 3)
    support_got, support_expected = got.abs().sum(1) > 0, expected.abs().sum(1) > 0
    iou = (support_got & support_expected).sum() / (support_got | support_expected).sum()
    error = (got - expected).norm(dim=1)[support_got & support_expected]
    assert support_expected[1:].float().mean() > 0.01  # the clip really moves
    assert iou >= 0.9 and error.median() <= 0.5, (iou, error.median())
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)  # in fact: the same field
