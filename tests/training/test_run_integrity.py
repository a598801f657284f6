"""A run a researcher can trust: one --seed reproduces adapter runs, a diverged run stops loudly without writing
non-finite weights, every loss term is logged, and a resumed run logs each step once."""

import math

import pytest
import torch
from safetensors.torch import load_file

from videocomposer.training.adapters import build_adapter
from videocomposer.training.divergence import DivergenceGuard, TrainingDivergedError


@pytest.mark.parametrize("trainable", ["lora", "lowrank_temporal"])
def test_adapter_init_depends_on_the_seed_only_and_leaves_the_global_rng_alone(make_tiny_components, trainable):
    def initial(seed: int, global_seed: int) -> dict[str, torch.Tensor]:
        unet = make_tiny_components()["unet"]
        torch.manual_seed(global_seed)
        before = torch.get_rng_state()
        parameters = build_adapter(trainable, 2, None, 4, 4.0).add(unet, seed=seed)
        assert torch.equal(torch.get_rng_state(), before)  # the global RNG is untouched
        return {str(i): p.detach().clone() for i, p in enumerate(parameters)}

    a, b, c = initial(0, global_seed=1), initial(0, global_seed=2), initial(1, global_seed=1)
    assert a.keys() == b.keys() == c.keys() and len(a) > 0
    assert all(torch.equal(a[k], b[k]) for k in a)
    random_factors = [k for k in a if a[k].abs().sum() > 0]  # LoRA A / low-rank B: random; the others start at zero
    assert random_factors and all(not torch.equal(a[k], c[k]) for k in random_factors)


@pytest.mark.parametrize(("trainable", "weights"), [("lora", "adapter_model.safetensors"),
                                                    ("lowrank_temporal", "lowrank_temporal.safetensors")])  # fmt: skip
def test_two_same_seed_adapter_runs_give_identical_adapters(
    tmp_path, model_dir, make_videos, training_argv, run_training, trainable, weights
):
    captions = make_videos(tmp_path / "videos", 2)
    common = ("--stage", "t2v", "--trainable", trainable, "--rank", "2", "--max_train_steps", "2")
    saved = []
    for run, global_seed in (("a", 1), ("b", 2)):
        torch.manual_seed(global_seed)  # whatever the global RNG holds before the run
        run_training(training_argv(model_dir, captions, tmp_path / run, *common))
        saved.append(load_file(str(tmp_path / run / weights)))
    assert saved[0].keys() == saved[1].keys()
    assert all(torch.equal(saved[0][k], saved[1][k]) for k in saved[0])


def test_a_diverged_run_stops_and_writes_no_non_finite_weights(
    tmp_path, model_dir, make_videos, training_argv, run_training
):
    captions = make_videos(tmp_path / "videos", 2)
    output_dir = tmp_path / "out"
    argv = training_argv(model_dir, captions, output_dir, "--stage", "t2v", "--max_train_steps", "6",
                         "--checkpointing_steps", "1", "--learning_rate", "1e9")  # fmt: skip
    with pytest.raises(TrainingDivergedError, match=r"step \d+ is (nan|inf).*diverged; lower --learning_rate"):
        run_training(argv)
    assert not (output_dir / "model_index.json").exists() and not (output_dir / "unet").exists()
    checkpoints = sorted(output_dir.glob("checkpoint-*"))
    assert len(checkpoints) < 6  # it stopped early
    for checkpoint in checkpoints:
        for value in load_file(str(checkpoint / "unet" / "diffusion_pytorch_model.safetensors")).values():
            assert torch.isfinite(value).all()


def test_fp16_may_skip_a_bounded_number_of_overflowing_steps():
    guard = DivergenceGuard(fp16=True, max_skipped_steps=2)
    guard.check_gradients(math.inf, step=1)
    guard.check_gradients(math.nan, step=2)
    assert guard.skipped_in_a_row == 2
    guard.check_gradients(3.0, step=3)  # a step that went through resets the count
    assert guard.skipped_in_a_row == 0
    guard.check_gradients(math.inf, step=4)
    guard.check_gradients(math.inf, step=5)
    with pytest.raises(TrainingDivergedError, match=r"gradient norm of step 6 is inf \(2 fp16 steps in a row"):
        guard.check_gradients(math.inf, step=6)
    with pytest.raises(TrainingDivergedError, match="gradient norm of step 1 is nan"):
        DivergenceGuard(fp16=False).check_gradients(math.nan, step=1)
    with pytest.raises(TrainingDivergedError, match="loss of step 3 is inf"):
        DivergenceGuard(fp16=True).check_loss(math.inf, step=3)
    DivergenceGuard(fp16=False).check_gradients(None, step=1)  # an engine that clips by itself reports no norm


def tensorboard_scalars(folder) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(folder / "logs" / "videocomposer-train"), size_guidance={"scalars": 0})
    accumulator.Reload()
    return {tag: [(e.step, e.value) for e in accumulator.Scalars(tag)] for tag in accumulator.Tags()["scalars"]}


def test_adversarial_runs_log_every_loss_term(tmp_path, model_dir, make_videos, training_argv, run_training, capsys):
    captions = make_videos(tmp_path / "videos", 2)
    output_dir = tmp_path / "out"
    result = run_training(training_argv(model_dir, captions, output_dir, "--stage", "t2v", "--max_train_steps", "2",
                                        "--adversarial_weight", "0.5", "--report_to", "tensorboard"))  # fmt: skip
    scalars = tensorboard_scalars(output_dir)
    for tag in ("train_loss", "diffusion_loss", "generator_loss", "discriminator_loss", "r1_loss"):
        assert [step for step, _ in scalars[tag]] == [1, 2], tag
        assert all(math.isfinite(value) for _, value in scalars[tag]), tag
    total = torch.tensor([v for _, v in scalars["train_loss"]])
    parts = [torch.tensor([v for _, v in scalars[f"{name}_loss"]]) for name in ("diffusion", "generator")]
    torch.testing.assert_close(total, parts[0] + parts[1], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(total, torch.tensor(result.losses), rtol=1e-5, atol=1e-6)
    for name in ("diffusion", "generator", "discriminator", "r1"):
        logged = torch.tensor([v for _, v in scalars[f"{name}_loss"]])
        torch.testing.assert_close(torch.tensor(result.terms[name]), logged, rtol=1e-5, atol=1e-6)
    assert all(value > 0 for _, value in scalars["discriminator_loss"])  # hinge: 2 for an untrained critic
    progress = capsys.readouterr().err
    assert all(f"{name}=" in progress for name in ("loss", "diffusion", "generator", "discriminator", "r1"))


def test_a_resumed_run_logs_each_step_once(tmp_path, model_dir, make_videos, training_argv, run_training):
    captions = make_videos(tmp_path / "videos", 2)
    output_dir = tmp_path / "out"
    common = ("--stage", "t2v", "--checkpointing_steps", "2", "--report_to", "tensorboard")
    first = run_training(training_argv(model_dir, captions, output_dir, *common, "--max_train_steps", "3"))
    resumed = run_training(training_argv(model_dir, captions, output_dir, *common, "--max_train_steps", "4",
                                         "--resume_from_checkpoint", str(output_dir / "checkpoint-2")))  # fmt: skip
    losses = tensorboard_scalars(output_dir)["train_loss"]
    assert [step for step, _ in losses] == [1, 2, 3, 4]  # step 3 of the first run was dropped, not shown twice
    expected = torch.tensor(first.losses[:2] + resumed.losses)
    torch.testing.assert_close(torch.tensor([value for _, value in losses]), expected, rtol=1e-5, atol=1e-6)
