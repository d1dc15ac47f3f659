"""The model to use: trained and evaluated on generated data, then loaded on raw images, asked
through `mnist-pipeline predict`, and served by `mlflow models serve`."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from mnist_pipeline.report import modelcard

from conftest import make_tiny_project, run_stage

pytestmark = pytest.mark.slow
mlflow = pytest.importorskip("mlflow")

CHAMPION = "models:/mnist-classifier@champion"


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """A tiny project (100 test images) after train, evaluate and `mnist-pipeline publish`:
    its run holds the raw-image model, the registry its first version, as champion."""
    directory, env = make_tiny_project(
        tmp_path_factory.mktemp("serving") / "project", test_per_class=10
    )
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"  # uvicorn
    outputs = {}
    for stage in ("train", "evaluate"):
        result = run_stage(stage, directory, env)
        assert result.returncode == 0, result.stderr
        outputs[stage] = result
    publish = subprocess.run(
        [sys.executable, "-m", "mnist_pipeline.cli", "publish"],
        cwd=directory,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
    )
    assert publish.returncode == 0, publish.stderr
    return directory, env, publish


def raw_test_images(directory: Path) -> np.ndarray:
    with np.load(directory / "data/raw/mnist.npz") as raw:
        return raw["x_test"]


def evaluated_labels(directory: Path) -> list[str]:
    rows = (directory / "reports/evaluate/predictions.csv").read_text().splitlines()[1:]
    return [row.split(",")[1] for row in rows]


def test_publish_registers_the_model_and_prints_the_gates_decision(published):
    directory, env, publish = published
    assert publish.stdout.startswith("champion: mnist-classifier version 1 (test accuracy ")
    client = mlflow.MlflowClient(env["MLFLOW_TRACKING_URI"])
    (run,) = client.search_runs([client.get_experiment_by_name("mnist-pipeline").experiment_id])
    names = {client.get_logged_model(m.model_id).name for m in run.outputs.model_outputs}
    assert names == {"model", "keras_model"}
    assert run.data.tags["registered_version"] == "mnist-classifier/1"
    assert run.data.tags["champion_decision"].startswith("champion: mnist-classifier version 1")
    version = client.get_model_version_by_alias("mnist-classifier", "champion")
    for tag in ("dataset", "dataset_sha256", "weights_sha256", "git_commit"):
        assert version.tags[tag] == run.data.tags[tag], tag
    assert float(version.tags["test_accuracy"]) == run.data.metrics["test_accuracy"]


def test_the_version_has_a_model_card_and_predict_card_prints_it(published):
    """The card logged with the version, read back by `predict --card` for the workspace's
    model and for the champion: this run's data hash, test metrics, weights and commands."""
    directory, env, _ = published
    client = mlflow.MlflowClient(env["MLFLOW_TRACKING_URI"])
    version = client.get_model_version_by_alias("mnist-classifier", "champion")
    run = client.get_run(version.run_id)
    path = f"model_cards/mnist-classifier-v{version.version}.md"
    assert version.tags["model_card"] == f"runs:/{run.info.run_id}/{path}"
    card = Path(client.download_artifacts(run.info.run_id, path)).read_text()
    for arguments in (["--card"], ["--card", "--model", CHAMPION]):
        result = predict(directory, env, *arguments)
        assert result.returncode == 0, result.stderr
        assert result.stdout == card, arguments
    header, body = modelcard.parse(card)
    (result,) = header["model-index"][0]["results"]
    assert result["dataset"]["revision"] == run.data.tags["dataset_sha256"]
    assert {m["type"]: m["value"] for m in result["metrics"]} == {
        kind: round(run.data.metrics[name], 6) for name, (kind, _, _) in modelcard.METRICS.items()
    }
    assert f"weights sha256 `{run.data.tags['weights_sha256']}`" in body
    assert f"git checkout {run.data.tags['git_commit']}\ndvc repro\n" in body  # its own params
    assert "- `train.epochs`: `" in body and "No seed spread" in body
    assert version.description.startswith("An MLP image classifier trained by mnist-pipeline")


