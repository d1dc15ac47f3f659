"""The MNIST-format datasets: where they come from, what their content must be, IDX parsing.

Verification is on the decompressed IDX content, not on archive bytes, so any mirror or
recompression of the same data is accepted and anything else is rejected.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from dataclasses import dataclass

import numpy as np

from mnist_pipeline.errors import DataError

IMAGE_SHAPE = (28, 28)  # rows, columns: the images the 784 inputs are the pixels of
IMAGES_MAGIC = 2051  # IDX: unsigned byte, 3 dimensions
LABELS_MAGIC = 2049  # IDX: unsigned byte, 1 dimension
GZIP_MAGIC = b"\x1f\x8b"
PARTS = ("train_images", "train_labels", "test_images", "test_labels")
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    class_names: tuple[str, ...]
    # sha256 of each decompressed IDX file, keyed by PARTS.
    idx_sha256: dict[str, str]
    # Public IDX `.gz` mirrors, tried in order after any configured mirror.
    idx_urls: tuple[str, ...]
    # Keras's single-file copy (x_train, y_train, x_test, y_test), verified by file sha256.
    npz_url: str | None = None
    npz_sha256: str | None = None
    # `content_digest` of the verified arrays, whatever file they came in.
    content_sha256: str | None = None


DATASETS = {
    "mnist": DatasetSpec(
        name="mnist",
        class_names=tuple(str(digit) for digit in range(10)),
        idx_sha256={
            "train_images": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
            "train_labels": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
            "test_images": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
            "test_labels": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
        },
        idx_urls=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://yann.lecun.com/exdb/mnist/",
        ),
        npz_url="https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz",
        npz_sha256="731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
        content_sha256="bd930a59a860c3d5915c6d67631a728a21bc7c535055bac61f9487e95b28eaa5",
    ),
    "fashion_mnist": DatasetSpec(
        name="fashion_mnist",
        class_names=(
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ),  # fmt: skip
        idx_sha256={
            "train_images": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
            "train_labels": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
            "test_images": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
            "test_labels": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
        },
        idx_urls=(
            "https://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
        ),
    ),
}


def get_spec(dataset: str) -> DatasetSpec:
    try:
        return DATASETS[dataset]
    except KeyError:
        raise DataError(
            f"unknown dataset {dataset!r} (expected one of {sorted(DATASETS)})"
        ) from None


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def decompress(data: bytes, name: str) -> bytes:
    """Gunzip `data` if it is gzip (by magic bytes), else return it unchanged."""
    if data[:2] != GZIP_MAGIC:
        return data
    try:
        return gzip.decompress(data)
    except (EOFError, OSError, zlib.error) as error:
        raise DataError(f"{name}: truncated or corrupt gzip data ({error})") from None


def parse_idx(data: bytes, name: str, magic: int) -> np.ndarray:
    """Parse an unsigned-byte IDX file (images: N x 28 x 28, labels: N) into uint8."""
    if len(data) < 8:
        raise DataError(f"{name}: {len(data)} bytes is too short for an IDX header")
    actual_magic = int.from_bytes(data[:4], "big")
    if actual_magic != magic:
        raise DataError(f"{name}: wrong IDX magic number {actual_magic} (expected {magic})")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if magic == IMAGES_MAGIC and shape[1:] != IMAGE_SHAPE:
        raise DataError(f"{name}: images of shape {shape[1:]} (expected {IMAGE_SHAPE})")
    offset = 4 + 4 * ndim
    expected_bytes = offset + int(np.prod(shape))
    if len(data) != expected_bytes:
        raise DataError(
            f"{name}: {len(data)} bytes, expected {expected_bytes} for shape {shape} (truncated?)"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(shape)


def verify_idx(files: dict[str, bytes], spec: DatasetSpec) -> None:
    """Compare each decompressed IDX file with the dataset's known sha256."""
    for part in PARTS:
        actual = sha256(files[part])
        if actual != spec.idx_sha256[part]:
            raise DataError(
                f"{IDX_FILES[part]}: checksum mismatch for {spec.name} "
                f"(expected sha256 {spec.idx_sha256[part]}, got {actual})"
            )


def parse_idx_arrays(files: dict[str, bytes]) -> dict[str, np.ndarray]:
    """Parse the four IDX files, checking magic numbers, shapes and matching counts."""
    arrays = {}
    for split in ("train", "test"):
        images = parse_idx(files[f"{split}_images"], IDX_FILES[f"{split}_images"], IMAGES_MAGIC)
        labels = parse_idx(files[f"{split}_labels"], IDX_FILES[f"{split}_labels"], LABELS_MAGIC)
        if len(images) != len(labels):
            raise DataError(
                f"{split} set: {len(images)} images but {len(labels)} labels "
                "(expected equal counts)"
            )
        arrays[f"x_{split}"], arrays[f"y_{split}"] = images, labels
    return arrays


def content_digest(arrays: dict[str, np.ndarray]) -> str:
    """sha256 over every array's name, shape and bytes: the same data gives the same digest
    whichever source it came from (IDX, gzip or Keras's npz)."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}:{array.dtype.str}:{array.shape};".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()
