"""A training process killed with SIGKILL right after a checkpoint appears resumes (`--resume_from_checkpoint latest`)
to the same weights as a run that was never interrupted, and never leaves a half-written checkpoint folder."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import videocomposer
from videocomposer.training.checkpointing import list_checkpoints

REPO_ROOT = Path(videocomposer.__file__).resolve().parents[1]
#: The adversarial temporal loss (videocomposer.training.adversarial): its discriminator and optimizer are resumed too.
ADVERSARIAL = ("--adversarial_weight", "0.5", "--adversarial_start_step", "3", "--adversarial_max_timestep", "1000")


@pytest.mark.parametrize("extra", [(), ADVERSARIAL], ids=["plain", "adversarial"])
def test_sigkill_then_resume_latest_matches_an_uninterrupted_run(
    tmp_path, model_dir, make_videos, training_argv, run_training, extra
):
    captions = make_videos(tmp_path / "videos", 3)
    common = ("--stage", "compositional", "--conditions", "motion", "canny", "--use_ema",
              "--gradient_accumulation_steps", "2", "--max_train_steps", "8", "--checkpointing_steps", "2",
              *extra)  # fmt: skip
    run_training(training_argv(model_dir, captions, tmp_path / "uninterrupted", *common))
    reference_files = sorted(p.name for p in (tmp_path / "uninterrupted" / "checkpoint-2").iterdir())

    output_dir = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "videocomposer.train", *training_argv(model_dir, captions, output_dir, *common)],
        cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not list_checkpoints(output_dir) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    alive = process.poll() is None
    process.send_signal(signal.SIGKILL)
    _, stderr = process.communicate()
    assert alive, f"the run ended before it could be killed:\n{stderr.decode()[-2000:]}"
    assert not (output_dir / "model_index.json").exists()  # it really died mid-run

    checkpoints = list_checkpoints(output_dir)
    assert checkpoints and checkpoints[-1].name != "checkpoint-8"
    for checkpoint in checkpoints:  # whatever the kill interrupted, a visible checkpoint is complete
        assert sorted(p.name for p in checkpoint.iterdir()) == reference_files

    result = run_training(
        training_argv(model_dir, captions, output_dir, *common, "--resume_from_checkpoint", "latest")
    )
    assert result.global_step == 8
    assert len(result.losses) == 8 - int(checkpoints[-1].name.split("-")[1])
    assert not list(output_dir.glob(".checkpoint-*"))  # the interrupted run's temporary folder was cleared
    for name in ("unet", "stc_encoder"):
        expected = load_file(str(tmp_path / "uninterrupted" / name / "diffusion_pytorch_model.safetensors"))
        resumed = load_file(str(output_dir / name / "diffusion_pytorch_model.safetensors"))
        assert expected.keys() == resumed.keys()
        for key in expected:
            torch.testing.assert_close(resumed[key], expected[key], rtol=1e-5, atol=1e-6)
    if extra:  # the discriminator went on from the checkpoint too: equal in the last checkpoint of both runs
        assert (output_dir / "checkpoint-8" / "temporal_discriminator").is_dir()
        name = "temporal_discriminator/diffusion_pytorch_model.safetensors"
        expected = load_file(str(tmp_path / "uninterrupted" / "checkpoint-8" / name))
        resumed = load_file(str(output_dir / "checkpoint-8" / name))
        for key in expected:
            torch.testing.assert_close(resumed[key], expected[key], rtol=1e-5, atol=1e-6)
