"""Command-line arguments of ``accelerate launch -m videocomposer.train``, named as in diffusers' training examples."""

import argparse
import importlib.util
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

from .choices import ORIGINAL_DROPOUT, STAGES, TRAINABLE
from .tracking import TRACKERS, check_tracker_installed

LR_SCHEDULERS = ("linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup")


@dataclass
class TrainingArguments:
    """The options of a training run, typed, with their defaults (the command line's, see ``--help`` for each).

    ``parse_args(argv)`` builds one from command-line arguments; in Python, give the three required fields and any
    others (``train`` checks them as the command line does)."""

    pretrained_model_name_or_path: str
    train_data_dir: str
    captions_file: str
    # model
    revision: str | None = None
    stage: str = "compositional"
    trainable: str = "all"
    rank: int = 4
    lowrank_anchor_spacing: float = 4.0
    lora_alpha: int | None = None
    # data
    video_column: str = "videoid"
    caption_column: str = "name"
    conditions: list[str] = field(default_factory=list)
    condition_kwargs: dict[str, dict] | None = None
    conditions_cache_dir: str | None = None
    resolution: int = 256
    num_frames: int = 16
    fps: float = 4.0
    dataloader_num_workers: int = 0
    # training
    output_dir: str = "videocomposer-finetuned"
    seed: int = 0
    train_batch_size: int = 1
    num_train_epochs: int = 1
    max_train_steps: int | None = None
    gradient_accumulation_steps: int = 1
    gradient_checkpointing: bool = False
    learning_rate: float = 5e-5
    scale_lr: bool = False
    lr_scheduler: str = "constant"
    lr_warmup_steps: int = 500
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_weight_decay: float = 1e-2
    adam_epsilon: float = 1e-8
    max_grad_norm: float = 1.0
    mixed_precision: str | None = None
    allow_tf32: bool = False
    use_ema: bool = False
    ema_decay: float = 0.9999
    condition_dropout_prob: float = ORIGINAL_DROPOUT["p"]
    condition_dropout_overrides: dict[str, float] | None = None
    drop_all_prob: float = ORIGINAL_DROPOUT["p_all_zero"]
    keep_all_prob: float = ORIGINAL_DROPOUT["p_all_keep"]
    # adversarial temporal loss
    adversarial_weight: float = 0.0
    adversarial_start_step: int = 0
    adversarial_loss: str = "hinge"
    discriminator_lr: float = 2e-4
    r1_gamma: float = 0.1
    adversarial_max_timestep: int = 500
    # checkpoints
    checkpointing_steps: int = 500
    checkpoints_total_limit: int | None = None
    resume_from_checkpoint: str | None = None
    # logging and validation
    report_to: str = "none"
    logging_dir: str = "logs"
    tracker_project_name: str = "videocomposer-train"
    validation_prompt: list[str] | None = None
    validation_conditions: str | None = None
    validation_steps: int = 100
    validation_num_inference_steps: int = 25
    validation_guidance_scale: float = 9.0
    # hub
    push_to_hub: bool = False
    hub_token: str | None = None
    hub_model_id: str | None = None


def default_arguments() -> dict[str, Any]:
    """Every option's default, by name (the required ones have none)."""
    defaults = {}
    for item in fields(TrainingArguments):
        if item.default is not MISSING:
            defaults[item.name] = item.default
        elif item.default_factory is not MISSING:
            defaults[item.name] = item.default_factory()
    return defaults


