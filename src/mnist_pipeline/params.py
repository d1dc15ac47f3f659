"""Load and validate `params.yaml` into typed, frozen dataclasses.

Validation happens once, on load, so a typo or an out-of-range value stops the stage with
an error naming the key (`train.epochs: expected an integer >= 1, got 0`) before any work.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mnist_pipeline.data.datasets import PARTS, PRESETS, PRESETS_SOURCE
from mnist_pipeline.data.preprocessing import MAX_SHIFT, SCALINGS
from mnist_pipeline.errors import ParamsError
from mnist_pipeline.model.architecture import (
    ACTIVATIONS,
    LR_SCHEDULES,
    OPTIMIZERS,
    hidden_layer_name,
)

BACKENDS = ("tensorflow", "jax")  # Keras 3 backends the train stage offers


def _check(predicate: Callable[[Any], bool], expected: str) -> dict[str, Any]:
    return {"check": predicate, "expected": expected}


def _one_of(choices: tuple[str, ...]) -> dict[str, Any]:
    return _check(lambda value: value in choices, f"one of {list(choices)}")


def _at_least(minimum: float) -> dict[str, Any]:
    return _check(lambda value: value >= minimum, f">= {minimum}")


NAME = re.compile(r"[A-Za-z0-9_.-]+")  # a dataset's name: in file names and model names
SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class DataParams:
    """A preset (mnist, fashion_mnist), or your own MNIST-format dataset described by its
    folder of IDX files, class names and (optional) checksums."""

    # Names data/raw/<dataset>.npz and the registered model.
    dataset: str = field(
        metadata=_check(NAME.fullmatch, "a name of letters, digits, '-', '_', '.'")
    )
    # Check the content against its sha256 digests: a preset's published ones, or data.sha256.
    # Off: format checks only (a subsample, a private copy).
    verify: bool
    # A DVC dep of download: your own dataset's folder, or (a preset) the presets' folder.
    source: str
    class_names: list[str]  # your own dataset's, label 0 first; a preset has its own
    sha256: dict[str, str]  # your own dataset's, by IDX part (train_images, ...)

    def __post_init__(self):
        if self.dataset in PRESETS:
            _check_preset(self)
        else:
            _check_own(self)


def _check_preset(data: DataParams) -> None:
    own_keys = {
        "source": data.source != PRESETS_SOURCE,
        "class_names": data.class_names,
        "sha256": data.sha256,
    }
    for key, given in own_keys.items():
        if given:
            expected = PRESETS_SOURCE if key == "source" else "none"
            raise ParamsError(
                f"data.{key}: {data.dataset} is a preset, with its own (expected {expected}; "
                "give your own dataset another name)"
            )


def _check_own(data: DataParams) -> None:
    """Your own dataset's description; the files themselves are download's to check."""
    if data.source == PRESETS_SOURCE:  # a typo of a preset's name, most likely
        raise ParamsError(
            f"data.dataset: {data.dataset!r} is no preset (expected one of {list(PRESETS)}, "
            "or data.source: your own dataset's folder)"
        )
    if not data.source:
        raise ParamsError(
            f"data.source: expected the folder of {data.dataset}'s IDX files, got {data.source!r}"
        )
    if len(data.class_names) < 2:
        raise ParamsError(
            f"data.class_names: expected {data.dataset}'s class names, label 0 "
            f"first (at least 2), got {data.class_names!r}"
        )
    for index, name in enumerate(data.class_names):
        if not name.strip() or "," in name or "\n" in name:
            raise ParamsError(
                f"data.class_names.{index}: expected a non-empty name without commas or "
                f"line breaks (predictions.csv), got {name!r}"
            )
        if name in data.class_names[:index]:
            raise ParamsError(
                f"data.class_names.{index}: {name!r} again (expected each class named once)"
            )
    for part in PARTS:
        if part not in data.sha256 and data.verify:
            raise ParamsError(
                f"data.sha256.{part}: missing (expected each IDX file's sha256 "
                "when data.verify is true, or data.verify: false)"
            )
    for part, digest in data.sha256.items():
        if part not in PARTS:
            raise ParamsError(f"data.sha256.{part}: unknown key (expected one of {list(PARTS)})")
        if not SHA256.fullmatch(digest):
            raise ParamsError(f"data.sha256.{part}: expected 64 hex digits, got {digest!r}")


@dataclass(frozen=True)
class PrepareParams:
    scaling: str = field(metadata=_one_of(SCALINGS))


@dataclass(frozen=True)
class SplitParams:
    val_fraction: float = field(metadata=_check(lambda v: 0 < v < 1, "between 0 and 1 (exclusive)"))


@dataclass(frozen=True)
class HiddenLayer:
    units: int = field(metadata=_at_least(1))
    activation: str = field(metadata=_one_of(ACTIVATIONS))
    # Fraction of this layer's outputs dropped at random in training (0 = no Dropout layer).
    # Optional, so `-S +model.hidden_3.units=32 -S +model.hidden_3.activation=relu` adds a
    # layer without it.
    dropout: float = field(
        default=0.0, metadata=_check(lambda v: 0 <= v < 1, "between 0 (none) and 1 (exclusive)")
    )


def _layers_in_order(layers: dict[str, HiddenLayer]) -> bool:
    return list(layers) == [hidden_layer_name(index) for index in range(len(layers))]


@dataclass(frozen=True)
class TrainParams:
    # Keras backend: TensorFlow by default; JAX runs the same Keras model faster on CPU.
    backend: str = field(metadata=_one_of(BACKENDS))
    epochs: int = field(metadata=_at_least(1))
    batch_size: int = field(metadata=_at_least(1))
    optimizer: str = field(metadata=_one_of(OPTIMIZERS))
    learning_rate: float = field(metadata=_check(lambda v: v > 0, "> 0"))
    # constant, or cosine decay from learning_rate to 0 over the run's steps.
    lr_schedule: str = field(metadata=_one_of(LR_SCHEDULES))
    # Random translation of each training image by up to this many pixels (0 = none).
    augment_shift: int = field(
        metadata=_check(lambda v: 0 <= v <= MAX_SHIFT, f"between 0 (none) and {MAX_SHIFT} pixels")
    )
    # Batches run per call into the backend; only cuts framework overhead, results are identical.
    steps_per_execution: int = field(metadata=_at_least(1))
    # Fixed thread counts make the arithmetic independent of the machine's core count.
    threads: int = field(metadata=_at_least(1))


@dataclass(frozen=True)
class TrackingParams:
    experiment: str = field(metadata=_check(lambda v: v.strip() != "", "a non-empty name"))


# Where a registered model's name takes the dataset: one registered model per dataset, so each
# has its own versions and its own champion (a Fashion-MNIST model is never compared with, or
# served in place of, an MNIST one: other class names, other test set).
DATASET_PLACEHOLDER = "{dataset}"


def _registered_model_name(value: str) -> bool:
    return DATASET_PLACEHOLDER in value and bool(
        re.fullmatch(r"[A-Za-z0-9_.-]+", value.replace(DATASET_PLACEHOLDER, "x"))
    )


@dataclass(frozen=True)
class RegistryParams:
    # The MLflow registered model each evaluated model becomes a version of.
    model_name: str = field(
        metadata=_check(
            _registered_model_name,
            f"a name containing {DATASET_PLACEHOLDER} (letters, digits, '-', '_', '.' otherwise)",
        )
    )
    # The alias `champion` moves to a single run's version only when its test accuracy beats
    # the champion's by more than this many recorded seed spreads (sd over a replicate group
    # of either configuration); replicate groups are compared by a paired test instead.
    champion_spread_multiple: float = field(
        metadata=_check(lambda v: 0 < v <= 10, "> 0 and at most 10 (seed sds)")
    )

    def registered_name(self, dataset: str) -> str:
        return self.model_name.replace(DATASET_PLACEHOLDER, dataset)


@dataclass(frozen=True)
class PlotParams:
    samples_per_class: int = field(metadata=_check(lambda v: 1 <= v <= 20, "between 1 and 20"))
    num_predictions: int = field(metadata=_check(lambda v: 1 <= v <= 100, "between 1 and 100"))
    figure_width: float = field(metadata=_check(lambda v: 2 <= v <= 40, "between 2 and 40 inches"))
    dpi: int = field(metadata=_check(lambda v: 30 <= v <= 600, "between 30 and 600"))


@dataclass(frozen=True)
class ScratchParams:
    seed: int = field(metadata=_at_least(0))


@dataclass(frozen=True)
class Params:
    seed: int = field(metadata=_at_least(0))
    data: DataParams
    prepare: PrepareParams
    split: SplitParams
    # The hidden layers by name, in order. A mapping, not a list: `dvc exp run -S` rewrites
    # a list whole (losing its comments and layout) but a mapping key by key.
    model: dict[str, HiddenLayer] = field(
        metadata=_check(_layers_in_order, "hidden layers named hidden_1, hidden_2, ... in order")
    )
    train: TrainParams
    tracking: TrackingParams
    registry: RegistryParams
    plot: PlotParams
    scratch: ScratchParams


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read `path` and validate every key; raise ParamsError naming the first bad one."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ParamsError(f"{path}: file not found (expected the pipeline's params.yaml)") from None
    except yaml.YAMLError as error:
        raise ParamsError(f"{path}: not valid YAML ({error})") from None
    return parse_params(raw)


def parse_params(raw: Any) -> Params:
    return _build(Params, raw, "")


def flatten(params: Any, prefix: str = "") -> dict[str, Any]:
    """`{"train.batch_size": 128, "model.hidden_1.units": 128, ...}` for tracking."""
    if dataclasses.is_dataclass(params):
        params = dataclasses.asdict(params)
    if isinstance(params, dict):
        items = params.items()
    elif isinstance(params, list):
        items = ((str(index), value) for index, value in enumerate(params))
    else:
        return {prefix: params}
    flat: dict[str, Any] = {}
    for key, value in items:
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else key))
    return flat


def _build(cls: type, raw: Any, where: str) -> Any:
    label = where or "params.yaml"
    if not isinstance(raw, dict):
        raise ParamsError(f"{label}: expected a mapping, got {type(raw).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        key = f"{where}.{unknown[0]}" if where else str(unknown[0])
        raise ParamsError(f"{key}: unknown key (expected one of {sorted(fields)})")
    hints = typing.get_type_hints(cls)
    values = {}
    for name, spec in fields.items():
        key = f"{where}.{name}" if where else name
        if name not in raw:
            if spec.default is dataclasses.MISSING:
                raise ParamsError(f"{key}: missing")
            values[name] = spec.default  # an optional key: its default
            continue
        value = _convert(hints[name], raw[name], key)
        if "check" in spec.metadata and not spec.metadata["check"](value):
            raise ParamsError(f"{key}: expected {spec.metadata['expected']}, got {value!r}")
        values[name] = value
    return cls(**values)


def _convert(hint: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key)
    if origin is list:
        if not isinstance(value, list):
            raise ParamsError(f"{key}: expected a list, got {value!r}")
        (item,) = typing.get_args(hint)
        return [_convert(item, entry, f"{key}.{index}") for index, entry in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ParamsError(f"{key}: expected a mapping, got {value!r}")
        _, item = typing.get_args(hint)
        return {name: _convert(item, entry, f"{key}.{name}") for name, entry in value.items()}
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in typing.get_args(hint):
            return None
        (hint,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, bool) or not isinstance(value, hint):
        names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
        expected = names.get(hint, hint.__name__)
        raise ParamsError(f"{key}: expected {expected}, got {value!r}")
    return value
