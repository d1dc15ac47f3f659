"""`mnist-pipeline report --base REV`: gather what report/prreport.py renders, and write it.

DVC gives the params and metrics diff (its Python API: the same answers as `dvc params diff`
and `dvc metrics diff`) and the base's figures (git-tracked here, or from the DVC cache);
check-repro's recorded result gives the reproducibility verdict; the tracking store gives
the seed spread, when it has one for the workspace's configuration. Anything the base or the
store cannot give is said in the report, never a failure: only a bad REV is.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import subprocess
from pathlib import Path

from mnist_pipeline import paths
from mnist_pipeline.errors import PipelineError
from mnist_pipeline.report import prreport

DEFAULT_OUT = "reports/pr"
REPORT_FILE = "report.md"


def _open_repo(root: Path):
    from dvc.repo import Repo

    return Repo(str(root))


def resolve(root: Path, rev: str) -> str:
    """REV's commit; a one-line PipelineError if git does not know it."""
    done = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
        cwd=root,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise PipelineError(f"unknown revision {rev!r}: not a commit of {root}")
    return done.stdout.strip()


def dvc_diffs(root: Path, rev: str) -> tuple[dict, dict]:
    """(params diff, headline metrics diff) from REV to the workspace: changed params only,
    every headline metric (changed or not) as {name: {old, new}}."""
    with _open_repo(root) as repo:
        params = repo.params.diff(a_rev=rev).get("diff", {})
        metrics = repo.metrics.diff(a_rev=rev, all=True).get("diff", {})
    return params, dict(metrics.get(paths.METRICS, {}))


def recorded_repro(root: Path) -> dict | None:
    """check-repro's last recorded result in this repository, or None."""
    from mnist_pipeline.cli.reprocheck import RESULT_FILE

    path = root / RESULT_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def seed_spread(root: Path) -> tuple[dict | None, str]:
    """({`test.accuracy`: sd, ...}, where from) of the workspace's configuration, or (None,
    why none): the tracking store may be unreachable or hold no replicate group of it."""
    from mnist_pipeline.params import load_params

    try:
        from mnist_pipeline.tracking import groupdiff

        params = load_params(root / "params.yaml")
        spread = groupdiff.configuration_spread(params.tracking.experiment, params)
    except PipelineError as error:
        return None, f"the tracking store gave none: {error}"
    if spread is None:
        return None, "no replicate group of it in the tracking store"
    std = {name.replace("test_", "test.", 1): sd for name, sd in spread["std"].items()}
    return std, spread["source"]


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def base_bytes(fs, path: str) -> tuple[bytes | None, str]:
    """A file at the base revision, or (None, why not)."""
    if fs is None:
        return None, "the base revision could not be opened"
    try:
        if not fs.exists(path):
            return None, ""
        return fs.read_bytes(path), ""
    except Exception as error:  # DVC's errors for a missing cache or remote are many kinds
        return None, f"not in the DVC cache or a remote: {type(error).__name__}"


def figures(root: Path, rev: str, out: Path) -> list[prreport.Figure]:
    """Each figure of the plot stage compared by bytes; a changed one's two versions are
    written into `out` as base-NAME and workspace-NAME."""
    from dvc.api import DVCFileSystem

    try:
        fs = DVCFileSystem(str(root), rev=rev)
    except Exception:  # noqa: BLE001 - the report says the base is unavailable
        fs = None
    found = []
    for path in paths.FIGURES:
        name = Path(path).name
        workspace = root / path
        new = workspace.read_bytes() if workspace.is_file() else None
        old, why = base_bytes(fs, path)
        if old is None and why:
            found.append(prreport.Figure(path, prreport.BASE_UNAVAILABLE, note=why))
        elif old is None:
            found.append(prreport.Figure(path, prreport.NEW))
        elif new is None:
            found.append(prreport.Figure(path, prreport.REMOVED))
        elif _md5(old) == _md5(new):
            found.append(prreport.Figure(path, prreport.UNCHANGED))
        else:
            (out / f"base-{name}").write_bytes(old)
            (out / f"workspace-{name}").write_bytes(new)
            found.append(
                prreport.Figure(path, prreport.CHANGED, f"base-{name}", f"workspace-{name}")
            )
    with contextlib.suppress(Exception):
        fs.close()
    return found


def _git(root: Path, *arguments: str) -> str:
    done = subprocess.run(["git", *arguments], cwd=root, capture_output=True, text=True)
    return done.stdout.strip()


def title(root: Path, rev: str, base_commit: str, head: str) -> str:
    dirty = " with uncommitted changes" if _git(root, "status", "--porcelain") else ""
    return (
        f"Pipeline report: base `{rev}` ({base_commit[:8]}) vs the workspace "
        f"({head[:8] or 'no commit'}{dirty})"
    )


def write_report(root: Path, rev: str, out: Path, images_note: str = "") -> Path:
    """Gather everything, render it, write `out`/report.md beside the changed figures."""
    base_commit = resolve(root, rev)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob("*.png"):  # an earlier report's images
        stale.unlink()
    from mnist_pipeline.cli.reprocheck import fingerprint

    params_diff, metrics_diff = dvc_diffs(root, rev)
    spread, spread_source = seed_spread(root)
    head = _git(root, "rev-parse", "HEAD")
    report = prreport.Report(
        base=rev,
        title=title(root, rev, base_commit, head),
        params_diff=params_diff,
        metrics_diff=metrics_diff,
        spread=spread,
        spread_source=spread_source,
        repro=recorded_repro(root),
        head=head,
        fingerprint=fingerprint(root),
        figures=figures(root, rev, out),
        images_note=images_note,
    )
    path = out / REPORT_FILE
    path.write_text(prreport.render(report), encoding="utf-8")
    return path
