"""Your own MNIST-format dataset, described in params.yaml's `data`: bad descriptions are one
line naming the key or file; a good one trains end to end, its class names everywhere."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
import yaml

from mnist_pipeline.errors import ParamsError
from mnist_pipeline.params import parse_params

from conftest import (
    IDX_NAMES,
    ROOT,
    copy_repository,
    dvc,
    edit_params,
    git_commit_all,
    idx_bytes,
    run_stage,
    write_idx_folder,
)

SHAPES = ["circle", "square", "triangle"]
FASHION = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist


def three_classes(per_class: int = 30, test_per_class: int = 5) -> dict:
    """Generated 28x28 images of 3 classes, each a distinct brightness (learnable)."""
    rng = np.random.default_rng(1)
    arrays = {}
    for split, count in (("train", per_class), ("test", test_per_class)):
        labels = np.repeat(np.arange(3, dtype=np.uint8), count)
        rng.shuffle(labels)
        noise = rng.integers(0, 40, size=(len(labels), 28, 28))
        arrays[f"x_{split}"] = (noise + 100 * labels[:, None, None]).astype(np.uint8)
        arrays[f"y_{split}"] = labels
    return arrays


def own(raw: dict, **data) -> dict:
    """params.yaml's content with `data` describing an own dataset (then `data` applied)."""
    raw["data"] |= {
        "dataset": "shapes",
        "source": "shapes-folder",
        "class_names": list(SHAPES),
        "verify": False,
        **data,
    }
    return raw


@pytest.fixture
def raw() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())


def test_a_description_and_the_presets_parse(raw):
    assert parse_params(raw).data.dataset == "mnist"  # the default: a preset
    data = parse_params(own(raw)).data
    assert (data.dataset, data.source, data.class_names) == ("shapes", "shapes-folder", SHAPES)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"class_names": ["a", "b", "a"]}, "data.class_names.2: 'a' again (expected each class"),
        ({"class_names": []}, "data.class_names: expected shapes's class names, label 0 first"),
        ({"class_names": ["a", " "]}, "data.class_names.1: expected a non-empty name"),
        ({"class_names": ["a,b", "c"]}, "data.class_names.0: expected a non-empty name without"),
        ({"class_names": "a b"}, "data.class_names: expected a list, got 'a b'"),
        ({"verify": True}, "data.sha256.train_images: missing (expected each IDX file's sha256"),
        ({"sha256": {"train_images": "abc"}}, "data.sha256.train_images: expected 64 hex"),
        ({"sha256": {"images": "0" * 64}}, "data.sha256.images: unknown key (expected one of"),
        ({"source": ""}, "data.source: expected the folder of shapes's IDX files, got ''"),
        ({"dataset": "my digits"}, "data.dataset: expected a name of letters, digits"),
        ({"dataset": "mnist"}, "data.source: mnist is a preset, with its own (expected src/"),
    ],
)
def test_a_bad_description_is_one_line_naming_the_key(raw, data, message):
    with pytest.raises(ParamsError) as error:
        parse_params(own(raw, **data))
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_a_preset_with_class_names_or_a_typo_of_one_names_the_key(raw):
    raw["data"]["class_names"] = SHAPES
    with pytest.raises(ParamsError, match=r"^data.class_names: mnist is a preset, with its own"):
        parse_params(raw)
    raw["data"] |= {"class_names": [], "dataset": "mnits"}
    with pytest.raises(ParamsError, match=r"^data.dataset: 'mnits' is no preset \(expected one"):
        parse_params(raw)


def sha256s(folder: Path) -> dict[str, str]:
    parts = {
        "x_train": "train_images",
        "y_train": "train_labels",
        "x_test": "test_images",
        "y_test": "test_labels",
    }
    return {
        part: hashlib.sha256(
            gzip.decompress((folder / f"{IDX_NAMES[key]}.gz").read_bytes())
        ).hexdigest()
        for key, part in parts.items()
    }


