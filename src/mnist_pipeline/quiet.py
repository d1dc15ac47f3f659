"""Quiet stage logs: known, harmless third-party noise kept off stderr, everything else shown.

TensorFlow's C++ code writes to file descriptor 2 directly, part of it before absl logging
is initialized, where TF_CPP_MIN_LOG_LEVEL does not apply: every train printed an `E0000 ...
failed call to cuInit` on machines without a GPU, which users read as an error. Level 3 would
hide real errors too. Instead, `install()` routes fd 2 through a small filter process that
drops the lines listed in NOISE (each specific, each with why it is harmless) and copies every
other byte, in order, to the real stderr. A filter process rather than a thread: after a hard
crash (a C++ CHECK failure aborts the process) a thread dies before relaying the last lines;
a process still reads them from the pipe. Python logging noise gets logging filters instead.

MLflow's own INFO lines are left out too (MLFLOW_LOGGING_LEVEL, default WARNING here).
MNIST_PIPELINE_RAW_STDERR=1 turns all of it off, for a look at the unfiltered output.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import io
import logging
import os
import re
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass

RAW_VARIABLE = "MNIST_PIPELINE_RAW_STDERR"
MLFLOW_LEVEL_VARIABLE = "MLFLOW_LOGGING_LEVEL"
LINGER_SECONDS = 0.2  # a partial line waits this long for its end, then is shown as it is


def _absl(severity: str, source: str, message: str) -> str:
    """A C++ log line: `I0000 00:00:1795688037.350099    6061 port.cc:153] message...`."""
    return rf"^{severity}\d{{4}} [\d:.]+\s+\d+ {source}:\d+\] {message}"


@dataclass(frozen=True)
class Noise:
    pattern: str  # matched at the start of one stderr line
    why: str  # why dropping it hides nothing the user needs
    without_gpu_only: bool = False  # dropped only where no NVIDIA device exists


NOISE = (
    Noise(
        r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to "
        r"STDERR$",
        "absl's note that logging is not set up yet, so the next lines go to stderr: it says "
        "nothing about the run (TensorFlow prints it once per library that logs early).",
    ),
    Noise(
        _absl("I", r"port\.cc", r"oneDNN custom operations are on\."),
        "informational: oneDNN kernels are TensorFlow's default on x86; the committed weights "
        "and the determinism checks were measured with them on.",
    ),
    Noise(
        _absl("I", r"cpu_feature_guard\.cc", r"This TensorFlow binary is optimized to use "),
        "informational: a hint to build TensorFlow from source for more CPU instructions.",
    ),
    Noise(
        r"^To enable the following instructions: .*, in other operations, rebuild TensorFlow "
        r"with the appropriate compiler flags\.$",
        "the second line of the cpu_feature_guard hint above.",
    ),
    Noise(
        _absl("I", r"cudart_stub\.cc", r"Could not find cuda drivers on your machine, GPU will "),
        "true and expected on a machine without an NVIDIA device; where one exists it means "
        "the driver is missing, so there it is shown.",
        without_gpu_only=True,
    ),
    Noise(
        _absl("E", r"\w+\.cc", r"failed call to cuInit: "),
        "the TensorFlow wheel is built with CUDA and probes for a GPU on import; with no NVIDIA "
        "device the probe fails by design (303: no loadable libcuda) and training runs on the "
        "CPU. Where a device exists this is a real failure, so there it is shown.",
        without_gpu_only=True,
    ),
    Noise(
        _absl(
            "E",
            r"node_def_util\.cc",
            r"NodeDef mentions attribute use_unbounded_threadpool which is not in the op "
            r"definition",
        ),
        "TensorFlow's own tf.data Python code (Keras feeds fit through it) sets an attribute "
        "this release's C++ MapDataset op lacks; the message itself says unknown attributes "
        "are ignored. Only this attribute: any other unknown one is shown.",
    ),
)

# (logger, message pattern, why): Python logging records, dropped by a logging.Filter.
LOG_NOISE = (
    (
        "mlflow.utils.environment",
        r"^Failed to resolve installed pip version",
        "uv environments have no pip; MLflow then lists `pip` unversioned in the logged "
        "model's conda.yaml. The pinned requirements (keras, the backend) are unaffected.",
    ),
    (
        "mlflow.pyfunc",
        r"^Passing a Python object as `python_model` causes it to be serialized using "
        r"CloudPickle",
        "MLflow's general caution about pickles, printed whenever a PythonModel object is "
        "logged. The raw-image model's pickle (serving.py) holds no state, only a reference "
        "to mnist_pipeline.serving.RawImageModel, whose code is logged with it.",
    ),
    (
        "jax._src.xla_bridge",
        r"^Unable to initialize backend 'tpu': .*Failed to open libtpu\.so",
        "JAX probes for a TPU; without the TPU runtime (libtpu) installed there is none to "
        "use, and JAX logs this at INFO before choosing the CPU.",
    ),
)

# (pattern, why): lines MLflow print()s to sys.stderr rather than logs, dropped by
# `dropped_prints` around the call that prints them.
PRINT_NOISE = (
    (
        r"^(Successfully registered model '|Registered model '.*' already exists\. Creating a new "
        r"version of this model\.\.\.$|Created version '\d+' of model ')",
        "mlflow.register_model's notes on each registration; the stage's own line names the "
        "version and what became of the champion.",
    ),
)


def has_gpu_device() -> bool:
    """An NVIDIA device node (Linux), or WSL's GPU device: then CUDA messages are real."""
    return bool(glob.glob("/dev/nvidia*")) or os.path.exists("/dev/dxg")


