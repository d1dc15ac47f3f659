"""`mnist-pipeline report --base REV` on a small git + DVC repository of plain files (no
pipeline run: the report reads what the stages left), with a planted replicate group."""

import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

mlflow = pytest.importorskip("mlflow")
import markdown_it  # noqa: E402  (dev extra: GitHub-like rendering of the report)

from mnist_pipeline import cli, paths  # noqa: E402
from mnist_pipeline.cli.reprocheck import RESULT_FILE, Result, write_result  # noqa: E402
from mnist_pipeline.params import flatten, load_params  # noqa: E402
from mnist_pipeline.tracking.studyrun import GROUP_TAG  # noqa: E402

from conftest import ROOT, git_commit_all  # noqa: E402

DVC_YAML = f"""
stages:
  evaluate:
    cmd: "true"
    params: [train]
    metrics:
      - {paths.METRICS}:
          cache: false
  plot:
    cmd: "true"
    outs:
      - {paths.CONFUSION_FIGURE}
    plots:
      - {paths.LOSS_FIGURE}:
          cache: false
      - {paths.SAMPLES_FIGURE}:
          cache: false
"""
# The confusion matrix is a cached output whose base version no cache holds.
DVC_LOCK = f"""schema: '2.0'
stages:
  plot:
    cmd: "true"
    outs:
    - path: {paths.CONFUSION_FIGURE}
      hash: md5
      md5: 0123456789abcdef0123456789abcdef
      size: 100
"""


def png(seed: int) -> bytes:
    """A small real PNG whose bytes depend on `seed`."""
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(2, 1))
    axes.plot(np.random.default_rng(seed).random(5))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(figure)
    return buffer.getvalue()


def write_outputs(project: Path, accuracy: float, loss_seed: int) -> None:
    metrics = {"test": {"accuracy": accuracy, "loss": 0.11, "macro_f1": 0.969}}
    (project / paths.METRICS).write_text(json.dumps(metrics))
    (project / paths.LOSS_FIGURE).write_bytes(png(loss_seed))
    (project / paths.SAMPLES_FIGURE).write_bytes(png(100))


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """Base commit: epochs 10, accuracy 0.9694; workspace: epochs 12, 0.9750, a new loss plot."""
    project = tmp_path_factory.mktemp("prreport") / "project"
    (project / paths.FIGURES_DIR).mkdir(parents=True)
    (project / paths.METRICS).parent.mkdir(parents=True)
    shutil.copy(ROOT / "params.yaml", project / "params.yaml")
    (project / "dvc.yaml").write_text(DVC_YAML)
    (project / "dvc.lock").write_text(DVC_LOCK)
    (project / ".gitignore").write_text(f"/{paths.CONFUSION_FIGURE}\n/reports/pr/\n/mlflow.db\n")
    write_outputs(project, 0.9694, loss_seed=1)
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=project, check=True)
    git_commit_all(project, "base")
    text = (project / "params.yaml").read_text().replace("epochs: 10", "epochs: 12", 1)
    (project / "params.yaml").write_text(text)
    write_outputs(project, 0.9750, loss_seed=2)
    (project / paths.CONFUSION_FIGURE).write_bytes(png(3))
    return project


def plant_group(project: Path, uri: str, accuracies: list[float]) -> None:
    """A replicate group of the workspace's configuration, as the pipeline logs its runs."""
    params = load_params(project / "params.yaml")
    flat = {key: "null" if value is None else str(value) for key, value in flatten(params).items()}
    mlflow.set_tracking_uri(uri)
    experiment_id = mlflow.create_experiment(params.tracking.experiment)
    for seed, accuracy in enumerate(accuracies, start=1):
        with mlflow.start_run(experiment_id=experiment_id):
            mlflow.log_params({**flat, "seed": str(seed)})
            mlflow.set_tags({"weights_sha256": f"w{seed}", GROUP_TAG: "twelve-epochs"})
            mlflow.log_metrics({"test_accuracy": accuracy, "test_loss": 0.1, "test_macro_f1": 0.9})


def report(project: Path, monkeypatch, *arguments: str) -> tuple[int, str]:
    monkeypatch.chdir(project)
    code = cli.main(["report", *arguments])
    out = project / "reports" / "pr"
    return code, (out / "report.md").read_text() if code == 0 else ""


def test_the_report_shows_what_changed_since_the_base(project, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{project / 'absent' / 'mlflow.db'}")
    code, text = report(project, monkeypatch, "--base", "HEAD")
    assert code == 0, capsys.readouterr().err
    assert "| `train.epochs` | `10` | `12` |" in text
    assert "| `test.accuracy` | 0.9694 | 0.9750 | +0.0056 | - | single-seed difference |" in text
    assert "no recorded seed spread for this configuration: the change is a single-seed" in text
    assert "Byte-identical outputs on rerun: **not checked**" in text
    assert "Unchanged: `reports/figures/samples.png`." in text
    assert "Base unavailable: `reports/figures/confusion_matrix.png` (not in the DVC cache" in text
    assert not (project / "absent").exists()  # reading the store created none

    out = project / "reports" / "pr"
    html = markdown_it.MarkdownIt("commonmark").enable("table").render(text)
    images = [out / name for name in re.findall(r'<img src="([^"]+)"', html)]
    assert [image.name for image in images] == ["base-loss.png", "workspace-loss.png"]
    assert all(image.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") for image in images)
    assert images[0].read_bytes() == png(1) and images[1].read_bytes() == png(2)


def test_the_recorded_spread_and_check_repro_result_are_used(
    project, monkeypatch, tmp_path, mlflow_store
):
    plant_group(project, mlflow_store, [0.9690, 0.9700, 0.9710])  # sd 0.001: +0.0056 is 5.6 sd
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_store)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=project, capture_output=True, text=True
    ).stdout.strip()
    checks = [Result("`dvc repro --force` is byte-identical", True, "all identical", 1.0)]
    write_result(project, head, checks)
    try:
        code, text = report(project, monkeypatch, "--base", "HEAD")
    finally:
        (project / RESULT_FILE).unlink()
    assert code == 0
    assert "| 0.0010 | workspace better: beyond the seed spread (5.6 sd > 3) |" in text
    assert "Seed spread from replicate group twelve-epochs (3 seeds)" in text
    assert "Byte-identical outputs on rerun: **yes**" in text
    assert "`check-repro` on this commit" in text


def test_a_bad_revision_is_one_line_and_exit_1(project, monkeypatch, capsys):
    code, _ = report(project, monkeypatch, "--base", "no-such-rev")
    err = capsys.readouterr().err
    assert code == 1
    assert err.strip().splitlines() == [
        f"mnist-pipeline report: unknown revision 'no-such-rev': not a commit of {project}"
    ]
