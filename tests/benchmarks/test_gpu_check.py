"""benchmarks/gpu_check.py's CPU smoke path (--tiny): every check runs and reports plausible values."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import gpu_check  # noqa: E402


def test_tiny_smoke_path_runs_every_check_on_cpu(capsys):
    results = gpu_check.main(["--tiny", "--device", "cpu", "--no-write", "--repeats", "1"])
    assert results["device"] == "CPU" and results["size"] == "2 frames, 16x16"
    # bf16 keeps 8 mantissa bits (relative step 2^-8 = 3.9e-3 per rounding), fp16 11: errors of a few roundings,
    # never zero (the weights are cast) and far below 1 (the outputs are not garbage)
    for name, bound in (("bf16", 0.1), ("fp16", 0.02)):
        errors = results["parity"][name]
        assert set(errors) == {"step", "ddim"}
        assert 0.0 < errors["step"] < bound and 0.0 < errors["ddim"] < bound
    assert results["attention"] in ("xformers not installed", "xformers needs CUDA")
    assert set(results["step"]) == {"ours + STC", "ours", "diffusers"} and min(results["step"].values()) > 0
    assert results["memory"] == "CUDA only"
    table = capsys.readouterr().out
    assert "| bf16 vs fp32, max relative error | one step" in table and "ours / diffusers" in table


def test_relative_error_is_max_difference_over_max_reference():
    import torch

    reference = torch.tensor([1.0, -4.0, 2.0])
    assert gpu_check.relative_error(torch.tensor([1.5, -4.0, 1.0]), reference) == pytest.approx(0.25, abs=1e-7)


def test_cuda_device_without_cuda_is_a_usage_error(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit) as error:
        gpu_check.main(["--tiny", "--device", "cuda", "--no-write"])
    assert error.value.code == 2
