"""Predict with the trained MLP in plain numpy, from models/model.json + models/weights.npz.

Deliberately not Keras: evaluate and plot only run inference, and this spares each of them
the several seconds of importing TensorFlow. A test checks it against Keras's `predict`, for
every option a spec can hold.

Dropout acts only in training (Keras scales the kept outputs at training time, so nothing is
rescaled here) and random shifts of the images are drawn by training, outside the model: at
inference both are the identity, and only the Dense layers compute.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mnist_pipeline.errors import DataError
from mnist_pipeline.model.architecture import LAYER_KEYS, SPEC_KEYS, layer_names, weight_key

# architecture.ACTIVATIONS in numpy (tests check both that the names match and the values
# match Keras's).
ACTIVATIONS = {
    "linear": lambda z: z,
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
    _check_keys(spec)
    h = np.asarray(x, dtype=np.float32)
    *hidden, output = layer_names(spec)
    for name, layer in zip(hidden, spec["hidden_layers"], strict=True):
        if layer["activation"] not in ACTIVATIONS:
            raise DataError(
                f"model spec: activation {layer['activation']!r} of {name} is unknown "
                f"(expected one of {sorted(ACTIVATIONS)})"
            )
        h = ACTIVATIONS[layer["activation"]](
            h @ _weight(weights, name, "kernel") + _weight(weights, name, "bias")
        )
    logits = h @ _weight(weights, output, "kernel") + _weight(weights, output, "bias")
    return softmax(logits).astype(np.float32)


def _check_keys(spec: dict[str, Any]) -> None:
    """A spec with a key this code does not know would be mispredicted silently: refuse it."""
    unknown = sorted(set(spec) - set(SPEC_KEYS))
    for name, layer in zip(layer_names(spec), spec["hidden_layers"], strict=False):
        unknown += [f"{name}.{key}" for key in sorted(set(layer) - set(LAYER_KEYS))]
    if unknown:
        raise DataError(
            f"model spec: unknown keys {unknown} (expected a spec written by this "
            "version of the pipeline: rerun the train stage)"
        )


def _weight(weights: dict[str, np.ndarray], layer: str, variable: str) -> np.ndarray:
    key = weight_key(layer, variable)
    if key not in weights:
        raise DataError(f"weights: no {key} (the weights file does not fit the model spec)")
    return weights[key]
