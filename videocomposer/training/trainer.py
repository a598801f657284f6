"""The training loop behind ``accelerate launch -m videocomposer.train``.

One optimizer step: frames -> VAE latents (x 0.18215) -> DDPM noise at uniform timesteps -> text (and style) embeddings
and STC conditions, each dropped per sample as the original did -> UNet eps prediction -> MSE. Everything random in a
step (VAE posterior sample, noise, timesteps, dropout) comes from one seeded CPU generator that every process holds in
the same state and checkpoints (each rank its own copy); every draw is made for the global batch and each process keeps
its rows, so N processes with batch b follow one process with batch N*b. The data order is a pure function of
(seed, epoch), so a resumed run continues the same loss curve.

Dropout follows the original's UNet forward, which drops the text in every stage: in the t2v stage the text is the
only condition; in the compositional stage text, style and every STC branch are drawn independently. A dropped text is
a zero embedding. The style reference of a training clip is its first frame (when the pipeline has an image encoder
and the UNet a style token); a dropped style is a zero token, after the token MLP, as in the original (whose sampler,
like our pipeline, then uses MLP(0) as the unconditional style token).

A non-finite loss, gradient norm or trained weight stops the run before anything is written from it
(:mod:`.divergence`).
"""

import argparse
import math
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import huggingface_hub
import torch
from accelerate import Accelerator
from accelerate.logging import get_logger
from accelerate.utils import DistributedDataParallelKwargs, DistributedType, ProjectConfiguration
from diffusers.optimization import get_scheduler
from diffusers.training_utils import EMAModel
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from pipelines.pipeline_videocomposer import VideoComposerPipeline
from videocomposer.data.video_dataset import collate_video_text

from .adapters import UNetAdapter, build_adapter
from .arguments import TrainingArguments, check_args
from .checkpointing import (
    EMA_SHARD_NAME,
    SHARDED_ENGINES,
    TRAINING_STATE_NAME,
    TrainingState,
    register_model_hooks,
    register_per_rank_state,
    remove_incomplete_checkpoints,
    resolve_checkpoint,
    save_checkpoint,
)
from .condition_dropout import sample_condition_keep_masks
from .distributed import (
    check_engine_support,
    check_mixed_precision,
    check_process_group,
    enable_fsdp_on_cpu,
    log_batch_layout,
    set_default_num_threads,
)
from .divergence import DivergenceGuard, check_finite_parameters
from .epoch_sampler import EpochShuffleSampler
from .objective import (
    BatchShard,
    add_training_noise,
    encode_video_latents,
    eps_prediction_loss,
    training_scheduler,
)
from .preflight import build_dataset
from .trainable import set_trainable
from .validation import Validation

logger = get_logger(__name__)


@dataclass
class TrainingResult:
    """What a finished run reports: optimizer steps done, the loss of each step this process ran (and each of its
    terms: ``diffusion``, with an adversary ``generator``, ``discriminator``, ``r1``), skipped clips."""

    global_step: int
    losses: list[float] = field(default_factory=list)
    num_skipped_clips: int = 0
    terms: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class TrainedModels:
    """The pipeline of a run and what trains in it."""

    pipeline: VideoComposerPipeline
    #: the trained parameters per component (``unet``, ``stc_encoder``; possibly empty lists)
    parameters: dict[str, list[torch.nn.Parameter]]
    #: the adapter that trains instead of the UNet's weights (``--trainable lora / lowrank_temporal``)
    adapter: UNetAdapter | None
    #: dtype of the frozen models
    weight_dtype: torch.dtype
    #: whether the clips' first frames feed the UNet's style token
    use_style: bool


