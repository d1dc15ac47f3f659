"""Write benchmarks/replicates.csv: each seed's test metrics of replicate groups in the MLflow
store, the record the documentation's seed comparisons are generated from.

    python benchmarks/replicates.py reference lr-3e-3 jax-backend tuned

Run after `mnist-pipeline replicate` made the groups (docs/compare-runs.md, "Replicate groups
compared"); `mnist-pipeline docs` then regenerates the tables from the file. A group's
`settings` column is what its configuration changes in params.yaml (as -S would).
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

import yaml

from mnist_pipeline.params import flatten
from mnist_pipeline.tracking import groupdiff
from mnist_pipeline.tracking.rundiff import HEADLINE_TEST_METRICS
from mnist_pipeline.tracking.tracker import stringify

ROOT = Path(__file__).resolve().parents[1]
CSV_PATH = ROOT / "benchmarks" / "replicates.csv"
COLUMNS = ("group", "settings", "seed", *HEADLINE_TEST_METRICS)


def settings(group: groupdiff.Group, reference: dict[str, str]) -> str:
    """The group's params that differ from params.yaml's, as `key=value` words."""
    changed = {k: v for k, v in group.params.items() if k in reference and reference[k] != v}
    return " ".join(f"{key}={value}" for key, value in sorted(changed.items()))


def rows(groups: list[groupdiff.Group], reference: dict[str, str]) -> list[dict]:
    return [
        {
            "group": group.name,
            "settings": settings(group, reference),
            "seed": seed,
            **{metric: f"{group.by_seed[metric][seed]:.6f}" for metric in HEADLINE_TEST_METRICS},
        }
        for group in groups
        for seed in group.seeds
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("groups", nargs="+", help="replicate group names (tag replicate_group)")
    parser.add_argument("--experiment", help="the MLflow experiment (default: params.yaml's)")
    arguments = parser.parse_args(argv)
    params = yaml.safe_load((ROOT / "params.yaml").read_text("utf-8"))
    experiment = arguments.experiment or params["tracking"]["experiment"]
    reference = groupdiff.configuration(stringify(flatten(params)))
    groups = groupdiff.groups_named(experiment, arguments.groups)
    text = io.StringIO()
    writer = csv.DictWriter(text, COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows(groups, reference))
    CSV_PATH.write_text(text.getvalue(), "utf-8")
    print(f"{CSV_PATH.relative_to(ROOT)}: {len(groups)} groups")
    return 0


if __name__ == "__main__":
    sys.exit(main())
