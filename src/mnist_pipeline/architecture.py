"""The MLP as a small JSON-able spec: what `models/model.json` holds.

One description for both implementations: `model.py` builds it in Keras, `inference.py` runs
it in numpy. Layer and weight names are fixed here, so the weights file and the summary do
not depend on Keras's name counters.
"""

from __future__ import annotations

from typing import Any

INPUT_DIM = 784
NUM_CLASSES = 10
OUTPUT_LAYER = "output"
OPTIMIZERS = ("adam", "sgd", "rmsprop")  # Keras optimizer names (keras.optimizers.get)
# Hidden-layer activations, by Keras's names; inference.py implements each in numpy.
ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "elu")


def model_spec(hidden_layers: list[dict[str, Any]]) -> dict[str, Any]:
    """`hidden_layers`: [{"units": 128, "activation": "linear"}, ...]."""
    for index, layer in enumerate(hidden_layers):
        if not isinstance(layer.get("units"), int) or layer["units"] < 1:
            raise ValueError(f"hidden layer {index}: units must be a positive integer, got {layer}")
    return {
        "input_dim": INPUT_DIM,
        "hidden_layers": [
            {"units": layer["units"], "activation": layer["activation"]} for layer in hidden_layers
        ],
        "num_classes": NUM_CLASSES,
    }


def hidden_layer_name(index: int) -> str:
    """hidden_1, hidden_2, ...: in params.yaml, the Keras model and the weights file."""
    return f"hidden_{index + 1}"


def layer_names(spec: dict[str, Any]) -> list[str]:
    """hidden_1, hidden_2, ..., output."""
    return [hidden_layer_name(i) for i in range(len(spec["hidden_layers"]))] + [OUTPUT_LAYER]


def weight_key(layer: str, variable: str) -> str:
    """The key of a layer's variable ("kernel", "bias") in the weights file."""
    return f"{layer}.{variable}"
