"""Quiet stage logs: known third-party noise is dropped from stderr, everything else shown."""

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mnist_pipeline import quiet

from conftest import ROOT, make_tiny_project

# Lines from a real train log on a CPU machine (TensorFlow 2.21, MLflow 3.17).
REAL_NOISE = [
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    b"I0000 00:00:1795688037.350099    6061 port.cc:153] oneDNN custom operations are on. You may"
    b" see slightly different numerical results due to floating-point round-off errors.",
    b"I0000 00:00:1795688056.134705    6289 cpu_feature_guard.cc:227] This TensorFlow binary is "
    b"optimized to use available CPU instructions in performance-critical operations.",
    b"To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild "
    b"TensorFlow with the appropriate compiler flags.",
    b"E0000 00:00:1795688044.049230    6061 node_def_util.cc:682] NodeDef mentions attribute "
    b"use_unbounded_threadpool which is not in the op definition: Op<name=MapDataset; ...>",
]
GPU_NOISE = [
    b"I0000 00:00:1795688037.350838    6061 cudart_stub.cc:31] Could not find cuda drivers on "
    b"your machine, GPU will not be used.",
    b"E0000 00:00:1795688043.788212    6061 cuda_platform.cc:52] failed call to cuInit: INTERNAL:"
    b" CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)",
]
NOT_NOISE = [
    b"W0000 00:00:1795688044.049230    6061 fake.cc:1] a real warning",
    b"E0000 00:00:1795688044.049230    6061 node_def_util.cc:682] NodeDef mentions attribute "
    b"some_other_attribute which is not in the op definition",
    b"F0000 00:00:1795688044.049230    6061 port.cc:1] Check failed: oneDNN custom operations",
    b"Traceback (most recent call last):",
    b"  oneDNN custom operations are on.",  # not at the start of the line
]


def relayed(data: bytes, gpu: bool = False) -> bytes:
    """What `quiet.relay` passes on of `data` written to its pipe."""
    source_read, source_write = os.pipe()
    sink_read, sink_write = os.pipe()
    os.write(source_write, data)
    os.close(source_write)
    quiet.relay(source_read, sink_write, quiet.noise_patterns(gpu))
    os.close(source_read)
    os.close(sink_write)
    with os.fdopen(sink_read, "rb") as sink:
        return sink.read()


def test_known_noise_is_dropped_and_everything_else_kept_in_order():
    noise = REAL_NOISE + GPU_NOISE
    mixed = [line for index, kept in enumerate(NOT_NOISE) for line in (noise[index], kept)]
    relayed_lines = relayed(b"".join(line + b"\n" for line in mixed + noise[5:]))
    assert relayed_lines == b"".join(line + b"\n" for line in NOT_NOISE)


def test_cuda_lines_are_kept_where_an_nvidia_device_exists():
    data = b"".join(line + b"\n" for line in GPU_NOISE + REAL_NOISE)
    assert relayed(data, gpu=True) == b"".join(line + b"\n" for line in GPU_NOISE)


def test_a_final_partial_line_and_odd_bytes_pass_unchanged():
    data = b"\xff\xfe not utf-8\r\n" + REAL_NOISE[0] + b"\nno newline at the end"
    assert relayed(data) == b"\xff\xfe not utf-8\r\nno newline at the end"


def test_every_noise_pattern_matches_a_real_line():
    lines = [line.decode() for line in REAL_NOISE + GPU_NOISE]
    for noise in quiet.NOISE:
        assert any(re.search(noise.pattern, line) for line in lines), noise.pattern


