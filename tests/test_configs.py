"""configs.yaml: the named configurations declared once, and everything that reads them (the
CLI, the Makefile, the seeds script, search.yaml's base, the documented table)."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mnist_pipeline import configs
from mnist_pipeline.errors import ParamsError
from mnist_pipeline.params import parse_params
from mnist_pipeline.search import searchfile

from conftest import ROOT

PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())
BIN = Path(sys.executable).parent
MNIST_PIPELINE = str(BIN / "mnist-pipeline")
SEARCH = {
    "study": "s",
    "objective": "val_loss",
    "n_trials": 2,
    "space": {"train.learning_rate": {"low": 0.001, "high": 0.01, "log": True}},
}


def _project_configs() -> dict:
    return configs.load_configs(ROOT / "configs.yaml", ROOT / "params.yaml")


def test_the_projects_configurations_load_and_each_is_a_valid_params_file():
    configurations = _project_configs()
    assert {"reference", "tuned", "tuned-large", "tuned-fashion"} <= set(configurations)
    assert configurations["reference"] == {}  # params.yaml as it is
    for values in configurations.values():
        parse_params(configs.apply(PARAMS, values))  # raises if the combination is not valid


def test_apply_sets_dotted_keys_on_a_copy():
    applied = configs.apply(PARAMS, {"train.epochs": 3, "model.hidden_2.units": 7})
    assert (applied["train"]["epochs"], applied["model"]["hidden_2"]["units"]) == (3, 7)
    assert PARAMS["train"]["epochs"] != 3 and PARAMS["model"]["hidden_2"]["units"] != 7


def test_extends_starts_from_the_parent_and_the_childs_own_keys_win():
    raw = {
        "a": {"train.epochs": 5, "model.hidden_1.units": 32},
        "b": {"extends": "a", "train.epochs": 7},
        "c": {"extends": "b", "train.batch_size": 64},
    }
    resolved = configs.parse_configs(raw, PARAMS)
    assert resolved["b"] == {"train.epochs": 7, "model.hidden_1.units": 32}
    assert resolved["c"] == {"train.epochs": 7, "model.hidden_1.units": 32, "train.batch_size": 64}
    assert raw["b"] == {"extends": "a", "train.epochs": 7}  # the input is left as it was


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"t": {"train.epoch": 3}}, "t.train.epoch: unknown key (expected a params.yaml key"),
        ({"t": {"model.hidden_3.units": 3}}, "t.model.hidden_3.units: unknown key"),
        (
            {"t": {"train.epochs": 0}},
            "t.train.epochs: 0 is not a valid train.epochs (train.epochs: expected >= 1, got 0)",
        ),
        ({"t": {"train.backend": "torch"}}, "t.train.backend: 'torch' is not a valid"),
        ({"t": {"extends": "u"}}, "t.extends: unknown configuration 'u' (expected one of ['t'])"),
        ({"t": {"extends": "t"}}, "t: extends itself (t -> t)"),
        (
            {"a": {"extends": "b"}, "b": {"extends": "c"}, "c": {"extends": "a"}},
            "a: extends itself (a -> b -> c -> a)",
        ),
        ({"t": ["train.epochs=3"]}, "t: expected a mapping of params.yaml keys to values"),
        ({"my config": {}}, "my config: expected a configuration name of letters"),
        ([], "expected a mapping of configuration names to params.yaml values"),
        (None, "expected a mapping of configuration names"),
    ],
)
def test_bad_configurations_are_rejected_naming_what_is_wrong(raw, message):
    with pytest.raises(ParamsError) as error:
        configs.parse_configs(raw, PARAMS)
    assert message in str(error.value)


def test_an_unknown_configuration_name_lists_the_names_there_are():
    with pytest.raises(ParamsError) as error:
        configs.named({"reference": {}, "tuned": {}}, "tunde")
    assert str(error.value) == (
        "no configuration 'tunde' in configs.yaml (expected one of ['reference', 'tuned'])"
    )


def _config(cwd: Path, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [MNIST_PIPELINE, "config", *arguments], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_config_prints_the_configurations_set_arguments():
    for name, values in _project_configs().items():
        result = _config(ROOT, name)
        assert result.returncode == 0, result.stderr
        assert shlex.split(result.stdout) == searchfile.set_params(values)


def test_a_bad_configs_file_or_name_is_one_line_and_exit_1(tmp_path):
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    (tmp_path / "configs.yaml").write_text("tuned: {train.epochs: 0}\n")
    result = _config(tmp_path, "tuned")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        "mnist-pipeline config: configs.yaml: tuned.train.epochs: 0 is not a valid "
        "train.epochs (train.epochs: expected >= 1, got 0)\n"
    )
    (tmp_path / "configs.yaml").write_text("tuned: {train.epochs: 3\n")
    result = _config(tmp_path, "tuned")
    assert result.returncode == 1
    assert result.stderr.startswith("mnist-pipeline config: configs.yaml: not valid YAML")
    assert "Traceback" not in result.stderr
    (tmp_path / "configs.yaml").write_text("tuned: {train.epochs: 3}\n")
    result = _config(tmp_path, "tuend")
    assert (result.returncode, result.stderr) == (
        1,
        "mnist-pipeline config: no configuration 'tuend' in configs.yaml "
        "(expected one of ['tuned'])\n",
    )


def _make_dry_run(*arguments: str) -> subprocess.CompletedProcess:
    """`make -n` in the project: the commands a target would run (the configuration's -S
    list comes from `mnist-pipeline config` as make expands the recipe)."""
    return subprocess.run(
        ["make", "-n", f"VENV_BIN={BIN}", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _experiment_command(output: str) -> list[str]:
    (line,) = [line for line in output.splitlines() if line.startswith("dvc exp run")]
    return shlex.split(line)


@pytest.mark.parametrize(
    "arguments, name, config, extra",
    [
        (["tuned"], "tuned", "tuned", []),
        (["tuned-fashion"], "tuned-fashion", "tuned-fashion", []),
        (["tuned", "CONFIG=tuned-large"], "tuned-large", "tuned-large", []),
        (["tuned", "NAME=x", "ARGS=-S train.epochs=3"], "x", "tuned", ["-S", "train.epochs=3"]),
        (["tuned-fashion", "NAME=y"], "y", "tuned-fashion", []),
    ],
)
def test_make_tuned_runs_the_named_configuration(arguments, name, config, extra):
    result = _make_dry_run(*arguments)
    assert result.returncode == 0, result.stderr
    overrides = searchfile.set_params(_project_configs()[config])
    expected = ["dvc", "exp", "run", "--temp", "-n", name, *overrides, *extra]
    assert _experiment_command(result.stdout) == expected


def test_make_tuned_stops_on_an_unknown_configuration():
    result = _make_dry_run("tuned", "CONFIG=nope")
    assert result.returncode != 0
    assert "dvc exp run" not in result.stdout
    assert "mnist-pipeline config: no configuration 'nope' in configs.yaml" in result.stderr
    assert "configuration nope: no -S arguments, see above" in result.stderr


@pytest.mark.parametrize(
    "target, names",
    [("seeds", ["reference", "tuned"]), ("seeds-fashion", ["reference-fashion", "tuned-fashion"])],
)
def test_make_seeds_runs_a_replicate_group_per_configuration(target, names):
    result = _make_dry_run(target, "SEEDS=1-3")
    assert result.returncode == 0, result.stderr
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("for config in")]
    assert line.split(";")[0] == f"for config in {' '.join(names)}"
    assert "mnist-pipeline replicate $config --seeds 1-3 2>&1" in result.stdout
    assert set(names) <= set(_project_configs())


def _benchmark(name: str):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        return __import__(name)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


def test_explore_starts_from_the_named_configuration_and_flags_change_it():
    explore = _benchmark("explore")
    tuned = configs.apply(PARAMS, _project_configs()["tuned"])
    arguments, layers = explore.settings([])
    assert arguments.config == "tuned"
    assert (arguments.epochs, arguments.lr_schedule, arguments.augment_shift) == (
        tuned["train"]["epochs"],
        tuned["train"]["lr_schedule"],
        tuned["train"]["augment_shift"],
    )
    assert layers == [{"dropout": 0.0, **layer} for layer in tuned["model"].values()]
    arguments, layers = explore.settings(
        ["--config", "reference", "--units", "64", "--dropout", "0.1", "--epochs", "3"]
    )
    first = PARAMS["model"]["hidden_1"]["activation"]
    assert layers == [{"units": 64, "activation": first, "dropout": 0.1}]
    assert (arguments.epochs, arguments.backend) == (3, PARAMS["train"]["backend"])


def test_the_documented_table_is_the_one_the_file_gives():
    from mnist_pipeline.cli import docs

    shown = docs.block(ROOT / "docs" / "better-models.md", "configs-table")
    assert shown == configs.markdown_table(_project_configs(), PARAMS), (
        "docs/better-models.md's configuration table differs from configs.yaml: run "
        "`mnist-pipeline docs`"
    )


def test_markdown_table_marks_what_a_configuration_sets():
    table = configs.markdown_table({"r": {}, "t": {"train.epochs": 3}}, PARAMS)
    assert table.splitlines() == [
        "| params.yaml key | `r` | `t` |",
        "|---|---|---|",
        f"| `train.epochs` | {PARAMS['train']['epochs']} | **3** |",
    ]


# search.yaml's base


def test_the_projects_search_takes_its_fixed_keys_from_its_base_configuration():
    raw = yaml.safe_load((ROOT / "search.yaml").read_text())
    spec = searchfile.load_search(ROOT / "search.yaml", ROOT / "params.yaml")
    assert spec.fixed == {**_project_configs()[raw["base"]], **(raw.get("fixed") or {})}
    assert spec.fixed  # the base sets keys
    assert {d.key for d in spec.space}.isdisjoint(spec.fixed)


def test_a_search_base_is_resolved_and_fixed_keys_go_on_top():
    configurations = {"b": {"train.epochs": 20, "train.backend": "jax"}}
    raw = {**SEARCH, "base": "b", "fixed": {"train.epochs": 3, "seed": 1}}
    spec = searchfile.parse_search(raw, PARAMS, configurations)
    assert spec.fixed == {"train.epochs": 3, "train.backend": "jax", "seed": 1}
    assert searchfile.parse_search(SEARCH, PARAMS, configurations).fixed == {}  # no base, none


@pytest.mark.parametrize(
    "changes, configurations, message",
    [
        ({"base": "nope"}, {"b": {}}, "base: unknown configuration 'nope' (expected one of ['b']"),
        (
            {"base": "b", "space": {"train.epochs": {"low": 2, "high": 9}}},
            {"b": {"train.epochs": 20}},
            "space.train.epochs: also set by base b (a key is searched or fixed, not both)",
        ),
        (
            {
                "base": "b",
                "fixed": {"train.epochs": 3},
                "space": {"train.epochs": {"choices": [2]}},
            },
            {"b": {}},
            "space.train.epochs: also in fixed",
        ),
        (
            {"base": "b"},
            {"b": {"data.dataset": "fashion_mnist"}},
            "base b.data.dataset: not a key the trained model depends on",
        ),
    ],
)
def test_a_bad_search_base_is_rejected(changes, configurations, message):
    with pytest.raises(ParamsError) as error:
        searchfile.parse_search({**SEARCH, **changes}, PARAMS, configurations)
    assert message in str(error.value)


def test_tune_names_configs_yaml_when_the_base_is_bad_there(tmp_path):
    """An error in configs.yaml is that file's, one line, before any study is made."""
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    (tmp_path / "configs.yaml").write_text("b: {train.epochs: -1}\n")
    (tmp_path / "s.yaml").write_text(yaml.safe_dump({**SEARCH, "base": "b"}))
    env = {key: value for key, value in os.environ.items() if key != "MLFLOW_TRACKING_URI"}
    result = subprocess.run(
        [MNIST_PIPELINE, "tune", "--search", "s.yaml"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr == (
        "mnist-pipeline tune: configs.yaml: b.train.epochs: -1 is not a valid train.epochs "
        "(train.epochs: expected >= 1, got -1)\n"
    )
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "configs.yaml",
        "params.yaml",
        "s.yaml",
    ]
