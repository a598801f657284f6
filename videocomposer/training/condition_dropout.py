"""Per-sample condition dropout of VideoComposer training (the original's ``DropPath`` with all-zero / all-keep).

The original (``UNetSD_temporal.forward`` + ``DropPath``, never released as training code) does, per batch of B:

1. ``n_zero ~ Binomial(B, p_all_zero)`` and ``n_keep ~ Binomial(B, p_all_keep)``; a random permutation of the batch
   gives the first ``n_zero`` samples the "drop everything" mark and the next ``n_keep`` the "keep everything" mark
   (fewer if ``n_zero + n_keep > B``).
2. For every condition independently (text, style, each STC branch): ``n ~ Binomial(B, p)``; ``min(n, m)`` of the
   ``m`` unmarked samples, chosen at random, lose the condition, and so do all "drop everything" samples.

A dropped condition is multiplied by 0 (no rescaling): a dropped text is a zero embedding, a dropped STC branch
contributes zero. Because the count ``n`` is drawn over the whole batch but applied to the unmarked samples only, an
unmarked sample loses a condition with probability ``E[min(n, m) / m]``, a little above ``p`` for B > 1 (exactly
``p`` for B = 1). :func:`sample_condition_keep_masks` reproduces this exactly, drawing from one ``torch.Generator``.
"""

from collections.abc import Mapping, Sequence

import torch


def sample_condition_keep_masks(
    names: Sequence[str],
    batch_size: int,
    generator: torch.Generator,
    p: float | Mapping[str, float] = 0.5,
    p_all_zero: float = 0.1,
    p_all_keep: float = 0.1,
) -> dict[str, torch.Tensor]:
    """Draw which samples keep which condition, as the original's training did.

    Args:
        names: the conditions (e.g. ``["text", "style", "motion", "depth"]``), each drawn independently, in order.
        batch_size: B.
        generator: CPU ``torch.Generator``; the only source of randomness, so a saved generator state replays it.
        p: per-condition drop probability, one for all or ``{name: p}`` for each of ``names`` (e.g. keep the motion
            more often than the dense conditions that give the object's place away).
        p_all_zero / p_all_keep: probabilities of the all-drop / all-keep marks.

    Returns:
        ``{name: (B,) float32 tensor}`` with 1.0 = keep, 0.0 = drop (usable directly as a multiplier, e.g. the
        ``STCEncoder``'s per-branch ``condition_scale``).
    """
    if isinstance(names, str) or len(set(names)) != len(names):
        raise ValueError(f"names: expected a sequence of distinct condition names, got {names!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size: expected a positive int, got {batch_size!r}")
    if not isinstance(generator, torch.Generator) or generator.device.type != "cpu":
        raise TypeError(f"generator: expected a CPU torch.Generator, got {generator!r}")
    if isinstance(p, Mapping):
        if set(p) != set(names):
            raise ValueError(f"p: expected a probability for each of {list(names)}, got one for {sorted(p)}")
        per_name, checked = dict(p), {f"p[{n!r}]": v for n, v in p.items()}
    else:
        per_name, checked = dict.fromkeys(names, p), {"p": p}
    for arg, value in {**checked, "p_all_zero": p_all_zero, "p_all_keep": p_all_keep}.items():
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{arg}: expected a probability in [0, 1], got {value!r}")

    def binomial(probability: float) -> int:
        """A draw of ``Binomial(B, probability)``, as the original drew it."""
        return int((torch.rand(batch_size, generator=generator) < probability).sum())

    n_zero, n_keep = binomial(p_all_zero), binomial(p_all_keep)
    order = torch.randperm(batch_size, generator=generator)
    drop_all = order[:n_zero]
    unmarked = order[n_zero + n_keep :].sort().values  # in index order, as the original picks from them

    masks = {}
    for name in names:
        n = binomial(per_name[name])
        dropped = unmarked[torch.randperm(len(unmarked), generator=generator)[:n]]
        keep = torch.ones(batch_size)
        keep[dropped] = 0.0
        keep[drop_all] = 0.0
        masks[name] = keep
    return masks
