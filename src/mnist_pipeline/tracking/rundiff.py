"""`mnist-pipeline diff`: what changed between two tracked runs, and did the outcome change.

Reads through `MlflowClient`, so the embedded store and a tracking server work alike.
`compare` is pure (two `RunRecord`s in, a JSON-able dict out); the renderers format it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from mnist_pipeline.errors import RunError
from mnist_pipeline.report.evaluation import HEADLINE_METRICS, TEST_METRICS
from mnist_pipeline.report.history import EPOCH_METRICS
from mnist_pipeline.report.noise import SPREAD_MULTIPLE
from mnist_pipeline.tracking.tracker import EXPERIMENT_TAG, WEIGHTS_TAG

IDENTITY_TAGS = {"dataset": "dataset_sha256", "weights": WEIGHTS_TAG, "code": "git_commit"}
SHORT_ID = 8  # how many characters of a run id people see (and type)
HEADLINE_TEST_METRICS = tuple(f"test_{name}" for name in HEADLINE_METRICS)


@dataclass
class RunRecord:
    run_id: str
    name: str
    params: dict[str, str]
    tags: dict[str, str]
    metrics: dict[str, float]
    # metric -> [(epoch, value), ...]: MLflow steps are epochs 1..N
    history: dict[str, list[tuple[int, float]]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.run_id[:SHORT_ID]} ({self.name})"


def fetch_run(client, run_id: str, experiment_id: str) -> RunRecord:
    """A run with its per-epoch histories; RunError if it is unknown or elsewhere."""
    from mlflow.exceptions import MlflowException

    try:
        run = client.get_run(run_id)
    except MlflowException:
        raise RunError(f"no run {run_id} in the tracking store") from None
    if run.info.experiment_id != experiment_id:
        other = client.get_experiment(run.info.experiment_id).name
        raise RunError(f"run {run_id} belongs to experiment {other!r}, not the one compared")
    history = {}
    for metric in EPOCH_METRICS:
        points = sorted(client.get_metric_history(run_id, metric), key=lambda m: m.step)
        history[metric] = [(point.step, point.value) for point in points]
    return RunRecord(
        run_id=run_id,
        name=run.info.run_name or "",
        params=dict(run.data.params),
        tags={k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.")},
        metrics=dict(run.data.metrics),
        history=history,
    )


def load_runs(experiment: str, references: list[str]) -> list[RunRecord]:
    """The runs `references` name in the experiment (see `resolve`), as plain records: what
    `mnist-pipeline diff` compares."""
    from mnist_pipeline.tracking.tracker import open_experiment

    client, experiment_id = open_experiment(experiment)
    return fetch_runs(client, experiment_id, trained_runs(client, experiment_id), references)


def fetch_runs(client, experiment_id: str, runs: list, references: list[str]) -> list[RunRecord]:
    """The records of the runs `references` name among `runs` (see `resolve`)."""
    ids = [_resolve_one(runs, reference) for reference in references or ["previous", "latest"]]
    if len(ids) == 2 and ids[0] == ids[1]:  # `diff latest` with one run: nothing reproduced
        raise RunError(
            f"{references[0]} and {references[1]} are the same run {ids[0][:SHORT_ID]}: name "
            "another run to compare it with"
        )
    return [fetch_run(client, run_id, experiment_id) for run_id in ids]


def resolve_one(experiment: str, reference: str) -> str:
    """The run id a reference names in the experiment (see `resolve`)."""
    from mnist_pipeline.tracking.tracker import open_experiment

    client, experiment_id = open_experiment(experiment)
    return resolve(client, experiment_id, [reference])[0]


def trained_runs(client, experiment_id: str) -> list:
    """The experiment's runs that trained a model, newest first."""
    return client.search_runs(
        [experiment_id],
        filter_string=f"tags.{WEIGHTS_TAG} != ''",
        order_by=["attributes.start_time DESC"],
        max_results=1000,
    )


def resolve(client, experiment_id: str, references: list[str]) -> list[str]:
    """Run ids for `references`, each a full or short run id (a prefix), a run name, a DVC
    experiment name, `latest` or `previous`; none means the two most recent runs, older
    first. An ambiguous reference is an error listing the runs it could mean."""
    runs = trained_runs(client, experiment_id)
    return [_resolve_one(runs, reference) for reference in references or ["previous", "latest"]]


def _resolve_one(runs: list, reference: str) -> str:
    if reference in ("latest", "previous"):
        position = 0 if reference == "latest" else 1
        if len(runs) <= position:
            raise RunError(
                f"the experiment has {len(runs)} trained run(s): need two to compare "
                "(run the pipeline again, e.g. `dvc exp run --temp -S seed=1`)"
            )
        return runs[position].info.run_id
    by_id = [run for run in runs if run.info.run_id.startswith(reference.lower())]
    by_name = [
        run for run in runs if reference in (run.info.run_name, run.data.tags.get(EXPERIMENT_TAG))
    ]
    if by_id and len(reference) >= 4:
        matches = by_id
    elif by_name:
        matches = by_name[:1]  # a name used again (reruns): its newest run
    elif len(reference) == 32:
        return reference  # a full id of an untrained or another experiment's run: fetch_run says
    elif by_id:
        raise RunError(
            f"{reference!r} is too short for a run id: an id prefix needs at least 4 characters "
            f"({len(by_id)} run id(s) begin with it)"
        )
    else:
        raise RunError(
            f"{reference!r} is no run id (or its first characters), run name, DVC experiment "
            "name, `latest` or `previous` of a trained run in this experiment"
        )
    if len(matches) > 1:
        candidates = ", ".join(f"{run.info.run_id[:12]} ({run.info.run_name})" for run in matches)
        raise RunError(f"{reference!r} is ambiguous: it begins the ids of {candidates}")
    return matches[0].info.run_id