def build_parser() -> argparse.ArgumentParser:
    from videocomposer.cli import HelpFormatter  # --help shows every default

    parser = argparse.ArgumentParser(
        prog="accelerate launch -m videocomposer.train",
        formatter_class=HelpFormatter,
        description="Fine-tune VideoComposer (text-to-video or compositional) on a folder of videos with captions. "
        "Data parallel: accelerate launch --multi_gpu (GPUs) or ACCELERATE_USE_CPU=1 torchrun (CPUs, gloo). Threads "
        "per process: OMP_NUM_THREADS if set, else the machine's CPUs divided by its processes (torch's default for "
        "one).",
    )
    model = parser.add_argument_group("model")
    model.add_argument(
        "--pretrained_model_name_or_path",
        required=True,
        help="A VideoComposerPipeline folder (or Hub id) to start from.",
    )
    model.add_argument("--revision", help="Revision of the pretrained model on the Hub.")
    model.add_argument(
        "--stage",
        choices=STAGES,
        help="t2v: text-to-video, no conditions; compositional: STC conditions with condition dropout.",
    )
    model.add_argument(
        "--trainable",
        choices=TRAINABLE,
        help="all | stc (STC encoder + conv_in) | temporal (temporal layers) | lora (temporal LoRA) | "
        "lowrank_temporal (frame-modulated low-rank deltas on the temporal attention).",
    )
    model.add_argument("--rank", type=int, help="LoRA rank (--trainable lora / lowrank_temporal).")
    model.add_argument(
        "--lowrank_anchor_spacing",
        type=float,
        help="Frames between the B-spline anchor codes of --trainable lowrank_temporal.",
    )
    model.add_argument("--lora_alpha", type=int, help="LoRA alpha (default: the rank, scale 1).")

    data = parser.add_argument_group("data")
    data.add_argument("--train_data_dir", required=True, help="Folder the video paths of the captions file are under.")
    data.add_argument("--captions_file", required=True, help="CSV (header row) or JSONL captions file.")
    data.add_argument("--video_column", help="Column with the video path or WebVid id.")
    data.add_argument("--caption_column", help="Column with the caption.")
    data.add_argument(
        "--conditions",
        nargs="*",
        help="Condition extractor names (e.g. motion depth sketch mask image); compositional stage.",
    )
    data.add_argument(
        "--condition_kwargs",
        type=json.loads,
        help='JSON of extractor constructor arguments, e.g. \'{"depth": {"model": "Intel/dpt-large"}}\'.',
    )
    data.add_argument(
        "--conditions_cache_dir",
        help="Read conditions from this cache (`videocomposer extract --cache DIR`) instead of extracting.",
    )
    data.add_argument("--resolution", type=int, help="Square training size in pixels.")
    data.add_argument("--num_frames", type=int, help="Frames per clip.")
    data.add_argument("--fps", type=float, help="Frame sampling rate (the original: 4).")
    data.add_argument("--dataloader_num_workers", type=int, help="DataLoader worker processes.")

    training = parser.add_argument_group("training")
    training.add_argument("--output_dir", help="Checkpoints and the final model.")
    training.add_argument(
        "--seed", type=int, help="Seed of data order, noise, timesteps and dropout; resume with the same."
    )
    training.add_argument("--train_batch_size", type=int, help="Batch size per device.")
    training.add_argument("--num_train_epochs", type=int, help="Passes over the data (without --max_train_steps).")
    training.add_argument("--max_train_steps", type=int, help="Optimizer steps; overrides epochs.")
    training.add_argument(
        "--gradient_accumulation_steps", type=int, help="Micro-batches summed into one optimizer step."
    )
    training.add_argument("--gradient_checkpointing", action="store_true", help="Recompute UNet blocks in backward.")
    training.add_argument("--learning_rate", type=float, help="AdamW learning rate.")
    training.add_argument(
        "--scale_lr",
        action="store_true",
        help="Multiply the learning rate by accumulation steps, batch size and process count.",
    )
    training.add_argument("--lr_scheduler", choices=LR_SCHEDULERS, help="Learning-rate schedule.")
    training.add_argument(
        "--lr_warmup_steps", type=int, help="Warm-up steps of the schedules that warm up (not constant)."
    )
    training.add_argument("--adam_beta1", type=float, help="AdamW beta1.")
    training.add_argument("--adam_beta2", type=float, help="AdamW beta2.")
    training.add_argument("--adam_weight_decay", type=float, help="AdamW weight decay.")
    training.add_argument("--adam_epsilon", type=float, help="AdamW epsilon.")
    training.add_argument("--max_grad_norm", type=float, help="Clip the global gradient norm to this; 0: no clipping.")
    training.add_argument(
        "--mixed_precision",
        choices=("no", "fp16", "bf16"),
        help="Default: the accelerate config's. Frozen models are cast to this dtype.",
    )
    training.add_argument("--allow_tf32", action="store_true", help="Allow TF32 matmuls on Ampere+ GPUs.")
    training.add_argument("--use_ema", action="store_true", help="Keep an EMA of the trained weights; save it.")
    training.add_argument("--ema_decay", type=float, help="EMA decay (with --use_ema).")
    training.add_argument(
        "--condition_dropout_prob",
        type=float,
        help="Per-condition drop probability (text and style included).",
    )
    training.add_argument(
        "--condition_dropout_overrides",
        nargs="+",
        type=_name_probability,
        help="NAME=P drop probabilities replacing --condition_dropout_prob for these (text, style or an STC "
        "condition: e.g. motion=0.05 depth=0.9).",
    )
    training.add_argument(
        "--drop_all_prob",
        type=float,
        help="Probability that a sample drops every condition.",
    )
    training.add_argument(
        "--keep_all_prob",
        type=float,
        help="Probability that a sample keeps every condition.",
    )

    adversarial = parser.add_argument_group("adversarial temporal loss (videocomposer.training.adversarial)")
    adversarial.add_argument(
        "--adversarial_weight",
        type=float,
        help="Weight of the temporal discriminator's generator loss on the one-step x0 latents; 0: off.",
    )
    adversarial.add_argument(
        "--adversarial_start_step", type=int, help="Optimizer step from which the generator loss is added."
    )
    adversarial.add_argument("--adversarial_loss", choices=("hinge", "non_saturating"), help="GAN loss of both sides.")
    adversarial.add_argument("--discriminator_lr", type=float, help="The discriminator's Adam lr.")
    adversarial.add_argument("--r1_gamma", type=float, help="R1 penalty weight on real latents; 0: off.")
    adversarial.add_argument(
        "--adversarial_max_timestep",
        type=int,
        help="Samples with a timestep at or above this are left out of the adversarial loss.",
    )

    checkpoints = parser.add_argument_group("checkpoints")
    checkpoints.add_argument("--checkpointing_steps", type=int, help="Save the training state every N steps.")
    checkpoints.add_argument("--checkpoints_total_limit", type=int, help="Keep at most N checkpoints.")
    checkpoints.add_argument(
        "--resume_from_checkpoint",
        help='A checkpoint folder, or "latest" (the newest in --output_dir; fresh start if none).',
    )

    logging = parser.add_argument_group("logging and validation")
    logging.add_argument(
        "--report_to",
        choices=TRACKERS,
        help="Tracker of losses, lr and validation videos (needs `pip install 'videocomposer[tracking]'`).",
    )
    logging.add_argument("--logging_dir", help="Tracker folder, relative to --output_dir.")
    logging.add_argument("--tracker_project_name", help="Run name (subfolder of --logging_dir).")
    logging.add_argument("--validation_prompt", nargs="+", help="Prompt(s) of the validation videos.")
    logging.add_argument(
        "--validation_conditions",
        help="A video whose --conditions (extracted once) steer the validation videos.",
    )
    logging.add_argument("--validation_steps", type=int, help="Validate every N steps and at the end.")
    logging.add_argument("--validation_num_inference_steps", type=int, help="DDIM steps of the validation videos.")
    logging.add_argument("--validation_guidance_scale", type=float, help="Guidance scale of the validation videos.")

    hub = parser.add_argument_group("hub")
    hub.add_argument("--push_to_hub", action="store_true", help="Upload the final folder to the Hub.")
    hub.add_argument("--hub_token", help="Hub token (default: the one `hf auth login` stored).")
    hub.add_argument("--hub_model_id", help="Repository id (default: the --output_dir name).")
    parser.set_defaults(**default_arguments())
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


