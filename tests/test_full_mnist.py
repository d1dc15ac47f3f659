"""Checks on the real, full MNIST through the offline mirror; skipped where it is absent."""

import os
from pathlib import Path

import numpy as np
import pytest

from mnist_pipeline.data.datasets import get_spec
from mnist_pipeline.data.download import fetch

from conftest import ROOT, SHARED_MNIST, run_stage

MIRROR = Path(os.environ.get("MNIST_PIPELINE_MIRROR", SHARED_MNIST))
pytestmark = [
    pytest.mark.full_mnist,
    pytest.mark.slow,
    pytest.mark.skipif(
        not (MIRROR / "train-images-idx3-ubyte.gz").exists(),
        reason=f"full MNIST mirror not found at {MIRROR} (set MNIST_PIPELINE_MIRROR)",
    ),
]

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_full_mnist_verifies_with_the_known_label_counts():
    arrays, _ = fetch(get_spec("mnist"), [str(MIRROR)])
    assert arrays["x_train"].shape == (60000, 28, 28)
    assert arrays["x_test"].shape == (10000, 28, 28)
    assert np.bincount(arrays["y_train"]).tolist() == TRAIN_COUNTS
    assert np.bincount(arrays["y_test"]).tolist() == TEST_COUNTS
    assert arrays["y_train"][:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    pixels = arrays["x_train"] / 255.0
    assert pixels.mean() == pytest.approx(0.1307, abs=5e-5)
    assert pixels.std() == pytest.approx(0.3081, abs=5e-5)


def test_data_stages_on_full_mnist(project):
    for stage in ("download", "prepare", "split"):
        result = run_stage(stage, project, {"MNIST_PIPELINE_MIRROR": str(MIRROR)})
        assert result.returncode == 0, result.stderr
    with (
        np.load(project / "data/split/train.npz") as train,
        np.load(project / "data/split/val.npz") as val,
    ):
        assert train["x"].shape == (48000, 784) and val["x"].shape == (12000, 784)
        # Stratified: each class keeps its share of the 60,000 in the validation part.
        np.testing.assert_allclose(np.bincount(val["y"]), np.array(TRAIN_COUNTS) * 0.2, atol=1)


def test_the_download_output_is_itself_a_verified_mirror(project):
    result = run_stage("download", project, {"MNIST_PIPELINE_MIRROR": str(MIRROR)})
    assert result.returncode == 0, result.stderr
    arrays, _ = fetch(get_spec("mnist"), [str(project / "data" / "raw")])
    assert np.bincount(arrays["y_test"]).tolist() == TEST_COUNTS


def test_the_default_params_train_the_committed_reference_weights(project, tmp_path):
    """The model options added since the reference run (dropout, schedule, shifted images)
    are off by default and leave its weights byte-identical: dvc.lock's md5 b0067899...
    (the same on the AMD and Intel machines measured)."""
    import hashlib

    from mnist_pipeline.cli.reprocheck import lock_hashes

    env = {
        "MNIST_PIPELINE_MIRROR": str(MIRROR),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
    }
    for stage in ("download", "prepare", "split", "train"):
        result = run_stage(stage, project, env)
        assert result.returncode == 0, result.stderr
    committed = lock_hashes((ROOT / "dvc.lock").read_text())
    for output in (
        "models/weights.npz",
        "models/model.json",
        "reports/train/history.csv",
        "reports/train/model_summary.txt",
    ):
        md5 = hashlib.md5((project / output).read_bytes()).hexdigest()
        assert md5 == committed[output], output
