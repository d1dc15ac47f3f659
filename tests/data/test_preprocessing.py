import json

import numpy as np
import pytest

from mnist_pipeline.data.preprocessing import (
    apply_scaling,
    flatten,
    scaling_stats,
    shift_images,
    stratified_split,
)

from conftest import edit_params, run_stage


def test_flatten_gives_float32_rows(tiny_arrays):
    flat = flatten(tiny_arrays["x_train"])
    assert flat.shape == (120, 784) and flat.dtype == np.float32
    np.testing.assert_array_equal(flat[7], tiny_arrays["x_train"][7].ravel())


def test_unit_scaling_maps_to_0_1(tiny_arrays):
    stats = scaling_stats(tiny_arrays["x_train"], "unit")
    scaled = apply_scaling(flatten(tiny_arrays["x_train"]), stats)
    assert scaled.dtype == np.float32
    assert scaled.min() >= 0.0 and scaled.max() <= 1.0
    assert scaled.max() == pytest.approx(tiny_arrays["x_train"].max() / 255)


def test_standardize_uses_development_statistics_only(tiny_arrays):
    dev, test = tiny_arrays["x_train"], tiny_arrays["x_test"] // 2  # a test set of other statistics
    stats = scaling_stats(dev, "standardize")
    assert stats["offset"] == pytest.approx(dev.mean()) and stats["scale"] == pytest.approx(
        dev.std()
    )
    scaled_dev = apply_scaling(flatten(dev), stats)
    assert scaled_dev.mean() == pytest.approx(0, abs=1e-5)
    assert scaled_dev.std() == pytest.approx(1, abs=1e-5)
    scaled_test = apply_scaling(flatten(test), stats)
    assert scaled_test.mean() < -0.5  # scaled with the development statistics, not its own


def test_split_sizes_disjoint_and_stratified():
    y = np.repeat(np.arange(10), 50)
    x = np.arange(len(y) * 3, dtype=np.float32).reshape(len(y), 3)  # row ids in column 0
    x_train, x_val, y_train, y_val = stratified_split(x, y, 0.2, seed=1)
    assert (len(x_train), len(x_val)) == (400, 100)
    assert not set(x_train[:, 0]) & set(x_val[:, 0])
    assert set(x_train[:, 0]) | set(x_val[:, 0]) == set(x[:, 0])
    assert np.bincount(y_val).tolist() == [10] * 10
    np.testing.assert_array_equal(y_train, y[(x_train[:, 0] // 3).astype(int)])


def test_split_is_seeded():
    y = np.repeat(np.arange(10), 20)
    x = np.arange(len(y), dtype=np.float32)[:, None]
    first, second, other = (stratified_split(x, y, 0.25, seed) for seed in (3, 3, 4))
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[1], other[1])


def test_bad_fraction_and_scaling():
    with pytest.raises(ValueError, match="val_fraction must be between 0 and 1, got 1.5"):
        stratified_split(np.zeros((10, 1)), np.zeros(10), 1.5, 0)
    with pytest.raises(ValueError, match=r"unknown scaling 'minmax' \(expected one of"):
        scaling_stats(np.zeros((1, 28, 28)), "minmax")


def test_prepare_and_split_stages(project, tiny_mirror, tiny_arrays):
    edit_params(project / "params.yaml", **{"data.verify": False, "prepare.scaling": "standardize"})
    for stage in ("download", "prepare", "split"):
        result = run_stage(stage, project, {"MNIST_PIPELINE_MIRROR": str(tiny_mirror)})
        assert result.returncode == 0, result.stderr
    scaling = json.loads((project / "data/prepared/scaling.json").read_text())
    assert scaling["method"] == "standardize"
    assert scaling["offset"] == pytest.approx(tiny_arrays["x_train"].mean())
    with (
        np.load(project / "data/split/train.npz") as train,
        np.load(project / "data/split/val.npz") as val,
    ):
        assert train["x"].shape == (96, 784) and val["x"].shape == (24, 784)
        assert train["x"].dtype == np.float32
        assert sorted(set(val["y"].tolist())) == list(range(10))  # every class in validation


def test_prepare_without_raw_data_names_the_missing_input(project):
    result = run_stage("prepare", project)
    assert result.returncode == 1
    assert "data/raw/mnist.npz: input missing" in result.stderr


def test_shift_images_moves_each_image_by_its_offset():
    images = np.arange(3 * 784, dtype=np.float32).reshape(3, 784)
    shifted = shift_images(images, np.array([[0, 0], [2, -1], [-3, 3]]))
    grid, moved = images.reshape(3, 28, 28), shifted.reshape(3, 28, 28)
    np.testing.assert_array_equal(moved[0], grid[0])
    np.testing.assert_array_equal(moved[1, 2:, :-1], grid[1, :-2, 1:])  # 2 down, 1 left
    np.testing.assert_array_equal(moved[2, :-3, 3:], grid[2, 3:, :-3])  # 3 up, 3 right
    # The uncovered border repeats the edge: background stays background in any scaling.
    np.testing.assert_array_equal(moved[1, 0, :-1], grid[1, 0, 1:])
    np.testing.assert_array_equal(moved[2, :-3, 0], grid[2, 3:, 0])
    assert shifted.dtype == np.float32 and shifted.shape == (3, 784)
