"""The MLP, built from a small JSON-able spec with `keras` APIs only (any Keras backend).

The spec is what `models/model.json` holds: with `models/weights.npz` it rebuilds the
trained model, and numpy inference (`inference.py`) reads the same two files.
"""

from __future__ import annotations

import importlib.metadata
from typing import Any

import keras

from mnist_pipeline.errors import DataError
from mnist_pipeline.model.architecture import (
    LR_SCHEDULES,
    OPTIMIZERS,
    dropout_layer_name,
    layer_names,
    weight_key,
)


def build_model(spec: dict[str, Any]) -> keras.Sequential:
    """The spec's MLP; a Dropout layer only after the hidden layers that ask for one (the
    reference spec builds exactly the three Dense layers)."""
    names = layer_names(spec)
    layers: list[keras.layers.Layer] = [keras.Input(shape=(spec["input_dim"],), name="pixels")]
    for index, (name, layer) in enumerate(zip(names, spec["hidden_layers"], strict=False)):
        layers.append(keras.layers.Dense(layer["units"], activation=layer["activation"], name=name))
        if layer.get("dropout", 0) > 0:
            layers.append(keras.layers.Dropout(layer["dropout"], name=dropout_layer_name(index)))
    layers.append(keras.layers.Dense(spec["num_classes"], activation="softmax", name=names[-1]))
    return keras.Sequential(layers, name="mlp")


def compile_model(
    model: keras.Model,
    optimizer: str,
    learning_rate: float,
    steps_per_execution: int = 1,
    lr_schedule: str = "constant",
    total_steps: int | None = None,
) -> None:
    """`lr_schedule` "cosine" decays `learning_rate` to 0 over `total_steps` optimizer
    steps (batches); "constant" passes the plain number, as the reference run does."""
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r} (expected one of {sorted(OPTIMIZERS)})")
    if lr_schedule not in LR_SCHEDULES:
        raise ValueError(
            f"unknown lr_schedule {lr_schedule!r} (expected one of {sorted(LR_SCHEDULES)})"
        )
    rate: float | keras.optimizers.schedules.LearningRateSchedule = learning_rate
    if lr_schedule == "cosine":
        if not total_steps or total_steps < 1:
            raise ValueError(f"lr_schedule 'cosine' needs total_steps >= 1, got {total_steps}")
        rate = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=total_steps)
    model.compile(
        optimizer=keras.optimizers.get(
            {"class_name": optimizer, "config": {"learning_rate": rate}}
        ),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=steps_per_execution,
    )


def get_weights(model: keras.Model) -> dict[str, Any]:
    """{"hidden_1.kernel": array, "hidden_1.bias": array, ...} in layer order."""
    return {
        _key(layer, variable): keras.ops.convert_to_numpy(variable)
        for layer in model.layers
        for variable in layer.weights
    }


def set_weights(model: keras.Model, weights: dict[str, Any]) -> None:
    for layer in model.layers:
        for variable in layer.weights:
            key = _key(layer, variable)
            if key not in weights or tuple(weights[key].shape) != tuple(variable.shape):
                found = None if key not in weights else weights[key].shape
                raise DataError(f"weights: {key} has shape {found}, expected {variable.shape}")
            variable.assign(weights[key])


def _key(layer: keras.layers.Layer, variable: keras.Variable) -> str:
    return weight_key(layer.name, variable.path.rsplit("/", 1)[-1])


def summary_text(model: keras.Model) -> str:
    lines: list[str] = []
    model.summary(print_fn=lambda line, *args, **kwargs: lines.append(line), line_length=80)
    return "\n".join(lines).rstrip() + "\n"


def requirements() -> list[str]:
    """The pip requirements of a saved model: this Keras and its backend, pinned (tracking
    logs the model with them instead of inferring them, seconds in a subprocess)."""
    backend_packages = {"tensorflow": ["tensorflow"], "jax": ["jax", "jaxlib"]}
    return [f"keras=={keras.__version__}"] + [
        f"{package}=={importlib.metadata.version(package)}"
        for package in backend_packages.get(keras.backend.backend(), [])
    ]
