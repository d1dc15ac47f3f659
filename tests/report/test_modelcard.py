"""The model card on plain values: its YAML header is Hugging Face model-index metadata, the
seed spread is there when known and said to be absent when not, and the reproduce section
names the commit and the weights."""

import dataclasses

import pytest
import yaml

from mnist_pipeline.report import modelcard

FACTS = modelcard.CardFacts(
    model_name="mnist-classifier",
    version="3",
    run_id="r" * 32,
    dataset="mnist",
    dataset_sha256="d" * 64,
    weights_sha256="w" * 64,
    params={"seed": "42", "train.learning_rate": "0.001", "model.hidden_1.units": "128"},
    metrics={"test_accuracy": 0.9781, "test_loss": 0.0712, "test_macro_f1": 0.97795},
    commit="c" * 40,
    dirty=False,
    changed={"train.learning_rate": "0.001"},
    lock_md5="e" * 32,
)
SPREAD = modelcard.Spread(
    group="base-abc1234",
    seeds=5,
    metrics={
        "test_accuracy": {"mean": 0.977, "std": 0.0021, "ci95_low": 0.9744, "ci95_high": 0.9796},
        "test_loss": {"mean": 0.073, "std": 0.004, "ci95_low": 0.068, "ci95_high": 0.078},
    },
)


def header_of(text: str) -> dict:
    assert text.startswith("---\n")
    head, _ = text[4:].split("\n---\n", 1)
    return yaml.safe_load(head)


def test_the_header_is_model_index_metadata_with_this_versions_values():
    header = header_of(modelcard.render(FACTS))
    assert header["datasets"] == ["mnist"] and header["pipeline_tag"] == "image-classification"
    assert header["metrics"] == ["accuracy", "loss", "f1"]
    (model,) = header["model-index"]
    assert model["name"] == "mnist-classifier version 3"
    (result,) = model["results"]
    assert result["task"]["type"] == "image-classification"
    assert result["dataset"] == {
        "type": "mnist",
        "name": "MNIST",
        "split": "test",
        "revision": "d" * 64,
    }
    # Every metric has the schema's required type and value; no key the schema lacks.
    schema_keys = {"type", "value", "name", "config", "args", "verified"}
    for metric in result["metrics"]:
        assert {"type", "value"} <= metric.keys() <= schema_keys
    values = {metric["type"]: metric["value"] for metric in result["metrics"]}
    assert values == {"accuracy": 0.9781, "loss": 0.0712, "f1": 0.97795}
    f1 = next(metric for metric in result["metrics"] if metric["type"] == "f1")
    assert f1["args"] == {"average": "macro"}


def test_the_header_survives_values_that_would_break_a_yaml_template():
    odd = dataclasses.replace(FACTS, model_name="a: b # c", dataset="x'y\"z")
    (model,) = header_of(modelcard.render(odd))["model-index"]
    assert model["name"] == "a: b # c version 3"
    assert model["results"][0]["dataset"]["type"] == "x'y\"z"


def test_the_seed_spread_is_in_the_metric_args_and_the_table():
    text = modelcard.render(dataclasses.replace(FACTS, spread=SPREAD))
    (result,) = header_of(text)["model-index"][0]["results"]
    accuracy = next(metric for metric in result["metrics"] if metric["type"] == "accuracy")
    assert accuracy["value"] == 0.9781  # the version's own number, not the group's mean
    assert accuracy["args"] == {
        "seed_mean": 0.977,
        "seed_std": 0.0021,
        "seed_ci95_low": 0.9744,
        "seed_ci95_high": 0.9796,
        "seeds": 5,
        "replicate_group": "base-abc1234",
    }
    f1 = next(metric for metric in result["metrics"] if metric["type"] == "f1")
    assert f1["args"] == {"average": "macro"}  # the group had no F1: no spread claimed
    assert "| Test accuracy | 0.9781 | 0.9770 ± 0.0021 | 0.9744 to 0.9796 |" in text
    assert "replicate group `base-abc1234` of the same configuration (5 seeds" in text
    assert "(seed sd 0.0021 over 5 seeds)" in modelcard.summary(
        dataclasses.replace(FACTS, spread=SPREAD)
    )


def test_without_a_spread_the_card_says_so_plainly():
    facts = dataclasses.replace(FACTS, spread_note="no replicate group of this configuration")
    text = modelcard.render(facts)
    (result,) = header_of(text)["model-index"][0]["results"]
    assert all("seed_std" not in metric.get("args", {}) for metric in result["metrics"])
    assert "| Test accuracy | 0.9781 | - | - |" in text
    assert "No seed spread: no replicate group of this configuration, so how much" in text


def test_the_reproduce_section_names_the_commit_lock_weights_and_commands():
    text = modelcard.render(FACTS)
    reproduce = text.split("## Reproduce", 1)[1].split("\n## ", 1)[0]
    assert f"git commit `{'c' * 40}`" in reproduce
    assert f"`dvc.lock` md5 `{'e' * 32}`" in reproduce
    assert f"weights sha256 `{'w' * 64}`" in reproduce
    assert f"git checkout {'c' * 40}\ndvc exp run -S 'train.learning_rate=0.001'\n" in reproduce


def test_a_run_of_the_commits_own_params_reproduces_by_dvc_repro_and_unknowns_say_so():
    same = modelcard.render(dataclasses.replace(FACTS, changed={}))
    assert f"git checkout {'c' * 40}\ndvc repro\n" in same
    unknown = modelcard.render(
        dataclasses.replace(FACTS, commit=None, changed=None, lock_md5=None, dirty=None)
    )
    assert "git commit `unknown (trained outside git)`" in unknown
    assert "`dvc.lock`: not recorded for this version" in unknown
    assert "git checkout" not in unknown and "dvc exp run -S <each param" in unknown


def test_the_card_states_data_configuration_and_intended_use():
    text = modelcard.render(FACTS)
    assert f"Content sha256 `{'d' * 64}`" in text
    assert "- `train.learning_rate`: `0.001`" in text and "- `seed`: `42`" in text
    use = text.split("## Intended use and limits", 1)[1]
    assert "28 x 28 grayscale" in use and "Not for other scripts" in use


def test_parse_gives_header_and_body_and_refuses_text_without_a_header():
    header, body = modelcard.parse(modelcard.render(FACTS))
    assert header["model-index"][0]["name"] == "mnist-classifier version 3"
    assert body.lstrip().startswith("# mnist-classifier version 3")
    with pytest.raises(ValueError, match="no YAML header"):
        modelcard.parse("# just markdown\n")
