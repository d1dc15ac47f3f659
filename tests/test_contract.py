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
from stage_code import Project, Reads

PACKAGE = "mnist_pipeline"
SOURCE = ROOT / "src" / PACKAGE
PIPELINE = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
OUTPUT_KINDS = ("outs", "metrics", "plots")
CODE = Project(ROOT)  # the package and stage scripts, parsed (stage_code.py)
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


def stage_reads(stage: str) -> Reads:
    """What the stage's code (its script and the project functions it reaches) reads."""
    return CODE.reads(f"stages.{stage_script(stage).stem}")


def referenced_paths(stage: str) -> set[str]:
    """The files the stage's code names through mnist_pipeline.paths (constants, and the
    per-dataset functions for the dataset dvc.yaml names); your own dataset's folder when
    it reads `data.source`. A folder stands for the files of the pipeline under it."""
    reads = stage_reads(stage)
    named = set(reads.paths)
    if {"data", "data.source"} & reads.params:
        named.add(DATA_SOURCE)
    files = {entry for name in PIPELINE for entry in entries(name, *OUTPUT_KINDS)}
    for folder in sorted(named):
        inside = {file for file in files if file.startswith(f"{folder}/")}
        if inside:
            named = (named - {folder}) | inside
    return named


def referenced_params(stage: str) -> set[str]:
    """The params keys the stage's code reads as `params.section[.key]`, or through a name
    bound to a section, in the script or in a library function it passes them to. (The whole
    object passed on, as to MLflow logging, is not counted: it does not change what the
    stage computes.)"""
    return set(stage_reads(stage).params)


def covers(declared: str, key: str) -> bool:
    """dvc.yaml's params entry `declared` (train, data.dataset) covers the key `key`."""
    return key == declared or key.startswith(f"{declared}.")


def upstream(stage: str) -> set[str]:
    """The stages whose outputs `stage` depends on, directly or through others (dvc.yaml)."""
    makers = {file: name for name in PIPELINE for file in entries(name, *OUTPUT_KINDS)}
    found: set[str] = set()
    pending = [stage]
    while pending:
        for dep in entries(pending.pop(), "deps"):
            if dep in makers and makers[dep] not in found:
                found.add(makers[dep])
                pending.append(makers[dep])
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
    named = referenced_paths(stage)
    declared = {
        entry for entry in entries(stage, "deps", *OUTPUT_KINDS) if not entry.endswith(".py")
    }
    undeclared, unused = sorted(named - declared), sorted(declared - named)
    assert not undeclared, f"stage {stage}: reads or writes {undeclared}, not in its dvc.yaml"
    assert not unused, f"stage {stage}: dvc.yaml declares {unused}, which its code never names"


@pytest.mark.parametrize("stage", sorted(PIPELINE))
def test_no_stage_reads_an_output_of_a_stage_after_it(stage):
    """A file another stage writes is read only if that stage runs before this one: DVC
    orders stages by their deps, so a read of a later (or unrelated) stage's output sees
    whatever an earlier run left there."""
    earlier = upstream(stage)
    for other in sorted(set(PIPELINE) - {stage}):
        read = sorted(referenced_paths(stage) & entries(other, *OUTPUT_KINDS))
        where = "downstream of" if stage in upstream(other) else "not upstream of"
        assert other in earlier or not read, (
            f"stage {stage}: reads {read}, output of stage {other}, {where} it"
        )


@pytest.mark.parametrize("stage", sorted(PIPELINE))
def test_params_are_exactly_the_ones_the_stage_reads(stage):
    declared = PIPELINE[stage].get("params", [])
    read = referenced_params(stage)
    undeclared = sorted(key for key in read if not any(covers(name, key) for name in declared))
    unused = [
        name for name in declared if not any(covers(name, k) or covers(k, name) for k in read)
    ]
    assert not undeclared, f"stage {stage}: reads params {undeclared}, not in its dvc.yaml"
    assert not unused, f"stage {stage}: dvc.yaml lists params {unused}, which its code never reads"


def with_code_in(monkeypatch, module: str, function: str, code: str) -> None:
    """Analyse the project as if `code` began library function `module`.`function`."""
    tree = ast.parse((SOURCE.joinpath(*module.split(".")[1:]).with_suffix(".py")).read_text())
    (definition,) = [
        node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == function
    ]
    definition.body[:0] = ast.parse(code).body
    monkeypatch.setitem(globals(), "CODE", Project(ROOT, {module: ast.unparse(tree)}))


def test_a_library_read_of_a_later_output_fails_both_file_checks(monkeypatch):
    """train's code reaching a function that opens evaluate's output: undeclared, and out of
    order, though stages/train.py itself never names it."""
    with_code_in(
        monkeypatch,
        "mnist_pipeline.model.training",
        "total_steps",
        "from mnist_pipeline import paths\nopen(paths.EVALUATED).read()",
    )
    evaluated = re.escape(paths.EVALUATED)
    with pytest.raises(AssertionError, match=rf"stage train: reads or writes .*{evaluated}"):
        test_data_deps_and_outputs_are_exactly_the_files_the_stage_names("train")
    with pytest.raises(
        AssertionError, match=rf"stage train: reads .*{evaluated}.*stage evaluate, downstream"
    ):
        test_no_stage_reads_an_output_of_a_stage_after_it("train")
    test_data_deps_and_outputs_are_exactly_the_files_the_stage_names("prepare")  # unaffected


def test_a_library_read_of_an_undeclared_param_fails(monkeypatch):
    """tracker.describe gets the whole params from train's tracker.new_run(..., params, ...);
    a key read there is train's."""
    with_code_in(
        monkeypatch, "mnist_pipeline.tracking.tracker", "describe", "dpi = params.plot.dpi"
    )
    with pytest.raises(AssertionError, match=r"stage train: reads params \['plot\.dpi'\], not in"):
        test_params_are_exactly_the_ones_the_stage_reads("train")


def test_a_section_passed_into_the_library_is_followed_there():
    """download passes params.data to datasets.describe, which reads data.source (so your
    own dataset's folder is download's dep); no stage script names data.source itself."""
    assert "data.source" in referenced_params("download")
    assert "${data.source}" in referenced_paths("download")
    assert not any("source" in key for key in referenced_params("prepare"))


def test_only_the_library_functions_a_stage_reaches_count():
    """tracker.log_evaluation opens evaluate's output (for plot and `mnist-pipeline publish`);
    train imports tracker but never reaches that function, so the file is not train's."""
    assert paths.EVALUATED in CODE.reads("mnist_pipeline.tracking.tracker.log_evaluation").paths
    assert paths.EVALUATED not in referenced_paths("train")
    assert paths.HISTORY in referenced_paths("train")  # tracker.log_training_outputs: reached


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
