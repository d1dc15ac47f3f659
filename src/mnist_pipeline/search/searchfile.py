"""The search `mnist-pipeline tune` runs, read from a versioned file (search.yaml) and
checked whole before any trial starts: every key, range and choice is tried against
params.yaml's own validation, so a value a trial would fail on is rejected up front.

Pure: no Optuna here beyond turning a validated space into `trial.suggest_*` calls.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mnist_pipeline import configs
from mnist_pipeline.errors import ParamsError
from mnist_pipeline.params import flatten

# What a trial is scored on: the last epoch's value on the validation split (never the test
# set), and which way is better. Train reports the same metric each epoch for pruning.
OBJECTIVES = {"val_loss": "minimize", "val_accuracy": "maximize"}
SAMPLERS = ("tpe", "random")
PRUNERS = ("median", "none")
# The params a trained model depends on: the only ones worth searching. (`tracking` would
# scatter a study's runs over experiments; `registry`, `plot`, `scratch` change no score.)
SEARCHABLE = ("seed", "prepare", "split", "model", "train")
# Study names become DVC experiment names (<study>-<trial number>), i.e. git ref names.
STUDY_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,62}")


@dataclass(frozen=True)
class Dimension:
    """One searched key: a range (`low`..`high`, optionally `log` or `step`) or `choices`."""

    key: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple | None = None
    integer: bool = False  # the key holds an integer (units, batch size): drawn as one

    def describe(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(map(str, self.choices))
        scale = " (log scale)" if self.log else f" step {self.step}" if self.step else ""
        return f"{self.low} to {self.high}{scale}"


@dataclass(frozen=True)
class Search:
    study: str
    objective: str  # a key of OBJECTIVES
    n_trials: int
    sampler: str
    seed: int
    startup_trials: int  # trials drawn at random before the sampler models the results
    pruner: str
    warmup_epochs: int  # epochs every trial runs before it may be pruned
    space: tuple[Dimension, ...]
    fixed: dict[str, Any]  # set in every trial, not searched

    @property
    def direction(self) -> str:
        return OBJECTIVES[self.objective]

    def as_dict(self) -> dict[str, Any]:
        """What identifies the search (workers of one study must agree on it); n_trials is
        left out: raising it in the file and rerunning `tune` extends a study."""
        return {
            "objective": self.objective,
            "sampler": self.sampler,
            "seed": self.seed,
            "pruner": self.pruner,
            "warmup_epochs": self.warmup_epochs,
            "startup_trials": self.startup_trials,
            "fixed": self.fixed,
            "space": {d.key: d.describe() for d in self.space},
        }


FIELDS = {
    "study": "the study's name",
    "objective": f"one of {list(OBJECTIVES)}",
    "n_trials": "the number of trials to finish",
    "sampler": "the sampler: name, seed, startup_trials",
    "pruner": "the pruner: name, warmup_epochs",
    "space": "the searched params.yaml keys",
    "base": f"a configuration of {configs.FILENAME} every trial starts from",
    "fixed": "params.yaml values every trial sets (on top of base's)",
}


def load_search(path: str | Path, params_path: str | Path = "params.yaml") -> Search:
    """Read and validate the search file against params.yaml (and its `base` against the
    configs.yaml beside params.yaml); ParamsError naming the file, the key and what was
    expected otherwise."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        params = yaml.safe_load(Path(params_path).read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise ParamsError(f"{error.filename}: file not found") from None
    except yaml.YAMLError as error:
        raise ParamsError(f"{path}: not valid YAML ({error})") from None
    configurations = {}
    if isinstance(raw, dict) and "base" in raw:  # errors in configs.yaml name that file
        configurations = configs.load_configs(
            Path(params_path).with_name(configs.FILENAME), params_path
        )
    try:
        return parse_search(raw, params, configurations)
    except ParamsError as error:
        raise ParamsError(f"{path}: {error}") from None


