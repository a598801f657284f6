"""Process-level set-up of a training run: the thread count per process, the check that the launched processes form
one group, FSDP on CPU processes, and the batch sizes they add up to."""

import os

import torch
from accelerate import Accelerator, PartialState
from accelerate.logging import get_logger
from accelerate.utils import DistributedType, FullyShardedDataParallelPlugin, parse_flag_from_env

from .arguments import TrainingArguments
from .checkpointing import SHARDED_ENGINES

logger = get_logger(__name__)


def default_num_threads(num_local_processes: int, cpus: int | None = None) -> int:
    """``max(1, cpus // num_local_processes)``: the machine's CPUs shared evenly by its processes (``cpus``: by
    default the CPUs this process may run on, its affinity mask where the platform has one)."""
    if num_local_processes < 1:
        raise ValueError(f"num_local_processes: expected a positive int, got {num_local_processes}")
    if cpus is None:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cpus // num_local_processes)


def set_default_num_threads(accelerator: Accelerator) -> int:
    """With several processes on this machine, set torch's intra-op threads to :func:`default_num_threads` (torch's
    default, every core in every process, oversubscribes them) unless ``OMP_NUM_THREADS`` is set (then it is
    respected); a lone process keeps torch's default. Returns the thread count in use."""
    num_local = int(os.environ.get("LOCAL_WORLD_SIZE", accelerator.num_processes))  # torchrun's; else all of them
    if os.environ.get("OMP_NUM_THREADS") or num_local == 1:
        return torch.get_num_threads()
    threads = default_num_threads(num_local)
    torch.set_num_threads(threads)
    return threads


def check_process_group(accelerator: Accelerator) -> None:
    """Raise ``RuntimeError`` if the launcher started several processes that did not join one group: each would then
    train alone on the whole data set and write the same checkpoints."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size > 1 and accelerator.num_processes == 1:
        raise RuntimeError(
            f"WORLD_SIZE={world_size} processes were launched but they did not form one process group "
            f"(accelerate sees {accelerator.num_processes} process, {accelerator.distributed_type}): each would train "
            "alone and write the same checkpoints. On CPUs accelerate joins them (gloo) only when asked to: set "
            "ACCELERATE_USE_CPU=1, e.g. `ACCELERATE_USE_CPU=1 torchrun --nproc_per_node 2 -m videocomposer.train "
            "...`; on GPUs launch with `accelerate launch --multi_gpu` or `torchrun`, on a machine whose GPUs are "
            "visible."
        )


def enable_fsdp_on_cpu(accelerator: Accelerator) -> None:
    """Make ``ACCELERATE_USE_FSDP=true`` shard the models of CPU processes (``ACCELERATE_USE_CPU=1``, gloo).

    accelerate 1.x turns ``ACCELERATE_USE_FSDP`` into FSDP only for accelerator process groups (``AcceleratorState``
    checks the distributed type against MULTI_GPU / NPU / XPU / ..., not MULTI_CPU) and would silently train CPU
    processes with DDP, although torch's FSDP (1 and 2) runs on CPUs with gloo. Here the engine becomes FSDP with the
    plugin accelerate builds from the ``FSDP_*`` environment, on the device ``cpu`` (FSDP1 refuses ``cpu:0`` as
    ``device_id`` for parameters on ``cpu``); the process group stays accelerate's gloo group."""
    state = accelerator.state
    if state.distributed_type != DistributedType.MULTI_CPU or not parse_flag_from_env("ACCELERATE_USE_FSDP"):
        return
    plugin = FullyShardedDataParallelPlugin()
    if accelerator.mixed_precision != "no":
        plugin.set_mixed_precision(accelerator.mixed_precision)
    state.fsdp_plugin = plugin
    # Both shared states: a later AcceleratorState() copies PartialState's distributed type and device over its own.
    for shared in (PartialState(), state):
        shared.distributed_type = DistributedType.FSDP
        shared.device = torch.device("cpu")
    logger.info(f"FSDP (version {plugin.fsdp_version}) on {accelerator.num_processes} CPU processes (gloo)")


def check_engine_support(accelerator: Accelerator, args: TrainingArguments) -> None:
    """Raise ``ValueError`` naming the option for what the engine (DeepSpeed, FSDP) cannot do with these arguments.

    A compositional ``--trainable all`` / ``stc`` run trains two models (the UNet and the STC encoder) with one
    optimizer; accelerate's DeepSpeed and FSDP2 prepare one model, and its FSDP1 checkpoints pair optimizer ``i`` with
    model ``i`` (``save_fsdp_optimizer``), where torch cannot map the other model's parameters (a ``KeyError``). Under
    FSDP and DeepSpeed the main process holds only its shard of the weights, so it cannot generate validation videos
    alone."""
    sharded = accelerator.distributed_type in SHARDED_ENGINES
    if sharded and args.stage == "compositional" and args.trainable in ("all", "stc"):
        raise ValueError(
            f"--trainable {args.trainable}: trains two models (the UNet and the STC encoder) with one optimizer, "
            "which accelerate's DeepSpeed and FSDP cannot prepare or checkpoint; use the DDP config, "
            "--trainable temporal / lora, or --stage t2v"
        )
    if sharded and args.validation_prompt:
        raise ValueError(
            "--validation_prompt: validation runs the pipeline on the main process, which holds only its shard of the "
            "weights under FSDP / DeepSpeed; generate from the saved checkpoints or final folder instead"
        )


def log_batch_layout(accelerator: Accelerator, per_device_batch: int, accumulation_steps: int, threads: int) -> None:
    """Log the world size, per-device and effective batch (samples per optimizer step)."""
    effective = per_device_batch * accelerator.num_processes * accumulation_steps
    logger.info(
        f"world size {accelerator.num_processes} ({accelerator.distributed_type}, device {accelerator.device}, "
        f"{threads} threads per process); per-device batch {per_device_batch} x {accelerator.num_processes} "
        f"process(es) x {accumulation_steps} accumulation step(s) = effective batch {effective}"
    )


def check_mixed_precision(accelerator: Accelerator) -> None:
    """fp16 autocast has no CPU kernels for much of the UNet: refuse it there, naming the dtype that works."""
    if accelerator.mixed_precision == "fp16" and accelerator.device.type == "cpu":
        raise ValueError("--mixed_precision fp16: not supported on CPU; use bf16 on CPU (or no mixed precision)")
