"""benchmarks/run_diffusers_mixins.py: counts a pytest JUnit report and refuses a folder without diffusers' mixins;
tests/diffusers_mixins is collected only when a diffusers checkout is named."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))
import run_diffusers_mixins  # noqa: E402

REPORT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest">
  <testcase classname="tests.diffusers_mixins.test_model_mixins.TestSTCEncoder" name="test_output"/>
  <testcase classname="tests.diffusers_mixins.test_model_mixins.TestSTCEncoder" name="test_determinism"/>
  <testcase classname="a.B" name="test_cpu_offload"><skipped message="test requires a hardware accelerator"/></testcase>
  <testcase classname="a.B" name="test_disk_offload"><skipped message="test requires a hardware accelerator"/></testcase>
  <testcase classname="a.C" name="test_component"><skipped message="Skipped: not our UNet class"/></testcase>
  <testcase classname="a.C" name="test_variants"><failure message="assert False"/></testcase>
  <testcase classname="a.C" name="test_setup"><error message="fixture broke"/></testcase>
</testsuite></testsuites>
"""


def test_count_outcomes_reads_passes_skips_with_reasons_and_broken_tests(tmp_path):
    report = tmp_path / "junit.xml"
    report.write_text(REPORT)
    outcomes, reasons, broken = run_diffusers_mixins.count_outcomes(report)
    assert dict(outcomes) == {"passed": 2, "skipped": 3, "failed": 1, "error": 1}
    assert dict(reasons) == {"test requires a hardware accelerator": 2, "not our UNet class": 1}
    assert broken == ["C::test_variants", "C::test_setup"]


def test_a_folder_without_diffusers_tests_is_refused_before_running_anything(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_diffusers_mixins.main(["--diffusers-tests", str(tmp_path), "--revision", "abc", "--no-record"])
    assert exit_info.value.code == 2
    assert (
        "expected a diffusers checkout holding ['tests/pipelines/test_pipelines_common.py'" in capsys.readouterr().err
    )


def test_the_mixin_folder_is_not_collected_without_a_checkout_and_a_wrong_one_is_a_usage_error(tmp_path):
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    environment.pop("VIDEOCOMPOSER_DIFFUSERS_TESTS", None)
    command = [sys.executable, "-m", "pytest", "tests/diffusers_mixins", "--collect-only", "-q"]
    unset = subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True)
    assert unset.returncode == 5, unset.stdout + unset.stderr  # 5: no tests collected
    environment["VIDEOCOMPOSER_DIFFUSERS_TESTS"] = str(tmp_path)
    wrong = subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True)
    assert wrong.returncode == 4, wrong.stdout + wrong.stderr  # 4: usage error
    assert f"VIDEOCOMPOSER_DIFFUSERS_TESTS={tmp_path}: expected a diffusers checkout" in wrong.stderr
