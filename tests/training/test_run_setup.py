"""What a training run checks and reports around the loop: arguments and data checked before any model is loaded
(naming the option), the tracker package checked before training, threads per process, the batch layout logged, a
progress bar with loss and lr, and losses and validation videos in TensorBoard."""

import io
import logging
import sys
from types import SimpleNamespace

import PIL.Image
import pytest
import torch

from videocomposer.training.arguments import parse_args
from videocomposer.training.distributed import default_num_threads, set_default_num_threads


def test_default_threads_share_the_cpus_between_local_processes(monkeypatch):
    assert default_num_threads(1, cpus=8) == 8
    assert default_num_threads(2, cpus=8) == 4
    assert default_num_threads(3, cpus=8) == 2
    assert default_num_threads(4, cpus=2) == 1  # never 0
    with pytest.raises(ValueError, match="num_local_processes"):
        default_num_threads(0, cpus=2)

    accelerator = SimpleNamespace(num_processes=2)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert set_default_num_threads(accelerator) == torch.get_num_threads() == default_num_threads(2)
    torch.set_num_threads(1)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # set by the user or the launcher: respected
    assert set_default_num_threads(accelerator) == torch.get_num_threads() == 1
    monkeypatch.delenv("OMP_NUM_THREADS")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")  # a lone process keeps torch's default
    assert set_default_num_threads(accelerator) == torch.get_num_threads() == 1


def test_missing_tracker_package_is_an_error_before_training(tmp_path, monkeypatch):
    argv = ["--pretrained_model_name_or_path", "m", "--train_data_dir", "d", "--captions_file", "c.csv",
            "--stage", "t2v"]  # fmt: skip
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # as if not installed
    with pytest.raises(ValueError, match=r"--report_to tensorboard: .*pip install 'videocomposer\[tracking\]'"):
        parse_args([*argv, "--report_to", "tensorboard"])
    with pytest.raises(SystemExit):  # a tracker we cannot log videos to is not accepted
        parse_args([*argv, "--report_to", "comet_ml"])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--conditions", "sketch"), r"--conditions sketch: its extractor cannot be built .*--condition_kwargs"),
        (("--caption_column", "text"), r"--caption_column: .*no value in column 'text'; columns found"),
        (("--train_data_dir", "missing-folder"), r"--train_data_dir: '.*missing-folder' is not a folder"),
    ],
)
def test_data_errors_are_reported_before_model_loading(
    tmp_path, make_videos, training_argv, run_training, extra, message
):
    captions = make_videos(tmp_path / "videos", 1)
    argv = training_argv(tmp_path / "no-such-model", captions, tmp_path / "out", "--conditions", "canny", *extra)
    argv = [a if a != "missing-folder" else str(tmp_path / "missing-folder") for a in argv]
    with pytest.raises(ValueError, match=message):  # loading the (missing) model first would fail differently
        run_training(argv)


def test_run_logs_layout_progress_losses_and_validation_videos(
    tmp_path, model_dir, make_videos, training_argv, run_training, caplog, capsys
):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    captions = make_videos(tmp_path / "videos", 2)
    output_dir = tmp_path / "run"
    argv = training_argv(
        model_dir, captions, output_dir, "--stage", "t2v", "--train_batch_size", "2",
        "--gradient_accumulation_steps", "2", "--max_train_steps", "2", "--report_to", "tensorboard",
        "--validation_prompt", "a red car", "--validation_steps", "2", "--validation_num_inference_steps", "2",
    )  # fmt: skip
    with caplog.at_level(logging.INFO):
        result = run_training(argv)
    assert "world size 1 " in caplog.text
    assert "per-device batch 2 x 1 process(es) x 2 accumulation step(s) = effective batch 4" in caplog.text
    progress = capsys.readouterr().err
    assert "2/2" in progress and "loss=" in progress and "lr=0.001" in progress

    run_logs = output_dir / "logs" / "videocomposer-train"  # --logging_dir / --tracker_project_name (defaults)
    accumulator = EventAccumulator(str(run_logs), size_guidance={"images": 0, "scalars": 0})
    accumulator.Reload()
    losses = accumulator.Scalars("train_loss")
    assert [e.step for e in losses] == [1, 2]
    torch.testing.assert_close(torch.tensor([e.value for e in losses]), torch.tensor(result.losses))
    [video] = accumulator.Images("validation/0")
    assert video.step == 2
    gif = PIL.Image.open(io.BytesIO(video.encoded_image_string))
    num_frames = int(argv[argv.index("--num_frames") + 1])
    assert gif.format == "GIF" and gif.n_frames == num_frames and (video.width, video.height) == gif.size
    assert (output_dir / "validation" / "step-2-0.mp4").is_file()


def test_validation_videos_go_to_wandb_as_mp4s(tmp_path, monkeypatch):
    import numpy as np

    from videocomposer.training.tracking import log_validation_videos
    from videocomposer.training.validation import ValidationVideo

    class Video:  # stands in for wandb.Video (wandb is an optional extra)
        def __init__(self, path, caption, format):
            self.args = (path, caption, format)

    monkeypatch.setitem(sys.modules, "wandb", SimpleNamespace(Video=Video))
    logged = []
    tracker = SimpleNamespace(name="wandb", log=lambda values, step: logged.append((values, step)))
    videos = [ValidationVideo(p, np.zeros((2, 8, 8, 3)), tmp_path / f"{i}.mp4") for i, p in enumerate(["a", "b"])]
    log_validation_videos(SimpleNamespace(trackers=[tracker]), videos, step=5, fps=4)
    [(values, step)] = logged
    assert step == 5 and [v.args for v in values["validation"]] == [
        (str(tmp_path / "0.mp4"), "a", "mp4"),
        (str(tmp_path / "1.mp4"), "b", "mp4"),
    ]
    with pytest.raises(ValueError, match="no way to log validation videos to tracker 'comet_ml'"):
        log_validation_videos(SimpleNamespace(trackers=[SimpleNamespace(name="comet_ml")]), videos, 5, 4)


def test_engines_refuse_what_they_cannot_do():
    from accelerate.utils import DistributedType

    from videocomposer.training.distributed import check_engine_support

    def args(stage="compositional", trainable="all", validation_prompt=None):
        return SimpleNamespace(stage=stage, trainable=trainable, validation_prompt=validation_prompt)

    def engine(distributed_type, is_fsdp2=False):
        return SimpleNamespace(distributed_type=distributed_type, is_fsdp2=is_fsdp2)

    deepspeed, fsdp1, fsdp2 = (
        engine(DistributedType.DEEPSPEED),
        engine(DistributedType.FSDP),
        engine(DistributedType.FSDP, is_fsdp2=True),
    )
    for accelerator in (deepspeed, fsdp1, fsdp2):  # one model per optimizer: the UNet + STC encoder pair is refused
        for trainable in ("all", "stc"):
            with pytest.raises(ValueError, match=rf"--trainable {trainable}: trains two models .* use the DDP config"):
                check_engine_support(accelerator, args(trainable=trainable))
        check_engine_support(accelerator, args(trainable="temporal"))
        check_engine_support(accelerator, args(stage="t2v"))
    check_engine_support(engine(DistributedType.MULTI_GPU), args())  # DDP wraps each model
    for accelerator in (deepspeed, fsdp1):
        with pytest.raises(ValueError, match="--validation_prompt: .*only its shard"):
            check_engine_support(accelerator, args(stage="t2v", validation_prompt=["a cat"]))
    check_engine_support(engine(DistributedType.MULTI_GPU), args(validation_prompt=["a cat"]))
