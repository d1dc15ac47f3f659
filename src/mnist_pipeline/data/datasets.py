"""The MNIST-format datasets: presets and your own, what their content must be, IDX parsing.

Verification is on the decompressed IDX content, not on archive bytes, so any mirror or
recompression of the same data is accepted and anything else is rejected.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

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


# The presets: each a description like your own dataset's (presets/<name>.yaml), plus where
# it is downloaded from. `data.source` names their folder for a preset (a DVC dep of download,
# as your own dataset's folder is), from the project root.
PRESETS = ("mnist", "fashion_mnist")
PRESETS_SOURCE = "src/mnist_pipeline/data/presets"


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    class_names: tuple[str, ...]
    # sha256 of each decompressed IDX file, keyed by PARTS (your own dataset: those given).
    idx_sha256: dict[str, str]
    # Public IDX `.gz` mirrors, tried in order after any configured mirror.
    idx_urls: tuple[str, ...] = ()
    # Keras's single-file copy (x_train, y_train, x_test, y_test), verified by file sha256.
    npz_url: str | None = None
    npz_sha256: str | None = None
    # `content_digest` of the verified arrays, whatever file they came in.
    content_sha256: str | None = None
    # Your own dataset's folder of the four IDX files: its only source (no mirror, no URL).
    folder: str | None = None


@functools.cache
def get_spec(dataset: str) -> DatasetSpec:
    """A preset's spec, from its description file."""
    if dataset not in PRESETS:
        raise DataError(f"unknown dataset {dataset!r} (expected one of {list(PRESETS)})")
    preset = yaml.safe_load((Path(__file__).parent / "presets" / f"{dataset}.yaml").read_text())
    return DatasetSpec(
        name=dataset,
        class_names=tuple(preset["class_names"]),
        idx_sha256=preset["sha256"],
        idx_urls=tuple(preset["urls"]),
        npz_url=preset.get("npz_url"),
        npz_sha256=preset.get("npz_sha256"),
        content_sha256=preset.get("content_sha256"),
    )


def describe(data) -> DatasetSpec:
    """params.yaml's `data` (params.DataParams) as a spec: a preset's, or your own dataset's."""
    if data.dataset in PRESETS:
        return get_spec(data.dataset)
    return DatasetSpec(
        name=data.dataset,
        class_names=tuple(data.class_names),
        idx_sha256=dict(data.sha256),
        folder=data.source,
    )


def dataset_classes(dataset: str, given: Sequence[str]) -> tuple[str, ...]:
    """The class names, label 0 first: a preset's own, else `given` (data.class_names)."""
    return get_spec(dataset).class_names if dataset in PRESETS else tuple(given)


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


def check_labels(arrays: dict[str, np.ndarray], spec: DatasetSpec) -> None:
    """Each label must name a class: 0 to N-1 for N class names."""
    count = len(spec.class_names)
    for split in ("train", "test"):
        labels = arrays[f"y_{split}"]
        if labels.size and int(labels.max()) >= count:
            raise DataError(
                f"{IDX_FILES[f'{split}_labels']}: label {int(labels.max())} has no class name "
                f"(expected labels 0-{count - 1} for the {count} names in data.class_names)"
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
