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
    # The options beyond the notebook are off: no dropout, constant rate, no shifted images.
    assert [layer.dropout for layer in params.model.values()] == [0.0, 0.0]
    assert (params.train.lr_schedule, params.train.augment_shift) == ("constant", 0)


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("split", "val_fraction", 1.5, "split.val_fraction: expected between 0 and 1"),
        ("train", "epochs", 0, "train.epochs: expected >= 1, got 0"),
        (
            "data",
            "dataset",
            "cifar",
            "data.dataset: 'cifar' is no preset (expected one of ['mnist', 'fashion_mnist']",
        ),
        ("train", "epochs", "10", "train.epochs: expected an integer, got '10'"),
        ("train", "epochs", True, "train.epochs: expected an integer, got True"),
        ("train", "learning_rate", -1, "train.learning_rate: expected > 0"),
        ("train", "optimiser", "adam", "train.optimiser: unknown key"),
        ("train", "backend", "torch", "train.backend: expected one of ['tensorflow', 'jax']"),
        ("train", "lr_schedule", "step", "train.lr_schedule: expected one of ['constant', 'cos"),
        ("train", "lr_schedule", 1, "train.lr_schedule: expected a string, got 1"),
        ("train", "augment_shift", 8, "train.augment_shift: expected between 0 (none) and 7 pi"),
        ("train", "augment_shift", -1, "train.augment_shift: expected between 0 (none) and 7"),
        ("train", "augment_shift", 1.5, "train.augment_shift: expected an integer, got 1.5"),
        ("train", "augment_shift", False, "train.augment_shift: expected an integer, got False"),
        ("data", "verify", "yes", "data.verify: expected true or false, got 'yes'"),
        (
            "registry",
            "champion_spread_multiple",
            0,
            "registry.champion_spread_multiple: expected > 0 and at most 10 (seed sds), got 0",
        ),
        ("registry", "champion_margin", 0.0, "registry.champion_margin: unknown key"),
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


@pytest.mark.parametrize(
    "layers",
    [
        {"hidden_2": {"units": 8, "activation": "relu"}},
        {
            "hidden_1": {"units": 8, "activation": "relu"},
            "hidden_3": {"units": 8, "activation": "relu"},
        },
    ],
)
def test_hidden_layers_must_be_named_in_order(raw, layers):
    raw["model"] = layers
    with pytest.raises(ParamsError, match=r"^model: expected hidden layers named hidden_1, hidd"):
        parse_params(raw)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (1, "model.hidden_2.dropout: expected between 0 (none) and 1 (exclusive), got 1.0"),
        (0.999, None),
        (-0.1, "model.hidden_2.dropout: expected between 0 (none) and 1 (exclusive), got -0.1"),
        ("0.2", "model.hidden_2.dropout: expected a number, got '0.2'"),
        (None, "model.hidden_2.dropout: expected a number, got None"),
    ],
)
def test_dropout_is_validated_per_layer(raw, value, message):
    raw["model"]["hidden_2"]["dropout"] = value
    if message is None:
        assert parse_params(raw).model["hidden_2"].dropout == value
        return
    with pytest.raises(ParamsError) as error:
        parse_params(raw)
    assert str(error.value) == message  # one line, naming the key


def test_dropout_is_optional_and_zero_when_absent(raw):
    """`-S +model.hidden_3.units=32 -S +model.hidden_3.activation=relu` adds a layer."""
    raw["model"]["hidden_3"] = {"units": 32, "activation": "relu"}
    params = parse_params(raw)
    assert params.model["hidden_3"].dropout == 0.0
    assert flatten(params)["model.hidden_3.dropout"] == 0.0  # logged like any other param
    del raw["model"]["hidden_3"]["units"]
    with pytest.raises(ParamsError, match=r"^model\.hidden_3\.units: missing$"):
        parse_params(raw)


def test_the_new_train_keys_are_required(raw):
    del raw["train"]["lr_schedule"]
    with pytest.raises(ParamsError, match=r"^train\.lr_schedule: missing$"):
        parse_params(raw)


def test_params_yaml_round_trips_through_dvc_set_param(tmp_path):
    """Every new key takes `dvc exp run -S` values as written on the command line."""
    from conftest import edit_params

    path = tmp_path / "params.yaml"
    path.write_text((ROOT / "params.yaml").read_text())
    edit_params(
        path,
        **{
            "model.hidden_1.dropout": 0.25,
            "train.lr_schedule": "cosine",
            "train.augment_shift": 2,
            "+model.hidden_3.units": 32,
            "+model.hidden_3.activation": "relu",
        },
    )
    params = load_params(path)
    assert params.model["hidden_1"].dropout == 0.25
    assert (params.train.lr_schedule, params.train.augment_shift) == ("cosine", 2)
    assert params.model["hidden_3"].dropout == 0.0
    assert "dropout: 0.25" in path.read_text() and "null" not in path.read_text()
