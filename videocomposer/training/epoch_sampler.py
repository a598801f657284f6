"""A shuffling sampler whose order is a pure function of ``(seed, epoch)``: the data position of a run is then fully
described by its step count, so a resumed run (``accelerator.skip_first_batches``) sees exactly the batches the
interrupted one would have seen, whatever the global RNG did in between."""

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


class EpochShuffleSampler(Sampler[int]):
    """Indices ``0..num_samples-1`` in the order ``torch.randperm(num_samples)`` gives under seed ``(seed, epoch)``."""

    def __init__(self, num_samples: int, seed: int):
        if not isinstance(num_samples, int) or num_samples < 1:
            raise ValueError(f"num_samples: expected a positive int, got {num_samples!r}")
        if not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed: expected a non-negative int, got {seed!r}")
        self.num_samples = num_samples
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        if not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"epoch: expected a non-negative int, got {epoch!r}")
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return iter(torch.randperm(self.num_samples, generator=generator).tolist())

    def __len__(self) -> int:
        return self.num_samples
