"""`videocomposer eval` on folders the test writes: JSON schema, skipped files, weights, argument errors."""

import json
import subprocess
import sys

import cv2
import numpy as np
import PIL.Image
import pytest
import torch
from safetensors.torch import save_file

from condition_extractors import MotionVectorExtractor
from videocomposer.cli import main
from videocomposer.commands.eval import METRICS
from videocomposer.data.synthetic import encode_mp4
from videocomposer.metrics import MotionGeometry

SIZE, FRAMES = 64, 8


def moving_texture(dx, dy, seed):
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.random((160, 160, 3)).astype(np.float32), (0, 0), 2.0)
    base = (base - base.min()) / (base.max() - base.min())
    frames = [np.roll(base, (dy * t, dx * t), axis=(0, 1))[48 : 48 + SIZE, 48 : 48 + SIZE] for t in range(FRAMES)]
    return (np.stack(frames) * 255).round().astype(np.uint8)


class TinyI3D(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(6, 8)

    def forward(self, x: torch.Tensor, rescale: bool, resize: bool, return_features: bool) -> torch.Tensor:
        return self.proj(torch.cat([x.mean(dim=(2, 3, 4)), x.std(dim=(2, 3, 4))], dim=1))


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    generated, reference, conditions = root / "generated", root / "reference", root / "conditions"
    for folder in (generated, reference, conditions):
        folder.mkdir()
    clips = {"right": moving_texture(2, 0, 0), "down": moving_texture(0, 2, 1)}
    for name, frames in clips.items():
        (generated / f"{name}.mp4").write_bytes(encode_mp4(frames, fps=8))
    PIL.Image.fromarray(clips["right"][0]).save(  # no frame delay: ffmpeg would read a single frame
        generated / "loop.gif", save_all=True, append_images=[PIL.Image.fromarray(f) for f in clips["down"][1:]]
    )
    (generated / "broken.mp4").write_bytes(b"not a video at all")
    (generated / "notes.txt").write_text("not a video extension: not read")
    for seed in range(3):
        (reference / f"real{seed}.mp4").write_bytes(encode_mp4(moving_texture(1, 1, 10 + seed), fps=8))
    vectors = MotionVectorExtractor()(torch.from_numpy(clips["right"]).permute(0, 3, 1, 2).float() / 255)
    save_file(
        {"motion_vectors": vectors.permute(1, 0, 2, 3)[None].contiguous()},
        str(conditions / "right.safetensors"),
        metadata=MotionGeometry("reencode", SIZE, SIZE).to_metadata(),  # vectors of the frames at their own size
    )
    prompts = root / "prompts.csv"
    prompts.write_text("videoid,name\nright,a red cat runs\ndown,the dog in the snow\n")
    torch.manual_seed(0)
    torch.jit.script(TinyI3D()).save(str(root / "i3d.pt"))
    return root


def is_value(entry):
    return isinstance(entry, float) or (
        isinstance(entry, dict) and set(entry) == {"value", "reason"} and entry["value"] is None and entry["reason"]
    )


def test_eval_writes_the_report_schema_and_skips_the_corrupt_file(folders, tmp_path, capsys):
    output = tmp_path / "out" / "report.json"
    argv = ["eval", "--generated", str(folders / "generated"), "--reference", str(folders / "reference"),
            "--conditions", str(folders / "conditions"), "--prompts", str(folders / "prompts.csv"),
            "--i3d-model", str(folders / "i3d.pt"), "--fvd-frames", "4", "--seams", "4", "--output", str(output)]  # fmt: skip
    assert main(argv) == 0
    report = json.loads(output.read_text())
    assert list(report["metrics"]) == list(METRICS)
    assert all(is_value(v) for v in report["metrics"].values())
    assert report["skipped_files"] == 1 and report["skipped"][0]["file"].endswith("broken.mp4")
    assert report["num_videos"] == {"generated": 3, "reference": 3}
    assert set(report["per_video"]) == {"down.mp4", "loop.gif", "right.mp4"}
    metrics, per_video = report["metrics"], report["per_video"]
    for name in ("warping_error", "temporal_flickering", "repetition_peak", "seam_discontinuity"):
        values = [per_video[v][name] for v in sorted(per_video)]
        assert all(isinstance(v, float) for v in values)
        assert metrics[name] == pytest.approx(np.mean(values))
        assert report["videos_per_metric"][name] == 3
    # the motion condition belongs to right.mp4 only: near-zero error there, a reason for the others
    assert per_video["right.mp4"]["motion_vector_error"] < 0.5
    assert per_video["down.mp4"]["motion_vector_error"] == {
        "value": None,
        "reason": "no condition file down.safetensors",
    }
    assert metrics["motion_vector_error"] == per_video["right.mp4"]["motion_vector_error"]
    assert isinstance(metrics["fvd"], float) and metrics["fvd"] > 0
    assert report["videos_per_metric"]["fvd"] == 3
    for name, option in (("fid", "--inception"), ("clip_text_similarity", "--clip-model"),
                         ("flow_error", "--raft-weights"), ("subject_consistency", "--dino-model")):  # fmt: skip
        assert metrics[name] == {"value": None, "reason": f"no weights: give {option}"}
        assert all(name not in values for values in per_video.values())
    table = (tmp_path / "out" / "report.md").read_text()
    assert "| temporal_flickering | " in table and "| fid | not computed | - | no weights: give --inception |" in table
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["report.json", "report.md"]
    assert "1 unreadable files skipped" in capsys.readouterr().out


def test_missing_weights_file_is_reported_not_raised(folders, tmp_path):
    output = tmp_path / "report.json"
    argv = ["eval", "--generated", str(folders / "generated"), "--metrics", "temporal_flickering", "dynamic_degree",
            "--raft-weights", str(tmp_path / "missing.pth"), "--output", str(output)]  # fmt: skip
    assert main(argv) == 0
    metrics = json.loads(output.read_text())["metrics"]
    assert list(metrics) == ["temporal_flickering", "dynamic_degree"]
    assert metrics["dynamic_degree"]["value"] is None
    assert (
        "failed to load" in metrics["dynamic_degree"]["reason"]
        and "no such file" in metrics["dynamic_degree"]["reason"]
    )


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--generated", "nowhere"], "--generated: no such folder"),
        (["--metrics", "motion_vector_error"], "--metrics motion_vector_error needs --conditions"),
        (["--metrics", "fvd"], "--metrics fvd needs --reference"),
        (
            ["--metrics", "warping_error", "--seams", "4"],
            "--seams is given but none of --metrics warping_error uses it",
        ),
        (
            ["--metrics", "fid", "--reference", "."],
            "--metrics: none can be computed: fid: no weights: give --inception",
        ),
        (["--output", "report.txt"], "--output: expected a .json file"),
        (["--fvd-frames", "1"], "--fvd-frames: expected >= 2"),
        (["--metrics", "warping_error", "--fvd-frames", "8"], "--fvd-frames is given but --metrics has no fvd"),
        (["--caption-column", "text"], "--video-column / --caption-column are given but --prompts is not"),
        (["--lpips-weights", "alex.pth"], "--lpips-weights and --lpips-backbone go together: give both files"),
        (["--metrics", "psnr"], "--metrics psnr needs --reference"),
        (["--metrics", "sketch_iou"], "--metrics sketch_iou needs --conditions"),
        (["--metrics", "warping_error", "--seed", "2"], "--seed is given but --metrics has no fvd"),
    ],
)
def test_bad_arguments_fail_with_one_clear_line(folders, tmp_path, extra, message, capsys):
    argv = ["eval", "--generated", str(folders / "generated"), "--output", str(tmp_path / "r.json")]
    assert main(argv + extra) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()