def _name_probability(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    try:
        if name and sep:
            return name, float(value)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"expected NAME=P (e.g. motion=0.05), got {text!r}")


def parse_args(argv: Sequence[str] | None = None) -> TrainingArguments:
    """Parse and check the arguments; raises ``ValueError`` naming the argument for inconsistent values."""
    parsed = vars(build_parser().parse_args(argv))
    if parsed["condition_dropout_overrides"] is not None:
        parsed["condition_dropout_overrides"] = dict(parsed["condition_dropout_overrides"])
    args = TrainingArguments(**parsed)
    check_args(args)
    return args


def check_args(args: TrainingArguments) -> None:
    """Raise ``ValueError`` naming the option for a value out of range or options that do not go together."""
    positive = ("resolution", "num_frames", "train_batch_size", "num_train_epochs", "gradient_accumulation_steps",
                "checkpointing_steps", "validation_steps", "validation_num_inference_steps", "rank")  # fmt: skip
    for name in positive:
        if getattr(args, name) < 1:
            raise ValueError(f"--{name}: expected a positive integer, got {getattr(args, name)}")
    for name in ("max_train_steps", "checkpoints_total_limit", "lora_alpha"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise ValueError(f"--{name}: expected a positive integer, got {getattr(args, name)}")
    for name in ("lr_warmup_steps", "dataloader_num_workers"):
        if getattr(args, name) < 0:
            raise ValueError(f"--{name}: expected a non-negative integer, got {getattr(args, name)}")
    if args.seed < 0:
        raise ValueError(f"--seed: expected a non-negative integer, got {args.seed}")
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
    if args.validation_conditions is not None:
        if not os.path.isfile(args.validation_conditions):
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
