"""Command-line arguments of ``accelerate launch -m videocomposer.train``, named as in diffusers' training examples."""

import argparse
import importlib.util
import json
import os
from collections.abc import Callable, Sequence

from .choices import ORIGINAL_DROPOUT, STAGES, TRAINABLE
from .tracking import TRACKERS, check_tracker_installed

LR_SCHEDULERS = ("linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup")


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
    model.add_argument("--revision", default=None, help="Revision of the pretrained model on the Hub.")
    model.add_argument(
        "--stage",
        choices=STAGES,
        default="compositional",
        help="t2v: text-to-video, no conditions; compositional: STC conditions with condition dropout.",
    )
    model.add_argument(
        "--trainable",
        choices=TRAINABLE,
        default="all",
        help="all | stc (STC encoder + conv_in) | temporal (temporal layers) | lora (temporal LoRA) | "
        "lowrank_temporal (frame-modulated low-rank deltas on the temporal attention).",
    )
    model.add_argument("--rank", type=int, default=4, help="LoRA rank (--trainable lora / lowrank_temporal).")
    model.add_argument(
        "--lowrank_anchor_spacing",
        type=float,
        default=4.0,
        help="Frames between the B-spline anchor codes of --trainable lowrank_temporal.",
    )
    model.add_argument("--lora_alpha", type=int, default=None, help="LoRA alpha (default: the rank, scale 1).")

    data = parser.add_argument_group("data")
    data.add_argument("--train_data_dir", required=True, help="Folder the video paths of the captions file are under.")
    data.add_argument("--captions_file", required=True, help="CSV (header row) or JSONL captions file.")
    data.add_argument("--video_column", default="videoid", help="Column with the video path or WebVid id.")
    data.add_argument("--caption_column", default="name", help="Column with the caption.")
    data.add_argument(
        "--conditions",
        nargs="*",
        default=[],
        help="Condition extractor names (e.g. motion depth sketch mask image); compositional stage.",
    )
    data.add_argument(
        "--condition_kwargs",
        type=json.loads,
        default=None,
        help='JSON of extractor constructor arguments, e.g. \'{"depth": {"model": "Intel/dpt-large"}}\'.',
    )
    data.add_argument(
        "--conditions_cache_dir",
        default=None,
        help="Read conditions from this cache (`videocomposer extract --cache DIR`) instead of extracting.",
    )
    data.add_argument("--resolution", type=int, default=256, help="Square training size in pixels.")
    data.add_argument("--num_frames", type=int, default=16, help="Frames per clip.")
    data.add_argument("--fps", type=float, default=4.0, help="Frame sampling rate (the original: 4).")
    data.add_argument("--dataloader_num_workers", type=int, default=0, help="DataLoader worker processes.")

    training = parser.add_argument_group("training")
    training.add_argument("--output_dir", default="videocomposer-finetuned", help="Checkpoints and the final model.")
    training.add_argument(
        "--seed", type=int, default=0, help="Seed of data order, noise, timesteps and dropout; resume with the same."
    )
    training.add_argument("--train_batch_size", type=int, default=1, help="Batch size per device.")
    training.add_argument(
        "--num_train_epochs", type=int, default=1, help="Passes over the data (without --max_train_steps)."
    )
    training.add_argument("--max_train_steps", type=int, default=None, help="Optimizer steps; overrides epochs.")
    training.add_argument(
        "--gradient_accumulation_steps", type=int, default=1, help="Micro-batches summed into one optimizer step."
    )
    training.add_argument("--gradient_checkpointing", action="store_true", help="Recompute UNet blocks in backward.")
    training.add_argument("--learning_rate", type=float, default=5e-5, help="AdamW learning rate.")
    training.add_argument(
        "--scale_lr",
        action="store_true",
        help="Multiply the learning rate by accumulation steps, batch size and process count.",
    )
    training.add_argument("--lr_scheduler", choices=LR_SCHEDULERS, default="constant", help="Learning-rate schedule.")
    training.add_argument(
        "--lr_warmup_steps", type=int, default=500, help="Warm-up steps of the schedules that warm up (not constant)."
    )
    training.add_argument("--adam_beta1", type=float, default=0.9, help="AdamW beta1.")
    training.add_argument("--adam_beta2", type=float, default=0.999, help="AdamW beta2.")
    training.add_argument("--adam_weight_decay", type=float, default=1e-2, help="AdamW weight decay.")
    training.add_argument("--adam_epsilon", type=float, default=1e-8, help="AdamW epsilon.")
    training.add_argument(
        "--max_grad_norm", type=float, default=1.0, help="Clip the global gradient norm to this; 0: no clipping."
    )
    training.add_argument(
        "--mixed_precision",
        choices=("no", "fp16", "bf16"),
        default=None,
        help="Default: the accelerate config's. Frozen models are cast to this dtype.",
    )
    training.add_argument("--allow_tf32", action="store_true", help="Allow TF32 matmuls on Ampere+ GPUs.")
    training.add_argument("--use_ema", action="store_true", help="Keep an EMA of the trained weights; save it.")
    training.add_argument("--ema_decay", type=float, default=0.9999, help="EMA decay (with --use_ema).")
    training.add_argument(
        "--condition_dropout_prob",
        type=float,
        default=ORIGINAL_DROPOUT["p"],
        help="Per-condition drop probability (text and style included).",
    )
    training.add_argument(
        "--drop_all_prob",
        type=float,
        default=ORIGINAL_DROPOUT["p_all_zero"],
        help="Probability that a sample drops every condition.",
    )
    training.add_argument(
        "--keep_all_prob",
        type=float,
        default=ORIGINAL_DROPOUT["p_all_keep"],
        help="Probability that a sample keeps every condition.",
    )

    adversarial = parser.add_argument_group("adversarial temporal loss (videocomposer.training.adversarial)")
    adversarial.add_argument(
        "--adversarial_weight",
        type=float,
        default=0.0,
        help="Weight of the temporal discriminator's generator loss on the one-step x0 latents; 0: off.",
    )
    adversarial.add_argument(
        "--adversarial_start_step", type=int, default=0, help="Optimizer step from which the generator loss is added."
    )
    adversarial.add_argument(
        "--adversarial_loss", choices=("hinge", "non_saturating"), default="hinge", help="GAN loss of both sides."
    )
    adversarial.add_argument("--discriminator_lr", type=float, default=2e-4, help="The discriminator's Adam lr.")
    adversarial.add_argument("--r1_gamma", type=float, default=0.1, help="R1 penalty weight on real latents; 0: off.")
    adversarial.add_argument(
        "--adversarial_max_timestep",
        type=int,
        default=500,
        help="Samples with a timestep at or above this are left out of the adversarial loss.",
    )

    checkpoints = parser.add_argument_group("checkpoints")
    checkpoints.add_argument(
        "--checkpointing_steps", type=int, default=500, help="Save the training state every N steps."
    )
    checkpoints.add_argument("--checkpoints_total_limit", type=int, default=None, help="Keep at most N checkpoints.")
    checkpoints.add_argument(
        "--resume_from_checkpoint",
        default=None,
        help='A checkpoint folder, or "latest" (the newest in --output_dir; fresh start if none).',
    )

    logging = parser.add_argument_group("logging and validation")
    logging.add_argument(
        "--report_to",
        choices=TRACKERS,
        default="none",
        help="Tracker of losses, lr and validation videos (needs `pip install 'videocomposer[tracking]'`).",
    )
    logging.add_argument("--logging_dir", default="logs", help="Tracker folder, relative to --output_dir.")
    logging.add_argument(
        "--tracker_project_name", default="videocomposer-train", help="Run name (subfolder of --logging_dir)."
    )
    logging.add_argument("--validation_prompt", nargs="+", default=None, help="Prompt(s) of the validation videos.")
    logging.add_argument(
        "--validation_conditions",
        default=None,
        help="A video whose --conditions (extracted once) steer the validation videos.",
    )
    logging.add_argument("--validation_steps", type=int, default=100, help="Validate every N steps and at the end.")
    logging.add_argument(
        "--validation_num_inference_steps", type=int, default=25, help="DDIM steps of the validation videos."
    )
    logging.add_argument(
        "--validation_guidance_scale", type=float, default=9.0, help="Guidance scale of the validation videos."
    )

    hub = parser.add_argument_group("hub")
    hub.add_argument("--push_to_hub", action="store_true", help="Upload the final folder to the Hub.")
    hub.add_argument("--hub_token", default=None, help="Hub token (default: the one `hf auth login` stored).")
    hub.add_argument("--hub_model_id", default=None, help="Repository id (default: the --output_dir name).")
    return parser


#: Options that only act under a condition: option -> (whether the condition holds, the condition in words). Changing
#: one from its default while its condition does not hold is refused (it would be silently ignored).
ONLY_USED_WITH: dict[str, tuple[Callable[[argparse.Namespace], bool], str]] = {
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


def check_no_effect_options(args: argparse.Namespace) -> None:
    """Refuse every option set to a non-default value where it has no effect (:data:`ONLY_USED_WITH`)."""
    parser = build_parser()
    unused: dict[str, list[str]] = {}
    for name, (holds, condition) in ONLY_USED_WITH.items():
        if getattr(args, name) != parser.get_default(name) and not holds(args):
            unused.setdefault(condition, []).append(f"--{name}")
    if unused:
        raise ValueError("; ".join(f"{', '.join(names)}: only used with {cond}" for cond, names in unused.items()))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse and check the arguments; raises ``ValueError`` naming the argument for inconsistent values."""
    args = build_parser().parse_args(argv)
    check_args(args)
    return args


def check_args(args: argparse.Namespace) -> None:
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
