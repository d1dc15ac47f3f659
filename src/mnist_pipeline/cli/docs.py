"""`mnist-pipeline docs`: the parts of the documentation that the code decides, generated.

Metric names and sample outputs spelled by hand go stale when the code changes. Each such
part of README.md and docs/*.md sits between two markers,

    <!-- generated: NAME -->  ...  <!-- end: NAME -->

on one line (inline, inside a sentence or a table cell) or on lines of their own (a table or
a code block). `mnist-pipeline docs` rewrites every block from the code; `--check` changes
nothing and fails naming the stale ones (tests/test_docs.py runs it). The samples are the
real renderers (`mnist-pipeline diff`, `exps`) applied to a fixed example pair of runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from mnist_pipeline import paths
from mnist_pipeline.errors import PipelineError

BLOCK = re.compile(
    r"(?P<start><!-- generated: (?P<name>[\w-]+) -->)(?P<body>.*?)(?P<end><!-- end: (?P=name) -->)",
    re.DOTALL,
)
SAMPLE_WIDTH = 80  # `mnist-pipeline exps` sample: an 80-column terminal


def documentation_files(root: Path) -> list[Path]:
    """The files that may hold generated blocks: the README and every docs/ page."""
    return [root / "README.md", *sorted((root / "docs").rglob("*.md"))]


def _names(names) -> str:
    return ", ".join(f"`{name}`" for name in names)


def dvc_metrics() -> str:
    """The headline: DVC's metrics, as `dvc exp show` and `dvc metrics diff` name them."""
    from mnist_pipeline.report import evaluation

    return _names(f"test.{name}" for name in evaluation.HEADLINE_METRICS)


def test_metrics() -> str:
    """What each MLflow run logs of the test set (and `mnist-pipeline diff` compares)."""
    from mnist_pipeline.report import evaluation

    return _names(evaluation.TEST_METRICS)


def epoch_metrics() -> str:
    from mnist_pipeline.report import history

    return _names(history.EPOCH_METRICS)


