"""The layout's rules, as import-linter contracts in pyproject.toml: the layers, and which
package alone imports mlflow, keras (and tensorflow) and optuna."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))


def lint_imports(project: Path, *contracts: str) -> subprocess.CompletedProcess:
    """`lint-imports` on the mnist_pipeline package and stages/ of `project` (its own copy
    first on the path, not the installed one)."""
    selected = [argument for contract in contracts for argument in ("--contract", contract)]
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(project / "src"), str(project)]),
    }
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache", "--no-logo", *selected],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_import_contracts_hold():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 4 kept, 0 broken." in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract", "broken"),
    [
        # matplotlib figures logged to MLflow from report/: tracking's job
        ("report/figures.py", "import mlflow", "mlflow", "mnist_pipeline.report.figures -> mlflow"),
        # a Keras callback in tracking/: a listener there, the Keras side in model/
        (
            "tracking/tracker.py",
            "import keras",
            "keras",
            "mnist_pipeline.tracking.tracker -> keras",
        ),
        # a stage script calling MLflow itself instead of through tracking/
        ("../../stages/plot.py", "import mlflow", "mlflow", "stages.plot -> mlflow"),
        # data reaching up into tracking
        (
            "data/datasets.py",
            "from mnist_pipeline.tracking import tracker",
            "layers",
            "mnist_pipeline.data.datasets -> mnist_pipeline.tracking.tracker",
        ),
    ],
)
def test_a_deliberate_violation_breaks_its_contract(tmp_path, module, line, contract, broken):
    """The same check on a copy of the code with one forbidden import added: it fails, and
    names the contract and the import."""
    shutil.copytree(ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "stages", tmp_path / "stages")
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    assert lint_imports(tmp_path, contract).returncode == 0  # the copy as it is: kept
    target = tmp_path / "src" / "mnist_pipeline" / module
    target.write_text(target.read_text() + f"\n{line}\n")
    result = lint_imports(tmp_path, contract)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "BROKEN" in result.stdout and broken in result.stdout, result.stdout
