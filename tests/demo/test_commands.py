"""`videocomposer demo` end to end (short settings) and `videocomposer generate`'s checks and outputs."""

import json

import pytest

from condition_extractors import load_video
from videocomposer.cli import main
from videocomposer.data.synthetic import EVAL_SEED_START, encode_mp4, generate_clip


@pytest.fixture(scope="module")
def source_video(tmp_path_factory):
    path = tmp_path_factory.mktemp("source") / "clip.mp4"
    path.write_bytes(encode_mp4(generate_clip(EVAL_SEED_START + 3, 8, 64, 64, num_objects=1).frames, fps=4))
    return path


@pytest.fixture(scope="module")
def stroke_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("strokes") / "stroke.json"
    path.write_text(json.dumps({"width": 64, "height": 64, "strokes": [{"points": [[10, 32], [54, 32]]}]}))
    return path


def test_demo_writes_three_videos_and_grids(tmp_path, capsys):
    assert main(["demo", "--output-dir", str(tmp_path), "--steps", "2"]) == 0
    printed = capsys.readouterr().out
    for name in ("stroke", "motion_transfer", "sketch"):
        video = tmp_path / f"{name}.mp4"
        assert str(video) in printed
        assert tuple(load_video(video, num_frames=None, fps=4).shape) == (8, 3, 64, 64)
        grid = load_video(tmp_path / f"{name}_grid.mp4", num_frames=None, fps=4)
        assert grid.shape[0] == 8 and grid.shape[3] >= 2 * grid.shape[2]  # conditions beside the video
        assert (tmp_path / f"{name}_grid.gif").stat().st_size > 0
    assert (tmp_path / "stroke.json").is_file() and (tmp_path / "source.mp4").is_file()


def test_generate_with_strokes_writes_video_and_grid(tmp_path, stroke_file, capsys):
    output = tmp_path / "out.mp4"
    code = main(["generate", "--prompt", "a red circle moving right on a plain background", "--strokes",
                 str(stroke_file), "--frames", "8", "--steps", "2", "--output", str(output), "--grid"])  # fmt: skip
    assert code == 0
    assert tuple(load_video(output, num_frames=None, fps=4).shape) == (8, 3, 64, 64)
    assert (tmp_path / "out_grid.mp4").is_file()
    assert str(output) in capsys.readouterr().out


def test_generate_extracts_motion_and_sketch_from_videos(tmp_path, source_video):
    output = tmp_path / "out.gif"
    code = main(["generate", "--prompt", "a blue square moving left", "--motion-from", str(source_video),
                 "--sketch-from", str(source_video), "--frames", "8", "--steps", "2", "--output", str(output)])  # fmt: skip
    assert code == 0 and output.stat().st_size > 0


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--motion-from", "missing.mp4"], "--motion-from: no such file: missing.mp4"),
        (["--sketch", "missing.png"], "--sketch: no such file"),
        (["--strokes", "STROKES", "--motion-from", "SOURCE"], "--motion-from and --strokes give the same condition"),
        (["--sketch-from", "SOURCE", "--sketch", "STROKES"], "--sketch-from and --sketch give the same condition"),
        (["--mask", "STROKES"], "--mask and --masked-from go together"),
        (["--steps", "0"], "--steps: expected a positive integer"),
        (["--canny-thresholds", "10", "20"], "--canny-thresholds needs --sketch-from"),
        (["--model", "./no/such/model"], "--model: no such folder"),
        (["--style", "STROKES"], "--style: the model has no image encoder"),
        (["--height", "60"], "--height: expected a multiple of the VAE factor 8"),
    ],
)
def test_generate_reports_bad_options(tmp_path, capsys, source_video, stroke_file, extra, message):
    extra = [str(source_video) if a == "SOURCE" else str(stroke_file) if a == "STROKES" else a for a in extra]
    code = main(["generate", "--prompt", "a red circle", "--output", str(tmp_path / "out.mp4"), *extra])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out.mp4").exists()


def test_generate_rejects_unknown_output_format(tmp_path, capsys):
    assert main(["generate", "--prompt", "a red circle", "--output", str(tmp_path / "out.avi")]) == 2
    assert "--output: expected a .mp4 or .gif file" in capsys.readouterr().err
