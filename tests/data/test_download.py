import dataclasses
import functools
import gzip
import hashlib
import http.server
import io
import threading
from pathlib import Path

import numpy as np
import pytest

from mnist_pipeline.data.datasets import DataError, content_digest, get_spec
from mnist_pipeline.data.download import fetch, resolve_mirror, sources_for

from conftest import IDX_NAMES, edit_params, idx_bytes, run_stage, write_idx_folder


def spec_for(arrays: dict):
    """The MNIST spec with digests of the tiny generated data, so verification applies."""
    parts = {
        "x_train": "train_images",
        "y_train": "train_labels",
        "x_test": "test_images",
        "y_test": "test_labels",
    }
    digests = {
        part: hashlib.sha256(idx_bytes(arrays[key])).hexdigest() for key, part in parts.items()
    }
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    npz = buffer.getvalue()
    spec = dataclasses.replace(
        get_spec("mnist"), idx_sha256=digests, npz_sha256=hashlib.sha256(npz).hexdigest()
    )
    return spec, npz


def assert_same(arrays: dict, expected: dict) -> None:
    assert sorted(arrays) == sorted(expected)
    for key in expected:
        np.testing.assert_array_equal(arrays[key], expected[key])


@pytest.mark.parametrize("compress", [True, False])
def test_mirror_folder_with_gz_or_raw_idx(tmp_path, tiny_arrays, compress):
    spec, _ = spec_for(tiny_arrays)
    folder = write_idx_folder(tmp_path / "mirror", tiny_arrays, compress=compress)
    arrays, source = fetch(spec, [str(folder)])
    assert source == str(folder)
    assert_same(arrays, tiny_arrays)


def test_mirror_folder_with_keras_npz(tmp_path, tiny_arrays):
    spec, npz = spec_for(tiny_arrays)
    (tmp_path / "mnist.npz").write_bytes(npz)
    arrays, _ = fetch(spec, [str(tmp_path)])
    assert_same(arrays, tiny_arrays)


def test_npz_with_wrong_content_is_rejected(tmp_path, tiny_arrays):
    spec, _ = spec_for(tiny_arrays)
    spec = dataclasses.replace(spec, content_sha256=content_digest(tiny_arrays))
    changed = {**tiny_arrays, "y_train": (tiny_arrays["y_train"] + 1) % 10}
    np.savez(tmp_path / "mnist.npz", **changed)
    with pytest.raises(DataError) as error:
        fetch(spec, [str(tmp_path)])
    assert str(error.value).startswith(
        f"{tmp_path / 'mnist.npz'}: checksum mismatch for mnist "
        f"(expected file sha256 {spec.npz_sha256} or content sha256 {spec.content_sha256}, got "
    )


def test_pipeline_npz_output_serves_as_a_verified_mirror(tmp_path, tiny_arrays):
    spec, _ = spec_for(tiny_arrays)
    spec = dataclasses.replace(
        spec, npz_sha256="0" * 64, content_sha256=content_digest(tiny_arrays)
    )
    np.savez(tmp_path / "mnist.npz", **tiny_arrays)  # bytes unlike Keras's file, same content
    arrays, _ = fetch(spec, [str(tmp_path)])
    assert_same(arrays, tiny_arrays)


@pytest.fixture
def http_mirror(tmp_path, tiny_arrays):
    """A local HTTP server on 127.0.0.1 serving the generated IDX .gz files."""
    folder = write_idx_folder(tmp_path / "served", tiny_arrays)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_url_mirror(http_mirror, tiny_arrays):
    spec, _ = spec_for(tiny_arrays)
    arrays, source = fetch(spec, [http_mirror])
    assert source == http_mirror
    assert_same(arrays, tiny_arrays)


def test_unreachable_sources_are_skipped_then_listed(tmp_path, http_mirror, tiny_arrays):
    spec, _ = spec_for(tiny_arrays)
    empty = tmp_path / "empty"
    empty.mkdir()
    arrays, source = fetch(spec, [str(empty), "http://127.0.0.1:9/", http_mirror])
    assert source == http_mirror
    with pytest.raises(DataError) as error:
        fetch(spec, [str(empty), "http://127.0.0.1:9/"])
    message = str(error.value)
    assert "no source reachable for mnist" in message
    assert str(empty) in message and "http://127.0.0.1:9/" in message
    assert "MNIST_PIPELINE_MIRROR" in message