def metric_names() -> str:
    """Every metric name the pipeline writes, where it appears and where the code says it."""
    lines = ["| what | names | where | defined in |", "|---|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in _metric_rows()]
    return "\n".join(lines) + "\n"


def _metric_rows() -> list[tuple[str, str, str, str]]:
    """(what, names, where they appear, the constant that defines them), one per kind."""
    return _written_metric_rows() + _shown_metric_rows()


def _written_metric_rows() -> list[tuple[str, str, str, str]]:
    """The metrics the pipeline writes: DVC's, the test metrics, the per-epoch ones."""
    return [
        (
            "DVC metrics: the headline",
            dvc_metrics(),
            "`reports/evaluate/metrics.json`; `dvc exp show`, `dvc metrics diff`",
            "`report/evaluation.py` `HEADLINE_METRICS`",
        ),
        (
            "test metrics",
            test_metrics(),
            "each MLflow run and its `model`; `evaluated.json`; `mnist-pipeline diff`",
            "`report/evaluation.py` `TEST_METRICS`",
        ),
        (
            "per-epoch metrics",
            epoch_metrics(),
            "MLflow, at steps 1..N; `reports/train/history.csv` (after `epoch`)",
            "`report/history.py` `EPOCH_METRICS`",
        ),
    ]


def _shown_metric_rows() -> list[tuple[str, str, str, str]]:
    """Where metrics are shown: per class, the gate, the UI's runs page, `exps`."""
    from mnist_pipeline.cli import expshow
    from mnist_pipeline.report import evaluation
    from mnist_pipeline.tracking import tracker

    columns = tracker.RUNS_VIEW["selectedColumns"]  # metrics.`name`, attributes.`Models`
    view = [column.split("`")[1] for column in columns if column.startswith("metrics.")]
    return [
        (
            "per class",
            _names(evaluation.PER_CLASS_COLUMNS),
            "`reports/evaluate/per_class.csv`",
            "`report/evaluation.py` `PER_CLASS_COLUMNS`",
        ),
        (
            "the registry's gate",
            _names([evaluation.TEST_ACCURACY]),
            "compared between versions; a version tag",
            "`report/evaluation.py` `TEST_ACCURACY`",
        ),
        (
            "the runs page `make ui` opens",
            _names(view),
            "its columns, best first",
            "`tracking/tracker.py` `RUNS_VIEW`",
        ),
        (
            "`mnist-pipeline exps`",
            _names(f"test.{key}" for _, key in expshow.METRIC_COLUMNS),
            "its columns",
            "`cli/expshow.py` `METRIC_COLUMNS`",
        ),
    ]


# The example pair of runs the samples show: `dvc exp run -S train.epochs=5` against
# `-S train.learning_rate=0.003`, both from one commit. A metric the code adds shows as "-"
# until it is given a value here: the sample changes either way, and the docs go stale.
EXAMPLE_RUNS = {
    "A": {
        "id": "d2cafbfe5d6a4c8e9b1f0a2c3e4d5f60",
        "name": "epochs-5",
        "params": {"train.epochs": "5", "train.learning_rate": "0.001", "seed": "42"},
        "weights": "d9ac28be97ba",
        "test": {"accuracy": 0.9660, "loss": 0.1154, "macro_f1": 0.9657},
        "test_more": {"macro_precision": 0.9659, "macro_recall": 0.9656},
        # metric: [(epoch, value), ...]
        "epochs": {
            "loss": [(1, 0.3011), (5, 0.0907)],
            "accuracy": [(1, 0.9121), (5, 0.9729)],
            "val_loss": [(1, 0.1805), (5, 0.1262)],
            "val_accuracy": [(1, 0.9458), (5, 0.9619)],
        },
    },
    "B": {
        "id": "72369c74a1b2c3d4e5f60718293a4b5c",
        "name": "lr-0.003",
        "params": {"train.epochs": "10", "train.learning_rate": "0.003", "seed": "42"},
        "weights": "0ea107c03f06",
        "test": {"accuracy": 0.9603, "loss": 0.1847, "macro_f1": 0.9602},
        "test_more": {"macro_precision": 0.9605, "macro_recall": 0.9600},
        "epochs": {
            "loss": [(1, 0.2675), (9, 0.0608), (10, 0.0633)],
            "accuracy": [(1, 0.9203), (9, 0.9804), (10, 0.9793)],
            "val_loss": [(1, 0.1622), (7, 0.1527), (10, 0.1804)],
            "val_accuracy": [(1, 0.9501), (9, 0.9632), (10, 0.9607)],
        },
    },
}
EXAMPLE_DATA = "bd930a59a860"
EXAMPLE_CODE = "eb6f0ecf12c0"


def _example_run(run: dict):
    from mnist_pipeline.tracking import rundiff

    values = {f"test_{name}": value for name, value in {**run["test"], **run["test_more"]}.items()}
    identity = {"dataset": EXAMPLE_DATA, "weights": run["weights"], "code": EXAMPLE_CODE}
    return rundiff.RunRecord(
        run_id=run["id"],
        name=run["name"],
        params=run["params"],
        tags={rundiff.IDENTITY_TAGS[name]: value for name, value in identity.items()},
        metrics={name: value for name, value in values.items() if name in rundiff.TEST_METRICS},
        history=run["epochs"],
    )


def diff_sample() -> str:
    """`mnist-pipeline diff epochs-5 lr-0.003` on the example runs, as it prints it."""
    from mnist_pipeline.tracking import rundiff

    a, b = (_example_run(EXAMPLE_RUNS[side]) for side in "AB")
    return "```\n" + rundiff.render_text(rundiff.compare(a, b)) + "```\n"


# Replicate groups run on full MNIST (benchmarks/replicates.py writes the file from the
# store); the pairs the documentation compares: a larger learning rate, the tuned
# configuration, a slightly larger learning rate, and the same model on the JAX backend.
REPLICATES_CSV = Path("benchmarks") / "replicates.csv"
COMPARISONS = (
    ("reference", "lr-3e-3"),
    ("reference", "tuned"),
    ("reference", "lr-12e-4"),
    ("reference", "jax-backend"),
)


def _replicate_groups() -> dict:
    """benchmarks/replicates.csv's groups as `diff` sees them: params.yaml with each group's
    settings, each headline test metric by seed."""
    import csv

    import yaml

    from mnist_pipeline.params import flatten
    from mnist_pipeline.tracking import groupdiff
    from mnist_pipeline.tracking.tracker import stringify

    root = paths.project_root()
    base = stringify(flatten(yaml.safe_load((root / "params.yaml").read_text("utf-8"))))
    rows = list(csv.DictReader((root / REPLICATES_CSV).read_text("utf-8").splitlines()))
    groups = {}
    for name in dict.fromkeys(row["group"] for row in rows):
        mine = [row for row in rows if row["group"] == name]
        settings = dict(word.split("=", 1) for word in mine[0]["settings"].split())
        groups[name] = groupdiff.Group(
            name=name,
            run_ids=[f"{name}-seed{row['seed']}" for row in mine],
            params=groupdiff.configuration(base | settings),
            uniform=True,
            by_seed={
                metric: {int(row["seed"]): float(row[metric]) for row in mine}
                for metric in groupdiff.HEADLINE_TEST_METRICS
            },
        )
    return groups


def group_diff_sample() -> str:
    """`mnist-pipeline diff reference tuned` on the groups of benchmarks/replicates.csv."""
    from mnist_pipeline.tracking import groupdiff

    groups = _replicate_groups()
    diff = groupdiff.compare_groups(groups["reference"], groups["tuned"])
    return "```\n" + groupdiff.render(diff, "table") + "```\n"


def gate_sample() -> str:
    """What `mnist-pipeline publish` prints on each kind of evidence: the example runs
    (epochs-5 champion, the reference group's spread on record), then seed 1 of the `tuned`
    group against the reference group's, then a single `tuned` run against epochs-5."""
    from mnist_pipeline.params import load_params
    from mnist_pipeline.report.noise import summarize
    from mnist_pipeline.tracking import gate, registry
    from mnist_pipeline.tracking.rundiff import HEADLINE_TEST_METRICS

    a, b = (EXAMPLE_RUNS[side]["test"]["accuracy"] for side in "AB")
    groups = _replicate_groups()
    reference, tuned = (
        groups[name].by_seed[HEADLINE_TEST_METRICS[0]] for name in ("reference", "tuned")
    )
    spread = summarize(reference.values())["std"]
    multiple = load_params(paths.project_root() / "params.yaml").registry.champion_spread_multiple
    decisions = [  # run, version, champion, evidence
        ("lr-0.003", (2, b), (1, a), gate.spread_evidence(b - a, spread, multiple, ["reference"])),
        ("tuned-1", (7, tuned[1]), (3, reference[1]), gate.paired_evidence(reference, tuned)),
        (
            "tuned",
            (8, tuned[1]),
            (1, a),
            gate.spread_evidence(tuned[1] - a, spread, multiple, ["reference"]),
        ),
    ]
    lines = []
    for run, (version, accuracy), (champion, before), evidence in decisions:
        outcome = "promoted" if evidence.better else "kept"
        decision = registry.Decision(
            "mnist-classifier", str(version), accuracy, str(champion), before, evidence, outcome
        )
        lines += [f"$ mnist-pipeline publish {run}", decision.message]
    return "```\n" + "\n".join(lines) + "\n```\n"


def seed_comparisons() -> str:
    """The COMPARISONS on test accuracy as a Markdown table: each group's mean and 95%
    t-interval, the paired difference with its bootstrap interval, p and the verdict."""
    from mnist_pipeline.report import noise
    from mnist_pipeline.tracking.rundiff import HEADLINE_TEST_METRICS

    metric = HEADLINE_TEST_METRICS[0]
    groups = _replicate_groups()
    lines = [
        f"| A | B | seeds | A: {metric} | B: {metric} | B - A [95% bootstrap] | p | verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for a, b in COMPARISONS:
        sides = [noise.summarize(groups[name].by_seed[metric].values()) for name in (a, b)]
        pair = noise.paired(groups[a].by_seed[metric], groups[b].by_seed[metric])
        cells = [f"{s['mean']:.4f} [{s['low']:.4f}, {s['high']:.4f}]" for s in sides]
        change = f"{pair['mean']:+.4f} [{pair['low']:+.4f}, {pair['high']:+.4f}]"
        verdict = pair["verdict"]
        if verdict not in (noise.A_BETTER, noise.B_BETTER) and pair["seeds_needed"]:
            verdict += f" ({pair['seeds_needed']} would resolve a difference this size)"
        lines.append(
            f"| {a} | {b} | {pair['n']} | {cells[0]} | {cells[1]} | {change} "
            f"| {pair['p_value']:.4f} | {verdict} |"
        )
    return "\n".join(lines) + "\n"


def exps_sample() -> str:
    """`mnist-pipeline exps` at 80 columns: a baseline and two experiments of it."""
    from mnist_pipeline.cli import expshow

    baseline = {"train.epochs": 10, "train.learning_rate": 0.001, "seed": 42}
    activation = "model.hidden_1.activation"
    table = [  # label, {metric key: value}, params
        ("workspace", {"accuracy": 0.9694, "loss": 0.1108}, {**baseline, activation: "linear"}),
        ("main", {"accuracy": 0.9694, "loss": 0.1108}, {**baseline, activation: "linear"}),
        (
            "├── epochs-3",
            {"accuracy": 0.9626, "loss": 0.1209},
            {**baseline, "train.epochs": 3, activation: "relu"},
        ),
        (
            "└── lr-0.003",
            {"accuracy": 0.9537, "loss": 0.1680},
            {**baseline, "train.epochs": 4, "train.learning_rate": 0.003, activation: "linear"},
        ),
    ]
    rows = [
        expshow.Row(label, tuple(values.get(key) for _, key in expshow.METRIC_COLUMNS), params)
        for label, values, params in table
    ]
    return "```\n" + expshow.render(rows, SAMPLE_WIDTH) + "```\n"


def configs_table() -> str:
    """configs.yaml's configurations side by side (`mnist-pipeline config --markdown`)."""
    import yaml

    from mnist_pipeline import configs

    params = yaml.safe_load((paths.project_root() / "params.yaml").read_text("utf-8"))
    return configs.markdown_table(configs.load_configs(), params)


GENERATORS: dict[str, Callable[[], str]] = {
    "dvc-metrics": dvc_metrics,
    "test-metrics": test_metrics,
    "epoch-metrics": epoch_metrics,
    "metric-names": metric_names,
    "diff-sample": diff_sample,
    "group-diff-sample": group_diff_sample,
    "seed-comparisons": seed_comparisons,
    "exps-sample": exps_sample,
    "gate-sample": gate_sample,
    "configs-table": configs_table,
}


def blocks(text: str) -> list[tuple[str, str]]:
    """(name, what it holds now) for each generated block in `text`, in order; a block on
    lines of its own without the blank lines that set it apart."""
    found = []
    for match in BLOCK.finditer(text):
        body = match["body"]
        found.append((match["name"], body.strip("\n") + "\n" if body.startswith("\n") else body))
    return found


def block(path: Path, name: str) -> str:
    """The one generated block `name` of a file (tests read the configurations table)."""
    bodies = [body for found, body in blocks(path.read_text(encoding="utf-8")) if found == name]
    if len(bodies) != 1:
        raise PipelineError(f"{path}: {len(bodies)} generated blocks {name!r}, expected one")
    return bodies[0]


def refresh(text: str, where: str = "") -> str:
    """`text` with every generated block rewritten; an unknown block name is an error."""

    def replace(match: re.Match) -> str:
        name = match["name"]
        if name not in GENERATORS:
            raise PipelineError(
                f"{where}: unknown generated block {name!r} (known: {', '.join(GENERATORS)})"
            )
        body = GENERATORS[name]()
        if match["body"].startswith("\n"):  # a block on lines of its own
            body = f"\n\n{body}\n"
        return match["start"] + body + match["end"]

    return BLOCK.sub(replace, text)


def stale(root: Path) -> list[str]:
    """`file: block` for every generated block that differs from a fresh generation."""
    found = []
    for path in documentation_files(root):
        text = path.read_text(encoding="utf-8")
        where = str(path.relative_to(root))
        pairs = zip(blocks(text), blocks(refresh(text, where)), strict=True)
        found += [f"{where}: {name}" for (name, body), (_, new) in pairs if body != new]
    return found


def write(root: Path) -> list[str]:
    """Rewrite every file whose generated blocks are stale; the files changed."""
    changed = []
    for path in documentation_files(root):
        text = path.read_text(encoding="utf-8")
        where = str(path.relative_to(root))
        new = refresh(text, where)
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(where)
    return changed
