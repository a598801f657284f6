"""Motion metrics in the generated video's pixels: the original recipe's resized source-pixel fields (issue 22)."""

import json
import struct

import cv2
import numpy as np
import pytest
import torch

from condition_extractors.motion_vectors import MotionVectorExtractor, motion_field_from_vectors, mv_transforms
from videocomposer.cli import main
from videocomposer.data.synthetic import encode_mp4
from videocomposer.metrics import MotionGeometry, condition_blocks, flow_error, motion_vector_error

FRAMES, STEP = 8, 6  # a 256² source moving 6 px/frame, conditions at 128²


@pytest.fixture(scope="module")
def source():
    rng = np.random.default_rng(0)
    big = cv2.GaussianBlur(rng.random((400, 400, 3)).astype(np.float32), (0, 0), 3.0)
    big = ((big - big.min()) / (big.max() - big.min()) * 255).round().astype(np.uint8)
    left = 32 + STEP * FRAMES
    return np.stack([big[32 : 32 + 256, left - STEP * t : left - STEP * t + 256] for t in range(FRAMES)])


def test_the_issue_case_scores_the_follower_near_zero_and_the_still_video_at_the_motion(source):
    condition = MotionVectorExtractor().original_recipe(torch.from_numpy(source).permute(0, 3, 1, 2), 128, 128)
    dx = condition[1:, 0][condition[1:, 0] != 0]
    assert dx.median() == pytest.approx(1.5)  # 6 source px diluted by the resize: neither 6 nor 3 px at 128²
    geometry = MotionGeometry("original", 256, 256)
    follower = np.stack([cv2.resize(f, (128, 128), interpolation=cv2.INTER_AREA) for f in source])  # 3 px/frame
    still = np.repeat(follower[:1], FRAMES, axis=0)
    assert flow_error(follower, condition, geometry=geometry) <= 0.5
    assert motion_vector_error(follower, condition, geometry) <= 0.5
    # the still video is scored (not undefined) with the motion it misses: 3 px/frame at 128²
    assert flow_error(still, condition, geometry=geometry) == pytest.approx(3.0, abs=0.1)
    assert motion_vector_error(still, condition, geometry) == pytest.approx(3.0, abs=0.1)


def test_condition_blocks_undo_the_dilution_of_a_hand_built_field():
    # one vector per 16x16 macroblock centre of a 96x160 source, v = (4, -2) on the left half, (0, 6) on the right
    ys, xs = np.meshgrid(np.arange(6) * 16 + 8, np.arange(10) * 16 + 8, indexing="ij")
    centres = np.stack([xs.ravel(), ys.ravel()], axis=1)
    vectors = np.where(centres[:, :1] < 80, [4.0, -2.0], [0.0, 6.0]).astype(np.float32)
    field = motion_field_from_vectors(centres, vectors, 96, 160)
    condition = mv_transforms(torch.stack([torch.zeros_like(field), field]), 48, 48).numpy()  # short side 96 -> 48
    blocks, supported, weights = condition_blocks(condition, MotionGeometry("original", 96, 160), 48, 48)
    assert blocks.shape == (2, 2, 3, 3) and supported.shape == (2, 3, 3)
    assert not supported[0].any() and supported[1].all()  # frame 0 carries no vector (an I-frame)
    # the crop keeps source x in [32, 128): block columns 0 / 2 see only left / right vectors, in 48² pixels (x 0.5)
    np.testing.assert_allclose(blocks[1, :, :, 0], np.broadcast_to([[2.0], [-1.0]], (2, 3)), atol=1e-6)
    np.testing.assert_allclose(blocks[1, :, :, 2], np.broadcast_to([[0.0], [3.0]], (2, 3)), atol=1e-6)
    # the weights are the resize of the macroblock-centre indicator: each vector's total weight is 0.5 * 0.5
    assert weights.sum() == pytest.approx(0.25 * 6 * 6, abs=1e-6)  # 6x6 centres fall inside the crop


def test_geometry_round_trips_through_the_header_and_rejects_bad_values():
    geometry = MotionGeometry("bitstream", 720, 1280)
    metadata = geometry.to_metadata()
    assert metadata["motion_vectors.mode"] == "bitstream" and metadata["motion_vectors.source_size"] == "720x1280"
    assert MotionGeometry.from_metadata(metadata) == geometry
    assert MotionGeometry.from_metadata({}) is None and MotionGeometry.from_metadata(None) is None
    assert MotionGeometry("original", 720, 1280).scale(256, 256) == pytest.approx(256 / 720)
    assert geometry.scale(256, 256) == 1.0
    # bitstream: the file's 16-px block centres (8, 24, 40, 56 of a 64² source) mapped to 32²: 4, 12, 20, 28
    expected = np.zeros((32, 32))
    expected[4::8, 4::8] = 1.0
    np.testing.assert_array_equal(MotionGeometry("bitstream", 64, 64).weights(32, 32), expected)
    # reencode: the frame's own block centres, the partial last block's clipped into the frame
    reencode = MotionGeometry("reencode", 1, 1).weights(20, 40)
    assert reencode.sum() == 2 * 3 and reencode[8, 8] == reencode[19, 24] == reencode[8, 39] == 1.0
    with pytest.raises(ValueError, match="mode: expected one of"):
        MotionGeometry("fancy", 1, 1)
    with pytest.raises(ValueError, match="source_size: expected 'HxW'"):
        MotionGeometry.from_metadata({"motion_vectors.mode": "original", "motion_vectors.source_size": "720"})


def test_extract_writes_the_geometry_and_eval_scores_in_generated_pixels(source, tmp_path):
    video = tmp_path / "clip.mp4"
    video.write_bytes(encode_mp4(source, fps=4))
    conditions = tmp_path / "conditions"
    argv = ["extract", str(video), "--conditions", "motion", "--frames", str(FRAMES), "--height", "128", "--width",
            "128", "--output", str(conditions / "clip.safetensors")]  # fmt: skip
    assert main(argv) == 0
    raw = (conditions / "clip.safetensors").read_bytes()
    header = json.loads(raw[8 : 8 + struct.unpack("<Q", raw[:8])[0]])
    assert MotionGeometry.from_metadata(header["__metadata__"]) == MotionGeometry("original", 256, 256)
    generated = tmp_path / "generated"
    generated.mkdir()
    follower = np.stack([cv2.resize(f, (128, 128), interpolation=cv2.INTER_AREA) for f in source])
    (generated / "clip.mp4").write_bytes(encode_mp4(follower, fps=4))
    output = tmp_path / "report.json"
    argv = ["eval", "--generated", str(generated), "--conditions", str(conditions), "--metrics",
            "motion_vector_error", "--output", str(output)]  # fmt: skip
    assert main(argv) == 0
    assert json.loads(output.read_text())["per_video"]["clip.mp4"]["motion_vector_error"] <= 0.5
