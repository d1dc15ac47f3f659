import numpy as np
import pytest

keras = pytest.importorskip("keras")

from mnist_pipeline.errors import DataError  # noqa: E402
from mnist_pipeline.model.architecture import (  # noqa: E402
    ACTIVATIONS,
    LR_SCHEDULES,
    OPTIMIZERS,
    model_spec,
)
from mnist_pipeline.model.inference import ACTIVATIONS as NUMPY_ACTIVATIONS  # noqa: E402
from mnist_pipeline.model.inference import predict_proba  # noqa: E402
from mnist_pipeline.model.keras_model import (  # noqa: E402
    build_model,
    compile_model,
    get_weights,
    set_weights,
    summary_text,
)
from mnist_pipeline.model.training import fit, shifted_batches  # noqa: E402

from conftest import ROOT  # noqa: E402

REFERENCE_LAYERS = [{"units": 128, "activation": "linear"}, {"units": 64, "activation": "relu"}]


@pytest.fixture(scope="module")
def reference_model():
    keras.utils.set_random_seed(0)
    return build_model(model_spec(REFERENCE_LAYERS, 10))


def test_reference_architecture_has_109386_parameters(reference_model):
    assert reference_model.count_params() == 109_386
    assert "Trainable params: 109,386" in summary_text(reference_model)


def test_layer_activations(reference_model):
    activations = [layer.activation.__name__ for layer in reference_model.layers]
    assert activations == ["linear", "relu", "softmax"]
    assert [layer.units for layer in reference_model.layers] == [128, 64, 10]


def test_output_is_a_probability_distribution(reference_model):
    x = np.random.default_rng(0).random((16, 784), dtype=np.float32)
    probabilities = np.asarray(reference_model(x))
    assert probabilities.shape == (16, 10)
    assert (probabilities >= 0).all()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=1e-5)


def test_numpy_inference_matches_keras(reference_model):
    spec = model_spec(REFERENCE_LAYERS, 10)
    x = np.random.default_rng(1).random((64, 784), dtype=np.float32)
    expected = reference_model.predict(x, verbose=0)
    actual = predict_proba(spec, get_weights(reference_model), x)
    np.testing.assert_allclose(actual, expected, atol=1e-6)


def test_numpy_inference_implements_exactly_the_offered_activations():
    assert tuple(NUMPY_ACTIVATIONS) == ACTIVATIONS


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_numpy_inference_matches_keras_for_every_activation(activation):
    spec = model_spec([{"units": 16, "activation": activation}], 10)
    model = build_model(spec)
    x = np.random.default_rng(2).normal(size=(32, 784)).astype(np.float32)
    np.testing.assert_allclose(
        predict_proba(spec, get_weights(model), x), model.predict(x, verbose=0), atol=1e-6
    )


def test_weights_round_trip_into_a_fresh_model(reference_model):
    weights = get_weights(reference_model)
    assert list(weights) == [
        "hidden_1.kernel",
        "hidden_1.bias",
        "hidden_2.kernel",
        "hidden_2.bias",
        "output.kernel",
        "output.bias",
    ]
    fresh = build_model(model_spec(REFERENCE_LAYERS, 10))
    set_weights(fresh, weights)
    for name, value in get_weights(fresh).items():
        np.testing.assert_array_equal(value, weights[name])
    with pytest.raises(DataError, match=r"hidden_1.kernel has shape \(784, 32\)"):
        set_weights(fresh, {**weights, "hidden_1.kernel": np.zeros((784, 32))})


def test_bad_arguments_are_value_errors(reference_model):
    with pytest.raises(ValueError, match="unknown optimizer 'adagrad'"):
        compile_model(reference_model, "adagrad", 0.001)
    with pytest.raises(ValueError, match="hidden layer 0: units must be a positive integer"):
        model_spec([{"units": 0, "activation": "relu"}], 10)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_every_offered_optimizer_is_keras_s_optimizer_of_that_name(reference_model, optimizer):
    compile_model(reference_model, optimizer, 0.01)
    assert type(reference_model.optimizer).__name__.lower() == optimizer
    assert float(reference_model.optimizer.learning_rate) == pytest.approx(0.01)


# The options beyond the reference notebook: dropout, learning-rate schedule, shifted images.


def test_the_reference_spec_and_summary_are_the_committed_ones():
    """Options off, the train stage writes the same model.json and model_summary.txt as the
    committed run (dvc.lock's md5, the git-tracked summary): no key, no layer added."""
    import hashlib
    import json

    from mnist_pipeline.cli.reprocheck import lock_hashes

    layers = [{**layer, "dropout": 0.0} for layer in REFERENCE_LAYERS]  # as params.yaml gives
    spec = model_spec(layers, 10)
    written = (json.dumps(spec, indent=2, sort_keys=True) + "\n").encode()  # atomic.write_json
    committed = lock_hashes((ROOT / "dvc.lock").read_text())
    assert hashlib.md5(written).hexdigest() == committed["models/model.json"]
    keras.utils.set_random_seed(0)
    summary = summary_text(build_model(spec))
    assert summary == (ROOT / "reports/train/model_summary.txt").read_text()


def test_a_dropout_layer_follows_only_the_hidden_layers_that_ask_for_one():
    layers = [
        {"units": 32, "activation": "relu", "dropout": 0.3},
        {"units": 16, "activation": "relu", "dropout": 0.0},
    ]
    spec = model_spec(layers, 10)
    assert spec["hidden_layers"] == [
        {"units": 32, "activation": "relu", "dropout": 0.3},
        {"units": 16, "activation": "relu"},
    ]
    model = build_model(spec)
    assert [layer.name for layer in model.layers] == [
        "hidden_1",
        "hidden_1_dropout",
        "hidden_2",
        "output",
    ]
    assert model.get_layer("hidden_1_dropout").rate == 0.3