def describe(params_file: Path, **data) -> None:
    """Set keys of params.yaml's `data` (lists and mappings whole, which `-S` spells
    differently)."""
    params = yaml.safe_load(params_file.read_text())
    params["data"] |= data
    params_file.write_text(yaml.safe_dump(params, sort_keys=False))


def download(project: Path, folder: Path, **data) -> subprocess.CompletedProcess:
    """The download stage on `folder` described as the dataset `shapes` in `project`."""
    describe(
        project / "params.yaml",
        **{
            "dataset": "shapes",
            "source": str(folder),
            "verify": False,
            "class_names": SHAPES,
            **data,
        },
    )
    return run_stage("download", project, {"MNIST_PIPELINE_MIRROR": "/nonexistent"})


def break_folder(folder: Path, how: str) -> dict:
    """Damage the described folder one way; returns the data keys the case needs."""
    if how == "missing file":
        (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    elif how == "label beyond the class names":
        labels = three_classes()["y_train"]
        labels[7] = 3
        (folder / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels)))
    elif how == "wrong image size":
        images = np.zeros((15, 32, 32), dtype=np.uint8)
        (folder / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images)))
    elif how == "checksum mismatch":
        digests = sha256s(folder)
        digests["test_labels"] = "0" * 64
        return {"verify": True, "sha256": digests}
    return {}


@pytest.mark.parametrize(
    ("how", "message"),
    [
        ("missing file", "data.source: {folder}/t10k-labels-idx1-ubyte(.gz) not found"),
        (
            "label beyond the class names",
            "train-labels-idx1-ubyte: label 3 has no class name (expected labels 0-2",
        ),
        (
            "wrong image size",
            "t10k-images-idx3-ubyte: images of shape (32, 32) (expected (28, 28))",
        ),
        (
            "checksum mismatch",
            f"t10k-labels-idx1-ubyte: checksum mismatch for shapes (expected sha256 {'0' * 64}",
        ),
    ],
)
def test_bad_files_are_one_line_naming_the_file(project, tmp_path, how, message):
    folder = write_idx_folder(tmp_path / "shapes", three_classes())
    result = download(project, folder, **break_folder(folder, how))
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert message.format(folder=folder) in line
    assert not (project / "data" / "raw").exists()


def test_own_folder_with_its_checksums_downloads_verified_and_ignores_the_mirror(project, tmp_path):
    folder = write_idx_folder(tmp_path / "shapes", three_classes())
    result = download(project, folder, verify=True, sha256=sha256s(folder))
    assert result.returncode == 0, result.stderr
    assert f"shapes from {folder} (verified)" in result.stderr
    record = json.loads((project / "data/raw/shapes.json").read_text())
    assert (record["dataset"], record["train_size"], record["verified"]) == ("shapes", 90, True)