LOAD_AND_PREDICT = """
import json, sys
import mlflow, numpy as np
mlflow.set_tracking_uri(sys.argv[1])
model = mlflow.pyfunc.load_model(sys.argv[2])
with np.load("data/raw/mnist.npz") as raw:
    table = model.predict(raw["x_test"])
print(json.dumps({"labels": list(table["label"]), "columns": list(table.columns),
                  "tensorflow": "tensorflow" in sys.modules or "keras" in sys.modules,
                  "input": str(model.metadata.get_input_schema())}))
"""


def test_the_model_on_raw_test_images_gives_exactly_evaluates_predictions(published):
    """Loaded in a fresh process: raw uint8 N x 28 x 28 in, evaluate's labels out, and no
    TensorFlow imported to get there."""
    directory, env, _ = published
    result = subprocess.run(
        [sys.executable, "-c", LOAD_AND_PREDICT, env["MLFLOW_TRACKING_URI"], CHAMPION],
        cwd=directory,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout.splitlines()[-1])
    assert answer["labels"] == evaluated_labels(directory)
    assert len(answer["labels"]) == 100
    assert answer["columns"] == ["label", "probability", *map(str, range(10))]
    assert answer["input"] == "[Tensor('uint8', (-1, 28, 28))]"
    assert answer["tensorflow"] is False


def predict(directory, env, *arguments) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mnist_pipeline.cli", "predict", *arguments],
        cwd=directory,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_predict_on_pictures_of_test_images_in_both_polarities_and_another_size(published):
    """PNGs written from test images: white on black at 28 x 28, black on white at 84 x 84
    (and as RGB): each gives the label of the image it was written from, by the workspace's
    model and by the registered champion alike."""
    from PIL import Image

    from mnist_pipeline.data.datasets import get_spec
    from mnist_pipeline.model.classifier import RawImageClassifier

    directory, env, _ = published
    images = raw_test_images(directory)[:6].copy()
    images[:, :3], images[:, -3:], images[:, :, :3], images[:, :, -3:] = 0, 0, 0, 0  # margins
    files = []
    for index, image in enumerate(images):
        Image.fromarray(image).save(directory / f"white-{index}.png")
        large = Image.fromarray(255 - image).resize((84, 84), Image.Resampling.NEAREST)
        large.save(directory / f"black-{index}.png")
        large.convert("RGB").save(directory / f"black-rgb-{index}.png")
        files += [f"white-{index}.png", f"black-{index}.png", f"black-rgb-{index}.png"]
    expected = RawImageClassifier.from_files(
        *(
            str(directory / path)
            for path in ("models/model.json", "models/weights.npz", "data/prepared/scaling.json")
        ),
        get_spec("mnist").class_names,
    ).predict(images)
    for model in ([], ["--model", CHAMPION]):
        result = predict(directory, env, *files, "--format", "json", *model)
        assert result.returncode == 0, result.stderr
        rows = json.loads(result.stdout)
        assert [row["input"] for row in rows] == files
        assert [row["label"] for row in rows] == [
            label for label in expected["label"] for _ in range(3)
        ]
        np.testing.assert_allclose(
            [row["probability"] for row in rows][::3], expected["probability"], atol=1e-6
        )


