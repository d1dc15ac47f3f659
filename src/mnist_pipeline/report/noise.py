"""Seed noise: is a difference between two configurations more than the seed makes?

On this pipeline two runs that differ only in the seed are up to ~0.005 test accuracy apart
(docs/better-models.md, "Seed spread"), as large as most changes people try, so a comparison
needs intervals and a test, not two numbers. Pure functions of plain numbers (no MLflow):
`summarize` one group of seeds, `paired` two groups over their common seeds, `against_spread`
a single pair of runs against a recorded seed spread. Everything is computed by `scipy.stats`
with fixed random generators, so the same numbers always give the same report.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

CONFIDENCE = 0.95
ALPHA = 1 - CONFIDENCE
POWER = 0.8  # of the seed count that would resolve a difference
RESAMPLES = 9999  # bootstrap resamples; the permutation test enumerates all 2^n up to n = 13
RNG_SEED = 0  # fixed: rerunning `mnist-pipeline diff` prints the same interval and p-value
# A single pair of runs: the difference of two draws has sd sqrt(2) * spread, so 1.96 * sqrt(2)
# ~ 2.8 spreads is its 95% bound; 3 rounds it up. The champion gate reads its own multiple.
SPREAD_MULTIPLE = 3.0
# A replicate group's default size (`mnist-pipeline replicate`): the fewest seeds whose exact
# paired permutation test can reach p < 0.05 with one seed against the others (2 * 2 / 2^7 =
# 0.031). Five cannot go below 2 / 2^5 = 0.0625 even when every seed agrees: never a winner.
FEWEST_SEEDS = 7

B_BETTER, A_BETTER = "B better", "A better"


def summarize(values: Iterable[float]) -> dict[str, Any]:
    """n, mean, sd (ddof=1) and the 95% t-interval of the mean; sd and interval None for one."""
    from scipy import stats

    array = np.asarray(list(values), dtype=float)
    n = len(array)
    if n == 0:
        return {"n": 0, "mean": None, "std": None, "low": None, "high": None}
    mean = float(array.mean())
    if n < 2:
        return {"n": 1, "mean": mean, "std": None, "low": None, "high": None}
    std = float(array.std(ddof=1))
    half = float(stats.t.ppf(1 - ALPHA / 2, n - 1)) * std / math.sqrt(n)
    return {"n": n, "mean": mean, "std": std, "low": mean - half, "high": mean + half}


def smallest_p(n: int) -> float:
    """The smallest two-sided p-value an exact paired permutation test of n pairs can give:
    2 of its 2^n sign assignments are as extreme as n differences all of one sign."""
    return min(1.0, 2 / 2**n)


def seeds_to_resolve(differences: np.ndarray) -> int | None:
    """Seeds a paired test would need to resolve a mean difference of the observed size.

    Normal approximation of a two-sided paired t-test at alpha 0.05 and power 0.8:
    n = ((z_{1-alpha/2} + z_{power}) * sd / mean)^2 with the observed mean and sd of the
    differences (it ignores the t-distribution's heavier tails, so it is a lower bound for
    small n), and at least the n whose permutation test can reach alpha at all (6 for 0.05).
    None when the observed difference is zero: there is no size to resolve.
    """
    from scipy import stats

    mean = float(np.mean(differences))
    if mean == 0:
        return None
    floor = next(n for n in range(2, 64) if smallest_p(n) <= ALPHA)
    std = float(np.std(differences, ddof=1)) if len(differences) > 1 else 0.0
    z = float(stats.norm.ppf(1 - ALPHA / 2) + stats.norm.ppf(POWER))
    return max(floor, math.ceil((z * std / mean) ** 2))


def paired(
    a_by_seed: Mapping[Any, float], b_by_seed: Mapping[Any, float], higher_is_better: bool = True
) -> dict[str, Any]:
    """B - A over the seeds both groups ran: mean, bootstrap 95% interval, permutation
    p-value, a verdict in words, and the seeds that would resolve a difference of this size.

    "B better" (or "A better") only when both the interval excludes zero and p < 0.05; with
    fewer than two common seeds it says so and computes nothing.
    """
    seeds = sorted(set(a_by_seed) & set(b_by_seed))
    result: dict[str, Any] = {"seeds": seeds, "n": len(seeds)}
    if len(seeds) < 2:
        return result | {
            "differences": [float(b_by_seed[s]) - float(a_by_seed[s]) for s in seeds],
            "mean": None,
            "low": None,
            "high": None,
            "p_value": None,
            "seeds_needed": None,
            "verdict": f"not comparable: {len(seeds)} common seed(s), a paired test needs 2",
            "why": "the groups share fewer than two seeds: run both on the same seeds",
        }
    a = np.array([a_by_seed[seed] for seed in seeds], dtype=float)
    b = np.array([b_by_seed[seed] for seed in seeds], dtype=float)
    differences = b - a
    low, high = _bootstrap_interval(differences)
    p_value = _permutation_p(a, b)
    verdict, why = _verdict(differences, low, high, p_value, higher_is_better)
    return result | {
        "differences": differences.tolist(),
        "mean": float(differences.mean()),
        "low": low,
        "high": high,
        "p_value": p_value,
        "seeds_needed": seeds_to_resolve(differences),
        "verdict": verdict,
        "why": why,
    }


def _bootstrap_interval(differences: np.ndarray) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean difference. Percentile, not scipy's default
    BCa: BCa's jackknife acceleration is unstable (or NaN) on a handful of seeds."""
    from scipy import stats

    if np.all(differences == differences[0]):  # every resample is the same: no spread
        return float(differences[0]), float(differences[0])
    interval = stats.bootstrap(
        (differences,),
        np.mean,
        confidence_level=CONFIDENCE,
        n_resamples=RESAMPLES,
        method="percentile",
        rng=np.random.default_rng(RNG_SEED),
    ).confidence_interval
    return float(interval.low), float(interval.high)