def described_project(base: Path, folder: Path, epochs: int, **data) -> tuple:
    """A git repository holding a copy of this one whose params.yaml describes `folder` as
    its own dataset `own`; the environment to run DVC there (no mirror: the folder is the
    source)."""
    project = base / "project"
    copy_repository(project)
    describe(project / "params.yaml", dataset="own", source=str(folder), **data)
    edit_params(
        project / "params.yaml",
        **{"train.epochs": epochs, "train.batch_size": 32, "train.steps_per_execution": 4},
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("MLFLOW_TRACKING_URI", "MNIST_PIPELINE_MIRROR")
    }
    env |= {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    git_commit_all(project, "copy")
    return project, env


def predict(project: Path, env: dict, *arguments: str) -> list[dict]:
    result = subprocess.run(
        [sys.executable, "-m", "mnist_pipeline.cli", "predict", "--format", "json", *arguments],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def save_test_images(project: Path, dataset: str, count: int) -> list[str]:
    from PIL import Image

    with np.load(project / f"data/raw/{dataset}.npz") as raw:
        images = raw["x_test"][:count]
    names = [f"test-{index}.png" for index in range(count)]
    for name, image in zip(names, images, strict=True):
        Image.fromarray(image).save(project / name)
    return names


def figure_bytes(project: Path, class_names: list[str]) -> dict[str, bytes]:
    """samples.png and confusion_matrix.png as the plot stage draws them with these names."""
    from mnist_pipeline.report import evaluation, figures

    params = yaml.safe_load((project / "params.yaml").read_text())["plot"]
    with np.load(project / "data/raw/own.npz") as raw:
        samples = figures.samples_grid(
            raw["x_train"],
            raw["y_train"],
            class_names,
            params["samples_per_class"],
            params["figure_width"],
        )
    text = (project / "reports/evaluate/predictions.csv").read_text()
    y_true, y_pred = evaluation.read_predictions_csv(text, SHAPES)  # as evaluate wrote them
    counts = evaluation.confusion_counts(y_true, y_pred, len(class_names))
    confusion = figures.confusion_figure(counts, class_names, params["figure_width"])
    return {
        name: figures.png_bytes(figure, params["dpi"])
        for name, figure in (("samples.png", samples), ("confusion_matrix.png", confusion))
    }


@pytest.mark.slow
def test_a_described_folder_of_three_classes_trains_end_to_end_with_its_names(tmp_path):
    folder = write_idx_folder(tmp_path / "shapes", three_classes())
    project, env = described_project(
        tmp_path, folder, 2, class_names=SHAPES, sha256=sha256s(folder)
    )
    dvc("repro", cwd=project, env=env)

    assert json.loads((project / "models/model.json").read_text())["num_classes"] == 3
    per_class = (project / "reports/evaluate/per_class.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in per_class[1:]] == SHAPES
    assert {
        row.split(",")[0]
        for row in (project / "reports/evaluate/predictions.csv").read_text().splitlines()[1:]
    } <= set(SHAPES)
    drawn = {
        name: (project / "reports/figures" / name).read_bytes()
        for name in ("samples.png", "confusion_matrix.png")
    }
    assert drawn == figure_bytes(project, SHAPES)
    assert drawn != figure_bytes(project, ["0", "1", "2"])  # the names are what differs

    rows = predict(
        project, env, "--polarity", "white-on-black", *save_test_images(project, "own", 4)
    )
    assert {row["label"] for row in rows} <= set(SHAPES)
    assert all(list(row["probabilities"]) == SHAPES for row in rows)

    import mlflow

    client = mlflow.MlflowClient(f"sqlite:///{project / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("mnist-pipeline").experiment_id])
    assert "→ 3 softmax" in run.data.tags["mlflow.note.content"]
    (logged,) = [
        client.get_logged_model(m.model_id)
        for m in run.outputs.model_outputs
        if client.get_logged_model(m.model_id).name == "model"
    ]
    served = mlflow.models.Model.load(urlparse(logged.artifact_location).path)  # its MLmodel
    assert [column.name for column in served.signature.outputs.inputs][2:] == SHAPES
    assert served.flavors["python_function"]["config"]["class_names"] == SHAPES


@pytest.mark.slow
@pytest.mark.skipif(not FASHION.is_dir(), reason=f"no {FASHION} (Debian: dataset-fashion-mnist)")
def test_debian_fashion_mnist_described_as_an_own_dataset_trains_and_predicts(tmp_path):
    from mnist_pipeline.data.datasets import get_spec

    preset = get_spec("fashion_mnist")  # the same files: its names and published checksums
    names = list(preset.class_names)
    project, env = described_project(
        tmp_path, FASHION, 1, class_names=names, sha256=preset.idx_sha256
    )
    dvc("repro", cwd=project, env=env, timeout=1800)

    metrics = json.loads((project / "reports/evaluate/metrics.json").read_text())
    assert metrics["test"]["accuracy"] > 0.7  # learned the clothes, not chance (0.1)
    files = save_test_images(project, "own", 5)
    rows = predict(project, env, "--polarity", "white-on-black", *files)  # as they are
    evaluated = (project / "reports/evaluate/predictions.csv").read_text().splitlines()[1:6]
    assert [row["label"] for row in rows] == [line.split(",")[1] for line in evaluated]
    assert {row["label"] for row in rows} <= set(names)
    assert list(rows[0]["probabilities"]) == names