def train(args: TrainingArguments | argparse.Namespace) -> TrainingResult:
    """Run training as configured by :func:`~videocomposer.training.arguments.parse_args` (or a
    :class:`~videocomposer.training.arguments.TrainingArguments` built in Python); checks the arguments first."""
    if isinstance(args, argparse.Namespace):
        args = TrainingArguments(**vars(args))
    check_args(args)
    output_dir = Path(args.output_dir)
    accelerator = Accelerator(
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        mixed_precision=args.mixed_precision,
        log_with=None if args.report_to == "none" else args.report_to,
        project_config=ProjectConfiguration(
            project_dir=str(output_dir), logging_dir=str(output_dir / args.logging_dir)
        ),
        # STC branches of conditions a run does not use, and the style MLP without style, get no gradient.
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
    )
    check_process_group(accelerator)
    enable_fsdp_on_cpu(accelerator)
    num_threads = set_default_num_threads(accelerator)
    check_engine_support(accelerator, args)
    check_mixed_precision(accelerator)
    if args.allow_tf32:
        torch.backends.cuda.matmul.allow_tf32 = True
    dataset = build_dataset(args)  # data, cache and extractors are checked before any model is loaded
    hub_repo_id = None
    if accelerator.is_main_process:
        # Create output_dir and remove what an interrupted run left half-written.
        output_dir.mkdir(parents=True, exist_ok=True)
        if removed := remove_incomplete_checkpoints(output_dir):
            logger.warning(f"removed incomplete checkpoint folders of an interrupted run: {[p.name for p in removed]}")
        if args.push_to_hub:
            repo_id = args.hub_model_id or output_dir.name
            hub_repo_id = huggingface_hub.create_repo(repo_id=repo_id, exist_ok=True, token=args.hub_token).repo_id

    # Models: frozen parts in the weight dtype, trained parts in float32.
    models = load_models(args, accelerator)
    trained_models = {name: getattr(models.pipeline, name) for name, params in models.parameters.items() if params}
    trained_classes = {name: type(model) for name, model in trained_models.items()}  # before FSDP swaps them

    # Data, optimizer, LR schedule; then accelerate wraps the trained models, the optimizer and the data.
    dataloader = DataLoader(
        dataset,
        batch_size=args.train_batch_size,
        sampler=EpochShuffleSampler(len(dataset), args.seed),
        collate_fn=collate_video_text,
        num_workers=args.dataloader_num_workers,
        generator=torch.Generator().manual_seed(args.seed),  # worker seeds; keeps the global RNG out of data loading
    )
    # How many optimizer steps the run takes, and how they fall into epochs.
    batches_per_epoch = math.ceil(len(dataset) / (args.train_batch_size * accelerator.num_processes))
    updates_per_epoch = math.ceil(batches_per_epoch / args.gradient_accumulation_steps)
    max_train_steps = args.max_train_steps or args.num_train_epochs * updates_per_epoch
    learning_rate = args.learning_rate
    if args.scale_lr:
        learning_rate *= args.gradient_accumulation_steps * args.train_batch_size * accelerator.num_processes
    optimizer = torch.optim.AdamW(
        [p for params in models.parameters.values() for p in params],
        lr=learning_rate,
        betas=(args.adam_beta1, args.adam_beta2),
        weight_decay=args.adam_weight_decay,
        eps=args.adam_epsilon,
    )
    lr_scheduler = get_scheduler(  # in scheduler steps: accelerate steps a prepared scheduler once per process
        args.lr_scheduler,
        optimizer=optimizer,
        num_warmup_steps=args.lr_warmup_steps * accelerator.num_processes,
        num_training_steps=max_train_steps * accelerator.num_processes,
    )
    register_model_hooks(accelerator, trained_models, models.adapter)
    *prepared, optimizer, dataloader, lr_scheduler = accelerator.prepare(
        *trained_models.values(), optimizer, dataloader, lr_scheduler
    )
    wrapped = dict(zip(trained_models, prepared))
    # FSDP replaces the parameters with their shards: from here on, the ones the prepared models hold.
    held = [p for model in wrapped.values() for p in model.parameters()]
    parameters = [p for p in held if p.requires_grad]
    fsdp = accelerator.distributed_type == DistributedType.FSDP
    # accelerate clips with FSDP's global norm only when given all of a model's parameters (with the trained ones
    # alone each rank would clip by the norm of its own shards); frozen ones have no gradient and add nothing.
    clipped = held if fsdp else parameters

    # What else the checkpoints hold: the EMA, the step's generator (the same on every process), the adversary.
    ema = None
    if args.use_ema:  # checkpointed per rank under FSDP / DeepSpeed, else the same on every process
        ema = EMAModel(parameters, decay=args.ema_decay)
        ema.to(accelerator.device)
        if accelerator.distributed_type in SHARDED_ENGINES:
            register_per_rank_state(accelerator, ema, EMA_SHARD_NAME)
        else:
            accelerator.register_for_checkpointing(ema)
    state = TrainingState(0, torch.Generator().manual_seed(args.seed), args.seed)
    register_per_rank_state(accelerator, state, TRAINING_STATE_NAME)
    adversary = None
    if args.adversarial_weight > 0:
        from .adversarial import build_adversary

        adversary = build_adversary(args, models.pipeline.unet.config.out_channels, accelerator)
    compute_loss = DiffusionLoss(args, accelerator, models, wrapped, adversary)

    # Resume
    checkpoint = resolve_checkpoint(args.resume_from_checkpoint, output_dir) if args.resume_from_checkpoint else None
    if checkpoint is not None:
        logger.info(f"resuming from {checkpoint}")
        if fsdp:
            _materialize_optimizer_state(optimizer)
        accelerator.load_state(str(checkpoint))
    elif args.resume_from_checkpoint:
        logger.info(f"no checkpoint in {output_dir}; starting a new run")
    first_epoch = state.global_step // updates_per_epoch
    skip_batches = (state.global_step % updates_per_epoch) * args.gradient_accumulation_steps
    if accelerator.is_main_process:
        # TensorBoard drops what an interrupted run logged from the first step on (purge_step): a resumed run shows
        # each step once.
        tracker_config = {k: v for k, v in asdict(args).items() if isinstance(v, (int, float, str, bool))}
        accelerator.init_trackers(
            args.tracker_project_name,
            config=tracker_config,
            init_kwargs={"tensorboard": {"purge_step": state.global_step + 1}},
        )
    validation = Validation(args, accelerator, models.pipeline, ema, parameters)

    # Train
    logger.info(
        f"training {sum(p.numel() for p in parameters):,} parameters ({args.stage}, {args.trainable}) on "
        f"{len(dataset)} clips for {max_train_steps} steps; starting at step {state.global_step}"
    )
    log_batch_layout(accelerator, args.train_batch_size, args.gradient_accumulation_steps, num_threads)
    result = TrainingResult(global_step=state.global_step)
    progress = tqdm(
        total=max_train_steps, initial=state.global_step, desc="steps",
        disable=not accelerator.is_main_process,
    )  # fmt: skip
    guard = DivergenceGuard(fp16=accelerator.mixed_precision == "fp16")
    step_terms: dict[str, float] = {}
    for epoch in range(first_epoch, math.ceil(max_train_steps / updates_per_epoch)):
        if state.global_step >= max_train_steps:
            break
        batches = dataloader
        if epoch == first_epoch and skip_batches:
            batches = accelerator.skip_first_batches(dataloader, skip_batches)
        batches.set_epoch(epoch)  # the sampler's order
        dataset.set_epoch(epoch)  # the clips' start times: accelerate skips the dataset when it shards the batches
        for batch in batches:
            with accelerator.accumulate(*wrapped.values()):  # the prepared models: DDP's no_sync
                with accelerator.autocast():
                    terms = compute_loss(batch, state.generator, state.global_step)
                loss = sum(terms.values())
                values = _mean_over_processes(accelerator, {"loss": loss, **terms})
                guard.check_loss(values["loss"], state.global_step + 1)
                accelerator.backward(loss)
                if accelerator.sync_gradients:
                    grad_norm = accelerator.clip_grad_norm_(clipped, args.max_grad_norm or math.inf)
                    guard.check_gradients(None if grad_norm is None else float(grad_norm), state.global_step + 1)
                optimizer.step()
                lr_scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                if adversary is not None:
                    values |= _mean_over_processes(accelerator, adversary.discriminator_step(accelerator))
            for name, value in values.items():
                step_terms[name] = step_terms.get(name, 0.0) + value / args.gradient_accumulation_steps
            if not accelerator.sync_gradients:
                continue
            if ema is not None:
                ema.step(parameters)
            state.global_step += 1
            log_step(accelerator, progress, result, step_terms, lr_scheduler.get_last_lr()[0], state.global_step,
                     {"skipped_clips": dataset.num_skipped, "skipped_fp16_steps": guard.skipped_in_a_row})  # fmt: skip
            step_terms = {}
            if state.global_step % args.checkpointing_steps == 0:
                check_finite_parameters(accelerator, parameters, f"checkpoint-{state.global_step}")
                path = save_checkpoint(accelerator, output_dir, state.global_step, args.checkpoints_total_limit)
                logger.info(f"saved {path}")
            if (
                args.validation_prompt
                and accelerator.is_main_process
                and state.global_step % args.validation_steps == 0
            ):
                validation(state.global_step)
            if state.global_step >= max_train_steps:
                break
    progress.close()

    # Save the trained weights (the EMA's with --use_ema): the adapter, or a pipeline folder.
    accelerator.wait_for_everyone()
    if ema is not None:
        ema.copy_to(parameters)
    check_finite_parameters(accelerator, parameters, "the final model")
    final_models = _gather_trained_models(accelerator, args, wrapped, trained_classes, models.adapter)
    if accelerator.is_main_process:
        if models.adapter is not None:
            models.adapter.save(final_models["unet"], output_dir)
        else:
            _save_pipeline(args, final_models, output_dir)
        if args.validation_prompt and state.global_step % args.validation_steps:
            validation(state.global_step)  # the final weights, unless the last step just did
        if hub_repo_id is not None:
            huggingface_hub.upload_folder(
                repo_id=hub_repo_id,
                folder_path=str(output_dir),
                commit_message="End of training",
                ignore_patterns=["checkpoint-*", ".*", "validation/*", "logs/*"],
                token=args.hub_token,
            )
    accelerator.end_training()
    result.global_step = state.global_step
    result.num_skipped_clips = dataset.num_skipped
    if result.num_skipped_clips:
        logger.warning(f"skipped {result.num_skipped_clips} unusable clip(s) of {len(dataset)}")
    return result