def _best(metric: str, points: list[tuple[int, float]]) -> tuple[float | None, int | None]:
    """The best value and its epoch (the first, on ties)."""
    if not points:
        return None, None
    sign = 1 if metric.endswith("loss") else -1
    epoch, value = min(points, key=lambda point: (sign * point[1], point[0]))
    return value, epoch


def _delta(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else b - a


def compare(
    a: RunRecord, b: RunRecord, all_params: bool = False, spread: dict | None = None
) -> dict[str, Any]:
    """Params, per-epoch metrics (final and best), test metrics, identity, a verdict, and the
    headline test metrics' differences against `spread` (see `noise_against_spread`)."""
    params = param_rows(a, b, all_params)
    identity = _identity(a, b)
    return {
        "a": {"run_id": a.run_id, "label": a.label},
        "b": {"run_id": b.run_id, "label": b.label},
        "params": params,
        "epoch_metrics": [_epoch_row(metric, a, b) for metric in EPOCH_METRICS],
        "test_metrics": [
            {
                "metric": metric,
                "a": a.metrics.get(metric),
                "b": b.metrics.get(metric),
                "delta": _delta(a.metrics.get(metric), b.metrics.get(metric)),
            }
            for metric in TEST_METRICS
        ],
        "identity": identity,
        "verdict": verdict(identity, [row["param"] for row in params if row["changed"]]),
        "noise": noise_against_spread(a, b, spread),
    }


def higher_is_better(metric: str) -> bool:
    return not metric.endswith("loss")


def noise_against_spread(a: RunRecord, b: RunRecord, spread: dict | None) -> dict[str, Any]:
    """Each headline test metric's B - A against the seed spread of its configuration:
    `spread` is {"source": which replicate group(s), "std": {metric: sd}}, or None when no
    replicate group of either run's configuration is recorded."""
    from mnist_pipeline.report.noise import against_spread

    if spread is None:
        return {"source": None, "metrics": []}
    rows = []
    for metric in HEADLINE_TEST_METRICS:
        delta = _delta(a.metrics.get(metric), b.metrics.get(metric))
        std = spread["std"].get(metric)
        judged = against_spread(delta, std, SPREAD_MULTIPLE, higher_is_better(metric))
        rows.append({"metric": metric, **judged})
    return {"source": spread["source"], "metrics": rows}


def param_rows(a: RunRecord, b: RunRecord, all_params: bool) -> list[dict[str, Any]]:
    """One row per param that differs (every param with `all_params`), by name."""
    return [
        {
            "param": key,
            "a": a.params.get(key),
            "b": b.params.get(key),
            "changed": a.params.get(key) != b.params.get(key),
        }
        for key in sorted(set(a.params) | set(b.params))
        if all_params or a.params.get(key) != b.params.get(key)
    ]


def _epoch_row(metric: str, a: RunRecord, b: RunRecord) -> dict[str, Any]:
    """A per-epoch metric's final and best value (and its epoch) in each run."""
    row: dict[str, Any] = {"metric": metric}
    for side, run in (("a", a), ("b", b)):
        points = run.history.get(metric, [])
        best, epoch = _best(metric, points)
        row |= {
            f"{side}_final": points[-1][1] if points else None,
            f"{side}_best": best,
            f"{side}_best_epoch": epoch,
        }
    row["final_delta"] = _delta(row["a_final"], row["b_final"])
    return row


def _identity(a: RunRecord, b: RunRecord) -> dict[str, dict[str, Any]]:
    """Each identity tag (dataset, weights, code) in both runs, and whether it is the same."""
    return {
        name: {
            "a": a.tags.get(tag),
            "b": b.tags.get(tag),
            "same": a.tags.get(tag) is not None and a.tags.get(tag) == b.tags.get(tag),
        }
        for name, tag in IDENTITY_TAGS.items()
    }


def verdict(identity: dict, changed_params: list[str]) -> str:
    same = {name: entry["same"] for name, entry in identity.items()}
    if same["weights"]:
        return "identical run, reproduced: same weights" + (
            "" if same["code"] and same["dataset"] else " (from different code or data records)"
        )
    context = [
        f"{'same' if same['code'] else 'different'} code",
        f"{'same' if same['dataset'] else 'different'} data",
    ]
    if changed_params:
        shown = ", ".join(changed_params[:4]) + (", ..." if len(changed_params) > 4 else "")
        return f"{', '.join(context)}, different params ({shown}): different weights"
    return f"{', '.join(context)}, same params: different weights (not reproduced)"


# Rendering

Tables = list[tuple[str, list[str], list[list[str]]]]  # (title, header, rows) per table


def _number(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.4f}"


def _best_cell(value: float | None, epoch: int | None) -> str:
    return "-" if value is None else f"{value:.4f} @{epoch}"


def _short(value: str | None) -> str:
    return "-" if value is None else value[:12]


def sections(diff: dict[str, Any]) -> Tables:
    """(title, header, rows) for each table, shared by the text and markdown renderers."""
    a, b = "A", "B"
    params = [[row["param"], str(row["a"]), str(row["b"])] for row in diff["params"]]
    epochs = [
        [
            row["metric"],
            _number(row["a_final"]),
            _number(row["b_final"]),
            _signed(row["final_delta"]),
            _best_cell(row["a_best"], row["a_best_epoch"]),
            _best_cell(row["b_best"], row["b_best_epoch"]),
        ]
        for row in diff["epoch_metrics"]
    ]
    tests = [
        [row["metric"], _number(row["a"]), _number(row["b"]), _signed(row["delta"])]
        for row in diff["test_metrics"]
    ]
    identity = [
        [name, _short(entry["a"]), _short(entry["b"]), "same" if entry["same"] else "DIFFERENT"]
        for name, entry in diff["identity"].items()
    ]
    return [
        ("Params" + ("" if params else ": none differ"), ["param", a, b], params),
        (
            "Per-epoch metrics (final, and best with its epoch)",
            ["metric", f"{a} final", f"{b} final", "delta", f"{a} best", f"{b} best"],
            epochs,
        ),
        ("Test metrics", ["metric", a, b, "delta"], tests),
        ("Identity", ["", a, b, ""], identity),
        _noise_section(diff["noise"]),
    ]


def _noise_section(noise: dict[str, Any]) -> tuple[str, list[str], list[list[str]]]:
    """The headline differences against the recorded seed spread, or a plain 'none recorded'."""
    if noise["source"] is None:
        return (
            "Seed noise: no seed spread recorded for either run's configuration (a replicate "
            "group with the same params except seed): the differences cannot be told from seed "
            "noise",
            [],
            [],
        )
    rows = [
        [row["metric"], _signed(row["delta"]), _number(row["spread"]), row["verdict"]]
        for row in noise["metrics"]
    ]
    return (
        f"Seed noise: B - A against the seed spread of {noise['source']}",
        ["metric", "delta", "seed sd", "verdict"],
        rows,
    )


def render_text(diff: dict[str, Any], tables: Tables | None = None) -> str:
    """The diff as aligned tables; `tables` another kind of diff's (default `sections`)."""
    lines = [f"A: {diff['a']['label']}", f"B: {diff['b']['label']}", ""]
    for title, header, rows in sections(diff) if tables is None else tables:
        lines.append(title)
        if rows:
            widths = [
                max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)
            ]
            for row in [header, *rows]:
                lines.append(
                    "  "
                    + "  ".join(
                        cell.ljust(width) for cell, width in zip(row, widths, strict=True)
                    ).rstrip()
                )
        lines.append("")
    lines.append(f"Verdict: {diff['verdict']}")
    return "\n".join(lines) + "\n"


