"""The champion gate's evidence: is a candidate's test accuracy better than the champion's by
more than the seed makes?

Two runs that differ only in the seed are ~0.0018 test accuracy apart (sd), as large as most
differences, so the gate weighs a candidate as `mnist-pipeline diff` would (groupdiff.py,
report/noise.py; no statistics of its own):

- both runs in replicate groups (tag `replicate_group`) sharing two seeds or more: the paired
  test over their common seeds; better only when its verdict says so (interval and p < 0.05);
- otherwise, the difference against the recorded seed spread of either run's configuration
  (a replicate group with the same params but the seed): better only beyond `multiple` sds;
- no spread recorded: no evidence, and the champion stays (the stated rule: a gain the seed
  alone could make must not move it; record a spread with `mnist-pipeline replicate`, or
  `mnist-pipeline promote` by hand).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

from mnist_pipeline.report.evaluation import TEST_ACCURACY
from mnist_pipeline.report.noise import (
    A_BETTER,
    ALPHA,
    B_BETTER,
    against_spread,
    paired,
    smallest_p,
)
from mnist_pipeline.tracking import groupdiff, rundiff
from mnist_pipeline.tracking.studyrun import GROUP_TAG

PAIRED, SPREAD, NONE = "paired", "spread", "none"
NO_SPREAD = "no seed spread recorded for either configuration: no evidence, kept"
# noise.py's verdicts (B: the candidate, A: the champion) in the decision's words.
BETTER, WORSE, WITHIN, FEW = "better", "worse", "within noise", "too few seeds"


def _word(verdict: str, seeds: int | None = None) -> str:
    """`seeds`: a paired test's, whose permutation p-value may not reach ALPHA at all."""
    if verdict.startswith(B_BETTER):
        return BETTER
    if verdict.startswith(A_BETTER):
        return WORSE
    return FEW if seeds is not None and smallest_p(seeds) >= ALPHA else WITHIN


@dataclass(frozen=True)
class Evidence:
    """What the gate weighed: the kind of test, whether it shows the candidate better, one
    line for the decision, and its numbers (the version's tags)."""

    kind: str  # PAIRED, SPREAD or NONE
    better: bool
    text: str
    numbers: dict[str, str] = field(default_factory=dict)


def weigh(client, candidate, champion, multiple: float) -> Evidence:
    """The evidence that MLflow run `candidate` beats run `champion` on test accuracy."""
    runs = _runs(client, candidate, champion)
    groups = [run.data.tags.get(GROUP_TAG) for run in (champion, candidate)]
    a, b = (groupdiff.group_of(runs, name) if name else None for name in groups)
    if a is not None and b is not None:
        evidence = paired_evidence(a.by_seed[TEST_ACCURACY], b.by_seed[TEST_ACCURACY])
        if evidence is not None:  # else fewer than two common seeds: as single runs
            return evidence
    records = [SimpleNamespace(params=dict(run.data.params)) for run in (champion, candidate)]
    spread = groupdiff.recorded_spread(runs, records)
    std = spread["std"].get(TEST_ACCURACY) if spread else None
    delta = candidate.data.metrics[TEST_ACCURACY] - champion.data.metrics[TEST_ACCURACY]
    if std is None:
        return Evidence(NONE, False, NO_SPREAD, {"evidence": NONE})
    return spread_evidence(delta, std, multiple, spread["groups"])


def _runs(client, *runs) -> list:
    """The trained runs of the experiments the runs belong to (newest first, as groupdiff
    expects), where their replicate groups are."""
    found: dict[str, object] = {}
    for experiment_id in dict.fromkeys(run.info.experiment_id for run in runs):
        for run in rundiff.trained_runs(client, experiment_id):
            found.setdefault(run.info.run_id, run)
    return list(found.values())


def paired_evidence(champion: dict[int, float], candidate: dict[int, float]) -> Evidence | None:
    """The paired test of two groups' test accuracy by seed; None below two common seeds."""
    result = paired(champion, candidate)
    if result["mean"] is None:
        return None
    better = result["verdict"] == B_BETTER
    interval = f"[{result['low']:+.4f}, {result['high']:+.4f}]"
    below = "<" if result["p_value"] < ALPHA else ">="
    text = (
        f"{result['n']} paired seeds {interval}, p {result['p_value']:.4f} {below} "
        f"{ALPHA:.2f}: {_word(result['verdict'], result['n'])}"
    )
    numbers = {
        "evidence": PAIRED,
        "seeds": ",".join(str(seed) for seed in result["seeds"]),
        "paired_mean": repr(result["mean"]),
        "interval_low": repr(result["low"]),
        "interval_high": repr(result["high"]),
        "p_value": repr(result["p_value"]),
    }
    return Evidence(PAIRED, better, text, numbers)


def spread_evidence(delta: float, std: float, multiple: float, groups: list[str]) -> Evidence:
    """A single pair's difference against the seed spread `std` recorded by `groups`."""
    judged = against_spread(delta, std, multiple)
    better = judged["verdict"].startswith(B_BETTER)
    source = f"group{'s' if len(groups) > 1 else ''} {', '.join(groups)}"
    if judged["spreads"] is None:  # a spread of 0: every seed gave the same accuracy
        text = f"seed spread 0 ({source}): {_word(judged['verdict'])}"
    else:
        beyond = "beyond" if judged["spreads"] > judged["multiple"] else "not beyond"
        text = (
            f"{judged['spreads']:.1f} seed sds of {judged['spread']:.4f} ({source}), "
            f"{beyond} {judged['multiple']:g}: {_word(judged['verdict'])}"
        )
    numbers = {
        "evidence": SPREAD,
        "spread": repr(judged["spread"]),
        "spread_multiple": repr(judged["multiple"]),
        "spread_groups": ",".join(groups),
    }
    return Evidence(SPREAD, better, text, numbers)
