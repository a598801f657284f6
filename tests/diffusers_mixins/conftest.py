"""diffusers' own common test mixins, run on our pipeline and models.

diffusers' PyPI sdist ships no `tests/` package, so the mixins come from a diffusers checkout: the environment variable
`VIDEOCOMPOSER_DIFFUSERS_TESTS` names the folder that holds diffusers' `tests` package (a clone's root).
`benchmarks/run_diffusers_mixins.py --diffusers-tests DIR` sets it and runs this folder. Without the variable these
modules are not collected (the terminal summary says so); with a wrong folder the run stops with a usage error.
diffusers' `tests` package is imported under the name `diffusers_tests`, so it never clashes with this repository's
`tests`.
"""

import importlib.util
import os
import sys
from pathlib import Path

import pytest

ENV_VAR = "VIDEOCOMPOSER_DIFFUSERS_TESTS"
PACKAGE = "diffusers_tests"
NEEDED = ("pipelines/test_pipelines_common.py", "models/testing_utils/common.py", "models/test_modeling_common.py")


def diffusers_tests_folder() -> Path | None:
    """The `tests` folder of the diffusers checkout named by `VIDEOCOMPOSER_DIFFUSERS_TESTS`, or `None` when unset."""
    value = os.environ.get(ENV_VAR)
    if not value:
        return None
    folder = Path(value).expanduser().resolve() / "tests"
    missing = [name for name in NEEDED if not (folder / name).is_file()]
    if missing:
        raise pytest.UsageError(f"{ENV_VAR}={value}: expected a diffusers checkout whose tests/ holds {missing}")
    return folder


def import_diffusers_tests(folder: Path) -> None:
    """Imports diffusers' `tests` package as `diffusers_tests` (its relative imports then resolve inside it)."""
    if PACKAGE in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(
        PACKAGE, folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    package = importlib.util.module_from_spec(spec)
    sys.modules[PACKAGE] = package
    spec.loader.exec_module(package)


FOLDER = diffusers_tests_folder()
if FOLDER is None:
    collect_ignore_glob = ["test_*.py"]
else:
    import_diffusers_tests(FOLDER)


def pytest_terminal_summary(terminalreporter) -> None:
    if FOLDER is None:
        terminalreporter.write_line(
            f"tests/diffusers_mixins not collected: {ENV_VAR} is unset (diffusers' test mixins come from a diffusers "
            "checkout; see benchmarks/run_diffusers_mixins.py)"
        )
    else:
        terminalreporter.write_line(f"diffusers' common test mixins from {FOLDER}")


def pytest_configure(config: pytest.Config) -> None:
    if FOLDER is not None:  # diffusers' markers (training, memory, quanto, ...), registered by its own conftest
        importlib.import_module(f"{PACKAGE}.conftest").pytest_configure(config)
