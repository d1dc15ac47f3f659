"""`make seeds`: how much test accuracy moves with the seed alone, per configuration.

For each named configuration of configs.yaml and each seed it runs one DVC experiment from
HEAD, in a temporary copy (the workspace stays as it is), named `seeds-<config>-<seed>`:

    dvc exp run --temp -n seeds-tuned-3 -S seed=3 <the configuration's -S overrides>

The seed drives the train/validation split and every draw of training (initial weights,
shuffling, dropout masks, image shifts): the spread a user meets by rerunning with another
seed. Each run's test metrics come from its MLflow run (named after the experiment), its fit
time from the train stage's log, the machine's load from /proc/loadavg. Raw rows go to
benchmarks/seeds.csv (rows of other configurations or seeds already there are kept), the
summary (mean ± sample standard deviation) and the commands to benchmarks/seeds.md.

    python benchmarks/seeds.py --seeds 1 2 3 4 5 --config reference tuned
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import re
import shlex
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CSV_PATH = ROOT / "benchmarks" / "seeds.csv"
MARKDOWN_PATH = ROOT / "benchmarks" / "seeds.md"
COLUMNS = (
    "config",
    "seed",
    "test_accuracy",
    "test_loss",
    "test_macro_f1",
    "fit_seconds",
    "load_1min",
    "commit",
    "experiment",
    "command",
)
FIT_LINE = re.compile(r"fit: (\d+) epochs in ([\d.]+) s")
NOTEBOOK_ACCURACY = 0.9754  # what the reference notebook printed (Keras 2)


def experiment_name(config: str, seed: int) -> str:
    return f"seeds-{config}-{seed}"


def command(config: str, seed: int, overrides: list[str]) -> list[str]:
    return [
        "dvc",
        "exp",
        "run",
        "--temp",
        "-n",
        experiment_name(config, seed),
        "-S",
        f"seed={seed}",
        *overrides,
    ]


def run_one(config: str, seed: int, overrides: list[str]) -> dict[str, str]:
    name = experiment_name(config, seed)
    # A rerun replaces this commit's experiment of that name (by its full ref: a bare name
    # would remove the one experiment of that name from any commit).
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    ref = f"refs/exps/{head[:2]}/{head[2:]}/{name}"
    if subprocess.run(["git", "show-ref", "--quiet", "--verify", ref], cwd=ROOT).returncode == 0:
        subprocess.run(["dvc", "exp", "remove", ref], cwd=ROOT, check=True, capture_output=True)
    arguments = command(config, seed, overrides)
    load = os.getloadavg()[0]
    print(f"$ {shlex.join(arguments)}", flush=True)
    result = subprocess.run(arguments, cwd=ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{name} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    fits = FIT_LINE.findall(result.stdout + result.stderr)
    metrics = test_metrics(name)
    row = {
        "config": config,
        "seed": str(seed),
        "experiment": name,
        "commit": head[:7],
        "command": shlex.join(arguments),
        "load_1min": f"{load:.1f}",
        "fit_seconds": fits[-1][1] if fits else "",
        **{key: f"{metrics[key]:.4f}" for key in ("test_accuracy", "test_loss", "test_macro_f1")},
    }
    print(f"  test accuracy {row['test_accuracy']}, fit {row['fit_seconds']} s, load {load:.1f}")
    return row


def test_metrics(name: str) -> dict[str, float]:
    """The test metrics of the newest MLflow run named `name` (the project's store, or
    MLFLOW_TRACKING_URI)."""
    import mlflow

    from mnist_pipeline.tracking import tracker

    client = mlflow.MlflowClient(tracker.tracking_uri())
    experiment = client.get_experiment_by_name("mnist-pipeline")
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"attributes.run_name = '{name}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not runs or "test_accuracy" not in runs[0].data.metrics:
        sys.exit(f"{name}: no MLflow run with test metrics")
    return runs[0].data.metrics


def read_rows() -> list[dict[str, str]]:
    if not CSV_PATH.exists():
        return []
    return list(csv.DictReader(io.StringIO(CSV_PATH.read_text())))


def write_rows(rows: list[dict[str, str]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(sorted(rows, key=lambda row: (row["config"], int(row["seed"]))))
    CSV_PATH.write_text(buffer.getvalue())


def summary(rows: list[dict[str, str]]) -> str:
    configs = list(dict.fromkeys(row["config"] for row in rows))
    lines = [
        "# Seed spread of test accuracy",
        "",
        "Written by `benchmarks/seeds.py` (`make seeds`, `make seeds-fashion`) from",
        "`benchmarks/seeds.csv`. Each run is a DVC experiment from the commit in its row, with",
        "only `seed` changed (the split and every training draw). Standard deviation: sample",
        f"(n - 1). The reference notebook printed {NOTEBOOK_ACCURACY}. Fit time: the train",
        "stage's timer around `fit` (validation included); load: the machine's 1-minute load",
        "average (2 cores) as the run started.",
        "",
        "| configuration | seeds | test accuracy, mean ± sd | min | max | fit s, median |",
        "|---|---|---|---|---|---|",
    ]
    for config in configs:
        mine = [row for row in rows if row["config"] == config]
        accuracy = [float(row["test_accuracy"]) for row in mine]
        fits = [float(row["fit_seconds"]) for row in mine if row["fit_seconds"]]
        spread = statistics.stdev(accuracy) if len(accuracy) > 1 else float("nan")
        seeds = ", ".join(row["seed"] for row in mine)
        fit = f"{statistics.median(fits):.1f}" if fits else "-"
        lines.append(
            f"| {config} | {seeds} | {statistics.mean(accuracy):.4f} ± {spread:.4f} "
            f"| {min(accuracy):.4f} | {max(accuracy):.4f} | {fit} |"
        )
    lines += [
        "",
        "## Runs",
        "",
        "| configuration | seed | test accuracy | test loss | macro F1 "
        "| fit s | load (1 min) | commit |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {row['config']} | {row['seed']} | {row['test_accuracy']} | {row['test_loss']} "
        f"| {row['test_macro_f1']} | {row['fit_seconds'] or '-'} | {row['load_1min']} "
        f"| {row['commit']} |"
        for row in rows
    ]
    lines += ["", "## Commands", "", "```bash"] + [row["command"] for row in rows] + ["```", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument(
        "--config", nargs="+", metavar="NAME", required=True, help="configurations of configs.yaml"
    )
    arguments = parser.parse_args()
    overrides = config_overrides(arguments.config)
    rows = read_rows()
    for config in arguments.config:
        for seed in arguments.seeds:
            row = run_one(config, seed, overrides[config])
            rows = [r for r in rows if (r["config"], r["seed"]) != (config, str(seed))] + [row]
            write_rows(rows)  # after each run: an interruption keeps what was measured
    write_summary()


def config_overrides(names: list[str]) -> dict[str, list[str]]:
    """Each named configuration's -S arguments, all checked before the first run."""
    from mnist_pipeline import configs
    from mnist_pipeline.errors import ParamsError
    from mnist_pipeline.search import searchfile

    try:
        configurations = configs.load_configs(ROOT / configs.FILENAME, ROOT / "params.yaml")
        return {name: searchfile.set_params(configs.named(configurations, name)) for name in names}
    except ParamsError as error:
        sys.exit(f"seeds.py: {error}")


def write_summary() -> None:
    rows = read_rows()
    MARKDOWN_PATH.write_text(summary(rows))
    print(summary(rows))


if __name__ == "__main__":
    main()
