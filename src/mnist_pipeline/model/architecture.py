"""The MLP as a small JSON-able spec: what `models/model.json` holds.

One description for both implementations: `keras_model.py` builds it in Keras, `inference.py` runs
it in numpy. Layer and weight names are fixed here, so the weights file and the summary do
not depend on Keras's name counters.

A layer's dropout acts only in training: it is a spec key present only when in use, so the
reference model's spec, Keras layers and summary stay exactly those of the plain MLP, and
inference skips it (identity at inference). Random shifts of the training images are not
part of the model at all: training draws them (`training.fit`), inference never sees them.
"""

from __future__ import annotations

from typing import Any

from mnist_pipeline.data.datasets import IMAGE_SHAPE

INPUT_DIM = IMAGE_SHAPE[0] * IMAGE_SHAPE[1]
OUTPUT_LAYER = "output"
OPTIMIZERS = ("adam", "sgd", "rmsprop")  # Keras optimizer names (keras.optimizers.get)
# Hidden-layer activations, by Keras's names; inference.py implements each in numpy.
ACTIVATIONS = ("linear", "relu", "sigmoid", "tanh", "elu")
# Learning rate over the run: constant, or cosine decay from the learning rate to 0 at the
# last step (keras.optimizers.schedules.CosineDecay).
LR_SCHEDULES = ("constant", "cosine")

# The keys a spec and its hidden layers may hold; inference refuses any other (a model it
# would silently mispredict).
SPEC_KEYS = ("input_dim", "hidden_layers", "num_classes")
LAYER_KEYS = ("units", "activation", "dropout")


def model_spec(hidden_layers: list[dict[str, Any]], num_classes: int) -> dict[str, Any]:
    """`hidden_layers`: [{"units": 128, "activation": "linear", "dropout": 0.0}, ...]
    (dropout optional; 0 adds no key and no layer); `num_classes`: the dataset's, one
    softmax output each."""
    for index, layer in enumerate(hidden_layers):
        if not isinstance(layer.get("units"), int) or layer["units"] < 1:
            raise ValueError(f"hidden layer {index}: units must be a positive integer, got {layer}")
        if not 0 <= layer.get("dropout", 0) < 1:
            raise ValueError(f"hidden layer {index}: dropout must be in [0, 1), got {layer}")
    return {
        "input_dim": INPUT_DIM,
        "hidden_layers": [
            {"units": layer["units"], "activation": layer["activation"]}
            | ({"dropout": layer["dropout"]} if layer.get("dropout", 0) > 0 else {})
            for layer in hidden_layers
        ],
        "num_classes": num_classes,
    }


def hidden_layer_name(index: int) -> str:
    """hidden_1, hidden_2, ...: in params.yaml, the Keras model and the weights file."""
    return f"hidden_{index + 1}"


def dropout_layer_name(index: int) -> str:
    """The Dropout layer after hidden layer `index` (0-based), when it has one."""
    return f"{hidden_layer_name(index)}_dropout"


def layer_names(spec: dict[str, Any]) -> list[str]:
    """hidden_1, hidden_2, ..., output."""
    return [hidden_layer_name(i) for i in range(len(spec["hidden_layers"]))] + [OUTPUT_LAYER]


def weight_key(layer: str, variable: str) -> str:
    """The key of a layer's variable ("kernel", "bias") in the weights file."""
    return f"{layer}.{variable}"
