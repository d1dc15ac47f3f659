"""What every stage script shares: logging set-up, reading inputs, and errors by kind.

The errors we anticipate (mnist_pipeline.errors: bad data or params, a missing input, an
unreachable tracking server) end the stage with one line and exit 1. Anything else is a bug,
ours or a library's, and keeps its full traceback.
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from mnist_pipeline.errors import DataError, MissingInputError, PipelineError

log = logging.getLogger("mnist_pipeline")
# A library's exceptions that mean an outage, not a bug: each check returns the one line to
# say, or None. The package that uses the library adds its check when imported (tracking:
# MLflow giving up on a tracking server), so this runner imports no library of theirs.
OUTAGES: list[Callable[[BaseException], str | None]] = []


def run(main: Callable[[], None]) -> None:
    """Run a stage's `main`: anticipated errors as one line and exit 1, Ctrl-C or SIGTERM
    (`dvc queue kill`) as an interrupt (exit 130, the MLflow run ends KILLED)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, _interrupt)
    # Python leaves SIGINT ignored when the stage starts with it ignored, as it does under a
    # script that runs `dvc repro` (or a test suite) in the background: Ctrl-C of that script,
    # `kill -INT`, `mnist-pipeline tune` stopping its trial would then be lost.
    signal.signal(signal.SIGINT, _interrupt)
    try:
        main()
    except PipelineError as error:
        log.error("%s", error)
        sys.exit(1)
    except KeyboardInterrupt:
        log.error("interrupted")
        sys.exit(130)
    except Exception as error:
        said = next(filter(None, (outage(error) for outage in OUTAGES)), None)
        if said is None:
            raise
        log.error("%s", said)
        sys.exit(1)


def _interrupt(signum, frame) -> None:
    global _pending
    if _deferring and not _pending:
        _pending = True  # the first one waits for a checkpoint; a second one is at once
        return
    raise KeyboardInterrupt


# Inside interrupts_at_checkpoints(): set by _interrupt, taken by checkpoint().
_deferring = False
_pending = False


@contextlib.contextmanager
def interrupts_at_checkpoints() -> Iterator[None]:
    """Inside, Ctrl-C or SIGTERM takes effect at the next `checkpoint()` (between two batches
    of a fit) or at the block's end; a second one at once (a tracking server that hangs).

    Why: raised between any two bytecodes, a KeyboardInterrupt can land inside TensorFlow's or
    MLflow's own bookkeeping. One in 48 interrupts of a fit here left TensorFlow's device scopes
    unbalanced ("RuntimeError: Exiting device scope without proper scope nesting": exit 1, the
    run FAILED, not KILLED), and CI saw a train that never exited after Ctrl-C."""
    global _deferring, _pending
    _deferring, _pending = True, False
    try:
        yield
    finally:
        _deferring = False
    checkpoint()


def checkpoint() -> None:
    """Raise the interrupt received since the last checkpoint, if any."""
    global _pending
    if _pending:
        _pending = False
        raise KeyboardInterrupt


class InterruptCheckpoints:
    """A fit listener (model.training.keras_callback): a checkpoint after every batch."""

    def on_batch_end(self) -> None:
        checkpoint()

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        checkpoint()


def require(path: str) -> str:
    """`path`, or a MissingInputError saying how to make it."""
    if not Path(path).is_file():
        raise MissingInputError(f"{path}: input missing (run `dvc repro` to create it)")
    return path


def read_npz(path: str) -> dict[str, np.ndarray]:
    """The arrays of an input npz; a corrupt file is a DataError naming it."""
    import zipfile

    from mnist_pipeline import atomic

    try:
        return atomic.read_npz(require(path))
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise DataError(
            f"{path}: unreadable npz ({error}); rerun the stage that makes it"
        ) from None


def read_json(path: str) -> Any:
    try:
        return json.loads(Path(require(path)).read_text(encoding="utf-8"))
    except ValueError as error:
        raise DataError(f"{path}: not valid JSON ({error})") from None


def read_text(path: str) -> str:
    return Path(require(path)).read_text(encoding="utf-8")


def read_bytes(path: str) -> bytes:
    return Path(require(path)).read_bytes()