def load_models(args: TrainingArguments, accelerator: Accelerator) -> TrainedModels:
    """Load the pipeline, choose what trains (``--trainable``; an adapter initialised from ``--seed``), move every
    model to the device: frozen ones in the mixed-precision dtype, trained ones in float32."""
    pipeline = VideoComposerPipeline.from_pretrained(args.pretrained_model_name_or_path, revision=args.revision)
    pipeline.set_progress_bar_config(disable=True)
    unet = pipeline.unet
    trained = set_trainable(unet, pipeline.stc_encoder, args.stage, args.trainable)
    adapter = build_adapter(args.trainable, args.rank, args.lora_alpha, args.num_frames, args.lowrank_anchor_spacing)
    if adapter is not None:
        trained["unet"] = adapter.add(unet, seed=args.seed)
    if args.gradient_checkpointing:
        unet.enable_gradient_checkpointing()
    weight_dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(accelerator.mixed_precision, torch.float32)
    for name, module in pipeline.components.items():
        if isinstance(module, torch.nn.Module):
            is_trained = bool(trained.get(name))
            module.to(accelerator.device, dtype=None if is_trained else weight_dtype)
            module.train(is_trained)
    use_style = bool(
        args.stage == "compositional" and pipeline.image_encoder is not None and unet.config.image_embed_dim
    )
    return TrainedModels(pipeline, trained, adapter, weight_dtype, use_style)


