import numpy as np
import pytest

keras = pytest.importorskip("keras")

from mnist_pipeline.architecture import ACTIVATIONS, OPTIMIZERS, model_spec  # noqa: E402
from mnist_pipeline.errors import DataError  # noqa: E402
from mnist_pipeline.inference import ACTIVATIONS as NUMPY_ACTIVATIONS  # noqa: E402
from mnist_pipeline.inference import predict_proba  # noqa: E402
from mnist_pipeline.model import (  # noqa: E402
    build_model,
    compile_model,
    get_weights,
    set_weights,
    summary_text,
)

REFERENCE_LAYERS = [{"units": 128, "activation": "linear"}, {"units": 64, "activation": "relu"}]


@pytest.fixture(scope="module")
def reference_model():
    keras.utils.set_random_seed(0)
    return build_model(model_spec(REFERENCE_LAYERS))


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
    spec = model_spec(REFERENCE_LAYERS)
    x = np.random.default_rng(1).random((64, 784), dtype=np.float32)
    expected = reference_model.predict(x, verbose=0)
    actual = predict_proba(spec, get_weights(reference_model), x)
    np.testing.assert_allclose(actual, expected, atol=1e-6)


def test_numpy_inference_implements_exactly_the_offered_activations():
    assert tuple(NUMPY_ACTIVATIONS) == ACTIVATIONS


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_numpy_inference_matches_keras_for_every_activation(activation):
    spec = model_spec([{"units": 16, "activation": activation}])
    model = build_model(spec)
    x = np.random.default_rng(2).normal(size=(32, 784)).astype(np.float32)
    np.testing.assert_allclose(
        predict_proba(spec, get_weights(model), x), model.predict(x, verbose=0), atol=1e-6
    )


def test_weights_round_trip_into_a_fresh_model(reference_model):
    weights = get_weights(reference_model)
    assert list(weights) == [
        "hidden_1.kernel", "hidden_1.bias", "hidden_2.kernel", "hidden_2.bias",
        "output.kernel", "output.bias",
    ]  # fmt: skip
    fresh = build_model(model_spec(REFERENCE_LAYERS))
    set_weights(fresh, weights)
    for name, value in get_weights(fresh).items():
        np.testing.assert_array_equal(value, weights[name])
    with pytest.raises(DataError, match=r"hidden_1.kernel has shape \(784, 32\)"):
        set_weights(fresh, {**weights, "hidden_1.kernel": np.zeros((784, 32))})


def test_bad_arguments_are_value_errors(reference_model):
    with pytest.raises(ValueError, match="unknown optimizer 'adagrad'"):
        compile_model(reference_model, "adagrad", 0.001)
    with pytest.raises(ValueError, match="hidden layer 0: units must be a positive integer"):
        model_spec([{"units": 0, "activation": "relu"}])


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_every_offered_optimizer_is_keras_s_optimizer_of_that_name(reference_model, optimizer):
    compile_model(reference_model, optimizer, 0.01)
    assert type(reference_model.optimizer).__name__.lower() == optimizer
    assert float(reference_model.optimizer.learning_rate) == pytest.approx(0.01)