def render_markdown(diff: dict[str, Any], tables: Tables | None = None) -> str:
    """The diff as GitHub Markdown tables; `tables` as for `render_text`."""
    what = "Run diff" if tables is None else "Replicate groups"
    lines = [f"### {what}: A `{diff['a']['label']}` vs B `{diff['b']['label']}`", ""]
    for title, header, rows in sections(diff) if tables is None else tables:
        lines += [f"**{title}**", ""]
        if rows:
            lines.append("| " + " | ".join(header) + " |")
            lines.append("|" + "|".join("---" for _ in header) + "|")
            lines += [
                "| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows
            ]
            lines.append("")
    lines.append(f"**Verdict:** {diff['verdict']}")
    return "\n".join(lines) + "\n"


def render_json(diff: dict[str, Any]) -> str:
    return json.dumps(diff, indent=2, sort_keys=True) + "\n"


def curves_figure(a: RunRecord, b: RunRecord):
    """Both runs' loss and accuracy per epoch: train solid, validation dashed."""
    from mnist_pipeline.report.figures import plt

    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for axis, metric, label in (
        (axes[0], "loss", "Cross-entropy loss"),
        (axes[1], "accuracy", "Accuracy"),
    ):
        for run, color in ((a, "tab:blue"), (b, "tab:orange")):
            for key, style, kind in ((metric, "-", "train"), (f"val_{metric}", "--", "validation")):
                epochs, values = zip(*run.history.get(key, []), strict=True) or ((), ())
                axis.plot(
                    epochs,
                    values,
                    style,
                    color=color,
                    marker="o",
                    markersize=3,
                    label=f"{run.label}: {kind}",
                )
        axis.set_title(f"{label} per epoch")
        axis.set_xlabel("Epoch")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.suptitle("Run A (blue) vs run B (orange): train solid, validation dashed")
    figure.tight_layout()
    return figure