class DiffusionLoss:
    """The loss terms of one micro-batch: ``diffusion`` (eps MSE) and, with an adversary, ``generator``; every draw
    is made for the global batch (see the module's docstring)."""

    def __init__(self, args: TrainingArguments, accelerator: Accelerator, models: TrainedModels,
                 wrapped: dict[str, torch.nn.Module], adversary) -> None:  # fmt: skip
        self.args, self.accelerator, self.models, self.adversary = args, accelerator, models, adversary
        self.unet = wrapped.get("unet", models.pipeline.unet)
        self.stc_encoder = wrapped.get("stc_encoder", models.pipeline.stc_encoder)
        self.scheduler = training_scheduler()
        self.embedding_names = ["text"] + (["style"] if models.use_style else [])  # dropped like the STC branches
        known = list(self.embedding_names)
        if args.stage == "compositional":
            known += list(models.pipeline.stc_encoder.config.condition_channels)
        unknown = sorted(set(args.condition_dropout_overrides or {}) - set(known))
        if unknown:
            raise ValueError(f"--condition_dropout_overrides: {unknown} are not among {known}")

    def __call__(self, batch: dict, generator: torch.Generator, global_step: int) -> dict[str, torch.Tensor]:
        args, accelerator, pipeline = self.args, self.accelerator, self.models.pipeline
        batch_size = batch["pixel_values"].shape[0]
        shard = BatchShard(accelerator.process_index * batch_size, batch_size, accelerator.num_processes * batch_size)
        stc_inputs = {}
        if args.stage == "compositional":  # the STC encoder rejects a condition it has no branch for
            stc_inputs = pipeline.prepare_conditions(batch["conditions"], batch_size, accelerator.device)
        dropout_names = self.embedding_names + list(stc_inputs)
        overrides = args.condition_dropout_overrides or {}
        keep = sample_condition_keep_masks(
            dropout_names, shard.global_size, generator,
            p={name: overrides.get(name, args.condition_dropout_prob) for name in dropout_names},
            p_all_zero=args.drop_all_prob, p_all_keep=args.keep_all_prob,
        )  # fmt: skip
        keep = {name: shard.take(mask).to(accelerator.device) for name, mask in keep.items()}
        style = {}
        with torch.no_grad():
            latents = encode_video_latents(pipeline.vae, batch["pixel_values"], generator, shard)
            latents = latents.to(self.models.weight_dtype)
            text = pipeline.encode_prompt(batch["prompts"], accelerator.device, 1, False)[0]
            text = text * keep["text"].to(text).view(-1, 1, 1)
            # The style token's MLP trains with the UNet (in its forward): the image encoder is frozen.
            if self.models.use_style:  # the style reference of a training clip: its first frame, as PIL images
                first_frames = pipeline.video_processor.postprocess(batch["pixel_values"][:, 0].float())
                image_embeds = pipeline.encode_image(first_frames, accelerator.device)
                style = {"image_embeds": image_embeds, "image_token_scale": keep["style"]}
        noised = add_training_noise(self.scheduler, latents, generator, shard)
        condition_latents = None
        if stc_inputs:
            scales = {name: keep[name] for name in stc_inputs}
            condition_latents = self.stc_encoder(
                stc_inputs, latent_size=tuple(latents.shape[-2:]), condition_scale=scales, return_dict=False
            )[0]
        loss, prediction = eps_prediction_loss(
            self.unet, noised, text, condition_latents, return_prediction=True, **style
        )
        terms = {"diffusion": loss}
        if self.adversary is not None:
            terms["generator"] = self.adversary.generator_term(
                self.scheduler, noised, prediction, latents, global_step
            )
        return terms


