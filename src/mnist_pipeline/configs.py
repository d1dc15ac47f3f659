"""The named configurations of configs.yaml: params.yaml values declared once, so `make
tuned`, the seeds script, search.yaml's `base` and the docs read the same ones.

Each is resolved (`extends` applied) and every value checked against params.yaml's own
validation on load: a typo stops with one line naming the file, configuration and key.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

from mnist_pipeline import paths
from mnist_pipeline.errors import ParamsError
from mnist_pipeline.params import flatten, parse_params

FILENAME = "configs.yaml"
EXTENDS = "extends"  # the one key of a configuration that is not a params.yaml key
# Names become DVC experiment names (`make tuned`, seeds-<name>-<seed>): git ref names.
CONFIG_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,62}")


def load_configs(
    path: str | Path | None = None, params_path: str | Path | None = None
) -> dict[str, dict[str, Any]]:
    """Every configuration by name, as {params.yaml key: value} with `extends` applied
    (default files: the project's configs.yaml and params.yaml)."""
    root = paths.project_root()
    path = Path(path or root / FILENAME)
    if path.is_relative_to(Path.cwd()):  # errors name it as the user would
        path = path.relative_to(Path.cwd())
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        params = yaml.safe_load(Path(params_path or root / "params.yaml").read_text("utf-8"))
    except FileNotFoundError as error:
        raise ParamsError(f"{error.filename}: file not found") from None
    except yaml.YAMLError as error:
        raise ParamsError(f"{path}: not valid YAML ({error})") from None
    try:
        return parse_configs(raw, params)
    except ParamsError as error:
        raise ParamsError(f"{path}: {error}") from None


def parse_configs(raw: Any, params: dict) -> dict[str, dict[str, Any]]:
    if not isinstance(raw, dict) or not raw:
        raise ParamsError(
            f"expected a mapping of configuration names to params.yaml values, got {raw!r}"
        )
    for name in raw:
        if not isinstance(name, str) or not CONFIG_NAME.fullmatch(name):
            raise ParamsError(
                f"{name}: expected a configuration name of letters, digits, '-' and '_' "
                "starting with a letter (it names DVC experiments)"
            )
    flat = flatten(params)
    return {name: _resolve(name, raw, flat, params, ()) for name in raw}


def _resolve(name: str, raw: dict, flat: dict, params: dict, chain: tuple) -> dict[str, Any]:
    """The configuration's values: its parent's (if it extends one), then its own."""
    if name in chain:
        raise ParamsError(f"{chain[0]}: extends itself ({' -> '.join([*chain, name])})")
    entry = raw[name] if raw[name] is not None else {}
    if not isinstance(entry, dict):
        raise ParamsError(
            f"{name}: expected a mapping of params.yaml keys to values, got {entry!r}"
        )
    values = {}
    if EXTENDS in entry:
        parent = entry[EXTENDS]
        if parent not in raw:
            raise ParamsError(
                f"{name}.{EXTENDS}: unknown configuration {parent!r} (expected one of {list(raw)})"
            )
        values = dict(_resolve(parent, raw, flat, params, (*chain, name)))
    for key, value in entry.items():
        if key == EXTENDS:
            continue
        if key not in flat:
            raise ParamsError(
                f"{name}.{key}: unknown key (expected a params.yaml key such as train.epochs "
                f"or model.hidden_1.units, or {EXTENDS})"
            )
        check_value(params, key, value, f"{name}.{key}")
        values[key] = value
    return values


def check_value(params: dict, key: str, value: Any, where: str) -> None:
    """ParamsError unless params.yaml with `key` set to `value` passes params.yaml's own
    validation (type and range), as a stage would check it on load."""
    try:
        parse_params(apply(params, {key: value}))
    except ParamsError as error:
        raise ParamsError(f"{where}: {value!r} is not a valid {key} ({error})") from None


def apply(params: dict, values: dict[str, Any]) -> dict:
    """A copy of params.yaml's content with these dotted keys set (as `dvc exp run -S`)."""
    params = copy.deepcopy(params)
    for key, value in values.items():
        *sections, last = key.split(".")
        section = params
        for name in sections:
            section = section[name]
        section[last] = value
    return params


def named(configurations: dict[str, dict[str, Any]], name: str) -> dict[str, Any]:
    """One configuration's values, or a ParamsError listing the names there are."""
    if name not in configurations:
        raise ParamsError(
            f"no configuration {name!r} in {FILENAME} (expected one of {list(configurations)})"
        )
    return configurations[name]


def markdown_table(configurations: dict[str, dict[str, Any]], params: dict) -> str:
    """Every key any configuration sets (in params.yaml's order), one column per
    configuration: the value it runs with, in bold where it sets it (plain: params.yaml's)."""
    flat = flatten(params)
    keys = [key for key in flat if any(key in values for values in configurations.values())]
    lines = [
        "| params.yaml key | " + " | ".join(f"`{name}`" for name in configurations) + " |",
        "|---" * (len(configurations) + 1) + "|",
    ]
    for key in keys:
        cells = [
            f"**{yaml_text(values[key])}**" if key in values else yaml_text(flat[key])
            for values in configurations.values()
        ]
        lines.append(f"| `{key}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def yaml_text(value: Any) -> str:
    """A value as YAML writes it (as in params.yaml and a -S argument)."""
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("\n...")
