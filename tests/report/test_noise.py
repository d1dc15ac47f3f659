"""report/noise.py on synthetic metric sets whose answer is known."""

import math

import numpy as np
import pytest

from mnist_pipeline.report.noise import (
    A_BETTER,
    B_BETTER,
    FEWEST_SEEDS,
    against_spread,
    paired,
    seeds_to_resolve,
    smallest_p,
    summarize,
)

SEEDS = range(1, 9)
SPREAD = 0.0018  # the reference configuration's test accuracy sd over seeds


def seed_noise(seeds=SEEDS, mean=0.967, seed=0):
    """One group's test accuracy per seed, drawn around `mean` with the pipeline's spread."""
    draws = np.random.default_rng(seed).normal(mean, SPREAD, len(seeds))
    return dict(zip(seeds, draws.tolist(), strict=True))


def test_summarize_gives_the_t_interval():
    summary = summarize([1.0, 2.0, 3.0])
    assert summary["n"] == 3 and summary["mean"] == 2.0 and summary["std"] == 1.0
    half = 4.302653 / math.sqrt(3)  # t(0.975, 2 degrees of freedom) * sd / sqrt(n)
    assert summary["low"] == pytest.approx(2 - half) and summary["high"] == pytest.approx(2 + half)
    assert summarize([0.5]) == {"n": 1, "mean": 0.5, "std": None, "low": None, "high": None}
    assert summarize([])["mean"] is None


def test_identical_groups_give_no_difference():
    group = seed_noise()
    result = paired(group, dict(group))
    assert result["verdict"] == "no difference detectable with 8 seeds"
    assert (result["mean"], result["low"], result["high"], result["p_value"]) == (0, 0, 0, 1.0)
    assert result["seeds_needed"] is None  # no difference to resolve


def test_noise_alone_gives_no_difference():
    result = paired(seed_noise(seed=1), seed_noise(seed=2))
    assert result["verdict"] == "no difference detectable with 8 seeds"
    assert result["low"] < 0 < result["high"] and result["p_value"] > 0.05


def test_a_shift_of_several_sd_names_the_right_winner():
    a = seed_noise(seed=1)
    b = {seed: value + 4 * SPREAD for seed, value in seed_noise(seed=2).items()}
    result = paired(a, b)
    assert result["verdict"] == B_BETTER
    assert 0 < result["low"] < 4 * SPREAD < result["high"] and result["p_value"] < 0.05
    assert result["mean"] == pytest.approx(np.mean(list(b.values())) - np.mean(list(a.values())))
    # a loss: lower is better, so the same shift makes A the better one
    assert paired(a, b, higher_is_better=False)["verdict"] == A_BETTER


def test_swapping_a_and_b_swaps_the_verdict():
    a = seed_noise(seed=1)
    b = {seed: value + 4 * SPREAD for seed, value in seed_noise(seed=2).items()}
    forward, backward = paired(a, b), paired(b, a)
    assert (forward["verdict"], backward["verdict"]) == (B_BETTER, A_BETTER)
    assert backward["mean"] == pytest.approx(-forward["mean"])
    assert backward["p_value"] == pytest.approx(forward["p_value"])


def test_fewer_than_two_common_seeds_says_so_and_computes_nothing():
    result = paired({1: 0.96, 2: 0.97}, {2: 0.99, 3: 0.99})
    assert result["verdict"] == "not comparable: 1 common seed(s), a paired test needs 2"
    assert result["seeds"] == [2] and result["p_value"] is None and result["low"] is None
    assert paired({1: 0.96}, {2: 0.97})["n"] == 0


def test_only_common_seeds_are_paired():
    result = paired({1: 0.1, 2: 0.2, 3: 0.3, 9: 5.0}, {1: 0.2, 2: 0.3, 3: 0.4, 7: -5.0})
    assert result["seeds"] == [1, 2, 3] and result["mean"] == pytest.approx(0.1)


def test_five_seeds_cannot_reach_p_below_005_and_the_verdict_says_so():
    """An exact paired permutation test of 5 seeds gives at least 2/32 = 0.0625, however
    large the difference: the verdict must not claim a winner on the bootstrap alone."""
    a = seed_noise(seeds=range(1, 6), seed=1)
    b = {seed: value + 10 * SPREAD for seed, value in seed_noise(seeds=range(1, 6)).items()}
    result = paired(a, b)
    assert result["p_value"] == pytest.approx(smallest_p(5)) == pytest.approx(0.0625)
    assert result["low"] > 0 and result["verdict"] == "no difference detectable with 5 seeds"
    assert "cannot give p < 0.05" in result["why"] and result["seeds_needed"] == 6


@pytest.mark.parametrize("n", [FEWEST_SEEDS - 1, FEWEST_SEEDS])
def test_the_default_group_size_is_the_fewest_that_survives_one_seed_against_the_rest(n):
    """The `replicate` default: with one seed going the other way (by less than the rest go
    up), FEWEST_SEEDS seeds still name the winner and one seed fewer cannot."""
    a = {seed: 0.967 for seed in range(1, n + 1)}
    b = {seed: 0.967 + 5 * SPREAD for seed in range(1, n)} | {n: 0.967 - SPREAD}
    result = paired(a, b)
    assert (result["verdict"] == B_BETTER) == (n == FEWEST_SEEDS), result


def test_the_output_is_reproducible():
    a, b = seed_noise(seed=3), seed_noise(seed=4, mean=0.968)
    assert paired(a, b) == paired(a, b)


def test_seeds_to_resolve_follows_the_normal_approximation():
    # mean 1, sd 1: (1.95996 + 0.84162)^2 = 7.85 -> 8 seeds
    assert seeds_to_resolve(np.array([0.0, 1.0, 2.0])) == 8
    # mean 0.1, sd 1: 785 seeds
    assert seeds_to_resolve(np.array([-0.9, 0.1, 1.1])) == 785


def test_a_single_pair_against_the_recorded_spread():
    beyond = against_spread(0.0057, SPREAD)
    assert beyond["verdict"] == "B better: beyond the seed spread (3.2 sd > 3)"
    assert beyond["spreads"] == pytest.approx(0.0057 / SPREAD)
    assert against_spread(-0.0057, SPREAD)["verdict"].startswith(A_BETTER)
    assert against_spread(0.0057, SPREAD, higher_is_better=False)["verdict"].startswith(A_BETTER)
    within = against_spread(0.0030, SPREAD)
    assert within["verdict"] == "within the seed spread (1.7 sd, not beyond 3)"
    assert against_spread(0.0030, SPREAD, multiple=1.5)["verdict"].startswith(B_BETTER)
    none = against_spread(0.0057, None)
    assert none["verdict"].startswith("no seed spread recorded for this configuration")
    assert against_spread(0.001, 0.0)["verdict"] == "B better: the recorded seed spread is 0"
