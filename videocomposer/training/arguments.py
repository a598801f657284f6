"""Command-line arguments of ``accelerate launch -m videocomposer.train``, named as in diffusers' training examples.

Each option is declared once, as a :class:`TrainingArguments` field whose metadata holds its help text, its ``--help``
group and any argparse keywords; :func:`build_parser` builds the parser from the fields."""

import argparse
import importlib.util
import json
import os
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import MISSING, dataclass, field, fields
from functools import partial
from typing import Any

from .choices import ORIGINAL_DROPOUT, STAGES, TRAINABLE
from .tracking import TRACKERS, check_tracker_installed

LR_SCHEDULERS = ("linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup")


def _option(group: str, help: str, default: Any = MISSING, **parser_kwargs: Any) -> Any:
    """A field with its command-line help, ``--help`` group and argparse keywords; no default: a required option."""
    metadata = {"help": help, "group": group, **parser_kwargs}
    if isinstance(default, list):
        return field(default_factory=list, metadata=metadata)
    return field(default=default, metadata=metadata)


def _name_probability(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    try:
        if name and sep:
            return name, float(value)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"expected NAME=P (e.g. motion=0.05), got {text!r}")


_model, _data, _training = partial(_option, "model"), partial(_option, "data"), partial(_option, "training")
_adversarial = partial(_option, "adversarial temporal loss (videocomposer.training.adversarial)")
_checkpoints, _logging = partial(_option, "checkpoints"), partial(_option, "logging and validation")
_hub = partial(_option, "hub")