def test_predict_reads_idx_and_npz_and_prints_a_table(published):
    directory, env, _ = published
    result = predict(directory, env, "data/raw/mnist.npz", "--key", "x_test")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["input", "label", "probability"] and len(lines) == 101
    assert [line.split()[1] for line in lines[1:]] == evaluated_labels(directory)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["broken.png"], "broken.png: unreadable image ("),
        (["data/prepared/test.npz"], "data/prepared/test.npz: images of dtype float32: expec"),
        (["data/raw/mnist.npz", "--key", "y_test"], "images of shape (100,): expected N x 28"),
        (
            ["blank.png", "--model", "models:/no-such-model@champion"],
            "models:/no-such-model@champion: no model to load there (Registered Model with nam",
        ),
    ],
)
def test_predict_bad_input_is_one_line_and_exit_1(published, arguments, message):
    from PIL import Image

    directory, env, _ = published
    Image.new("L", (28, 28)).save(directory / "blank.png")
    (directory / "broken.png").write_bytes((directory / "blank.png").read_bytes()[:40])
    result = predict(directory, env, *arguments)
    assert result.returncode == 1
    assert result.stderr.startswith("mnist-pipeline predict: ")
    assert message in result.stderr and len(result.stderr.splitlines()) == 1, result.stderr


def test_predict_answers_every_readable_file_and_names_each_unreadable_one(published):
    """A broken PNG and a missing file among good ones: the good ones are predicted, each bad
    one is one line on stderr, and the exit is 1."""
    from PIL import Image

    directory, env, _ = published
    images = raw_test_images(directory)[:2]
    for index, image in enumerate(images):
        Image.fromarray(image).save(directory / f"good-{index}.png")
    (directory / "cut.png").write_bytes((directory / "good-0.png").read_bytes()[:40])
    files = ["good-0.png", "cut.png", "good-1.png", "missing.png"]
    result = predict(directory, env, *files, "--polarity", "white-on-black", "--format", "csv")
    assert result.returncode == 1
    rows = result.stdout.splitlines()[1:]
    assert [row.split(",")[:2] for row in rows] == [
        ["good-0.png", evaluated_labels(directory)[0]],
        ["good-1.png", evaluated_labels(directory)[1]],
    ]
    errors = result.stderr.splitlines()
    assert len(errors) == 2, result.stderr
    assert errors[0].startswith("mnist-pipeline predict: cut.png: unreadable image (")
    assert errors[1] == "mnist-pipeline predict: missing.png: no such file"


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def post(url: str, payload: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, json.dumps(payload).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_served_champion_answers_raw_images_and_rejects_bad_shapes(published, tmp_path):
    """`mlflow models serve -m models:/mnist-classifier@champion --env-manager local`, as the
    README shows it: 100 raw test images in, evaluate's labels out; a wrong shape is a 400
    naming the shape expected. Started on a free port, waited for with a deadline."""
    directory, env, _ = published
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "w") as output:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mlflow",
                "models",
                "serve",
                "-m",
                CHAMPION,
                "--env-manager",
                "local",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=directory,
            env={**os.environ, **env},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240  # a loaded 2-core machine: ~10 s when idle
        while True:
            assert server.poll() is None, f"server exited: {log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"no /ping in 240 s: {log.read_text()[-3000:]}"
            try:
                with urllib.request.urlopen(f"{url}/ping", timeout=5):
                    break
            except OSError:
                time.sleep(0.5)

        images = raw_test_images(directory)
        status, answer = post(f"{url}/invocations", {"inputs": images.tolist()})
        assert status == 200, answer
        assert [row["label"] for row in answer["predictions"]] == evaluated_labels(directory)
        assert len(answer["predictions"]) == 100

        rows = {
            "dataframe_records": [{"pixels": row} for row in images[:5].reshape(5, 784).tolist()]
        }
        status, answer = post(f"{url}/invocations", rows)  # N x 784: one 784-list per row
        assert status == 200, answer
        assert [row["label"] for row in answer["predictions"]] == evaluated_labels(directory)[:5]

        for malformed, shape in (
            ([[1, 2, 3]], "(1, 3)"),
            (images[:2].reshape(2, 784).tolist(), "(2, 784)"),
        ):
            status, answer = post(f"{url}/invocations", {"inputs": malformed})
            assert status == 400, answer
            assert (
                f"Shape of input {shape} does not match expected shape (-1, 28, 28)"
                in answer["message"]
            )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
