from pathlib import Path

import pytest
import yaml

from mnist_pipeline.errors import ParamsError
from mnist_pipeline.params import flatten, load_params, parse_params

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def raw() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def test_defaults_reproduce_the_reference_notebook():
    params = load_params(ROOT / "params.yaml")
    assert params.data.dataset == "mnist"
    assert params.prepare.scaling == "unit"
    assert params.split.val_fraction == 0.2
    assert (params.train.batch_size, params.train.epochs) == (128, 10)
    assert (params.train.optimizer, params.train.learning_rate) == ("adam", 0.001)
    layers = [(name, layer.units, layer.activation) for name, layer in params.model.items()]
    assert layers == [("hidden_1", 128, "linear"), ("hidden_2", 64, "relu")]


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("split", "val_fraction", 1.5, "split.val_fraction: expected between 0 and 1"),
        ("train", "epochs", 0, "train.epochs: expected >= 1, got 0"),
        ("data", "dataset", "cifar", "data.dataset: expected one of ['mnist', 'fashion_mnist']"),
        ("train", "epochs", "10", "train.epochs: expected an integer, got '10'"),
        ("train", "epochs", True, "train.epochs: expected an integer, got True"),
        ("train", "learning_rate", -1, "train.learning_rate: expected > 0"),
        ("train", "optimiser", "adam", "train.optimiser: unknown key"),
        ("train", "backend", "torch", "train.backend: expected one of ['tensorflow', 'jax']"),
        (
            "prepare",
            "scaling",
            "minmax",
            "prepare.scaling: expected one of ['unit', 'standardize']",
        ),
    ],
)
def test_bad_values_name_the_key(raw, section, key, value, message):
    raw[section][key] = value
    with pytest.raises(ParamsError, match=None) as error:
        parse_params(raw)
    assert message in str(error.value)


def test_missing_and_nested_keys_are_named(raw):
    del raw["train"]["batch_size"]
    with pytest.raises(ParamsError, match=r"^train\.batch_size: missing$"):
        parse_params(raw)


def test_nested_layer_keys_are_named(raw):
    raw["model"]["hidden_2"]["activation"] = "swish"
    with pytest.raises(ParamsError, match=r"model\.hidden_2\.activation: expected one of"):
        parse_params(raw)


def test_unknown_top_level_section(raw):
    raw["evaluation"] = {}
    with pytest.raises(ParamsError, match="^evaluation: unknown key"):
        parse_params(raw)


def test_integers_are_accepted_for_floats(raw):
    raw["train"]["learning_rate"] = 1
    assert parse_params(raw).train.learning_rate == 1.0


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ParamsError, match="file not found"):
        load_params(tmp_path / "params.yaml")
    (tmp_path / "params.yaml").write_text("train: [unclosed")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(tmp_path / "params.yaml")


def test_flatten_uses_dotted_keys(raw):
    flat = flatten(parse_params(raw))
    assert flat["train.batch_size"] == 128
    assert flat["model.hidden_1.units"] == 128
    assert flat["model.hidden_1.activation"] == "linear"
    assert all(not isinstance(value, dict | list) for value in flat.values())


@pytest.mark.parametrize("layers", [{"hidden_2": {"units": 8, "activation": "relu"}},
                                    {"hidden_1": {"units": 8, "activation": "relu"},
                                     "hidden_3": {"units": 8, "activation": "relu"}}])  # fmt: skip
def test_hidden_layers_must_be_named_in_order(raw, layers):
    raw["model"] = layers
    with pytest.raises(ParamsError, match=r"^model: expected hidden layers named hidden_1, hidd"):
        parse_params(raw)