@dataclass
class TrainingArguments:
    """The options of a training run, typed, with their defaults (the command line's, see ``--help`` for each).

    ``parse_args(argv)`` builds one from command-line arguments; in Python, give the three required fields and any
    others (``train`` checks them as the command line does)."""

    pretrained_model_name_or_path: str = _model("A VideoComposerPipeline folder (or Hub id) to start from.")
    train_data_dir: str = _data("Folder the video paths of the captions file are under.")
    captions_file: str = _data("CSV (header row) or JSONL captions file.")
    revision: str | None = _model("Revision of the pretrained model on the Hub.", None)
    stage: str = _model(
        "t2v: text-to-video, no conditions; compositional: STC conditions with condition dropout.",
        "compositional", choices=STAGES,
    )  # fmt: skip
    trainable: str = _model(
        "all | stc (STC encoder + conv_in) | temporal (temporal layers) | lora (temporal LoRA) | "
        "lowrank_temporal (frame-modulated low-rank deltas on the temporal attention).", "all", choices=TRAINABLE,
    )  # fmt: skip
    rank: int = _model("LoRA rank (--trainable lora / lowrank_temporal).", 4)
    lowrank_anchor_spacing: float = _model(
        "Frames between the B-spline anchor codes of --trainable lowrank_temporal.", 4.0
    )
    lora_alpha: int | None = _model("LoRA alpha (default: the rank, scale 1).", None)
    video_column: str = _data("Column with the video path or WebVid id.", "videoid")
    caption_column: str = _data("Column with the caption.", "name")
    conditions: list[str] = _data(
        "Condition extractor names (e.g. motion depth sketch mask image); compositional stage.", [], nargs="*"
    )
    condition_kwargs: dict[str, dict] | None = _data(
        'JSON of extractor constructor arguments, e.g. \'{"depth": {"model": "Intel/dpt-large"}}\'.',
        None, type=json.loads,
    )  # fmt: skip
    conditions_cache_dir: str | None = _data(
        "Read conditions from this cache (`videocomposer extract --cache DIR`) instead of extracting.", None
    )
    resolution: int = _data("Square training size in pixels.", 256)
    num_frames: int = _data("Frames per clip.", 16)
    fps: float = _data("Frame sampling rate (the original: 4).", 4.0)
    dataloader_num_workers: int = _data("DataLoader worker processes.", 0)
    output_dir: str = _training("Checkpoints and the final model.", "videocomposer-finetuned")
    seed: int = _training("Seed of data order, noise, timesteps and dropout; resume with the same.", 0)
    train_batch_size: int = _training("Batch size per device.", 1)
    num_train_epochs: int = _training("Passes over the data (without --max_train_steps).", 1)
    max_train_steps: int | None = _training("Optimizer steps; overrides epochs.", None)
    gradient_accumulation_steps: int = _training("Micro-batches summed into one optimizer step.", 1)
    gradient_checkpointing: bool = _training("Recompute UNet blocks in backward.", False)
    learning_rate: float = _training("AdamW learning rate.", 5e-5)
    scale_lr: bool = _training(
        "Multiply the learning rate by accumulation steps, batch size and process count.", False
    )
    lr_scheduler: str = _training("Learning-rate schedule.", "constant", choices=LR_SCHEDULERS)
    lr_warmup_steps: int = _training("Warm-up steps of the schedules that warm up (not constant).", 500)
    adam_beta1: float = _training("AdamW beta1.", 0.9)
    adam_beta2: float = _training("AdamW beta2.", 0.999)
    adam_weight_decay: float = _training("AdamW weight decay.", 1e-2)
    adam_epsilon: float = _training("AdamW epsilon.", 1e-8)
    max_grad_norm: float = _training("Clip the global gradient norm to this; 0: no clipping.", 1.0)
    mixed_precision: str | None = _training(
        "Default: the accelerate config's. Frozen models are cast to this dtype.", None, choices=("no", "fp16", "bf16")
    )
    allow_tf32: bool = _training("Allow TF32 matmuls on Ampere+ GPUs.", False)
    use_ema: bool = _training("Keep an EMA of the trained weights; save it.", False)
    ema_decay: float = _training("EMA decay (with --use_ema).", 0.9999)
    condition_dropout_prob: float = _training(
        "Per-condition drop probability (text and style included).", ORIGINAL_DROPOUT["p"]
    )
    condition_dropout_overrides: dict[str, float] | None = _training(
        "NAME=P drop probabilities replacing --condition_dropout_prob for these (text, style or an STC "
        "condition: e.g. motion=0.05 depth=0.9).", None, nargs="+", type=_name_probability, metavar="NAME=P",
    )  # fmt: skip
    drop_all_prob: float = _training(
        "Probability that a sample drops every condition.", ORIGINAL_DROPOUT["p_all_zero"]
    )
    keep_all_prob: float = _training(
        "Probability that a sample keeps every condition.", ORIGINAL_DROPOUT["p_all_keep"]
    )
    adversarial_weight: float = _adversarial(
        "Weight of the temporal discriminator's generator loss on the one-step x0 latents; 0: off.", 0.0
    )
    adversarial_start_step: int = _adversarial("Optimizer step from which the generator loss is added.", 0)
    adversarial_loss: str = _adversarial("GAN loss of both sides.", "hinge", choices=("hinge", "non_saturating"))
    discriminator_lr: float = _adversarial("The discriminator's Adam lr.", 2e-4)
    r1_gamma: float = _adversarial("R1 penalty weight on real latents; 0: off.", 0.1)
    adversarial_max_timestep: int = _adversarial(
        "Samples with a timestep at or above this are left out of the adversarial loss.", 500
    )
    checkpointing_steps: int = _checkpoints("Save the training state every N steps.", 500)
    checkpoints_total_limit: int | None = _checkpoints("Keep at most N checkpoints.", None)
    resume_from_checkpoint: str | None = _checkpoints(
        'A checkpoint folder, or "latest" (the newest in --output_dir; fresh start if none).', None
    )
    report_to: str = _logging(
        "Tracker of losses, lr and validation videos (needs `pip install 'videocomposer[tracking]'`).",
        "none", choices=TRACKERS,
    )  # fmt: skip
    logging_dir: str = _logging("Tracker folder, relative to --output_dir.", "logs")
    tracker_project_name: str = _logging("Run name (subfolder of --logging_dir).", "videocomposer-train")
    validation_prompt: list[str] | None = _logging("Prompt(s) of the validation videos.", None, nargs="+")
    validation_conditions: str | None = _logging(
        "A video whose --conditions (extracted once) steer the validation videos.", None
    )
    validation_steps: int = _logging("Validate every N steps and at the end.", 100)
    validation_num_inference_steps: int = _logging("DDIM steps of the validation videos.", 25)
    validation_guidance_scale: float = _logging("Guidance scale of the validation videos.", 9.0)
    push_to_hub: bool = _hub("Upload the final folder to the Hub.", False)
    hub_token: str | None = _hub("Hub token (default: the one `hf auth login` stored).", None)
    hub_model_id: str | None = _hub("Repository id (default: the --output_dir name).", None)


