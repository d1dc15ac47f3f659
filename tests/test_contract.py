"""The stage contract, derived from the code: dvc.yaml declares exactly the modules each stage
imports, the files it reads and writes (mnist_pipeline.paths) and the params it reads.

A stage whose dvc.yaml entry misses a module it imports would keep stale outputs after an
edit there (`dvc status` clean); these tests name the stage and the missing file instead.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from mnist_pipeline import paths

from conftest import ROOT

PACKAGE = "mnist_pipeline"
SOURCE = ROOT / "src" / PACKAGE
PIPELINE = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
DATASET = "${data.dataset}"  # how dvc.yaml spells the dataset in paths
# download's dataset folder: read as params.data's `source` (datasets.describe), not a path
DATA_SOURCE = "${data.source}"


def module_files(name: str) -> set[Path]:
    """The files that importing project module `name` (mnist_pipeline.x, mnist_pipeline.x.y)
    runs: its own and each enclosing package's __init__.py; none if it is no module
    (`from mnist_pipeline.x import function` names a function)."""
    parts = name.split(".")[1:]
    package = SOURCE.joinpath(*parts)
    own = package / "__init__.py" if package.is_dir() else package.with_suffix(".py")
    if not own.is_file():
        return set()
    return {own} | {SOURCE.joinpath(*parts[:depth], "__init__.py") for depth in range(len(parts))}


def project_imports(file: Path) -> set[Path]:
    """The project modules `file` imports anywhere in it, function-level imports included."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(file.read_text(), str(file))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return {file for name in names if name.split(".")[0] == PACKAGE for file in module_files(name)}


def imported_closure(script: Path) -> set[str]:
    """`script` and every project module it loads, directly or through other project
    modules, as repository-relative paths (the package's __init__ runs with any of them)."""
    seen: set[Path] = set()
    pending = [script]
    while pending:
        for module in project_imports(pending.pop()) - seen:
            seen.add(module)
            pending.append(module)
    return {str(path.relative_to(ROOT)) for path in seen | {script}}


def stage_script(stage: str) -> Path:
    match = re.fullmatch(r"python (stages/\w+\.py)", PIPELINE[stage]["cmd"])
    assert match, f"stage {stage}: cmd {PIPELINE[stage]['cmd']!r} is not `python stages/X.py`"
    return ROOT / match.group(1)


def entries(stage: str, *kinds: str) -> set[str]:
    """The paths under deps / outs / metrics / plots of a stage, as dvc.yaml spells them."""
    found = set()
    for kind in kinds:
        for entry in PIPELINE[stage].get(kind, []):
            found |= set(entry) if isinstance(entry, dict) else {entry}
    return found


def referenced_paths(script: Path) -> set[str]:
    """The files the script names through mnist_pipeline.paths: constants (paths.WEIGHTS),
    and the per-dataset functions called with the dataset (paths.raw_data(...))."""
    found = set()
    for node in ast.walk(ast.parse(script.read_text())):
        if isinstance(node, ast.Call) and _is_paths_attribute(node.func):
            found.add(getattr(paths, node.func.attr)(DATASET))
        elif isinstance(node, ast.Attribute) and _is_paths_attribute(node):
            value = getattr(paths, node.attr)
            if isinstance(value, str):
                found.add(value)
    if {"data", "data.source"} & referenced_params(script):
        found.add(DATA_SOURCE)
    return found


def _is_paths_attribute(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and (node.value.id == "paths")
    )


def referenced_params(script: Path) -> set[str]:
    """Sections and keys read as `params.section[.key]` (the whole object passed on, as to
    MLflow logging, is not counted: it does not change what the stage computes)."""
    tree = ast.parse(script.read_text())
    inner = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in inner:
            continue  # part of a longer chain: `params.data` in `params.data.dataset`
        chain = []
        while isinstance(node, ast.Attribute):
            chain.insert(0, node.attr)
            node = node.value
        if isinstance(node, ast.Name) and node.id == "params" and chain:
            found.add(".".join(chain[:2]))
    return found


@pytest.mark.parametrize("stage", sorted(PIPELINE))
def test_code_deps_are_exactly_the_modules_the_stage_imports(stage):
    needed = imported_closure(stage_script(stage))
    declared = {dep for dep in entries(stage, "deps") if dep.endswith(".py")}
    missing, extra = sorted(needed - declared), sorted(declared - needed)
    assert not missing, f"stage {stage}: dvc.yaml deps lack {missing}, which its code imports"
    assert not extra, f"stage {stage}: dvc.yaml deps list {extra}, which its code never imports"


@pytest.mark.parametrize("stage", sorted(PIPELINE))
def test_data_deps_and_outputs_are_exactly_the_files_the_stage_names(stage):
    named = referenced_paths(stage_script(stage))
    declared = {
        entry
        for entry in entries(stage, "deps", "outs", "metrics", "plots")
        if not entry.endswith(".py")
    }
    undeclared, unused = sorted(named - declared), sorted(declared - named)
    assert not undeclared, f"stage {stage}: reads or writes {undeclared}, not in its dvc.yaml"
    assert not unused, f"stage {stage}: dvc.yaml declares {unused}, which its script never names"


@pytest.mark.parametrize("stage", sorted(PIPELINE))
def test_every_param_the_stage_reads_is_declared(stage):
    declared = PIPELINE[stage].get("params", [])
    for key in referenced_params(stage_script(stage)):
        assert any(key == name or key.startswith(f"{name}.") for name in declared), (
            f"stage {stage}: reads params.{key}, not listed under its params in dvc.yaml"
        )


def test_the_checks_catch_a_removed_dep(monkeypatch):
    """The deps test fails, naming stage and file, when dvc.yaml loses a module's entry."""
    removed = "src/mnist_pipeline/model/architecture.py"
    train = {**PIPELINE["train"], "deps": [d for d in PIPELINE["train"]["deps"] if d != removed]}
    monkeypatch.setitem(PIPELINE, "train", train)
    with pytest.raises(
        AssertionError, match=r"stage train: .*src/mnist_pipeline/model/architecture.py"
    ):
        test_code_deps_are_exactly_the_modules_the_stage_imports("train")


def test_the_closure_follows_imports_through_project_modules():
    closure = imported_closure(ROOT / "stages" / "plot.py")
    # plot imports tracking's tracker (so the package's __init__ runs), which imports errors
    assert {
        "src/mnist_pipeline/tracking/tracker.py",
        "src/mnist_pipeline/tracking/__init__.py",
        "src/mnist_pipeline/__init__.py",
        "src/mnist_pipeline/errors.py",
    } <= closure
    assert "src/mnist_pipeline/model/keras_model.py" not in closure  # Keras code: train's alone


def test_the_committed_dvc_lock_records_this_code():
    """dvc.lock must be of the code beside it: a code dep edited without rerunning the
    pipeline (and committing dvc.lock) leaves `dvc status` dirty on a fresh clone, and
    `dvc repro` retraining there."""
    import hashlib

    lock = yaml.safe_load((ROOT / "dvc.lock").read_text())
    stale = sorted(
        f"{stage}: {dep['path']}"
        for stage, entry in lock["stages"].items()
        for dep in entry.get("deps", [])
        if dep["path"].endswith(".py")
        and hashlib.md5((ROOT / dep["path"]).read_bytes()).hexdigest() != dep["md5"]
    )
    assert not stale, f"dvc.lock is older than {stale}: run `dvc repro` and commit dvc.lock"