def noise_patterns(gpu: bool) -> list[re.Pattern[str]]:
    return [re.compile(noise.pattern) for noise in NOISE if not (gpu and noise.without_gpu_only)]


def is_noise(line: bytes, patterns: list[re.Pattern[str]]) -> bool:
    text = line.decode("utf-8", errors="replace").rstrip("\r\n")
    return any(pattern.search(text) for pattern in patterns)


def relay(source: int, sink: int, patterns: list[re.Pattern[str]]) -> None:
    """Copy `source` to `sink` until end of file, without the lines matching `patterns`.

    Whole lines are matched; a partial line is held until its newline arrives, or shown as it
    is after LINGER_SECONDS (a prompt, a progress bar: C++ log lines arrive whole) or at the end.
    """
    pending = b""
    while True:
        ready, _, _ = select.select([source], [], [], LINGER_SECONDS if pending else None)
        if not ready:
            sink = _write(sink, pending)
            pending = b""
            continue
        chunk = os.read(source, 65536)
        if not chunk:
            break
        *lines, pending = (pending + chunk).split(b"\n")
        kept = b"".join(line + b"\n" for line in lines if not is_noise(line, patterns))
        sink = _write(sink, kept)
    _write(sink, pending)


def _write(sink: int, data: bytes) -> int:
    """Write all of `data`; -1 once the sink is gone (keep draining so writers never block)."""
    while data and sink >= 0:
        try:
            data = data[os.write(sink, data) :]
        except OSError:
            return -1
    return sink


class _StderrFilter(logging.Filter):
    def __init__(self, pattern: str) -> None:
        super().__init__()
        self.pattern = re.compile(pattern)

    def filter(self, record: logging.LogRecord) -> bool:
        return not self.pattern.search(record.getMessage())


@contextlib.contextmanager
def dropped_prints(noise=PRINT_NOISE) -> Iterator[None]:
    """sys.stderr without the lines matching `noise` while the block runs. Every other line
    is written when it ends, also when it raises. Does nothing under MNIST_PIPELINE_RAW_STDERR."""
    if os.environ.get(RAW_VARIABLE):
        yield
        return
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            yield
    finally:
        lines = captured.getvalue().splitlines(keepends=True)
        patterns = [re.compile(pattern) for pattern, _ in noise]
        sys.stderr.write("".join(line for line in lines if not _matches(patterns, line)))


def _matches(patterns: list[re.Pattern[str]], line: str) -> bool:
    return any(pattern.search(line) for pattern in patterns)


_installed = False
_logs_filtered = False


def filter_logs() -> None:
    """Only the logging filters (LOG_NOISE), for stages that load no TensorFlow. Idempotent;
    does nothing when MNIST_PIPELINE_RAW_STDERR is set."""
    global _logs_filtered
    if _logs_filtered or os.environ.get(RAW_VARIABLE):
        return
    _logs_filtered = True
    # MLflow's INFO lines are notes on its own work (`Detected uv project`, `Validating input
    # example`, `Creating initial MLflow database tables`): warnings and errors only, unless
    # MLFLOW_LOGGING_LEVEL says otherwise. MLflow reads it on import (a later one, a child
    # process); one done already gets the level directly.
    os.environ[MLFLOW_LEVEL_VARIABLE] = (os.environ.get(MLFLOW_LEVEL_VARIABLE) or "WARNING").upper()
    logging.getLogger("mlflow").setLevel(os.environ[MLFLOW_LEVEL_VARIABLE])
    for name, pattern, _ in LOG_NOISE:
        logging.getLogger(name).addFilter(_StderrFilter(pattern))


def install() -> None:
    """Filter this process's stderr (fd 2, so C++ writes too) and the noisy log records.

    Call before TensorFlow loads. Idempotent; does nothing when MNIST_PIPELINE_RAW_STDERR is
    set. At exit, stderr is flushed, restored and the filter drained before the process ends.
    """
    global _installed
    if _installed or os.environ.get(RAW_VARIABLE):
        return
    _installed = True
    filter_logs()
    sys.stderr.flush()
    read_end, write_end = os.pipe()
    try:
        # -I -S: only the standard library is needed; fd 2 of the filter is the real stderr.
        helper = subprocess.Popen(
            [sys.executable, "-I", "-S", __file__], stdin=read_end, stdout=2, close_fds=True
        )
    except OSError:
        os.close(read_end)
        os.close(write_end)
        return  # unfiltered rather than no stage
    os.close(read_end)
    saved = os.dup(2)
    os.dup2(write_end, 2)
    os.close(write_end)
    atexit.register(_restore, saved, helper)


def _restore(saved: int, helper: subprocess.Popen) -> None:
    """Flush, give fd 2 back to the real stderr (the pipe's last writer here), drain the
    filter. Runs after an uncaught exception's traceback has been written."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # closed or broken: nothing to flush
            stream.flush()
    os.dup2(saved, 2)
    os.close(saved)
    # A child process still holding the pipe after 10 s: the filter relays it until it exits.
    with contextlib.suppress(subprocess.TimeoutExpired):
        helper.wait(timeout=10)


if __name__ == "__main__":
    # The filter process: stdin is the stage's stderr pipe, stdout the real stderr. Ctrl-C
    # reaches the whole process group: keep relaying the stage's KeyboardInterrupt traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    relay(0, 1, noise_patterns(has_gpu_device()))