def log_step(accelerator: Accelerator, progress: tqdm, result: TrainingResult, terms: dict[str, float],
             learning_rate: float, global_step: int, counts: dict[str, int]) -> None:  # fmt: skip
    """Record a finished optimizer step: ``terms`` (``loss`` and its parts, averaged over processes and micro-batches)
    in ``result``, the trackers (``train_loss``, ``{term}_loss``) and the progress bar (the parts only when the loss
    has several)."""
    parts = dict(terms)
    loss = parts.pop("loss")
    result.losses.append(loss)
    for name, value in parts.items():
        result.terms.setdefault(name, []).append(value)
    logs = {"train_loss": loss, **{f"{name}_loss": value for name, value in parts.items()}, "lr": learning_rate}
    accelerator.log(logs | counts, step=global_step)
    postfix = {"loss": f"{loss:.4g}"}
    if len(parts) > 1:
        postfix |= {name: f"{value:.4g}" for name, value in parts.items()}
    progress.set_postfix(**postfix, lr=f"{learning_rate:.3g}", refresh=False)
    progress.update(1)


def _mean_over_processes(accelerator: Accelerator, values: dict[str, torch.Tensor | float]) -> dict[str, float]:
    """Each value averaged over the processes: stacked on the device, one all-reduce, one copy to the host (no
    synchronisation per value)."""
    stacked = torch.stack(
        [torch.as_tensor(value, device=accelerator.device).detach().float().reshape(()) for value in values.values()]
    )
    return dict(zip(values, accelerator.reduce(stacked, reduction="mean").tolist()))


