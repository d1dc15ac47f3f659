"""The documentation: the site builds strictly, generated parts follow the code, and the
README's project map names the code as it is."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from mnist_pipeline.cli import docs
from mnist_pipeline.data import datasets
from mnist_pipeline.report import evaluation
from mnist_pipeline.search import replicates
from mnist_pipeline.tracking import rundiff

from conftest import ROOT

MKDOCS = str(Path(sys.executable).with_name("mkdocs"))
PACKAGE = ROOT / "src" / "mnist_pipeline"
MAP_MARKER = "<!-- project map"
TREE_LINE = re.compile(r"^(?P<prefix>(?:[│ ]   )*(?:[├└]── )?)(?P<name>\S+)(?:\s{2,}.*)?$")


def mkdocs_build(project: Path, site: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [MKDOCS, "build", "--strict", "--site-dir", str(site)],
        cwd=project,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},  # Material's notice, not ours
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_site_builds_strictly_with_the_figures_in_place(tmp_path):
    result = mkdocs_build(ROOT, tmp_path / "site")
    assert result.returncode == 0, result.stderr
    assert "WARNING" not in result.stderr, result.stderr
    results = (tmp_path / "site" / "results" / "index.html").read_text()
    for figure in ("loss", "accuracy", "predictions", "confusion_matrix", "samples"):
        assert f'src="../repo/reports/figures/{figure}.png"' in results
        assert (tmp_path / "site" / "repo" / "reports" / "figures" / f"{figure}.png").is_file()


def project_copy(tmp_path: Path) -> Path:
    """docs/ and mkdocs.yml copied, to break; everything else of the repository linked."""
    project = tmp_path / "project"
    project.mkdir()
    for entry in ROOT.iterdir():
        if entry.name == "docs":
            shutil.copytree(entry, project / "docs")
        elif entry.name == "mkdocs.yml":
            shutil.copy(entry, project / entry.name)
        elif entry.name not in (".git", ".venv", "site"):
            (project / entry.name).symlink_to(entry)
    return project


BROKEN_LINKS = [  # page, link, the link broken
    ("index.md", "](pipeline.md)", "](pipline.md)"),  # a page
    ("results.md", "](../reports/figures/loss.png)", "](../reports/figures/los.png)"),  # a figure
    ("compare-runs.md", "](team.md#parallel-experiments)", "](team.md#parallel)"),  # an anchor
]


def test_a_broken_link_fails_the_build(tmp_path):
    """A link to a missing page, a missing figure outside docs/ and a missing anchor: one
    build, which fails with a warning naming each."""
    project = project_copy(tmp_path)
    for page, link, broken in BROKEN_LINKS:
        source = project / "docs" / page
        text = source.read_text()
        assert link in text
        source.write_text(text.replace(link, broken, 1))
    result = mkdocs_build(project, tmp_path / "site")
    assert result.returncode != 0
    warnings = [line for line in result.stderr.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == len(BROKEN_LINKS), result.stderr
    for page, _, broken in BROKEN_LINKS:
        named = [line for line in warnings if f"'{page}'" in line and broken.strip("]()") in line]
        assert named, f"no warning names {broken} in {page}: {result.stderr}"


def test_the_generated_blocks_are_what_the_code_gives():
    assert docs.stale(ROOT) == [], "run `mnist-pipeline docs` to regenerate them"
    names = {
        name for path in docs.documentation_files(ROOT) for name, _ in docs.blocks(path.read_text())
    }
    assert names == set(docs.GENERATORS)  # every generator is used somewhere


def test_a_new_headline_metric_makes_the_docs_stale(monkeypatch):
    """As if `top2_accuracy` were added to HEADLINE_METRICS (TEST_METRICS follow it) and
    `mnist-pipeline docs` not run: every block that lists them is reported."""
    headline = (*evaluation.HEADLINE_METRICS, "top2_accuracy")
    tests = (*evaluation.TEST_METRICS, "test_top2_accuracy")
    monkeypatch.setattr(evaluation, "HEADLINE_METRICS", headline)
    monkeypatch.setattr(evaluation, "TEST_METRICS", tests)
    monkeypatch.setattr(rundiff, "TEST_METRICS", tests)
    found = docs.stale(ROOT)
    assert set(found) >= {
        "docs/pipeline.md: dvc-metrics",
        "docs/pipeline.md: metric-names",
        "docs/compare-runs.md: dvc-metrics",
        "docs/compare-runs.md: test-metrics",
        "docs/compare-runs.md: diff-sample",
    }, found
    assert "test_top2_accuracy" in docs.diff_sample()


def test_docs_check_command_fails_on_a_stale_block(tmp_path, monkeypatch):
    from mnist_pipeline.cli.commands import main

    entries = ("README.md", "docs", "params.yaml", "configs.yaml", "dvc.yaml")
    for entry in (*entries, "benchmarks/replicates.csv"):  # the seed comparisons' record
        source = ROOT / entry
        if source.is_dir():
            shutil.copytree(source, tmp_path / entry)
        else:
            (tmp_path / entry).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, tmp_path / entry)
    monkeypatch.chdir(tmp_path)
    assert main(["docs", "--check"]) == 0
    page = tmp_path / "docs" / "pipeline.md"
    page.write_text(page.read_text().replace("`test.macro_f1`<!-- end", "<!-- end", 1))
    assert main(["docs", "--check"]) == 1
    assert main(["docs"]) == 0
    assert main(["docs", "--check"]) == 0


def documentation_text() -> str:
    return "\n".join(path.read_text() for path in docs.documentation_files(ROOT))


def test_every_metric_name_the_docs_spell_is_one_the_code_defines():
    known = {*evaluation.TEST_METRICS, *(f"test.{name}" for name in evaluation.HEADLINE_METRICS)}
    known |= set(datasets.PARTS)  # a dataset's files: test_images, test_labels
    known |= set(replicates.GROUP_METRICS)  # a replicate group's parent run
    # test_x / test.x, but not test files (tests/test_team.py) or test ids (test_x::y)
    spelled = set(re.findall(r"(?<![\w/.])test[._][a-z0-9_]+\b(?!\.py|::)", documentation_text()))
    assert spelled - known == set()


def test_the_dvc_exp_show_sample_has_the_headline_metric_columns():
    """DVC draws that table, not our code: its sample is checked, not generated."""
    text = (ROOT / "docs" / "compare-runs.md").read_text()
    sample = text[text.index("At 120 columns `dvc exp show` reads like this") :]
    header = sample[sample.index("```\n") + 4 :].splitlines()[0]
    columns = [column for column in header.split() if column.startswith("test.")]
    assert columns == [f"test.{name}" for name in evaluation.HEADLINE_METRICS]


def project_map() -> list[str]:
    """The paths the README's project map names, as repository-relative paths."""
    text = (ROOT / "README.md").read_text()
    block = text[text.index(MAP_MARKER) :]
    block = block[block.index("```text\n") + 8 :]
    block = block[: block.index("```")]
    paths, parents = [], []
    for line in block.splitlines():
        match = TREE_LINE.match(line)
        assert match, f"project map line not understood: {line!r}"
        depth = len(match["prefix"]) // 4
        name = match["name"]
        parents[depth:] = [name]
        paths.append("".join(parents[: depth + 1]) if depth else name)
    return paths


def test_everything_the_project_map_names_exists():
    missing = [path for path in project_map() if not (ROOT / path).exists()]
    assert missing == [], f"the README's project map names what does not exist: {missing}"


def test_the_project_map_names_every_package_module_and_stage():
    named = set(project_map())
    code = {
        f"{path.relative_to(ROOT).parent}/"
        if path.name == "__init__.py"
        else str(path.relative_to(ROOT))
        for path in [*PACKAGE.rglob("*.py"), *(ROOT / "stages").glob("*.py")]
        if path.name != "__main__.py" and path != PACKAGE / "__init__.py"
    }
    assert code - named == set(), "add these to the README's project map (a line each)"