def test_an_empty_folder_is_an_error(tmp_path, capsys):
    assert main(["eval", "--generated", str(tmp_path), "--output", str(tmp_path / "r.json")]) == 2
    assert "--generated: no video files" in capsys.readouterr().err


def test_the_eval_module_imports_no_torch():
    code = "import sys, videocomposer.commands.eval; print('torch' in sys.modules, 'cv2' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_clip_metrics_through_the_cli_with_a_saved_tiny_model(folders, tmp_path, tiny_tokenizer):
    from transformers import CLIPConfig, CLIPModel

    torch.manual_seed(0)
    config = CLIPConfig(
        text_config=dict(vocab_size=tiny_tokenizer.vocab_size, hidden_size=32, intermediate_size=64,
                         num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=16,
                         bos_token_id=tiny_tokenizer.bos_token_id, eos_token_id=tiny_tokenizer.eos_token_id),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                           image_size=32, patch_size=8),
        projection_dim=16,
    )  # fmt: skip
    CLIPModel(config).save_pretrained(tmp_path / "clip")
    tiny_tokenizer.save_pretrained(tmp_path / "clip")
    output = tmp_path / "report.json"
    argv = ["eval", "--generated", str(folders / "generated"), "--prompts", str(folders / "prompts.csv"),
            "--metrics", "clip_frame_consistency", "clip_text_similarity", "--clip-model", str(tmp_path / "clip"),
            "--output", str(output)]  # fmt: skip
    assert main(argv) == 0
    report = json.loads(output.read_text())
    per_video = report["per_video"]
    assert all(-1 <= per_video[v]["clip_frame_consistency"] <= 1 for v in per_video)
    assert per_video["loop.gif"]["clip_text_similarity"] == {
        "value": None,
        "reason": "no prompt for 'loop' in --prompts",
    }
    similarities = [per_video[v]["clip_text_similarity"] for v in ("down.mp4", "right.mp4")]
    assert report["metrics"]["clip_text_similarity"] == pytest.approx(np.mean(similarities))
    assert report["videos_per_metric"] == {"clip_frame_consistency": 3, "clip_text_similarity": 2}


