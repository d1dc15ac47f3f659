import ast
import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from mnist_pipeline.model import scratch
from mnist_pipeline.model.scratch import (
    back_propagation,
    forward_propagation,
    gradient_report,
    numerical_gradients,
    relative_error,
    sigmoid,
    toy_problem,
)

REFERENCE_LOSS = 0.1332476222330792
REFERENCE_GRADIENTS = {
    "W1": [[0.00244596, 0.00262019], [-0.00030765, -0.00024188], [-0.00034768, -0.000372]],
    "b1": [0.00492577, -0.00058023, -0.00065977],
    "W2": [0.02216011, 0.02433097, 0.01797174],
    "b2": 0.029249230265318685,
}


def test_seed_0_reproduces_the_reference_values():
    weights, X, Y_T = toy_problem(0)
    gradients, loss = back_propagation(X, Y_T, weights)
    assert loss == pytest.approx(REFERENCE_LOSS, rel=1e-15)
    for name, expected in REFERENCE_GRADIENTS.items():
        assert gradients[name].shape == np.shape(weights[name])
        np.testing.assert_allclose(gradients[name], expected, rtol=0, atol=1e-8)


def test_toy_problem_draws_in_the_reference_order():
    np.random.seed(0)
    W1 = np.random.randn(3, 2)
    np.random.randn(3)
    X = np.random.rand(1000, 2)
    weights, X_toy, Y = toy_problem(0)
    np.testing.assert_array_equal(weights["W1"], W1)
    np.testing.assert_array_equal(X_toy, X)
    assert set(np.unique(Y)) == {0, 1}


def test_forward_returns_every_intermediate():
    weights, X, _ = toy_problem(1)
    Y, Z2, H, Z1 = forward_propagation(X, weights)
    assert (Y.shape, Z2.shape, H.shape, Z1.shape) == ((1000,), (1000,), (1000, 3), (1000, 3))
    np.testing.assert_allclose(H, 1 / (1 + np.exp(-Z1)))
    np.testing.assert_allclose(Y, 1 / (1 + np.exp(-Z2)))


def test_sigmoid_is_stable_for_large_inputs():
    z = np.array([-1000.0, -40.0, 0.0, 40.0, 1000.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        values = sigmoid(z)
    assert values[0] == 0.0 and values[-1] == 1.0 and values[2] == 0.5
    np.testing.assert_allclose(values[1:4], 1 / (1 + np.exp(-z[1:4])), rtol=1e-15)


@pytest.mark.parametrize(
    ("seed", "n_inputs", "n_hidden"), [(1, 2, 3), (2, 5, 4), (3, 1, 7), (4, 8, 2)]
)
def test_analytic_gradients_match_central_differences(seed, n_inputs, n_hidden):
    weights, X, Y_T = toy_problem(seed, n_inputs=n_inputs, n_hidden=n_hidden, n_samples=200)
    weights["b1"] = np.random.default_rng(seed).normal(size=n_hidden)  # non-zero biases too
    weights["b2"] = np.float64(0.3)
    analytic, _ = back_propagation(X, Y_T, weights)
    numerical = numerical_gradients(X, Y_T, weights, eps=1e-6)
    assert relative_error(analytic, numerical) < 1e-6


def test_relative_error_sees_a_wrong_gradient():
    weights, X, Y_T = toy_problem(0)
    analytic, _ = back_propagation(X, Y_T, weights)
    numerical = numerical_gradients(X, Y_T, weights)
    wrong = {**analytic, "W2": analytic["W2"] * 1.01}
    assert relative_error(wrong, numerical) > 1e-3


def test_gradient_descent_lowers_the_loss_monotonically():
    weights, X, Y_T = toy_problem(0)
    losses = []
    for _ in range(50):
        gradients, value = back_propagation(X, Y_T, weights)
        losses.append(value)
        weights = {name: weights[name] - 0.5 * gradients[name] for name in weights}
    assert all(later < earlier for earlier, later in zip(losses, losses[1:], strict=False))


def test_shape_mismatches_name_the_shapes():
    weights, X, Y_T = toy_problem(0)
    with pytest.raises(
        ValueError, match=r"X \(1000, 3\) needs \(2,\) columns to match W1 \(3, 2\)"
    ):
        forward_propagation(np.ones((1000, 3)), weights)
    with pytest.raises(ValueError, match=r"Y_T \(999,\) must be \(1000,\) for X \(1000, 2\)"):
        back_propagation(X, Y_T[:-1], weights)
    with pytest.raises(ValueError, match=r"W2 \(4,\) must be \(3,\)"):
        back_propagation(X, Y_T, {**weights, "W2": np.ones(4)})


def test_module_imports_only_numpy_and_the_standard_library():
    tree = ast.parse(Path(scratch.__file__).read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imported |= {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert imported <= {"numpy", "__future__"} | set(sys.stdlib_module_names)


def test_report_and_command_line_agree():
    report = gradient_report(0)
    assert report["loss"] == REFERENCE_LOSS and report["max_relative_error"] < 1e-6
    output = subprocess.run(
        [sys.executable, "-m", "mnist_pipeline.cli", "scratch", "--seed", "0"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert json.loads(output) == json.loads(json.dumps(report))