def _materialize_optimizer_state(optimizer: torch.optim.Optimizer) -> None:
    """One step with zero gradients, so that every trained parameter has its optimizer state entries. accelerate
    loads a sharded FSDP optimizer checkpoint into the state dict of the optimizer as it is (``load_fsdp_optimizer``:
    ``FSDP.optim_state_dict`` as the template of ``dist_cp.load``); a fresh optimizer has none, and its Adam moments
    and step counts would silently stay unloaded. The step's own changes are overwritten by the checkpoint (weights
    and optimizer state both)."""
    for group in optimizer.param_groups:
        for param in group["params"]:
            param.grad = torch.zeros_like(param)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def _gather_trained_models(
    accelerator: Accelerator,
    args: TrainingArguments,
    wrapped: dict[str, torch.nn.Module],
    classes: dict[str, type],
    adapter: UNetAdapter | None,
) -> dict[str, torch.nn.Module]:
    """The trained models with their full weights on the main process; call on every process.

    DDP (or one process): the unwrapped models. FSDP / DeepSpeed: each state dict is gathered on the main process
    (``accelerator.get_state_dict``, a collective) and loaded into a fresh copy of the component; other processes get
    an empty dict. ``classes``: each component's class as loaded (FSDP2 swaps the class of a sharded module)."""
    if accelerator.distributed_type not in SHARDED_ENGINES:
        return {name: accelerator.unwrap_model(model) for name, model in wrapped.items()}
    state_dicts = {name: accelerator.get_state_dict(model) for name, model in wrapped.items()}
    if not accelerator.is_main_process:
        return {}
    models = {}
    for name, state_dict in state_dicts.items():
        model = classes[name].from_pretrained(
            args.pretrained_model_name_or_path, subfolder=name, revision=args.revision
        )
        if name == "unet" and adapter is not None:
            adapter.add(model, seed=args.seed)  # its weights come from the state dict
        model.load_state_dict(state_dict)
        models[name] = model
    return models


def _save_pipeline(args: TrainingArguments, trained_models: dict[str, torch.nn.Module], output_dir: Path) -> None:
    """Write the final pipeline (the trained models, which are float32, and the rest as loaded) into a temporary
    folder, then move each entry into ``output_dir``, ``model_index.json`` last: a folder that has it is complete."""
    final = VideoComposerPipeline.from_pretrained(
        args.pretrained_model_name_or_path, revision=args.revision,
        **trained_models,
    )  # fmt: skip
    temporary = output_dir / ".final.tmp"
    if temporary.exists():
        shutil.rmtree(temporary)
    final.save_pretrained(str(temporary))
    entries = sorted(temporary.iterdir(), key=lambda p: p.name == "model_index.json")
    for entry in entries:
        target = output_dir / entry.name
        if target.is_dir():
            shutil.rmtree(target)
        os.replace(entry, target)
    temporary.rmdir()
