"""Fetch an MNIST-format dataset from a mirror or the public sources, verified by content.

A source is a local folder, a URL base, or a URL of an `.npz` file. Sources that are
missing or unreachable are skipped (and listed if all fail); a source that serves wrong
content stops the download at once, since that is a problem to fix, not to route around.
"""

from __future__ import annotations

import io
import logging
import os
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
from tqdm import tqdm

from mnist_pipeline.data.datasets import (
    IDX_FILES,
    IMAGE_SHAPE,
    PARTS,
    DataError,
    DatasetSpec,
    check_labels,
    content_digest,
    decompress,
    parse_idx_arrays,
    sha256,
    verify_idx,
)
from mnist_pipeline.paths import project_root

log = logging.getLogger(__name__)

MIRROR_VARIABLE = "MNIST_PIPELINE_MIRROR"
TIMEOUT_SECONDS = 30


class SourceUnavailableError(Exception):
    """A source could not be reached or does not hold the dataset."""


def sources_for(spec: DatasetSpec, mirror: str | None) -> list[str]:
    """Your own dataset: its folder alone. A preset: the configured mirror first (if any),
    then the public sources."""
    if spec.folder is not None:
        return [resolve_mirror(spec.folder)]
    public = [spec.npz_url] if spec.npz_url else []
    return ([resolve_mirror(mirror)] if mirror else []) + public + list(spec.idx_urls)


def resolve_mirror(mirror: str) -> str:
    """A URL stays as it is; a relative folder is taken from the project root."""
    if urllib.parse.urlparse(mirror).scheme in ("http", "https"):
        return mirror
    return str((project_root() / Path(mirror).expanduser()).resolve())


def fetch(spec: DatasetSpec, sources: list[str], verify: bool = True) -> tuple[dict, str]:
    """Return (x_train, y_train, x_test, y_test arrays, the source used)."""
    tried = []
    for source in sources:
        try:
            arrays = fetch_from(spec, source, verify)
        except SourceUnavailableError as reason:
            if spec.folder is not None:  # your own dataset has no other source
                raise DataError(
                    f"data.source: {reason} (expected the folder of {spec.name}'s IDX files: "
                    f"{', '.join(IDX_FILES.values())}, each .gz or uncompressed)"
                ) from None
            log.warning("source unavailable: %s", reason)
            tried.append(str(reason))
            continue
        check_labels(arrays, spec)
        return arrays, source
    raise DataError(
        f"no source reachable for {spec.name}; tried: " + "; ".join(tried) + ". "
        f"Set {MIRROR_VARIABLE} to a folder or URL holding the four IDX files "
        f"(.gz or uncompressed) or {spec.name}.npz"
    )


def fetch_from(spec: DatasetSpec, source: str, verify: bool) -> dict[str, np.ndarray]:
    if source.endswith(".npz"):
        return _npz_arrays(spec, _read(source), source, verify)
    files = {}
    for part in PARTS:
        name = IDX_FILES[part]
        data = _read_first(_join(source, f"{name}.gz"), _join(source, name))
        if data is None:
            if not files and spec.folder is None:  # a preset's folder may hold the npz instead
                npz = _read_first(_join(source, f"{spec.name}.npz"))
                if npz is not None:
                    return _npz_arrays(spec, npz, _join(source, f"{spec.name}.npz"), verify)
            raise SourceUnavailableError(f"{_join(source, name)}(.gz) not found")
        files[part] = decompress(data, _join(source, name))
    arrays = parse_idx_arrays(files)
    if verify:
        verify_idx(files, spec)
    return arrays


def _npz_arrays(spec: DatasetSpec, data: bytes, where: str, verify: bool) -> dict:
    """Arrays from an npz: Keras's file (verified by its sha256) or this pipeline's own
    data/raw/<dataset>.npz (verified by the content digest), so a cached copy can serve as
    a mirror."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in ("x_train", "y_train", "x_test", "y_test")}
    except (KeyError, ValueError, OSError, zipfile.BadZipFile) as error:
        raise DataError(
            f"{where}: not a valid dataset npz ({error}); "
            "expected uint8 arrays x_train, y_train, x_test, y_test"
        ) from None
    for split in ("train", "test"):
        images, labels = arrays[f"x_{split}"], arrays[f"y_{split}"]
        well_formed = images.dtype == np.uint8 and images.shape[1:] == IMAGE_SHAPE
        if not well_formed or len(images) != len(labels):
            raise DataError(
                f"{where}: x_{split} {images.dtype}{images.shape} / y_{split} {labels.shape} "
                "(expected uint8 N x 28 x 28 images and N labels)"
            )
    if verify:
        file_sha256, arrays_sha256 = sha256(data), content_digest(arrays)
        if file_sha256 != spec.npz_sha256 and arrays_sha256 != spec.content_sha256:
            raise DataError(
                f"{where}: checksum mismatch for {spec.name} (expected file sha256 "
                f"{spec.npz_sha256} or content sha256 {spec.content_sha256}, "
                f"got {file_sha256} and {arrays_sha256})"
            )
    return arrays


def _join(base: str, name: str) -> str:
    if urllib.parse.urlparse(base).scheme:
        return base.rstrip("/") + "/" + name
    return os.path.join(base, name)


def _read_first(*locations: str) -> bytes | None:
    for location in locations:
        data = _read(location, missing_ok=True)
        if data is not None:
            return data
    return None


def _read(location: str, missing_ok: bool = False) -> bytes | None:
    """Bytes at a path or URL; None if absent (when `missing_ok`), else SourceUnavailableError."""
    if not urllib.parse.urlparse(location).scheme:
        try:
            return Path(location).read_bytes()
        except FileNotFoundError:
            if missing_ok:
                return None
            raise SourceUnavailableError(f"{location} not found") from None
        except OSError as error:
            raise SourceUnavailableError(str(error)) from None
    try:
        with urllib.request.urlopen(location, timeout=TIMEOUT_SECONDS) as response:
            return _download(response, location)
    except urllib.error.HTTPError as error:
        if error.code == 404 and missing_ok:
            return None
        raise SourceUnavailableError(f"HTTP {error.code} for {location}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        reason = getattr(error, "reason", error)
        raise SourceUnavailableError(f"{location} unreachable ({reason})") from None


def _download(response, location: str) -> bytes:
    """Read a response with a progress bar; a short read is a truncated download."""
    total = int(response.headers.get("Content-Length") or 0) or None
    chunks = []
    name = location.rsplit("/", 1)[-1]
    with tqdm(total=total, unit="B", unit_scale=True, desc=name, leave=False) as bar:
        while chunk := response.read(1 << 20):
            chunks.append(chunk)
            bar.update(len(chunk))
    data = b"".join(chunks)
    if total is not None and len(data) != total:
        raise DataError(f"{location}: download truncated ({len(data)} of {total} bytes)")
    return data
