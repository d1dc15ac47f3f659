"""What every stage script shares: logging set-up and turning errors into one clear line."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("mnist_pipeline")


class StageError(RuntimeError):
    """A stage cannot run: a missing input, an unreachable service, ..."""


def run(main: Callable[[], None]) -> None:
    """Run a stage's `main`; expected failures exit 1 with one line naming what was wrong."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        main()
    except (ValueError, OSError, StageError) as error:
        log.error("%s", error)
        sys.exit(1)
    except Exception as error:
        # A tracking server that went away mid-stage surfaces as MLflow's own exceptions.
        if type(error).__module__.split(".")[0] != "mlflow":
            raise
        log.error("MLflow tracking failed (%s): %s", os.environ.get("MLFLOW_TRACKING_URI"), error)
        sys.exit(1)


def require(path: str) -> str:
    """`path`, or a StageError saying which stage makes it."""
    if not Path(path).is_file():
        raise StageError(f"{path}: input missing (run `dvc repro` to create it)")
    return path
