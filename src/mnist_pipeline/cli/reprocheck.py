"""`mnist-pipeline check-repro`: prove "same inputs, same outputs" on a fresh clone.

Runs the pipeline from clean in a temporary clone of the current commit, then again with
`--force`, and requires byte-identical outputs (by the hashes DVC records in `dvc.lock`);
then a no-op rerun, training on one core, the committed metrics, and the experiment
workflow (`dvc exp run`, `dvc exp show`, `dvc params diff`, `dvc metrics diff`).
Prints one line per check and exits non-zero if any failed; records the results, the commit
and the environment in RESULT_FILE of the repository, for `mnist-pipeline report`.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from mnist_pipeline.data.download import MIRROR_VARIABLE
from mnist_pipeline.paths import METRICS, WEIGHTS

UP_TO_DATE = "Data and pipelines are up to date."
# check-repro's last result in the repository it checked (git-ignored): what `report` reads.
RESULT_FILE = "reports/repro/check-repro.json"
FINGERPRINT_PACKAGES = ("tensorflow", "keras", "numpy", "mlflow", "dvc")


class ReproCheckError(Exception):
    """A check found a difference; the message says what and where."""


@dataclass
class Result:
    name: str
    passed: bool
    detail: str
    seconds: float


def lock_hashes(lock_text: str) -> dict[str, str]:
    """{output path: md5} for every output of every stage in a dvc.lock."""
    lock = yaml.safe_load(lock_text) or {}
    return {
        out["path"]: out.get("md5") or out.get("hash", "")
        for stage in lock.get("stages", {}).values()
        for out in stage.get("outs", [])
    }


def differences(expected: dict[str, str], actual: dict[str, str]) -> list[str]:
    """One line per output whose hash changed, appeared or disappeared."""
    lines = []
    for path in sorted(set(expected) | set(actual)):
        if expected.get(path) != actual.get(path):
            lines.append(
                f"{path}: expected md5 {expected.get(path, '(absent)')}, "
                f"got {actual.get(path, '(absent)')}"
            )
    return lines


def stages_run(output: str) -> list[str]:
    return [line.split("'")[1] for line in output.splitlines() if line.startswith("Running stage")]


def find_experiment(shown: list, name: str) -> dict | None:
    """The data of experiment `name` in `dvc exp show --json` output."""
    for commit in shown:
        for experiment in commit.get("experiments") or []:
            if experiment.get("name") == name:
                return experiment["revs"][0]["data"]
    return None


def read_test_accuracy(metrics_text: str) -> float:
    return float(json.loads(metrics_text)["test"]["accuracy"])


class ReproCheck:
    """The checks, run in order on one temporary clone."""

    def __init__(self, clone: Path, exp_param: str, tolerance: float, fail_fast: bool):
        self.clone = clone
        self.exp_param = exp_param
        self.tolerance = tolerance
        self.fail_fast = fail_fast
        self.results: list[Result] = []
        self.first_hashes: dict[str, str] = {}
        self.first_metrics = ""
        self.env = environment()

    def run(self, *command: str) -> str:
        """Run a command in the clone; stdout, or ReproCheckError with its last lines."""
        done = subprocess.run(command, cwd=self.clone, env=self.env, capture_output=True, text=True)
        if done.returncode != 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-5:])
            raise ReproCheckError(f"`{' '.join(command)}` exited {done.returncode}:\n{tail}")
        return done.stdout

    def lock(self) -> dict[str, str]:
        return lock_hashes((self.clone / "dvc.lock").read_text())

    def check(self, name: str, body: Callable[[], str]) -> bool:
        start = time.perf_counter()
        try:
            result = Result(name, True, body(), 0)
        except ReproCheckError as failure:
            result = Result(name, False, str(failure), 0)
        result.seconds = time.perf_counter() - start
        self.results.append(result)
        print(format_result(len(self.results), result), flush=True)
        return result.passed

    def all(self) -> list[Result]:
        checks = [
            ("clean `dvc repro`", self.clean_repro),
            ("`dvc repro --force` is byte-identical", self.forced_repro),
            ("third `dvc repro` runs nothing", self.noop_repro),
            ("train on one CPU core gives the same weights", self.one_core),
            ("metrics match the committed ones", self.committed_metrics),
            ("experiment workflow", self.experiment),
        ]
        for index, (name, body) in enumerate(checks):
            if not self.check(name, body) and (self.fail_fast or index == 0):
                break  # nothing to compare against without a first run
        return self.results

    def clean_repro(self) -> str:
        ran = stages_run(self.run("dvc", "repro"))
        self.first_hashes = self.lock()
        self.first_metrics = (self.clone / METRICS).read_text()
        # Stages whose git-tracked outputs already match what their deps produce are skipped.
        return f"ran {', '.join(ran)}; {len(self.first_hashes)} outputs recorded in dvc.lock"

    def forced_repro(self) -> str:
        self.run("dvc", "repro", "--force")
        changed = differences(self.first_hashes, self.lock())
        if changed:
            raise ReproCheckError("outputs differ:\n" + "\n".join(changed))
        if (self.clone / METRICS).read_text() != self.first_metrics:
            raise ReproCheckError(f"{METRICS}: values differ")
        return f"all {len(self.first_hashes)} outputs and the metrics identical"

    def noop_repro(self) -> str:
        ran = stages_run(self.run("dvc", "repro"))
        if ran:
            raise ReproCheckError(f"stages ran again: {', '.join(ran)}")
        status = self.run("dvc", "status")
        if UP_TO_DATE not in status:
            raise ReproCheckError(f"`dvc status` is not clean:\n{status.strip()}")
        return "no stage ran; `dvc status` clean"

    def one_core(self) -> str:
        if shutil.which("taskset") is None:
            raise ReproCheckError("taskset not found (util-linux): cannot restrict to one core")
        self.run("taskset", "-c", "0", "dvc", "repro", "--force", "--single-item", "train")
        expected, actual = self.first_hashes.get(WEIGHTS), self.lock().get(WEIGHTS)
        if expected != actual:
            raise ReproCheckError(f"{WEIGHTS}: expected md5 {expected}, got {actual}")
        return f"{WEIGHTS} md5 {actual} on core 0 alone"

    def committed_metrics(self) -> str:
        try:
            committed_lock = self.run("git", "show", "HEAD:dvc.lock")
            committed = self.run("git", "show", f"HEAD:{METRICS}")
        except ReproCheckError:
            raise ReproCheckError(f"no committed dvc.lock or {METRICS} to compare with") from None
        committed_weights = lock_hashes(committed_lock).get(WEIGHTS)
        if committed_weights == self.first_hashes.get(WEIGHTS):
            if committed != self.first_metrics:
                raise ReproCheckError(f"same weights as committed, but {METRICS} differs")
            return "identical to the committed run (same platform: same weights md5)"
        fresh = read_test_accuracy(self.first_metrics)
        before = read_test_accuracy(committed)
        if abs(fresh - before) > self.tolerance:
            raise ReproCheckError(
                f"test accuracy {fresh:.4f}, committed {before:.4f}: "
                f"off by more than the cross-platform tolerance ±{self.tolerance}"
            )
        return (
            f"within ±{self.tolerance} of the committed run (other platform: weights differ): "
            f"test accuracy {fresh:.4f} vs {before:.4f}"
        )

    def experiment(self) -> str:
        key, value = self.exp_param.split("=", 1)
        name = "check-repro"
        self.run("dvc", "exp", "run", "--name", name, "--set-param", self.exp_param)
        data = find_experiment(json.loads(self.run("dvc", "exp", "show", "--json")), name)
        if data is None:
            raise ReproCheckError(f"`dvc exp show` does not list experiment {name}")
        params = data["params"]["params.yaml"]["data"]
        shown = _dig(params, key)
        if str(shown) != value:
            raise ReproCheckError(f"`dvc exp show`: {key} is {shown}, expected {value}")
        metrics = data.get("metrics", {}).get(METRICS, {}).get("data", {})
        if "test" not in metrics:
            raise ReproCheckError(f"`dvc exp show` lists no {METRICS} metrics for {name}")
        param_diff = json.loads(self.run("dvc", "params", "diff", "--json")).get("params.yaml", {})
        if key not in param_diff:
            raise ReproCheckError(f"`dvc params diff` does not report {key}")
        metric_diff = json.loads(self.run("dvc", "metrics", "diff", "--json")).get(METRICS, {})
        if "test.accuracy" not in metric_diff:
            raise ReproCheckError("`dvc metrics diff` does not report test.accuracy")
        change = metric_diff["test.accuracy"]
        return (
            f"{name} listed by `dvc exp show`; params diff {key}: {param_diff[key]['old']} -> "
            f"{param_diff[key]['new']}; metrics diff test.accuracy: {change['old']} -> "
            f"{change['new']}"
        )


def _dig(tree: dict, dotted: str):
    for part in dotted.split("."):
        tree = tree.get(part, {}) if isinstance(tree, dict) else {}
    return tree


def environment() -> dict[str, str]:
    """This environment's tools first on PATH; an isolated MLflow store in the clone; the
    mirror as an absolute path, since the clone lives elsewhere."""
    env = {key: value for key, value in os.environ.items() if key != "MLFLOW_TRACKING_URI"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    mirror = env.get(MIRROR_VARIABLE)
    if mirror and "://" not in mirror:
        env[MIRROR_VARIABLE] = str(Path(mirror).expanduser().resolve())
    return env


def fingerprint(root: Path) -> dict[str, str]:
    """What the outputs' bytes depend on besides the code and data: the interpreter, the
    platform, the numeric libraries' and tools' versions, and the locked environment."""
    versions = {}
    for package in FINGERPRINT_PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = "not installed"
    lock = root / "uv.lock"
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        **versions,
        "uv.lock sha256": hashlib.sha256(lock.read_bytes()).hexdigest()
        if lock.is_file()
        else "none",
    }


def write_result(repository: Path, commit: str, results: list[Result]) -> Path:
    """check-repro's results as JSON in the repository's RESULT_FILE; its path."""
    record = {
        "commit": commit,
        "finished": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "passed": all(result.passed for result in results),
        "checks": [dataclasses.asdict(result) for result in results],
        "fingerprint": fingerprint(repository),
    }
    path = repository / RESULT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return path


def format_result(number: int, result: Result) -> str:
    status = "PASS" if result.passed else "FAIL"
    lines = result.detail.splitlines() or [""]
    text = f"[{status}] {number}. {result.name} ({result.seconds:.0f} s): {lines[0]}"
    return "\n".join([text, *(f"         {line}" for line in lines[1:])])


def check_repro(
    repository: Path,
    exp_param: str = "train.epochs=2",
    tolerance: float = 0.005,
    fail_fast: bool = False,
    keep: bool = False,
) -> int:
    """Clone `repository` at HEAD into a temporary folder, run every check, print a report.
    Returns the process exit code: 0 if every check passed."""
    clone = Path(tempfile.mkdtemp(prefix="check-repro-"))
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repository, capture_output=True, text=True
    ).stdout.strip()
    print(f"check-repro: commit {commit[:7]} of {repository}, cloned into {clone}", flush=True)
    try:
        subprocess.run(["git", "clone", "--quiet", str(repository), str(clone)], check=True)
        for key, value in (("user.name", "check-repro"), ("user.email", "check-repro@localhost")):
            subprocess.run(["git", "config", key, value], cwd=clone, check=True)
        results = ReproCheck(clone, exp_param, tolerance, fail_fast).all()
    finally:
        if not keep:
            shutil.rmtree(clone, ignore_errors=True)
    failed = [result for result in results if not result.passed]
    print(f"check-repro: results in {write_result(repository, commit, results)}", flush=True)
    verdict = f"{len(failed)} of {len(results)} checks failed" if failed else "all checks passed"
    print(f"check-repro: {verdict} ({len(results)} of 6 run)", flush=True)
    return 1 if failed else 0
