"""Predict with the trained MLP in plain numpy, from models/model.json + models/weights.npz.

Deliberately not Keras: evaluate and plot only run inference, and this spares each of them
the several seconds of importing TensorFlow. A test checks it against Keras's `predict`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

ACTIVATIONS = {
    None: lambda z: z,
    "relu": lambda z: np.maximum(z, 0),
    "sigmoid": lambda z: 0.5 * (1 + np.tanh(0.5 * z)),  # overflow-free form of 1/(1+e^-z)
    "tanh": np.tanh,
    "elu": lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0))),
}


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def predict_proba(
    spec: dict[str, Any], weights: dict[str, np.ndarray], x: np.ndarray
) -> np.ndarray:
    """Class probabilities, N x num_classes, float32 like Keras."""
    h = np.asarray(x, dtype=np.float32)
    for index, layer in enumerate(spec["hidden_layers"]):
        if layer["activation"] not in ACTIVATIONS:
            raise ValueError(f"numpy inference has no activation {layer['activation']!r}")
        name = f"hidden_{index + 1}"
        h = ACTIVATIONS[layer["activation"]](
            h @ weights[f"{name}.kernel"] + weights[f"{name}.bias"]
        )
    return softmax(h @ weights["output.kernel"] + weights["output.bias"]).astype(np.float32)