def test_fid_through_the_cli_equals_the_frechet_distance_of_all_frames(folders, tmp_path, monkeypatch):
    from videocomposer.commands.eval import read_video
    from videocomposer.metrics import FeatureStatistics, FrameFeatures, frechet_distance

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 5, stride=4), torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten())

    class Uint8Net(torch.nn.Module):  # torchmetrics' Inception interface: uint8 (N, 3, H, W) -> (N, D)
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net(x.float() / 255)

    loaded = []
    monkeypatch.setattr(
        FrameFeatures, "load_inception", classmethod(lambda cls, path, device: loaded.append(path) or cls(Uint8Net()))
    )
    output = tmp_path / "report.json"
    argv = ["eval", "--generated", str(folders / "generated"), "--reference", str(folders / "reference"),
            "--metrics", "fid", "--inception", str(folders / "i3d.pt"), "--output", str(output)]  # fmt: skip
    assert main(argv) == 0
    assert loaded == [str(folders / "i3d.pt")]
    report = json.loads(output.read_text())
    expected = []
    for folder in ("generated", "reference"):
        stats = FeatureStatistics()
        for path in sorted((folders / folder).iterdir()):
            if path.suffix in (".mp4", ".gif") and path.name != "broken.mp4":
                frames = torch.from_numpy(read_video(path)).permute(0, 3, 1, 2)
                with torch.no_grad():
                    stats.update(net(frames.float() / 255).double().numpy())
        expected.append(stats.mean_and_covariance())
    # float32 features (the CLI may batch frames otherwise): a few ulps each, FID in float64 from them
    assert report["metrics"]["fid"] == pytest.approx(frechet_distance(*expected[0], *expected[1]), rel=1e-5)
    assert report["videos_per_metric"] == {"fid": 3}
    assert report["per_video"] == {"down.mp4": {}, "loop.gif": {}, "right.mp4": {}}


def test_fvd_reports_its_sample_count_and_warns_below_the_protocols_2048(folders, tmp_path, capsys):
    from videocomposer.commands.eval import _clip_offset

    output = tmp_path / "report.json"
    argv = ["eval", "--generated", str(folders / "generated"), "--reference", str(folders / "reference"),
            "--metrics", "fvd", "--i3d-model", str(folders / "i3d.pt"), "--fvd-frames", "4", "--seed", "3",
            "--output", str(output)]  # fmt: skip
    assert main(argv) == 0
    report = json.loads(output.read_text())
    assert report["samples"] == {"fvd": {"generated": 3, "reference": 3}}
    assert report["warnings"] == [
        "fvd from 3 generated and 3 reference clips: StyleGAN-V's protocol uses 2048 per set; small sets bias FVD "
        "upward"
    ]
    assert "warning: fvd from 3 generated" in capsys.readouterr().err
    # the clip start: seeded per file name, inside the video, not always the first frames
    offsets = [_clip_offset(3, f"clip{i}.mp4", FRAMES, 4) for i in range(20)]
    assert offsets == [_clip_offset(3, f"clip{i}.mp4", FRAMES, 4) for i in range(20)]
    assert min(offsets) >= 0 and max(offsets) <= FRAMES - 4 and len(set(offsets)) > 1
    assert offsets != [_clip_offset(4, f"clip{i}.mp4", FRAMES, 4) for i in range(20)]