def parse_search(raw: Any, params: dict, configurations: dict | None = None) -> Search:
    """The search of `raw`; `configurations` (configs.yaml's, resolved) for its `base`."""
    mapping = _mapping(raw, "the search file")
    _known(mapping, FIELDS, "")
    for name in ("study", "objective", "n_trials", "space"):
        if name not in mapping:
            raise ParamsError(f"{name}: missing (expected {FIELDS[name]})")
    study = _study_name(mapping["study"])
    if mapping["objective"] not in OBJECTIVES:
        raise ParamsError(
            f"objective: expected one of {list(OBJECTIVES)} (validation split), "
            f"got {mapping['objective']!r}"
        )
    n_trials = _integer(mapping["n_trials"], "n_trials", 1)
    sampler, pruner = _sampler_and_pruner(mapping)
    flat = flatten(params)
    fixed, explicit = _fixed(mapping, params, flat, configurations or {})
    space = _space(mapping, params, flat, fixed, explicit)
    return Search(
        study=study,
        objective=mapping["objective"],
        n_trials=n_trials,
        sampler=sampler.get("name", SAMPLERS[0]),
        seed=_integer(sampler.get("seed", 0), "sampler.seed", 0),
        startup_trials=_integer(sampler.get("startup_trials", 10), "sampler.startup_trials", 0),
        pruner=pruner.get("name", PRUNERS[0]),
        warmup_epochs=_integer(pruner.get("warmup_epochs", 1), "pruner.warmup_epochs", 0),
        space=space,
        fixed=fixed,
    )


def _study_name(study: Any) -> str:
    if not isinstance(study, str) or not STUDY_NAME.fullmatch(study):
        raise ParamsError(
            f"study: expected a name of letters, digits, '-' and '_' starting "
            f"with a letter (it names the DVC experiments), got {study!r}"
        )
    return study


def _sampler_and_pruner(mapping: dict) -> tuple[dict, dict]:
    """The `sampler` and `pruner` sections (empty if absent): known keys, a known name."""
    sampler = _mapping(mapping.get("sampler", {}), "sampler")
    _known(sampler, {"name": "", "seed": "", "startup_trials": ""}, "sampler.")
    pruner = _mapping(mapping.get("pruner", {}), "pruner")
    _known(pruner, {"name": "", "warmup_epochs": ""}, "pruner.")
    for where, section, choices in (("sampler", sampler, SAMPLERS), ("pruner", pruner, PRUNERS)):
        if section.get("name", choices[0]) not in choices:
            raise ParamsError(
                f"{where}.name: expected one of {list(choices)}, got {section['name']!r}"
            )
    return sampler, pruner