def test_dropped_prints_keeps_other_lines_in_order_also_when_the_call_fails(capsys, monkeypatch):
    monkeypatch.delenv(quiet.RAW_VARIABLE, raising=False)
    # mlflow.register_model's notes (MLflow 3.17), between lines that must stay.
    with pytest.raises(ValueError), quiet.dropped_prints():
        print("Successfully registered model 'mnist-classifier'.", file=sys.stderr)
        print("a warning printed meanwhile", file=sys.stderr)
        already = "Registered model 'mnist-classifier' already exists. Creating a new version"
        print(already + " of this model...", file=sys.stderr)
        print("Created version '3' of model 'mnist-classifier'.", file=sys.stderr)
        print("note: Created version '3' of model 'x' (not at the start)", file=sys.stderr)
        raise ValueError("registration failed")
    assert capsys.readouterr().err == (
        "a warning printed meanwhile\nnote: Created version '3' of model 'x' (not at the start)\n"
    )


def run_python(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if key != quiet.RAW_VARIABLE}
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**environment, **(env or {})},
        capture_output=True,
        timeout=120,
    )


WRITES = textwrap.dedent(f"""
    import logging, os, sys
    from mnist_pipeline import quiet
    quiet.install()
    os.write(2, {GPU_NOISE[1]!r} + b"\\n")
    os.write(2, {REAL_NOISE[0]!r} + b"\\n")
    os.write(2, b"W0000 fake.cc:1] a C-level warning\\n")
    logging.basicConfig(format="%(name)s: %(message)s")
    mlflow_log = logging.getLogger("mlflow.utils.environment")
    mlflow_log.warning("Failed to resolve installed pip version. ``pip`` will be added ...")
    mlflow_log.warning("another MLflow warning")
    print("our message", file=sys.stderr)
""")


def test_stage_process_keeps_unknown_lines_tracebacks_and_a_crash_message():
    result = run_python(WRITES + "raise RuntimeError('a real error')")
    assert result.returncode == 1
    lines = result.stderr.decode().splitlines()
    assert lines[:3] == [
        "W0000 fake.cc:1] a C-level warning",
        "mlflow.utils.environment: another MLflow warning",
        "our message",
    ]
    assert lines[3] == "Traceback (most recent call last):"
    assert lines[-1] == "RuntimeError: a real error"
    if not quiet.has_gpu_device():
        assert "cuInit" not in result.stderr.decode()

    # A C++ fatal error aborts the process: its last line still reaches stderr.
    aborted = run_python(WRITES + "os.write(2, b'F0000 check.cc:1] Check failed'); os.abort()")
    assert aborted.returncode < 0
    assert aborted.stderr.decode().endswith("our message\nF0000 check.cc:1] Check failed")


MLFLOW_NOTES = """
import logging, os
os.environ.pop("MLFLOW_LOGGING_LEVEL", None)  # unset: the stage's default applies
{first}
logging.getLogger("mlflow.utils.uv_utils").info("Detected uv project: found uv.lock")
logging.getLogger("mlflow.pyfunc").warning("a real MLflow warning")
"""


@pytest.mark.parametrize(
    "first",
    [
        "import mlflow; from mnist_pipeline import quiet",
        "from mnist_pipeline import quiet; import mlflow",
    ],
)
def test_mlflow_logs_warnings_but_not_its_info_notes(first):
    """Whether MLflow is imported before the filters are set (evaluate) or after (train)."""
    code = MLFLOW_NOTES.format(first=f"{first}; quiet.filter_logs()")
    filtered = run_python(code).stderr.decode()
    assert "a real MLflow warning" in filtered and "Detected uv project" not in filtered
    raw = run_python(code, env={quiet.RAW_VARIABLE: "1"}).stderr.decode()
    assert MLFLOW_INFO.search(raw) and "Detected uv project" in raw


def test_raw_stderr_variable_turns_the_filter_off():
    result = run_python(WRITES, env={quiet.RAW_VARIABLE: "1"})
    assert "absl::InitializeLog" in result.stderr.decode()
    assert "Failed to resolve installed pip version" in result.stderr.decode()