def test_psnr_and_ssim_compare_each_video_with_the_reference_of_the_same_name(tmp_path):
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    from videocomposer.commands.eval import read_video

    generated, reference = tmp_path / "generated", tmp_path / "reference"
    generated.mkdir(), reference.mkdir()
    clean = moving_texture(1, 0, 5)
    noisy = np.clip(clean + np.random.default_rng(0).normal(0, 12, clean.shape), 0, 255).astype(np.uint8)
    (reference / "a.mp4").write_bytes(encode_mp4(clean, fps=8))
    (generated / "a.mp4").write_bytes(encode_mp4(noisy, fps=8))
    (generated / "b.mp4").write_bytes(encode_mp4(clean, fps=8))  # no reference of that name
    output = tmp_path / "report.json"
    argv = ["eval", "--generated", str(generated), "--reference", str(reference), "--metrics", "psnr", "ssim",
            "--output", str(output)]  # fmt: skip
    assert main(argv) == 0
    per_video = json.loads(output.read_text())["per_video"]
    ours, theirs = read_video(generated / "a.mp4"), read_video(reference / "a.mp4")
    psnr = np.mean([peak_signal_noise_ratio(r, g, data_range=255) for g, r in zip(ours, theirs)])
    ssim = np.mean([structural_similarity(g, r, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                          channel_axis=-1, data_range=255) for g, r in zip(ours, theirs)])  # fmt: skip
    assert per_video["a.mp4"]["psnr"] == pytest.approx(psnr, rel=1e-6, abs=1e-6)
    assert per_video["a.mp4"]["ssim"] == pytest.approx(ssim, rel=1e-6, abs=1e-9)
    assert per_video["b.mp4"]["psnr"] == {"value": None, "reason": "no reference video named b.* in --reference"}


def test_per_video_values_include_the_repetition_lag_and_the_jump_ratio(tmp_path):
    generated = tmp_path / "generated"
    generated.mkdir()
    loop = moving_texture(2, 0, 7)[:6]
    square = np.zeros((16, SIZE, SIZE, 3), np.uint8)
    for t in range(16):
        x = 8 + t + (24 if t >= 8 else 0)  # 1 px per frame, and a 25 px jump between frames 7 and 8
        square[t, 20:36, x : x + 12] = (230, 60, 40)
    (generated / "loop.mp4").write_bytes(encode_mp4(np.concatenate([loop, loop, loop]), fps=8))
    (generated / "teleport.mp4").write_bytes(encode_mp4(square, fps=8))
    square[8:] = np.roll(square[8:], -24, axis=2)
    (generated / "smooth.mp4").write_bytes(encode_mp4(square, fps=8))
    output = tmp_path / "report.json"
    argv = ["eval", "--generated", str(generated), "--metrics", "repetition_peak", "repetition_lag", "jump_ratio",
            "--output", str(output)]  # fmt: skip
    assert main(argv) == 0
    per_video = json.loads(output.read_text())["per_video"]
    assert per_video["loop.mp4"]["repetition_lag"] == 6.0 and per_video["loop.mp4"]["repetition_peak"] > 0.05
    assert per_video["teleport.mp4"]["jump_ratio"] > 5.0 > 2.0 > per_video["smooth.mp4"]["jump_ratio"]


def test_eval_streams_frames_so_memory_does_not_grow_with_the_clip_length(tmp_path):
    import tracemalloc

    rng = np.random.default_rng(0)
    base = cv2.resize(rng.random((40, 40, 3)).astype(np.float32), (320, 320))
    peaks = {}
    for length in (32, 128):
        folder = tmp_path / str(length)
        folder.mkdir()
        frames = (np.stack([np.roll(base, t, axis=1) for t in range(length)]) * 255).astype(np.uint8)
        (folder / "clip.mp4").write_bytes(encode_mp4(frames, fps=8))
        del frames
        argv = ["eval", "--generated", str(folder), "--metrics", "temporal_flickering", "repetition_peak",
                "jump_ratio", "--output", str(folder / "report.json")]  # fmt: skip
        tracemalloc.start()
        assert main(argv) == 0
        peaks[length] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    frame_bytes = 320 * 320 * 3
    # 96 more frames would be 29 MB held whole; streamed, only their thumbnails (12 KB each) and numbers remain
    assert peaks[128] - peaks[32] < 0.1 * 96 * frame_bytes
    assert peaks[128] < 4 * 17 * frame_bytes * 4  # a chunk of 16 (+1) frames in flight, a few float32 copies


