"""The model to use and serve: raw images in, labels and probabilities out.

An `mlflow.pyfunc.PythonModel` around `classifier.RawImageClassifier`, logged into the model's
run as `model` with the three files it needs (model.json, weights.npz and prepare's
scaling.json) and the class names. Its signature takes N x 28 x 28 uint8, so
`mlflow models serve` answers raw images and rejects other shapes with a 400 that names the
expected one. Loading it imports numpy and pandas, not TensorFlow.

The plot stage logs it (once per run and weights: `log_model_once`); registering it as a version is
`mnist-pipeline publish`'s (publishing.py, registry.py), never a stage's.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
from mlflow.exceptions import MlflowException

from mnist_pipeline.errors import DataError, ModelError
from mnist_pipeline.model.architecture import IMAGE_SHAPE
from mnist_pipeline.model.classifier import LABEL, PROBABILITY, RawImageClassifier
from mnist_pipeline.tracking import tracker

log = logging.getLogger(__name__)

# The files the model carries (keys of `context.artifacts`).
SPEC, WEIGHTS, SCALING = "model_spec", "weights", "scaling"
# What loading the model imports. Pinned, not inferred: inference loads the model in a
# subprocess to see what it imports, seconds for nothing.
REQUIREMENTS = ("mlflow", "numpy", "pandas", "cloudpickle")
EXAMPLE_IMAGES = 2  # the input example: this many images, as the stage has them


class RawImageModel(mlflow.pyfunc.PythonModel):
    """`predict(images)`: N x 28 x 28 uint8 (MLflow checks the signature first; N x 784 rows
    come as a one-column DataFrame, which MLflow reshapes to 28 x 28) -> a DataFrame of label,
    probability and one probability column per class name.

    `model_input: np.ndarray` is what it receives once MLflow has checked the signature; it
    is also the one type hint from which MLflow 3 derives no signature of its own (other
    hints would replace the tensor signature; none at all draws a warning on every load)."""

    def load_context(self, context):
        self.classifier = RawImageClassifier.from_files(
            context.artifacts[SPEC],
            context.artifacts[WEIGHTS],
            context.artifacts[SCALING],
            context.model_config["class_names"],
        )

    def predict(self, context, model_input: np.ndarray, params=None):
        try:
            return self.classifier.predict(model_input)
        except DataError as error:  # served: a 400 with this message, not MLflow's generic one
            raise MlflowException.invalid_parameter_value(str(error)) from None


def input_schema():
    """N x 28 x 28 uint8: raw images."""
    from mlflow.types import Schema, TensorSpec

    return Schema([TensorSpec(np.dtype(np.uint8), (-1, *IMAGE_SHAPE))])


def signature(class_names: Sequence[str]):
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    columns = [ColSpec("string", LABEL), ColSpec("float", PROBABILITY)]
    columns += [ColSpec("float", name) for name in class_names]
    return ModelSignature(inputs=input_schema(), outputs=Schema(columns))


def log_model(
    spec: str,
    weights: str,
    scaling: str,
    dataset: str,
    class_names: Sequence[str],
    example: np.ndarray,
    weights_sha256: str,
):
    """Log the raw-image model into the active run; returns its LoggedModel id. Its code goes
    with it (`code_paths`: this package, as it was when logged), so it loads where
    mnist_pipeline is not installed; its test metrics (step 0) are attached to it."""
    requirements = [f"{name}=={importlib.metadata.version(name)}" for name in REQUIREMENTS]
    # MLflow checks the input example by loading the model back from the folder it just
    # wrote: its "Downloading artifacts" bars would fill the stage log with copies of a copy.
    # And it would copy the project's uv.lock into the model (the working directory is a uv
    # project), which `--env-manager uv` then installs whole, TensorFlow included: the
    # requirements above are what this model needs.
    tracker.skip_environment_scan()
    with _environment(MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false", MLFLOW_UV_AUTO_DETECT="false"):
        info = mlflow.pyfunc.log_model(
            name=tracker.RAW_IMAGE_MODEL,
            python_model=RawImageModel(),
            artifacts={SPEC: spec, WEIGHTS: weights, SCALING: scaling},
            model_config={"dataset": dataset, "class_names": list(class_names)},
            code_paths=[str(Path(__file__).parents[1])],  # the whole mnist_pipeline package
            signature=signature(class_names),
            input_example=example,
            pip_requirements=requirements,
            tags={tracker.WEIGHTS_TAG: weights_sha256, tracker.DATASET_TAG: dataset},
        )
    return info.model_id


@contextlib.contextmanager
def _environment(**variables: str) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def log_model_once(
    spec: str,
    weights: str,
    scaling: str,
    dataset: str,
    class_names: Sequence[str],
    example: np.ndarray,
    weights_sha256: str,
) -> str:
    """The raw-image model of these weights in the active run: the one logged before (a rerun
    of plot logs into the same run), else logged now; returns its LoggedModel id."""
    client = mlflow.MlflowClient()
    run = client.get_run(mlflow.active_run().info.run_id)
    logged = tracker.logged_model(client, run, weights_sha256)
    if logged is not None:
        return logged.model_id
    return log_model(spec, weights, scaling, dataset, class_names, example, weights_sha256)


def load_model(uri: str) -> Callable[[np.ndarray], Any]:
    """The raw-image MLflow model at `uri`; ModelError if there is none or it takes other
    input (the Keras model takes scaled N x 784 floats)."""
    # A 0.5 MB model: MLflow's "Downloading artifacts" bars would only clutter the answer.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    store = tracker.tracking_uri()
    tracker.check_reachable(store)
    mlflow.set_tracking_uri(store)
    try:
        # Its MLmodel first: a model of other input (the Keras one) is refused unloaded.
        takes = mlflow.models.get_model_info(uri).signature
        takes = takes.inputs if takes else None
        if takes != input_schema():
            raise ModelError(
                f"{uri}: takes {takes}, not raw images {input_schema()}: use the `model` of a "
                "run (runs:/<run id>/model) or models:/<name>@champion"
            )
        model = mlflow.pyfunc.load_model(uri)
    except (MlflowException, OSError) as error:
        raise ModelError(f"{uri}: no model to load there ({_first_line(error)})") from None

    def predict(images: np.ndarray):
        try:
            return model.predict(images)
        except MlflowException as error:
            raise ModelError(f"{uri}: {_first_line(error)}") from None

    return predict


def _first_line(error: BaseException) -> str:
    """MLflow's messages can run to the whole input array: keep the part that says why."""
    message = getattr(error, "message", None) or str(error)
    return message.rsplit("Error: ", 1)[-1].strip().splitlines()[0]
