"""A two-layer network from scratch in numpy: what Keras does underneath, made visible.

    Z1 = X W1ᵀ + b1    H = sigmoid(Z1)     (hidden layer)
    Z2 = H W2ᵀ + b2    Y = sigmoid(Z2)     (one output)
    L  = 1/(2N) Σ (Y - Y_T)²               (mean squared error, halved)

Names follow the math and the reference notebook. numpy and the standard library only.
"""

from __future__ import annotations

import numpy as np

Weights = dict[str, np.ndarray]


def sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-z), computed through e^-|z| so large |z| cannot overflow."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def toy_problem(seed: int, n_inputs: int = 2, n_hidden: int = 3, n_samples: int = 1000):
    """(weights, X, Y): the reference problem for `seed`, drawn in the reference's order."""
    np.random.seed(seed)
    W1 = np.random.randn(n_hidden, n_inputs)
    b1 = np.zeros(n_hidden)
    W2 = np.random.randn(n_hidden)
    b2 = np.float64(0)
    X = np.random.rand(n_samples, n_inputs)
    Y = np.random.randint(low=0, high=2, size=(n_samples,))
    return {"W1": W1, "b1": b1, "W2": W2, "b2": b2}, X, Y


def check_shapes(X: np.ndarray, weights: Weights, Y_T: np.ndarray | None = None) -> None:
    """Raise ValueError naming the shapes that do not fit together."""
    W1, b1, W2, b2 = (np.asarray(weights[name]) for name in ("W1", "b1", "W2", "b2"))
    n_hidden = W1.shape[0] if W1.ndim == 2 else None
    problems = []
    if X.ndim != 2 or W1.ndim != 2 or X.shape[1] != W1.shape[1]:
        problems.append(f"X {X.shape} needs {W1.shape[1:]} columns to match W1 {W1.shape}")
    if b1.shape != (n_hidden,):
        problems.append(f"b1 {b1.shape} must be ({n_hidden},) for W1 {W1.shape}")
    if W2.shape != (n_hidden,):
        problems.append(f"W2 {W2.shape} must be ({n_hidden},) for W1 {W1.shape}")
    if b2.shape != ():
        problems.append(f"b2 {b2.shape} must be a scalar")
    if Y_T is not None and Y_T.shape != (len(X),):
        problems.append(f"Y_T {Y_T.shape} must be ({len(X)},) for X {X.shape}")
    if problems:
        raise ValueError("shape mismatch: " + "; ".join(problems))


def forward_propagation(X: np.ndarray, weights: Weights):
    """(Y, Z2, H, Z1): the output and every intermediate that backprop needs."""
    check_shapes(X, weights)
    Z1 = X @ weights["W1"].T + weights["b1"]
    H = sigmoid(Z1)
    Z2 = H @ weights["W2"] + weights["b2"]
    Y = sigmoid(Z2)
    return Y, Z2, H, Z1


def loss(Y: np.ndarray, Y_T: np.ndarray) -> float:
    return float(np.sum((Y - Y_T) ** 2) / (2 * len(Y)))


def back_propagation(X: np.ndarray, Y_T: np.ndarray, weights: Weights):
    """(gradients keyed like `weights`, loss): the chain rule, one layer at a time."""
    check_shapes(X, weights, Y_T)
    Y, _, H, _ = forward_propagation(X, weights)
    dZ2 = (Y - Y_T) / len(X) * Y * (1 - Y)  # dL/dY times sigmoid'(Z2)
    dZ1 = np.outer(dZ2, weights["W2"]) * H * (1 - H)  # back through W2, then sigmoid'(Z1)
    gradients = {"W1": dZ1.T @ X, "b1": dZ1.sum(axis=0), "W2": H.T @ dZ2, "b2": dZ2.sum()}
    return gradients, loss(Y, Y_T)


def numerical_gradients(X: np.ndarray, Y_T: np.ndarray, weights: Weights, eps: float = 1e-6):
    """Central differences (L(w + eps) - L(w - eps)) / 2 eps, one weight at a time."""
    check_shapes(X, weights, Y_T)
    gradients = {}
    for name, value in weights.items():
        value = np.asarray(value, dtype=np.float64)
        gradient = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            shifted = {}
            for sign in (+1, -1):
                nudged = value.copy()
                nudged[index] += sign * eps
                shifted[sign] = loss(forward_propagation(X, {**weights, name: nudged})[0], Y_T)
            gradient[index] = (shifted[+1] - shifted[-1]) / (2 * eps)
        gradients[name] = gradient
    return gradients


def relative_error(analytic: Weights, numerical: Weights) -> float:
    """max over all weights of |a - n| / max(|a| + |n|, 1e-12): 0 means identical."""
    return max(
        float(
            np.max(
                np.abs(analytic[k] - numerical[k])
                / np.maximum(np.abs(analytic[k]) + np.abs(numerical[k]), 1e-12)
            )
        )
        for k in analytic
    )


def gradient_report(seed: int, eps: float = 1e-6) -> dict:
    """Loss, analytic gradients and their agreement with central differences, as JSON."""
    weights, X, Y_T = toy_problem(seed)
    gradients, value = back_propagation(X, Y_T, weights)
    numerical = numerical_gradients(X, Y_T, weights, eps)
    return {
        "seed": seed,
        "loss": value,
        "gradients": {name: np.asarray(g).tolist() for name, g in sorted(gradients.items())},
        "max_relative_error": relative_error(gradients, numerical),
        "eps": eps,
    }
