"""The layout's rules, as import-linter contracts in pyproject.toml: the layers, and which
package alone imports mlflow, keras (and tensorflow) and optuna; and short functions."""

from __future__ import annotations

import ast
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


# MLflow's objects stay in tracking/: the import contract keeps `import mlflow` there, and this
# keeps its objects there too (a client or a Run handed out would let code elsewhere call
# MLflow without importing it). tracking/ gives plain values: ids, dicts, records, messages.
MLFLOW_OBJECT_NAMES = {"client", "MlflowClient"}  # a client held or passed around
MLFLOW_OBJECT_ATTRIBUTES = {"get_run", "search_runs", "set_terminated", "log_batch"}
# A Run's parts: run.info.run_id, run.data.tags (a logger's .info() or PIL's image.info are not)
RUN_PARTS = {"info": {"run_id", "run_name", "status", "experiment_id"}, "data": {"tags", "metrics"}}


def mlflow_objects_used(source: str) -> list[str]:
    """Where `source` holds an MLflow client or reads a Run's `info`, as 'line: name'."""
    import ast

    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Name) and node.id in MLFLOW_OBJECT_NAMES:
            found.append(f"{node.lineno}: {node.id}")
        elif isinstance(node, ast.arg) and node.arg in MLFLOW_OBJECT_NAMES:
            found.append(f"{node.lineno}: {node.arg}")
        elif isinstance(node, ast.Attribute) and node.attr in MLFLOW_OBJECT_ATTRIBUTES:
            found.append(f"{node.lineno}: .{node.attr}")
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Attribute)
            and node.attr in RUN_PARTS.get(node.value.attr, ())
        ):
            found.append(f"{node.lineno}: .{node.value.attr}.{node.attr}")
    return found


def test_no_mlflow_object_outside_tracking():
    files = [
        *(ROOT / "src" / "mnist_pipeline").rglob("*.py"),
        *(ROOT / "stages").glob("*.py"),
    ]
    outside = [f for f in files if "tracking" not in f.relative_to(ROOT).parts]
    used = {
        str(f.relative_to(ROOT)): found
        for f in outside
        if (found := mlflow_objects_used(f.read_text()))
    }
    assert not used, f"MLflow objects outside tracking/ (give plain values instead): {used}"


def test_the_mlflow_object_check_catches_a_run_handed_out():
    leak = "with tracker.new_run(e, p, d) as run:\n    callback(run.info.run_id)\n"
    assert mlflow_objects_used(leak) == ["2: .info.run_id"]
    assert mlflow_objects_used("def f(client, run_id):\n    pass\n") == ["1: client"]


# Short functions (issue A1): none over this many lines, `def` to last line, docstring and
# nested functions included, in the library, the stage scripts and the benchmarks (not in
# hidden folders: benchmarks/.work holds make bench's clone of the repository).
MAX_FUNCTION_LINES = 50
CHECKED_FOLDERS = ("src", "stages", "benchmarks")


def long_functions(root: Path, limit: int = MAX_FUNCTION_LINES) -> list[str]:
    """`file:function:lines` for each function or method over `limit` lines under root's
    checked folders."""
    found = []
    for folder in CHECKED_FOLDERS:
        for file in sorted((root / folder).rglob("*.py")):
            name = file.relative_to(root).as_posix()
            if "/." in f"/{name}":
                continue
            for node in ast.walk(ast.parse(file.read_text("utf-8"), filename=name)):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    lines = node.end_lineno - node.lineno + 1
                    if lines > limit:
                        found.append(f"{name}:{node.name}:{lines}")
    return found


def test_no_function_is_over_50_lines():
    long = long_functions(ROOT)
    assert not long, "functions over 50 lines (split them by meaning): " + ", ".join(long)


def test_the_length_check_names_a_long_function(tmp_path):
    """The check itself: a 51-line function in a stage is named with its file and length, a
    50-line one is not, and hidden folders are skipped."""
    body = "".join(f"    x{index} = {index}\n" for index in range(49))
    (tmp_path / "stages").mkdir()
    (tmp_path / "stages" / "long.py").write_text(
        f"def fits():\n{body}\n\ndef too_long():\n{body}    return x0\n"
    )
    hidden = tmp_path / "benchmarks/.work/repo/stages/long.py"
    hidden.parent.mkdir(parents=True)
    hidden.write_text(f"def too_long():\n{body}    return x0\n")
    assert long_functions(tmp_path) == ["stages/long.py:too_long:51"]


def test_the_formatter_is_not_fought():
    """No formatter skip or off markers: code the formatter would mangle is said another way."""
    markers = ("fmt: " + "skip", "fmt: " + "off")  # spelled apart: this file is checked too
    found = [
        f"{file.relative_to(ROOT)}:{number}"
        for folder in ("src", "stages", "tests", "benchmarks")
        for file in sorted((ROOT / folder).rglob("*.py"))
        if "/." not in f"/{file.relative_to(ROOT).as_posix()}"
        for number, line in enumerate(file.read_text("utf-8").splitlines(), 1)
        if any(marker in line for marker in markers)
    ]
    assert not found, f"formatter markers: {found}"