def test_checksum_mismatch_names_file_and_digests(tmp_path, tiny_arrays):
    spec, _ = spec_for(tiny_arrays)
    changed = {**tiny_arrays, "y_test": (tiny_arrays["y_test"] + 1) % 10}
    folder = write_idx_folder(tmp_path / "mirror", changed)
    actual = hashlib.sha256(idx_bytes(changed["y_test"])).hexdigest()
    with pytest.raises(DataError) as error:
        fetch(spec, [str(folder)])
    assert str(error.value) == (
        f"t10k-labels-idx1-ubyte: checksum mismatch for mnist "
        f"(expected sha256 {spec.idx_sha256['test_labels']}, got {actual})"
    )


def test_verify_off_still_checks_the_format(tmp_path, tiny_arrays):
    folder = write_idx_folder(tmp_path / "mirror", tiny_arrays)
    arrays, _ = fetch(get_spec("mnist"), [str(folder)], verify=False)
    assert_same(arrays, tiny_arrays)
    with pytest.raises(DataError, match="checksum mismatch"):
        fetch(get_spec("mnist"), [str(folder)], verify=True)


def test_mirror_comes_first_and_relative_paths_are_from_the_project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    spec = get_spec("mnist")
    sources = sources_for(spec, "mirror")
    assert sources[0] == str(tmp_path.resolve() / "mirror")
    assert sources[1:] == [spec.npz_url, *spec.idx_urls]
    assert resolve_mirror("http://host/mnist/") == "http://host/mnist/"
    experiment_copy = tmp_path / ".dvc" / "tmp" / "exps" / "tmpabc"
    experiment_copy.mkdir(parents=True)
    monkeypatch.chdir(experiment_copy)
    assert resolve_mirror("mirror") == str(tmp_path.resolve() / "mirror")


# The stage itself: errors are one clear line, exit 1, and nothing is written or changed.


def corrupt(folder: Path, key: str, how: str) -> None:
    path = folder / f"{IDX_NAMES[key]}.gz"
    data = path.read_bytes()
    if how == "truncate_gzip":
        path.write_bytes(data[: len(data) // 2])
    elif how == "wrong_magic":
        raw = bytearray(gzip.decompress(data))
        raw[3] = 1
        path.write_bytes(gzip.compress(bytes(raw)))
    elif how == "drop_labels":
        raw = gzip.decompress(data)
        path.write_bytes(
            gzip.compress(
                raw[:4] + (int.from_bytes(raw[4:8], "big") - 1).to_bytes(4, "big") + raw[8:-1]
            )
        )


@pytest.mark.parametrize(
    ("key", "how", "message"),
    [
        ("x_train", "truncate_gzip", "train-images-idx3-ubyte: truncated or corrupt gzip"),
        (
            "x_test",
            "wrong_magic",
            "t10k-images-idx3-ubyte: wrong IDX magic number 2049 (expected 2051)",
        ),
        ("y_train", "drop_labels", "train set: 120 images but 119 labels"),
        (None, None, "train-images-idx3-ubyte: checksum mismatch for mnist"),
    ],
)
def test_stage_errors_leave_no_output(project, tiny_mirror, key, how, message):
    if key:
        corrupt(tiny_mirror, key, how)
        edit_params(project / "params.yaml", **{"data.verify": False})
    result = run_stage("download", project, {"MNIST_PIPELINE_MIRROR": str(tiny_mirror)})
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (project / "data" / "raw").exists() or not any((project / "data" / "raw").iterdir())


def test_stage_failure_keeps_earlier_output(project, tiny_mirror):
    edit_params(project / "params.yaml", **{"data.verify": False})
    env = {"MNIST_PIPELINE_MIRROR": str(tiny_mirror)}
    assert run_stage("download", project, env).returncode == 0
    outputs = {path: path.read_bytes() for path in (project / "data" / "raw").iterdir()}
    assert sorted(path.name for path in outputs) == ["mnist.json", "mnist.npz"]

    corrupt(tiny_mirror, "x_test", "truncate_gzip")
    result = run_stage("download", project, env)
    assert result.returncode == 1 and "truncated or corrupt gzip" in result.stderr
    assert {path: path.read_bytes() for path in (project / "data" / "raw").iterdir()} == outputs


def test_stage_writes_arrays_and_digest(project, tiny_mirror, tiny_arrays):
    import json

    edit_params(project / "params.yaml", **{"data.verify": False})
    result = run_stage("download", project, {"MNIST_PIPELINE_MIRROR": str(tiny_mirror)})
    assert result.returncode == 0, result.stderr
    with np.load(project / "data" / "raw" / "mnist.npz") as archive:
        assert_same({key: archive[key] for key in archive.files}, tiny_arrays)
    record = json.loads((project / "data" / "raw" / "mnist.json").read_text())
    assert record == {
        "content_sha256": content_digest(tiny_arrays),
        "dataset": "mnist",
        "test_size": 30,
        "train_size": 120,
        "verified": False,
    }
