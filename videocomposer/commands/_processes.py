"""The processes of a launch (`accelerate launch`, `torchrun`, or none) for the commands that split work across them."""

from __future__ import annotations

import os


def process_state():
    """accelerate's `PartialState` of this launch: N processes under `accelerate launch` or `torchrun` (gloo when
    there is no GPU, which accelerate picks only with ``--cpu``), one process without a launcher.

    Raises ValueError when the launcher started several processes (``WORLD_SIZE > 1``) that did not join one group:
    each would otherwise do all the work alone.
    """
    import torch
    from accelerate import PartialState

    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    state = PartialState(cpu=world_size > 1 and not torch.cuda.is_available())
    if state.num_processes != world_size:
        raise ValueError(f"WORLD_SIZE={world_size} but the processes formed a group of {state.num_processes}; "
                         f"launch with `accelerate launch` (add --cpu without GPUs) or `torchrun`")  # fmt: skip
    return state


def finish_processes(state) -> None:
    """Wait for every process, then close the group: a process that exits with gloo's threads still running can
    abort ("terminate called without an active exception") while another process still talks to it."""
    state.wait_for_everyone()
    state.destroy_process_group()
