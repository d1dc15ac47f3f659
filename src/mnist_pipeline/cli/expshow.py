"""`mnist-pipeline exps`: DVC's experiments table narrowed to what fits a terminal.

`dvc exp show` puts every column on one line; at 80 columns it collapses what does not fit
into `…`, so with three changed params the table hides params whatever --drop/--keep say.
This reads the same data (`dvc exp show --json`, DVC's machine-readable output) and prints
one row per commit or experiment: its name, test accuracy and loss, then `key=value` for each
param whose value is not the same in every row, wrapped onto following lines as needed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from typing import Any

from mnist_pipeline import paths
from mnist_pipeline.errors import PipelineError

PARAMS_FILE = "params.yaml"
METRIC_COLUMNS = (("test accuracy", "accuracy"), ("test loss", "loss"))  # (header, key)


@dataclass(frozen=True)
class Row:
    label: str  # the tree prefix and name, as `dvc exp show` draws them
    metrics: tuple[float | None, ...]  # in METRIC_COLUMNS order; None: not there (failed, ...)
    params: dict[str, Any]  # flattened: "model.hidden_1.units" -> 128


def dvc_experiments(dvc_options: list[str]) -> list[dict]:
    """`dvc exp show --json DVC_OPTIONS`, parsed; PipelineError with DVC's reason if it fails."""
    command = [sys.executable, "-m", "dvc", "exp", "show", "--json", *dvc_options]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        raise PipelineError(f"dvc exp show failed: {lines[-1]}")
    return json.loads(done.stdout)


def flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    """{"train": {"epochs": 10}} -> {"train.epochs": 10}, as `dvc exp show` names params."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat |= flatten(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _row(label: str, state: dict) -> Row:
    data = state.get("data") or {}
    params: dict[str, Any] = {}
    for file, content in (data.get("params") or {}).items():
        prefix = "" if file == PARAMS_FILE else f"{file}:"
        params |= flatten((content or {}).get("data") or {}, prefix)
    tests = ((data.get("metrics") or {}).get(paths.METRICS) or {}).get("data") or {}
    tests = tests.get("test") or {}
    return Row(label, tuple(tests.get(key) for _, key in METRIC_COLUMNS), params)


def rows(baselines: list[dict]) -> list[Row]:
    """Each baseline (the workspace, commits), then its experiments drawn as a tree."""
    found = []
    for baseline in baselines:
        rev = baseline["rev"]
        name = baseline.get("name") or (rev if rev == "workspace" else rev[:7])
        found.append(_row(name, baseline))
        experiments = baseline.get("experiments") or []
        for position, experiment in enumerate(experiments):
            newest = experiment["revs"][0]
            name = experiment.get("name") or newest.get("name") or newest["rev"][:7]
            state = (experiment.get("executor") or {}).get("state")
            if state and state != "success":
                name += f" ({state})"  # queued, running, failed
            branch = "└── " if position == len(experiments) - 1 else "├── "
            found.append(_row(branch + name, newest))
    return found


def changed_params(table: list[Row]) -> list[str]:
    """The params whose value is not the same in every row, in params.yaml's order."""
    keys = list(dict.fromkeys(key for row in table for key in row.params))
    return [key for key in keys if len({json.dumps(row.params.get(key)) for row in table}) > 1]


def _value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def render(table: list[Row], width: int) -> str:
    """Name and metrics, then the changed params wrapped to `width`: in a column beside the
    metrics where the longest `key=value` fits there, else on the lines under each row."""
    keys = changed_params(table)
    pairs = [[f"{key}={_value(row.params.get(key))}" for key in keys] for row in table]
    name_width = max(len("experiment"), *(len(row.label) for row in table))
    header = "experiment".ljust(name_width)
    for title, _ in METRIC_COLUMNS:
        header += f"  {title}"
    longest = max((len(pair) for row in pairs for pair in row), default=0)
    beside = len(header) + 2 + longest <= width
    indent = len(header) + 2 if beside else 4  # where the params start
    lines = [header + ("  params that differ" if keys and beside else "")]
    for row, row_pairs in zip(table, pairs, strict=True):
        line = row.label.ljust(name_width)
        for (title, _), metric in zip(METRIC_COLUMNS, row.metrics, strict=True):
            line += "  " + ("-" if metric is None else f"{metric:.4f}").rjust(len(title))
        margin = " " * indent
        wrapped = textwrap.wrap(
            " ".join(row_pairs),
            max(width, indent + 1),
            initial_indent=margin,
            subsequent_indent=margin,
            break_long_words=False,  # a key=value too long for the line overflows, whole
            break_on_hyphens=False,
        )
        if beside and wrapped:
            line += "  " + wrapped.pop(0).lstrip()
        lines += [line, *wrapped]
    return "".join(line.rstrip() + "\n" for line in lines)
