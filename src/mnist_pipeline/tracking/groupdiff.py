"""`mnist-pipeline diff` with the seed noise: replicate groups compared with a paired test, and
a pair of single runs judged against the recorded seed spread of their configuration.

A replicate group is the trained runs of one experiment that carry the same
`GROUP_TAG` value, one per seed (the `seed` param; a seed run again counts once, its
newest run). A reference that names a group's tag value means the group; anything else is
a run as `rundiff.resolve` finds it. The statistics are report/noise.py's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mnist_pipeline.errors import RunError, TrackingError
from mnist_pipeline.report.noise import paired, summarize
from mnist_pipeline.tracking import rundiff
from mnist_pipeline.tracking.rundiff import HEADLINE_TEST_METRICS, higher_is_better
from mnist_pipeline.tracking.studyrun import GROUP_TAG

SEED_PARAM = "seed"
GROUPS = "replicate groups"  # a diff's `kind` when it compares groups, not two runs


@dataclass
class Group:
    name: str
    run_ids: list[str]
    params: dict[str, str]  # those every run shares, the seed left out
    uniform: bool  # every run has the same params but the seed: a configuration's spread
    by_seed: dict[str, dict[int, float]]  # headline test metric -> {seed: value}

    @property
    def seeds(self) -> list[int]:
        return sorted({seed for values in self.by_seed.values() for seed in values})

    @property
    def label(self) -> str:
        seeds = ", ".join(str(seed) for seed in self.seeds)
        return f"group {self.name} ({len(self.run_ids)} runs, seeds {seeds})"


# Logged params that do not change what is trained or how it scores: where runs go and how
# they are published or drawn (no stage up to evaluate reads registry, plot, scratch, or
# data.source/verify: the data is checked by its hash), and what is documented to give
# identical weights (tracking.experiment, train.threads, train.steps_per_execution); and the
# served model's config (`dataset`, `class_names`), which MLflow logs as run params beside
# data.dataset, their source. Left out of a configuration, so that renaming such a param does
# not orphan a recorded seed spread, and a Params compares with a run's logged params.
OUTSIDE_CONFIGURATION = (
    "dataset",
    "class_names",
    "registry.",
    "plot.",
    "scratch.",
    "tracking.",
    "data.source",
    "data.verify",
    "train.threads",
    "train.steps_per_execution",
)


def configuration(params: dict[str, str]) -> dict[str, str]:
    """What a run's params say about its configuration: those that decide the trained model
    and its test metrics, the seed left out (a group varies it)."""
    return {
        key: value
        for key, value in params.items()
        if key != SEED_PARAM and not key.startswith(OUTSIDE_CONFIGURATION)
    }


def group_names(runs: list) -> set[str]:
    return {run.data.tags[GROUP_TAG] for run in runs if run.data.tags.get(GROUP_TAG)}


def _seed(run) -> int:
    value = run.data.params.get(SEED_PARAM)
    try:
        return int(value)
    except (TypeError, ValueError):
        raise RunError(
            f"run {run.info.run_id[: rundiff.SHORT_ID]} of replicate group "
            f"{run.data.tags[GROUP_TAG]!r} has no integer {SEED_PARAM!r} param "
            f"({value!r})"
        ) from None


def group_of(runs: list, name: str) -> Group | None:
    """The group `name` among `runs` (newest first: a seed's newest run counts), or None."""
    chosen: dict[int, Any] = {}
    for run in runs:
        if run.data.tags.get(GROUP_TAG) == name:
            chosen.setdefault(_seed(run), run)
    if not chosen:
        return None
    configs = [configuration(dict(run.data.params)) for run in chosen.values()]
    shared = {
        key: value for key, value in configs[0].items() if all(c.get(key) == value for c in configs)
    }
    by_seed = {
        metric: {
            seed: run.data.metrics[metric]
            for seed, run in chosen.items()
            if metric in run.data.metrics
        }
        for metric in HEADLINE_TEST_METRICS
    }
    return Group(
        name=name,
        run_ids=[run.info.run_id for run in chosen.values()],
        params=shared,
        uniform=all(config == configs[0] for config in configs),
        by_seed=by_seed,
    )


def load(
    experiment: str, references: list[str], all_params: bool = False
) -> tuple[dict, list | None]:
    """The diff `mnist-pipeline diff` prints, and the two run records (None for groups): two
    group names compare the groups, two runs compare the runs with their recorded spread."""
    from mnist_pipeline.tracking.tracker import open_experiment

    client, experiment_id = open_experiment(experiment)
    runs = rundiff.trained_runs(client, experiment_id)
    names = group_names(runs)
    references = references or ["previous", "latest"]
    named = [reference for reference in references if reference in names]
    if len(named) == len(references) == 2:
        a, b = (group_of(runs, reference) for reference in references)
        return compare_groups(a, b, all_params), None
    if named:
        other = next(reference for reference in references if reference not in names)
        raise RunError(
            f"{named[0]!r} is a replicate group and {other!r} is not: compare two groups "
            f"(groups here: {', '.join(sorted(names))}) or two runs"
        )
    a, b = rundiff.fetch_runs(client, experiment_id, runs, references)
    return rundiff.compare(a, b, all_params, spread=recorded_spread(runs, [a, b])), [a, b]


def groups_named(experiment: str, names: list[str]) -> list[Group]:
    """The replicate groups `names` of `experiment`; RunError naming those it lacks."""
    from mnist_pipeline.tracking.tracker import open_experiment

    client, experiment_id = open_experiment(experiment)
    runs = rundiff.trained_runs(client, experiment_id)
    missing = [name for name in names if name not in group_names(runs)]
    if missing:
        raise RunError(
            f"no replicate group {', '.join(missing)} in experiment {experiment!r} "
            f"(groups: {', '.join(sorted(group_names(runs))) or 'none'})"
        )
    return [group_of(runs, name) for name in names]


def recorded_spread(runs: list, records: list) -> dict[str, Any] | None:
    """The seed spread of the runs' configurations: each headline metric's sd over a group
    with the same params but the seed (pooled when both runs' configurations have one), and
    which groups it came from; None when neither configuration has a group."""
    groups = [group_of(runs, name) for name in sorted(group_names(runs))]
    found, sides = [], {}  # the groups, and which side's configuration each is
    for side, record in zip("AB", records, strict=True):
        target = configuration(record.params)
        match = next((g for g in groups if g.uniform and g.params == target), None)
        if match is not None and match not in found:
            found.append(match)
        if match is not None:
            sides.setdefault(match.name, []).append(side)
    if not found:
        return None
    std = {}
    for metric in HEADLINE_TEST_METRICS:
        sds = [summarize(group.by_seed[metric].values())["std"] for group in found]
        sds = [sd for sd in sds if sd is not None]
        if sds:  # pooled: the root of the mean variance
            std[metric] = math.sqrt(sum(sd * sd for sd in sds) / len(sds))
    source = " and ".join(
        f"{' and '.join(sides[group.name])}'s configuration: group {group.name} "
        f"({len(group.run_ids)} seeds)"
        for group in found
    )
    return {"source": source, "groups": [group.name for group in found], "std": std}


def configuration_spread(experiment: str, params) -> dict[str, Any] | None:
    """The recorded seed spread of the configuration `params` (a Params, as the pipeline
    would run it): each headline test metric's sd over the replicate group whose runs have
    these params but the seed, as `recorded_spread` finds it for a run; None when no group
    has them. RunError/TrackingError when the store or the experiment is not there."""
    from mnist_pipeline.params import flatten
    from mnist_pipeline.tracking.tracker import (
        check_reachable,
        open_experiment,
        stringify,
        tracking_uri,
    )

    uri = tracking_uri()
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        raise TrackingError(f"no MLflow store at {uri}")  # reading must not create one
    check_reachable(uri)  # fail in seconds, not after MLflow's retries
    client, experiment_id = open_experiment(experiment)
    runs = rundiff.trained_runs(client, experiment_id)
    target = configuration(stringify(flatten(params)))
    groups = [group_of(runs, name) for name in sorted(group_names(runs))]
    group = next((g for g in groups if g.uniform and g.params == target), None)
    if group is None:
        return None
    std = {
        metric: sd
        for metric in HEADLINE_TEST_METRICS
        if (sd := summarize(group.by_seed[metric].values())["std"]) is not None
    }
    source = f"replicate group {group.name} ({len(group.run_ids)} seeds)"
    return {"source": source, "groups": [group.name], "std": std}


def compare_groups(a: Group, b: Group, all_params: bool = False) -> dict[str, Any]:
    """Each side's mean and 95% interval per headline test metric, the paired difference
    over common seeds, and the headline (test accuracy) verdict."""
    metrics = [
        {
            "metric": metric,
            "a": summarize(a.by_seed[metric].values()),
            "b": summarize(b.by_seed[metric].values()),
            "paired": paired(a.by_seed[metric], b.by_seed[metric], higher_is_better(metric)),
        }
        for metric in HEADLINE_TEST_METRICS
    ]
    headline = metrics[0]
    return {
        "kind": GROUPS,
        "a": _side(a),
        "b": _side(b),
        "params": rundiff.param_rows(a, b, all_params),  # a Group has params too
        "metrics": metrics,
        "verdict": f"{headline['metric']}: {headline['paired']['verdict']} "
        f"({headline['paired']['why']})",
    }


def _side(group: Group) -> dict[str, Any]:
    return {
        "group": group.name,
        "label": group.label,
        "run_ids": group.run_ids,
        "seeds": group.seeds,
    }


# Rendering


def _summary_cell(summary: dict[str, Any]) -> str:
    if summary["mean"] is None:
        return "-"
    if summary["std"] is None:
        return f"{summary['mean']:.4f} (one seed)"
    interval = f"[{summary['low']:.4f}, {summary['high']:.4f}]"
    return f"{summary['mean']:.4f} ± {summary['std']:.4f} {interval}"


def _paired_row(metric: str, result: dict[str, Any]) -> list[str]:
    if result["mean"] is None:
        return [metric, "-", "-", "-", result["verdict"], "-"]
    needed = result["seeds_needed"]
    return [
        metric,
        f"{result['mean']:+.4f}",
        f"[{result['low']:+.4f}, {result['high']:+.4f}]",
        f"{result['p_value']:.4f}",
        result["verdict"],
        "-" if needed is None else str(needed),
    ]


def group_sections(diff: dict[str, Any]) -> rundiff.Tables:
    """(title, header, rows) for each table of a group diff."""
    params = [[row["param"], str(row["a"]), str(row["b"])] for row in diff["params"]]
    means = [
        [row["metric"], _summary_cell(row["a"]), _summary_cell(row["b"])] for row in diff["metrics"]
    ]
    headline = diff["metrics"][0]["paired"]
    seeds = ", ".join(str(seed) for seed in headline["seeds"])
    return [
        (
            "Params (but the seed)" + ("" if params else ": none differ"),
            ["param", "A", "B"],
            params,
        ),
        ("Test metrics: mean ± sd [95% t-interval]", ["metric", "A", "B"], means),
        (
            f"Paired difference B - A over {headline['n']} common seed(s) ({seeds or 'none'})",
            [
                "metric",
                "mean",
                "95% bootstrap interval",
                "p (permutation)",
                "verdict",
                "seeds to resolve",
            ],
            [_paired_row(row["metric"], row["paired"]) for row in diff["metrics"]],
        ),
    ]


def render(diff: dict[str, Any], form: str) -> str:
    """A run or group diff in `form`: table, markdown or json."""
    tables = group_sections(diff) if diff.get("kind") == GROUPS else None
    if form == "json":
        return rundiff.render_json(diff)
    if form == "markdown":
        return rundiff.render_markdown(diff, tables)
    return rundiff.render_text(diff, tables)
