"""Strict, invertible state-dict renaming: one rule per source tensor, every source and target key accounted for.

A [`KeyRule`] maps one source key to one or more target keys with a reversible transform. [`apply_rules`] converts a
whole state dict tensor by tensor and refuses (``ValueError`` with a report grouped by key prefix) unless every
source key is used exactly once, every target key is produced, and every shape is the expected one.
[`invert_rules`] goes back, bit for bit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import torch

Transform = Literal["copy", "squeeze", "transpose", "split_rows"]


@dataclass(frozen=True)
class KeyRule:
    """``source`` -> ``targets`` with a reversible transform.

    - ``copy``: one target, the same tensor.
    - ``squeeze``: a ``(O, I, 1)`` Conv1d kernel -> a ``(O, I)`` Linear weight.
    - ``transpose``: a ``(A, B)`` matrix -> its ``(B, A)`` transpose (e.g. a ``x @ W`` projection -> ``nn.Linear``).
    - ``split_rows``: a fused ``(n * R, ...)`` weight -> ``n`` targets of ``(R, ...)``, in order (e.g. q, k, v).
    """

    source: str
    targets: tuple[str, ...]
    transform: Transform = "copy"

    def forward(self, tensor: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.transform == "copy":
            return (tensor,)
        if self.transform == "squeeze":
            return (tensor.squeeze(-1),)
        if self.transform == "transpose":
            return (tensor.t().contiguous(),)
        # Clone the chunks: views into one storage could not be saved as separate safetensors entries.
        return tuple(chunk.clone() for chunk in tensor.chunk(len(self.targets), dim=0))

    def inverse(self, tensors: tuple[torch.Tensor, ...]) -> torch.Tensor:
        if self.transform == "copy":
            return tensors[0]
        if self.transform == "squeeze":
            return tensors[0].unsqueeze(-1)
        if self.transform == "transpose":
            return tensors[0].t().contiguous()
        return torch.cat(tensors, dim=0)

    def source_shape(self, target_shapes: tuple[torch.Size, ...]) -> tuple[int, ...]:
        """The source shape that produces ``target_shapes``."""
        if self.transform == "copy":
            return tuple(target_shapes[0])
        if self.transform == "squeeze":
            return (*target_shapes[0], 1)
        if self.transform == "transpose":
            return tuple(reversed(target_shapes[0]))
        first = target_shapes[0]
        return (sum(shape[0] for shape in target_shapes), *first[1:])


def key_group(key: str) -> str:
    """The prefix a key is reported under: its first two dotted components (``input_blocks.4``, ``out.2``)."""
    return ".".join(key.split(".")[:2])


def format_key_report(
    missing: list[str] | tuple[str, ...] = (),
    unexpected: list[str] | tuple[str, ...] = (),
    mismatched: Mapping[str, tuple[tuple[int, ...], tuple[int, ...]]] | None = None,
    examples: int = 3,
) -> str:
    """A readable report: missing / unexpected keys grouped by prefix (count and examples), then shape mismatches."""
    lines = []
    for title, keys in (("missing", missing), ("unexpected", unexpected)):
        if not keys:
            continue
        groups: dict[str, list[str]] = {}
        for key in keys:
            groups.setdefault(key_group(key), []).append(key)
        lines.append(f"{title} keys ({len(keys)}):")
        for group, members in groups.items():
            shown = ", ".join(members[:examples]) + (", ..." if len(members) > examples else "")
            lines.append(f"  {group}.* ({len(members)}): {shown}")
    if mismatched:
        lines.append(f"shape mismatches ({len(mismatched)}):")
        for key, (found, expected) in list(mismatched.items())[: 4 * examples]:
            lines.append(f"  {key}: found {list(found)}, expected {list(expected)}")
        if len(mismatched) > 4 * examples:
            lines.append(f"  ... and {len(mismatched) - 4 * examples} more")
    return "\n".join(lines)


def check_rules(rules: list[KeyRule], target_shapes: Mapping[str, torch.Size]) -> None:
    """Raise if ``rules`` do not produce every key of ``target_shapes`` exactly once (a bug in a rule table)."""
    produced = Counter(target for rule in rules for target in rule.targets)
    duplicated = sorted(key for key, count in produced.items() if count > 1)
    sources = Counter(rule.source for rule in rules)
    duplicated += sorted(key for key, count in sources.items() if count > 1)
    missing = [key for key in target_shapes if key not in produced]
    unexpected = [key for key in produced if key not in target_shapes]
    if duplicated or missing or unexpected:
        raise RuntimeError(
            "conversion rules do not cover the target model one to one:\n"
            + format_key_report(missing, unexpected + duplicated)
        )


def apply_rules(
    state_dict: Mapping[str, torch.Tensor],
    rules: list[KeyRule],
    target_shapes: Mapping[str, torch.Size],
    name: str,
    dropped: frozenset[str] = frozenset(),
    dtype: torch.dtype | None = None,
) -> dict[str, torch.Tensor]:
    """Convert ``state_dict`` with ``rules``, strictly.

    Args:
        state_dict: source tensors (may live on the meta device or be memory-mapped; tensors are not copied except
            where a transform needs it).
        rules: one rule per expected source key.
        target_shapes: the target model's parameter shapes (``{k: v.shape for k, v in model.state_dict().items()}``).
        name: what the state dict is, for the error message (e.g. ``"state_dict"``).
        dropped: source keys that must be present but are deliberately not converted (they count as used).
        dtype: cast every converted tensor to this floating dtype (one tensor at a time).

    Raises:
        ValueError: listing missing keys, unexpected keys (grouped by prefix) and shape mismatches.
    """
    check_rules(rules, target_shapes)
    by_source = {rule.source: rule for rule in rules}
    missing = [key for key in by_source if key not in state_dict]
    missing += [key for key in dropped if key not in state_dict]
    unexpected = [key for key in state_dict if key not in by_source and key not in dropped]
    mismatched = {}
    for key, rule in by_source.items():
        if key not in state_dict:
            continue
        tensor = state_dict[key]
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(f"{name}[{key!r}]: expected a torch.Tensor, got {type(tensor).__name__}")
        expected = rule.source_shape(tuple(target_shapes[target] for target in rule.targets))
        if tuple(tensor.shape) != expected:
            mismatched[key] = (tuple(tensor.shape), expected)
    if missing or unexpected or mismatched:
        raise ValueError(
            f"{name}: does not match the expected layout; nothing was converted.\n"
            + format_key_report(missing, unexpected, mismatched)
        )

    converted = {}
    for rule in rules:
        for target, tensor in zip(rule.targets, rule.forward(state_dict[rule.source])):
            converted[target] = tensor if dtype is None or not tensor.is_floating_point() else tensor.to(dtype)
    return converted


def invert_rules(state_dict: Mapping[str, torch.Tensor], rules: list[KeyRule]) -> dict[str, torch.Tensor]:
    """The source state dict that ``rules`` turn into ``state_dict``, in rule order (exact: no arithmetic)."""
    check_rules(rules, {key: value.shape for key, value in state_dict.items()})
    return {rule.source: rule.inverse(tuple(state_dict[target] for target in rule.targets)) for rule in rules}