def default_arguments() -> dict[str, Any]:
    """Every option's default, by name (the required ones have none)."""
    return {
        item.name: item.default_factory() if item.default is MISSING else item.default
        for item in fields(TrainingArguments)
        if item.default is not MISSING or item.default_factory is not MISSING
    }


def build_parser() -> argparse.ArgumentParser:
    """The parser of the :class:`TrainingArguments` fields: one ``--name`` each, in its group, with its default and
    help, the groups in the order they first appear; ``bool``: a flag; ``int`` / ``float``: converted."""
    from videocomposer.cli import HelpFormatter  # --help shows every default

    parser = argparse.ArgumentParser(
        prog="accelerate launch -m videocomposer.train",
        formatter_class=HelpFormatter,
        description="Fine-tune VideoComposer (text-to-video or compositional) on a folder of videos with captions. "
        "Data parallel: accelerate launch --multi_gpu (GPUs) or ACCELERATE_USE_CPU=1 torchrun (CPUs, gloo). Threads "
        "per process: OMP_NUM_THREADS if set, else the machine's CPUs divided by its processes (torch's default for "
        "one).",
    )
    titles = dict.fromkeys(item.metadata["group"] for item in fields(TrainingArguments))
    groups = {title: parser.add_argument_group(title) for title in titles}
    defaults = default_arguments()
    for item in sorted(fields(TrainingArguments), key=lambda item: list(titles).index(item.metadata["group"])):
        kwargs = dict(item.metadata)
        group = groups[kwargs.pop("group")]
        kind = item.type
        if isinstance(kind, types.UnionType):  # X | None
            kind = next(arg for arg in typing.get_args(kind) if arg is not type(None))
        if kind is bool:
            kwargs["action"] = "store_true"
        elif kind in (int, float):
            kwargs["type"] = kind
        group.add_argument(
            f"--{item.name}", required=item.name not in defaults, default=defaults.get(item.name), **kwargs
        )
    return parser


#: Options that only act under a condition: option -> (whether the condition holds, the condition in words). Changing
#: one from its default while its condition does not hold is refused (it would be silently ignored).
ONLY_USED_WITH: dict[str, tuple[Callable[[TrainingArguments], bool], str]] = {
    "rank": (lambda a: a.trainable in ("lora", "lowrank_temporal"), "--trainable lora or lowrank_temporal"),
    "lora_alpha": (lambda a: a.trainable == "lora", "--trainable lora"),
    "lowrank_anchor_spacing": (lambda a: a.trainable == "lowrank_temporal", "--trainable lowrank_temporal"),
    **{name: (lambda a: a.adversarial_weight > 0, "--adversarial_weight > 0") for name in (
        "adversarial_start_step", "adversarial_loss", "discriminator_lr", "r1_gamma", "adversarial_max_timestep")},
    "ema_decay": (lambda a: a.use_ema, "--use_ema"),
    "num_train_epochs": (lambda a: a.max_train_steps is None, "no --max_train_steps (which overrides it)"),
    **{name: (lambda a: bool(a.validation_prompt), "--validation_prompt") for name in (
        "validation_steps", "validation_num_inference_steps", "validation_guidance_scale", "validation_conditions")},
    **{name: (lambda a: a.report_to != "none", "--report_to tensorboard or wandb") for name in (
        "logging_dir", "tracker_project_name")},
    **{name: (lambda a: a.push_to_hub, "--push_to_hub") for name in ("hub_token", "hub_model_id")},
    "condition_kwargs": (lambda a: a.conditions_cache_dir is None or a.validation_conditions is not None,
                         "extraction: no --conditions_cache_dir, or --validation_conditions"),
}  # fmt: skip


def check_no_effect_options(args: TrainingArguments) -> None:
    """Refuse every option set to a non-default value where it has no effect (:data:`ONLY_USED_WITH`)."""
    defaults = default_arguments()
    unused: dict[str, list[str]] = {}
    for name, (holds, condition) in ONLY_USED_WITH.items():
        if getattr(args, name) != defaults[name] and not holds(args):
            unused.setdefault(condition, []).append(f"--{name}")
    if unused:
        raise ValueError("; ".join(f"{', '.join(names)}: only used with {cond}" for cond, names in unused.items()))