def _fixed(
    mapping: dict, params: dict, flat: dict, configurations: dict
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The values every trial sets: base's, then `fixed`'s over them (each checked against
    params.yaml's validation); and `fixed`'s alone."""
    explicit = _mapping(mapping.get("fixed", {}), "fixed")
    for key, value in explicit.items():
        _check_key(key, flat, "fixed")
        _check_values(params, key, [value], f"fixed.{key}")
    return {**_base(mapping.get("base"), configurations, flat), **explicit}, explicit


def _space(
    mapping: dict, params: dict, flat: dict, fixed: dict, explicit: dict
) -> tuple[Dimension, ...]:
    """The searched dimensions: params.yaml keys, each neither in `fixed` nor set by base."""
    space = _mapping(mapping["space"], "space")
    if not space:
        raise ParamsError("space: empty (expected at least one params.yaml key to search)")
    dimensions = []
    for key, entry in space.items():
        _check_key(key, flat, "space")
        if key in fixed:
            origin = "in fixed" if key in explicit else f"set by base {mapping['base']}"
            raise ParamsError(f"space.{key}: also {origin} (a key is searched or fixed, not both)")
        dimensions.append(_dimension(key, entry, flat[key], params))
    return tuple(dimensions)


def _base(name: Any, configurations: dict, flat: dict) -> dict[str, Any]:
    """The values of the base configuration (none without one); configs.yaml checked them."""
    if name is None:
        return {}
    if name not in configurations:
        raise ParamsError(
            f"base: unknown configuration {name!r} (expected one of {list(configurations)} "
            f"from {configs.FILENAME})"
        )
    for key in configurations[name]:
        _check_key(key, flat, f"base {name}")
    return dict(configurations[name])


def _dimension(key: str, entry: Any, current: Any, params: dict) -> Dimension:
    where = f"space.{key}"
    entry = _mapping(entry, where, "a mapping with low and high, or choices")
    if "choices" in entry:
        _known(entry, {"choices": ""}, f"{where}.")
        choices = entry["choices"]
        if not isinstance(choices, list) or not choices:
            raise ParamsError(f"{where}.choices: expected a non-empty list, got {choices!r}")
        if len({repr(choice) for choice in choices}) < len(choices):
            raise ParamsError(f"{where}.choices: {choices!r} lists a value twice")
        _check_values(params, key, choices, f"{where}.choices")
        return Dimension(key, choices=tuple(choices))
    _known(entry, {"low": "", "high": "", "log": "", "step": ""}, f"{where}.")
    if "low" not in entry or "high" not in entry:
        raise ParamsError(f"{where}: expected low and high (a range) or choices (a list)")
    if isinstance(current, bool) or not isinstance(current, int | float):
        raise ParamsError(f"{where}: a range of a non-number (now {current!r}); use choices")
    low, high, log, step = entry["low"], entry["high"], entry.get("log", False), entry.get("step")
    _check_values(params, key, [low, high], where)
    if not low < high:
        raise ParamsError(f"{where}: empty range (low {low!r} must be below high {high!r})")
    if not isinstance(log, bool):
        raise ParamsError(f"{where}.log: expected true or false, got {log!r}")
    if log and low <= 0:
        raise ParamsError(f"{where}: a log-scale range must be above 0, got low {low!r}")
    if step is not None:
        if log:
            raise ParamsError(f"{where}: log and step exclude each other")
        allowed = int if isinstance(current, int) else int | float
        if isinstance(step, bool) or not isinstance(step, allowed) or step <= 0:
            raise ParamsError(
                f"{where}.step: expected a {type(current).__name__} > 0, got {step!r}"
            )
    return Dimension(key, low=low, high=high, log=log, step=step, integer=isinstance(current, int))


def _check_values(params: dict, key: str, values: list, where: str) -> None:
    """Each value must pass params.yaml's validation for `key` (type and range)."""
    for value in values:
        configs.check_value(params, key, value, where)


def _check_key(key: Any, flat: dict, where: str) -> None:
    if not isinstance(key, str) or key not in flat:
        raise ParamsError(
            f"{where}.{key}: unknown key (expected a params.yaml key such as "
            "train.learning_rate or model.hidden_1.units)"
        )
    if key.split(".")[0] not in SEARCHABLE:
        raise ParamsError(
            f"{where}.{key}: not a key the trained model depends on (expected "
            f"one under {', '.join(SEARCHABLE)})"
        )


def _mapping(value: Any, where: str, expected: str = "a mapping") -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ParamsError(f"{where}: expected {expected}, got {value!r}")
    return value


def _known(mapping: dict, fields: dict, prefix: str) -> None:
    unknown = sorted(map(str, set(mapping) - set(fields)))
    if unknown:
        raise ParamsError(f"{prefix}{unknown[0]}: unknown key (expected one of {sorted(fields)})")


def _integer(value: Any, where: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ParamsError(f"{where}: expected an integer >= {minimum}, got {value!r}")
    return value


def suggest(trial, search: Search) -> dict[str, Any]:
    """The trial's values of every searched key (drawn by the study's sampler), then the
    fixed ones."""
    values = {}
    for d in search.space:
        if d.choices is not None:
            values[d.key] = trial.suggest_categorical(d.key, list(d.choices))
        elif d.integer:
            values[d.key] = trial.suggest_int(d.key, d.low, d.high, step=d.step or 1, log=d.log)
        else:
            values[d.key] = trial.suggest_float(d.key, d.low, d.high, step=d.step, log=d.log)
    return {**values, **search.fixed}


def set_params(values: dict[str, Any]) -> list[str]:
    """`dvc exp run` arguments that set these values (YAML, so `linear` stays a string and
    0.001 a number)."""
    arguments = []
    for key, value in values.items():
        arguments += ["-S", f"{key}={configs.yaml_text(value)}"]
    return arguments