def test_sketch_metrics_compare_the_videos_edges_with_the_sketch_condition(tmp_path):
    from condition_extractors.canny import CannyExtractor

    generated, conditions = tmp_path / "generated", tmp_path / "conditions"
    generated.mkdir(), conditions.mkdir()
    square = np.zeros((FRAMES, SIZE, SIZE, 3), np.uint8)
    for t in range(FRAMES):
        square[t, 16:40, 10 + 2 * t : 34 + 2 * t] = 255
    PIL.Image.fromarray(square[0]).save(generated / "own.gif", save_all=True, duration=125,
                                        append_images=[PIL.Image.fromarray(f) for f in square[1:]])  # fmt: skip  (lossless)
    (generated / "shifted.gif").write_bytes((generated / "own.gif").read_bytes())
    edges = CannyExtractor()(torch.from_numpy(square).permute(0, 3, 1, 2).float() / 255)  # (F, 1, H, W)
    save_file({"sketch": edges.permute(1, 0, 2, 3)[None].contiguous()}, str(conditions / "own.safetensors"))
    shifted = torch.roll(edges, 8, dims=3)  # the sketch asks for the square 8 px further right
    save_file({"sketch": shifted.permute(1, 0, 2, 3)[None].contiguous()}, str(conditions / "shifted.safetensors"))
    output = tmp_path / "report.json"
    argv = ["eval", "--generated", str(generated), "--conditions", str(conditions), "--metrics", "sketch_iou",
            "sketch_centroid_error", "--output", str(output)]  # fmt: skip
    assert main(argv) == 0
    per_video = json.loads(output.read_text())["per_video"]
    assert per_video["own.gif"] == {"sketch_iou": 1.0, "sketch_centroid_error": 0.0}
    truth = edges[:, 0].numpy() > 0.5
    overlap = (truth & (shifted[:, 0].numpy() > 0.5)).sum() / (truth | (shifted[:, 0].numpy() > 0.5)).sum()
    assert per_video["shifted.gif"]["sketch_iou"] == pytest.approx(overlap, abs=1e-12)
    assert per_video["shifted.gif"]["sketch_centroid_error"] == pytest.approx(8.0, abs=1e-9)


@pytest.mark.slow  # ~70 RAFT flows of 128² frames, 20 iterations each (~15 s of CPU)
def test_raft_weights_drive_the_warping_flow_dynamic_degree_and_flow_error(folders, tmp_path):
    from torchvision.models.optical_flow import raft_small

    torch.manual_seed(0)
    torch.save(raft_small(weights=None).state_dict(), tmp_path / "raft_small.pth")
    output = tmp_path / "report.json"
    argv = ["eval", "--generated", str(folders / "generated"), "--conditions", str(folders / "conditions"),
            "--metrics", "warping_error", "dynamic_degree", "flow_error", "--raft-weights",
            str(tmp_path / "raft_small.pth"), "--output", str(output)]  # fmt: skip
    assert main(argv) == 0
    report = json.loads(output.read_text())
    assert report["settings"]["warping_flow"] == "raft (20 iterations)"
    per_video = report["per_video"]
    assert all(isinstance(per_video[v]["warping_error"], float) for v in per_video)
    assert all(per_video[v]["dynamic_degree"] in (0.0, 1.0) for v in per_video)
    assert isinstance(per_video["right.mp4"]["flow_error"], float)
    assert per_video["down.mp4"]["flow_error"] == {"value": None, "reason": "no condition file down.safetensors"}
    assert report["metrics"]["dynamic_degree"] == pytest.approx(np.mean([per_video[v]["dynamic_degree"]
                                                                         for v in per_video]))  # fmt: skip