def parse_args(argv: Sequence[str] | None = None) -> TrainingArguments:
    """Parse and check the arguments; raises ``ValueError`` naming the argument for inconsistent values."""
    parsed = vars(build_parser().parse_args(argv))
    if (pairs := parsed["condition_dropout_overrides"]) is not None:
        if len(dict(pairs)) != len(pairs):
            raise ValueError(f"--condition_dropout_overrides: each name once, got {[name for name, _ in pairs]}")
        parsed["condition_dropout_overrides"] = dict(pairs)
    args = TrainingArguments(**parsed)
    check_args(args)
    return args


def check_args(args: TrainingArguments) -> None:
    """Raise ``ValueError`` naming the option for a value out of range or options that do not go together."""
    positive = ("resolution", "num_frames", "train_batch_size", "num_train_epochs", "gradient_accumulation_steps",
                "checkpointing_steps", "validation_steps", "validation_num_inference_steps", "rank",
                "max_train_steps", "checkpoints_total_limit", "lora_alpha")  # fmt: skip
    for name in positive:  # the last three may be None
        if (value := getattr(args, name)) is not None and value < 1:
            raise ValueError(f"--{name}: expected a positive integer, got {value}")
    for name in ("lr_warmup_steps", "dataloader_num_workers", "seed"):
        if getattr(args, name) < 0:
            raise ValueError(f"--{name}: expected a non-negative integer, got {getattr(args, name)}")
    if args.resolution % 8:
        raise ValueError(f"--resolution: expected a multiple of 8 (the VAE factor), got {args.resolution}")
    if not args.fps > 0 or not args.learning_rate > 0:
        raise ValueError(
            f"--fps and --learning_rate: expected positive numbers, got {args.fps} and {args.learning_rate}"
        )
    for name in ("condition_dropout_prob", "drop_all_prob", "keep_all_prob", "ema_decay"):
        if not 0.0 <= getattr(args, name) <= 1.0:
            raise ValueError(f"--{name}: expected a probability in [0, 1], got {getattr(args, name)}")
    overrides = args.condition_dropout_overrides or {}
    if not isinstance(overrides, dict) or not all(
        isinstance(name, str) and isinstance(value, (int, float)) and 0.0 <= value <= 1.0
        for name, value in overrides.items()
    ):
        raise ValueError(f"--condition_dropout_overrides: expected NAME=P with P in [0, 1], got {overrides!r}")
    if args.stage == "compositional" and not args.conditions:
        raise ValueError("--conditions: the compositional stage needs at least one condition extractor name")
    if args.stage == "t2v" and (args.conditions or args.conditions_cache_dir or args.validation_conditions):
        raise ValueError("--conditions / --conditions_cache_dir / --validation_conditions: the t2v stage takes none")
    if args.trainable == "stc" and args.stage == "t2v":
        raise ValueError("--trainable stc needs --stage compositional: the t2v stage feeds no conditions")
    if args.condition_kwargs is not None and not isinstance(args.condition_kwargs, dict):
        raise ValueError(f"--condition_kwargs: expected a JSON object, got {args.condition_kwargs!r}")
    if args.validation_conditions is not None and not os.path.isfile(args.validation_conditions):
        raise ValueError(f"--validation_conditions: {args.validation_conditions!r} is not a file")
    if args.trainable == "lora" and importlib.util.find_spec("peft") is None:
        raise ValueError("--trainable lora needs peft: pip install 'videocomposer[lora]'")
    if not args.lowrank_anchor_spacing > 0:
        raise ValueError(f"--lowrank_anchor_spacing: expected a positive number, got {args.lowrank_anchor_spacing}")
    if args.adversarial_weight < 0 or args.adversarial_start_step < 0 or args.r1_gamma < 0:
        raise ValueError(
            "--adversarial_weight / --adversarial_start_step / --r1_gamma: expected >= 0, got "
            f"{args.adversarial_weight}, {args.adversarial_start_step}, {args.r1_gamma}"
        )
    if not args.discriminator_lr > 0 or not 1 <= args.adversarial_max_timestep <= 1000:
        raise ValueError(
            f"--discriminator_lr / --adversarial_max_timestep: expected > 0 and in [1, 1000], got "
            f"{args.discriminator_lr}, {args.adversarial_max_timestep}"
        )
    check_no_effect_options(args)
    check_tracker_installed(args.report_to)
    if args.report_to == "wandb" and args.hub_token is not None:
        raise ValueError("--hub_token with --report_to wandb would expose the token; use `hf auth login` instead")
