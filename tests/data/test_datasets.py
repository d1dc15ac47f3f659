import gzip

import numpy as np
import pytest

from mnist_pipeline.data.datasets import (
    IMAGES_MAGIC,
    LABELS_MAGIC,
    DataError,
    content_digest,
    decompress,
    get_spec,
    parse_idx,
    parse_idx_arrays,
)

from conftest import idx_bytes


def files_for(arrays: dict) -> dict[str, bytes]:
    return {
        "train_images": idx_bytes(arrays["x_train"]),
        "train_labels": idx_bytes(arrays["y_train"]),
        "test_images": idx_bytes(arrays["x_test"]),
        "test_labels": idx_bytes(arrays["y_test"]),
    }


def test_parse_idx_round_trips_images_and_labels(tiny_arrays):
    images = parse_idx(idx_bytes(tiny_arrays["x_train"]), "images", IMAGES_MAGIC)
    labels = parse_idx(idx_bytes(tiny_arrays["y_train"]), "labels", LABELS_MAGIC)
    assert images.dtype == np.uint8 and images.shape == (120, 28, 28)
    np.testing.assert_array_equal(images, tiny_arrays["x_train"])
    np.testing.assert_array_equal(labels, tiny_arrays["y_train"])


def test_decompress_handles_gzip_and_raw(tiny_arrays):
    raw = idx_bytes(tiny_arrays["y_test"])
    assert decompress(gzip.compress(raw), "labels.gz") == raw
    assert decompress(raw, "labels") == raw


def test_truncated_gzip_is_a_clear_error(tiny_arrays):
    compressed = gzip.compress(idx_bytes(tiny_arrays["x_test"]))
    with pytest.raises(DataError, match="images.gz: truncated or corrupt gzip"):
        decompress(compressed[: len(compressed) // 2], "images.gz")


def test_wrong_magic_number(tiny_arrays):
    data = idx_bytes(tiny_arrays["y_train"])
    with pytest.raises(DataError, match=r"wrong IDX magic number 2049 \(expected 2051\)"):
        parse_idx(data, "train-images-idx3-ubyte", IMAGES_MAGIC)


def test_truncated_idx_names_expected_size(tiny_arrays):
    data = idx_bytes(tiny_arrays["x_train"])
    with pytest.raises(DataError, match=f"{len(data) - 5} bytes, expected {len(data)}"):
        parse_idx(data[:-5], "train-images-idx3-ubyte", IMAGES_MAGIC)


def test_wrong_image_shape():
    data = idx_bytes(np.zeros((2, 32, 32), dtype=np.uint8))
    with pytest.raises(DataError, match=r"images of shape \(32, 32\) \(expected \(28, 28\)\)"):
        parse_idx(data, "images", IMAGES_MAGIC)


def test_image_label_count_mismatch(tiny_arrays):
    files = files_for(tiny_arrays)
    files["test_labels"] = idx_bytes(tiny_arrays["y_test"][:-1])
    with pytest.raises(DataError, match="test set: 30 images but 29 labels"):
        parse_idx_arrays(files)


def test_content_digest_depends_on_content_not_source(tiny_arrays):
    same = {name: array.copy() for name, array in tiny_arrays.items()}
    assert content_digest(same) == content_digest(tiny_arrays)
    same["y_test"][0] ^= 1
    assert content_digest(same) != content_digest(tiny_arrays)


def test_known_datasets_and_unknown_name():
    assert get_spec("fashion_mnist").class_names[0] == "T-shirt/top"
    assert get_spec("mnist").class_names == tuple("0123456789")
    with pytest.raises(DataError, match="unknown dataset 'cifar'"):
        get_spec("cifar")