def test_model_options_are_checked():
    with pytest.raises(ValueError, match="hidden layer 0: dropout must be in"):
        model_spec([{"units": 8, "activation": "relu", "dropout": 1.0}], 10)
    model = build_model(model_spec([{"units": 8, "activation": "relu"}], 10))
    with pytest.raises(ValueError, match="unknown lr_schedule 'step'"):
        compile_model(model, "adam", 0.001, lr_schedule="step")
    with pytest.raises(ValueError, match="'cosine' needs total_steps >= 1"):
        compile_model(model, "adam", 0.001, lr_schedule="cosine")


@pytest.mark.parametrize("lr_schedule", LR_SCHEDULES)
def test_every_offered_schedule_runs_its_course(lr_schedule):
    model = build_model(model_spec([{"units": 8, "activation": "relu"}], 10))
    compile_model(model, "adam", 0.01, lr_schedule=lr_schedule, total_steps=100)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.01)  # at step 0, either way
    model.optimizer.iterations.assign(50)
    halfway = float(model.optimizer.learning_rate)
    model.optimizer.iterations.assign(100)
    final = float(model.optimizer.learning_rate)
    expected = {"constant": (0.01, 0.01), "cosine": (0.005, 0.0)}[lr_schedule]
    assert (halfway, final) == (pytest.approx(expected[0]), pytest.approx(expected[1], abs=1e-9))


OPTION_SETS = {
    "dropout": {"dropout": (0.5, 0.2)},
    "cosine": {"lr_schedule": "cosine"},
    "shift": {"max_shift": 3},
    "all": {"dropout": (0.3, 0.0), "lr_schedule": "cosine", "max_shift": 2},
}


@pytest.mark.parametrize("options", OPTION_SETS.values(), ids=OPTION_SETS.keys())
def test_numpy_inference_matches_keras_for_trained_models_with_options(options):
    """Trained with the option (so dropout and shifted images acted on the weights), then
    predicted: numpy inference, where both are the identity, must agree with Keras's."""
    keras.utils.set_random_seed(5)
    dropout = options.get("dropout", (0.0, 0.0))
    layers = [
        {"units": 32, "activation": "relu", "dropout": dropout[0]},
        {"units": 16, "activation": "elu", "dropout": dropout[1]},
    ]
    spec = model_spec(layers, 10)
    model = build_model(spec)
    compile_model(
        model,
        "adam",
        0.01,
        steps_per_execution=2,
        lr_schedule=options.get("lr_schedule", "constant"),
        total_steps=10,
    )
    rng = np.random.default_rng(4)
    train = {"x": rng.random((160, 784), dtype=np.float32), "y": rng.integers(0, 10, 160)}
    fit(model, train, train, epochs=2, batch_size=32, max_shift=options.get("max_shift", 0))
    x = rng.random((64, 784), dtype=np.float32)
    np.testing.assert_allclose(
        predict_proba(spec, get_weights(model), x), model.predict(x, verbose=0), atol=1e-6
    )


def test_numpy_inference_refuses_a_spec_key_it_does_not_know():
    spec = model_spec(REFERENCE_LAYERS, 10)
    weights = get_weights(build_model(spec))
    spec["hidden_layers"][0]["batch_norm"] = True
    with pytest.raises(DataError, match=r"model spec: unknown keys \['hidden_1.batch_norm'\]"):
        predict_proba(spec, weights, np.zeros((1, 784), dtype=np.float32))


def test_shifted_batches_show_every_image_once_per_epoch_shifted_and_seeded():
    rng = np.random.default_rng(6)
    digits = np.zeros((50, 28, 28), dtype=np.float32)  # background at the borders
    digits[:, 6:22, 6:22] = rng.random((50, 16, 16), dtype=np.float32) + 1
    x, labels = digits.reshape(50, 784), np.eye(10, dtype=np.float32)[np.arange(50) % 10]

    def epoch(dataset) -> list[tuple[np.ndarray, np.ndarray]]:
        batches = [dataset[index] for index in range(len(dataset))]
        dataset.on_epoch_end()
        return batches

    dataset = shifted_batches(x, labels, batch_size=16, max_shift=2, seed=1)
    first, second = epoch(dataset), epoch(dataset)
    assert len(dataset) == 4 and [len(batch[0]) for batch in first] == [16, 16, 16, 2]
    offsets = set()
    for images, targets in first:
        for image, target in zip(images.reshape(-1, 28, 28), targets, strict=True):
            matches = [
                (index, dy, dx)
                for index in range(50)
                for dy in range(-2, 3)
                for dx in range(-2, 3)
                if np.array_equal(np.roll(digits[index], (dy, dx), (0, 1)), image)
            ]
            (index, dy, dx), *_ = matches  # a whole-pixel shift of a training image, <= 2
            np.testing.assert_array_equal(target, labels[index])  # with its own label
            offsets.add((dy, dx))
    assert len(offsets) > 10  # per image, not per batch
    assert not np.array_equal(first[0][0], second[0][0])  # a new draw each epoch
    again = shifted_batches(x, labels, batch_size=16, max_shift=2, seed=1)
    assert all(np.array_equal(a[0], b[0]) for a, b in zip(epoch(again), first, strict=True))