# The real train stage, run as DVC runs it but with `fit` wrapped: after the real fit it writes
# an unknown line to fd 2 from C level and raises an unexpected error.
TRAIN_WITH_INJECTED_FAILURE = f"""
import os, runpy
from mnist_pipeline.model import training
real_fit = training.fit
def fit(*args, **kwargs):
    history = real_fit(*args, **kwargs)
    os.write(2, b"W0000 00:00:1.0    1 fake_plugin.cc:7] an unknown warning\\n")
    raise RuntimeError("injected failure after fit")
training.fit = fit
runpy.run_path({str(ROOT / "stages" / "train.py")!r}, run_name="__main__")
"""
MLFLOW_INFO = re.compile(
    r"^[\d/]+ [\d:]+ INFO mlflow\.", re.M
)  # "2026/12/01 11:34:24 INFO mlflow.x"
NOISE_MARKERS = re.compile(
    rf"^[EI]\d{{4}} |absl::InitializeLog|Failed to resolve installed pip|{MLFLOW_INFO.pattern}",
    re.M,
)
EPOCH_LINE = re.compile(r"^INFO mnist_pipeline\.model\.training: Epoch \d+/\d+: loss ")


@pytest.fixture(scope="module")
def train_logs(tmp_path_factory):
    """The train stage's stdout + stderr, filtered and raw, without TF_CPP_MIN_LOG_LEVEL."""
    directory, env = make_tiny_project(tmp_path_factory.mktemp("quiet") / "project")
    environment = {**os.environ, **env}
    environment.pop("TF_CPP_MIN_LOG_LEVEL")  # the stage's own default, as under `dvc repro`
    environment.pop(quiet.RAW_VARIABLE, None)
    script = Path(directory.parent / "train_with_failure.py")
    script.write_text(TRAIN_WITH_INJECTED_FAILURE)
    logs = {}
    for name, extra in (("filtered", {}), ("raw", {quiet.RAW_VARIABLE: "1"})):
        logs[name] = subprocess.run(
            [sys.executable, str(script)],
            cwd=directory,
            env={**environment, **extra},
            capture_output=True,
            text=True,
            timeout=600,
        )
    (directory / "data/split/val.npz").unlink()  # an anticipated error: our one-line message
    logs["missing input"] = subprocess.run(
        [sys.executable, str(ROOT / "stages" / "train.py")],
        cwd=directory,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return logs


@pytest.mark.slow
def test_train_log_holds_epochs_and_real_errors_but_no_noise(train_logs):
    result = train_logs["filtered"]
    assert result.returncode == 1
    epochs = [line for line in result.stderr.splitlines() if EPOCH_LINE.search(line)]
    assert [line.split(":")[1].strip() for line in epochs] == ["Epoch 1/2", "Epoch 2/2"]
    assert "val_accuracy" in epochs[1] and "Epoch" not in result.stdout  # one line each
    assert not NOISE_MARKERS.search(result.stdout + result.stderr), result.stderr
    if not quiet.has_gpu_device():
        assert "cuInit" not in result.stderr
    assert "fake_plugin.cc:7] an unknown warning" in result.stderr
    assert "Traceback (most recent call last):" in result.stderr
    assert result.stderr.rstrip().endswith("RuntimeError: injected failure after fit")


@pytest.mark.slow
def test_train_log_unfiltered_holds_the_noise(train_logs):
    """The check above is not vacuous: this TensorFlow does print the noise here."""
    raw = train_logs["raw"]
    assert "Epoch 2/2" in raw.stderr and "an unknown warning" in raw.stderr
    assert "absl::InitializeLog" in raw.stderr
    if not quiet.has_gpu_device():
        assert "failed call to cuInit" in raw.stderr


@pytest.mark.slow
def test_train_log_shows_our_one_line_error_without_noise(train_logs):
    result = train_logs["missing input"]
    assert result.returncode == 1
    assert result.stdout + result.stderr == (
        "ERROR mnist_pipeline: data/split/val.npz: input missing (run `dvc repro` to create it)\n"
    )