def _permutation_p(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sided p-value of the mean paired difference: each seed's pair swapped or not."""
    from scipy import stats

    def mean_difference(x, y, axis):
        return np.mean(y - x, axis=axis)

    result = stats.permutation_test(
        (a, b),
        mean_difference,
        permutation_type="samples",
        vectorized=True,
        n_resamples=RESAMPLES,
        alternative="two-sided",
        rng=np.random.default_rng(RNG_SEED),
    )
    return float(result.pvalue)


def _verdict(
    differences: np.ndarray, low: float, high: float, p_value: float, higher_is_better: bool
) -> tuple[str, str]:
    """The verdict and why, from the interval and the p-value together (the bootstrap alone is
    too generous on five seeds: four of five differences of one sign can exclude zero)."""
    n = len(differences)
    excludes_zero = low > 0 or high < 0
    if excludes_zero and p_value < ALPHA:
        b_higher = low > 0
        winner = B_BETTER if b_higher == higher_is_better else A_BETTER
        return winner, f"the interval excludes 0 and p = {p_value:.4f} < {ALPHA:.2f}"
    verdict = f"no difference detectable with {n} seeds"
    if excludes_zero and smallest_p(n) >= ALPHA:
        return verdict, (
            f"the interval excludes 0, but {n} paired seeds cannot give p < {ALPHA:.2f} "
            f"(the smallest possible is {smallest_p(n):.4f}): run more seeds"
        )
    if excludes_zero:
        return verdict, f"the interval excludes 0, but p = {p_value:.4f} is not below {ALPHA:.2f}"
    return verdict, f"the interval includes 0 (p = {p_value:.4f})"


def against_spread(
    delta: float | None,
    spread: float | None,
    multiple: float = SPREAD_MULTIPLE,
    higher_is_better: bool = True,
) -> dict[str, Any]:
    """A single pair's difference (B - A) against a recorded seed spread (sd of the metric over
    seeds of that configuration): beyond `multiple` spreads it names a winner, within it says
    the seed alone could make it; with no spread recorded it says so plainly."""
    result = {"delta": delta, "spread": spread, "multiple": multiple}
    if delta is None:
        return result | {"spreads": None, "verdict": "not comparable: a run lacks this metric"}
    if spread is None:
        return result | {
            "spreads": None,
            "verdict": "no seed spread recorded for this configuration: cannot tell the "
            "difference from seed noise (run it over seeds as a replicate group)",
        }
    winner = B_BETTER if (delta > 0) == higher_is_better else A_BETTER
    if spread == 0:  # every seed gave the same value: any change is beyond it
        verdict = "identical" if delta == 0 else f"{winner}: the recorded seed spread is 0"
        return result | {"spreads": None, "verdict": verdict}
    spreads = abs(delta) / spread
    if spreads <= multiple:
        verdict = f"within the seed spread ({spreads:.1f} sd, not beyond {multiple:g})"
    else:
        verdict = f"{winner}: beyond the seed spread ({spreads:.1f} sd > {multiple:g})"
    return result | {"spreads": spreads, "verdict": verdict}
