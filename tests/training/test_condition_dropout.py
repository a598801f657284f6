"""Condition dropout: the original's per-sample DropPath with all-zero / all-keep marks."""

import pytest
import torch
from scipy.stats import binom

from videocomposer.training.condition_dropout import sample_condition_keep_masks

NAMES = ("text", "motion", "depth")


def expected_rates(batch: int, num_names: int, p=0.5, p_all_zero=0.1, p_all_keep=0.1) -> dict[str, float]:
    """Exact per-sample probabilities of the original's mechanism, by enumerating the binomial counts.

    A sample is all-zero marked with probability n_zero / B, all-keep with k / B (k = min(n_keep, B - n_zero)),
    else unmarked; an unmarked one loses a condition with probability E[min(n, m)] / m, n ~ Binomial(B, p),
    independently per condition.
    """
    rates = {"drop_one": 0.0, "drop_all": 0.0, "keep_all": 0.0}
    for n_zero in range(batch + 1):
        for n_keep in range(batch + 1):
            weight = binom.pmf(n_zero, batch, p_all_zero) * binom.pmf(n_keep, batch, p_all_keep)
            kept = min(n_keep, batch - n_zero)
            free = batch - n_zero - kept
            q = sum(binom.pmf(n, batch, p) * min(n, free) for n in range(batch + 1)) / free if free else 0.0
            rates["drop_one"] += weight * (n_zero + free * q) / batch
            rates["drop_all"] += weight * (n_zero + free * q**num_names) / batch
            rates["keep_all"] += weight * (kept + free * (1 - q) ** num_names) / batch
    return rates


@pytest.mark.parametrize("batch", [1, 4])
def test_dropout_frequencies_match_the_original_mechanism(batch):
    generator = torch.Generator().manual_seed(0)
    draws = [sample_condition_keep_masks(NAMES, batch, generator) for _ in range(8000)]
    keep = torch.stack([torch.stack([d[name] for name in NAMES]) for d in draws])  # (draws, names, batch)
    expected = expected_rates(batch, len(NAMES))
    assert (1 - keep).mean().item() == pytest.approx(expected["drop_one"], abs=0.012)
    assert (keep.sum(1) == 0).float().mean().item() == pytest.approx(expected["drop_all"], abs=0.012)
    assert (keep.sum(1) == len(NAMES)).float().mean().item() == pytest.approx(expected["keep_all"], abs=0.012)
    if batch == 1:  # closed form: 0.1 drop everything, 0.9 * 0.1 keep everything, else each condition a coin flip
        assert expected["drop_one"] == pytest.approx(0.1 + 0.81 * 0.5)
        assert expected["keep_all"] == pytest.approx(0.09 + 0.81 * 0.5**3)


def test_masks_are_per_sample_multipliers_replayed_by_the_generator_state():
    generator = torch.Generator().manual_seed(3)
    state = generator.get_state()
    first = sample_condition_keep_masks(NAMES, 8, generator)
    generator.set_state(state)
    again = sample_condition_keep_masks(NAMES, 8, generator)
    assert list(first) == list(NAMES)
    for name in NAMES:
        assert first[name].shape == (8,) and first[name].dtype == torch.float32
        assert set(first[name].tolist()) <= {0.0, 1.0}
        assert torch.equal(first[name], again[name])


def test_extreme_probabilities():
    generator = torch.Generator().manual_seed(0)
    kept = sample_condition_keep_masks(NAMES, 16, generator, p=0.0, p_all_zero=0.0, p_all_keep=0.0)
    assert all(mask.eq(1).all() for mask in kept.values())
    dropped = sample_condition_keep_masks(NAMES, 16, generator, p=0.0, p_all_zero=1.0, p_all_keep=0.0)
    assert all(mask.eq(0).all() for mask in dropped.values())
    protected = sample_condition_keep_masks(NAMES, 16, generator, p=1.0, p_all_zero=0.0, p_all_keep=1.0)
    assert all(mask.eq(1).all() for mask in protected.values())


def test_bad_arguments_are_refused():
    generator = torch.Generator()
    with pytest.raises(ValueError, match="names"):
        sample_condition_keep_masks(["text", "text"], 2, generator)
    with pytest.raises(ValueError, match="batch_size"):
        sample_condition_keep_masks(NAMES, 0, generator)
    with pytest.raises(ValueError, match="p_all_keep"):
        sample_condition_keep_masks(NAMES, 2, generator, p_all_keep=1.5)
    with pytest.raises(TypeError, match="generator"):
        sample_condition_keep_masks(NAMES, 2, None)


def test_per_condition_probabilities_follow_each_name():
    generator = torch.Generator().manual_seed(0)
    p = {"text": 0.0, "motion": 1.0, "depth": 0.5, "sketch": 0.5}
    draws = [sample_condition_keep_masks(list(p), 8, generator, p=p, p_all_zero=0.1, p_all_keep=0.1)
             for _ in range(2000)]  # fmt: skip
    text, motion, depth = (torch.stack([d[name] for d in draws]) for name in ("text", "motion", "depth"))
    both_dropped = (motion == 0) & (text == 0)
    # text (p=0) is dropped only with every other condition (the all-drop mark); motion (p=1) is kept only with all
    assert torch.equal(text == 0, both_dropped & (depth == 0))
    assert torch.equal(motion == 1, (motion == 1) & (text == 1) & (depth == 1))
    assert abs(text.mean().item() - 0.9) < 0.02 and abs(motion.mean().item() - 0.1) < 0.02
    # a scalar p is the mapping with that value for every name: the same draws from the same generator state
    seeded = [torch.Generator().manual_seed(3) for _ in range(2)]
    scalar = sample_condition_keep_masks(list(p), 8, seeded[0], p=0.3)
    mapping = sample_condition_keep_masks(list(p), 8, seeded[1], p=dict.fromkeys(p, 0.3))
    assert all(torch.equal(scalar[name], mapping[name]) for name in p)


def test_per_condition_probabilities_are_checked():
    generator = torch.Generator()
    with pytest.raises(ValueError, match=r"p: expected a probability for each of \['text', 'motion'\]"):
        sample_condition_keep_masks(["text", "motion"], 2, generator, p={"text": 0.5})
    with pytest.raises(ValueError, match=r"p\['motion'\]: expected a probability in \[0, 1\], got 1.5"):
        sample_condition_keep_masks(["text", "motion"], 2, generator, p={"text": 0.5, "motion": 1.5})
