"""Data parallel training on CPU: 2 gloo processes (torchrun + ACCELERATE_USE_CPU=1), with DDP and with FSDP
(examples/accelerate/fsdp.yaml's settings), follow 1 process with the same global batch, save one training state per
rank, and resume from a checkpoint bit for bit; processes that do not form one group are refused before any model is
loaded."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import videocomposer

REPO_ROOT = Path(videocomposer.__file__).resolve().parents[1]
DUMP_SCRIPT = Path(__file__).with_name("train_and_dump.py")
# A small learning rate: AdamW's first steps move each weight by about +-lr whatever its gradient's size, so rounding
# differences in near-zero gradients (one batch of 2 vs 2 batches of 1) would otherwise grow to lr-sized changes.
COMMON = ("--stage", "compositional", "--conditions", "motion", "canny", "--max_train_steps", "4",
          "--checkpointing_steps", "2", "--learning_rate", "1e-5")  # fmt: skip
WEIGHTS = ("unet", "stc_encoder")


def torchrun(argv: list[str], losses_file: Path, engine_env: dict[str, str], nproc: int = 2) -> list[float]:
    """Train with `nproc` CPU processes; returns the per-step losses (checked equal on every rank)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT), "ACCELERATE_USE_CPU": "1", **engine_env}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc),
               "--standalone", str(DUMP_SCRIPT), str(losses_file), *argv]  # fmt: skip
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    results = [json.loads(losses_file.with_name(f"{losses_file.stem}.{r}.json").read_text()) for r in range(nproc)]
    assert all(result == results[0] for result in results)
    return results[0]["losses"]


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return {
        f"{name}/{key}": value
        for name in WEIGHTS
        for key, value in load_file(str(folder / name / "diffusion_pytorch_model.safetensors")).items()
    }


def engine_setup(engine: str, launch_environment) -> tuple[dict[str, str], tuple[str, ...]]:
    """The environment and training arguments of an engine. DDP: accelerate's default for a gloo group, the UNet and
    STC encoder trained. FSDP: the FSDP settings `examples/accelerate/fsdp.yaml` exports (its bf16 mixed precision
    left out: the single process it is compared with runs in float32); one trained model (the UNet's temporal layers,
    the rest frozen in the same FSDP units), as accelerate's FSDP checkpoints need."""
    if engine == "ddp":
        return {}, COMMON
    _, env = launch_environment("fsdp")
    fsdp_env = {k: v for k, v in env.items() if k.startswith("FSDP_") or k == "ACCELERATE_USE_FSDP"}
    return fsdp_env, (*COMMON, "--trainable", "temporal")


@pytest.mark.parametrize("engine", ["ddp", "fsdp"])
def test_two_processes_match_one_and_resume_bit_exact(
    engine, tmp_path, model_dir, make_videos, training_argv, run_training, launch_environment
):
    engine_env, common = engine_setup(engine, launch_environment)
    captions = make_videos(tmp_path / "videos", 4)
    one = run_training(training_argv(model_dir, captions, tmp_path / "one", *common, "--train_batch_size", "2"))

    two_dir = tmp_path / "two"
    two = torchrun(
        training_argv(model_dir, captions, two_dir, *common, "--train_batch_size", "1"),
        tmp_path / "a.json",
        engine_env,
    )
    # Same global batch, same draws: the same losses and weights up to float reduction order.
    assert len(two) == 4
    torch.testing.assert_close(torch.tensor(two), torch.tensor(one.losses), rtol=1e-5, atol=1e-6)
    initial, single, double = weights(model_dir), weights(tmp_path / "one"), weights(two_dir)
    assert single.keys() == double.keys()
    travelled = torch.cat([(single[k] - initial[k]).flatten() for k in single]).norm()
    apart = torch.cat([(double[k] - single[k]).flatten() for k in single]).norm()
    assert travelled > 0 and apart < 0.02 * travelled, (apart, travelled)

    checkpoint = two_dir / "checkpoint-2"
    for rank in (0, 1):  # every rank saved its own RNG states and noise generator
        assert (checkpoint / f"random_states_{rank}.pkl").is_file()
        assert (checkpoint / f"training_state_{rank}.pt").is_file()
    if engine == "fsdp":  # sharded model and optimizer states: one file per rank
        for name in ("pytorch_model_fsdp_0", "optimizer_0"):
            assert sorted(p.name for p in (checkpoint / name).glob("*.distcp")) == ["__0_0.distcp", "__1_0.distcp"]

    # Resume from step 2 (as after a kill): steps 3-4 and the final weights equal the uninterrupted run's exactly.
    resumed_dir = tmp_path / "resumed"
    resumed_dir.mkdir()
    shutil.copytree(checkpoint, resumed_dir / "checkpoint-2")
    resumed = torchrun(
        training_argv(model_dir, captions, resumed_dir, *common, "--train_batch_size", "1",
                      "--resume_from_checkpoint", "latest"),
        tmp_path / "b.json",
        engine_env,
    )  # fmt: skip
    # exact: the same launch on one machine (same kernels, shapes, ranks and threads), only restarted at step 2
    assert resumed == two[2:]
    expected, actual = weights(two_dir), weights(resumed_dir)
    for key in expected:
        assert torch.equal(actual[key], expected[key]), key


def test_processes_without_a_group_are_refused_before_model_loading(
    tmp_path, make_videos, training_argv, run_training, monkeypatch
):
    captions = make_videos(tmp_path / "videos", 1)
    monkeypatch.setenv("WORLD_SIZE", "2")  # launched as 2 processes, but nothing makes accelerate join them
    monkeypatch.delenv("ACCELERATE_USE_CPU", raising=False)
    with pytest.raises(RuntimeError, match=r"WORLD_SIZE=2 .* did not form one process group.*ACCELERATE_USE_CPU=1"):
        run_training(training_argv(tmp_path / "no-model", captions, tmp_path / "out", "--stage", "t2v"))
    assert not (tmp_path / "out").exists()
