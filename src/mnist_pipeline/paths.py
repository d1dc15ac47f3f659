"""Where the project lives, also when DVC runs a stage in a temporary copy of it."""

from __future__ import annotations

import os
from pathlib import Path

# `dvc exp run --temp` and `--queue` run stages in <project>/.dvc/tmp/exps/<tmpdir>/.
_EXPERIMENT_WORKSPACE = (".dvc", "tmp", "exps")


def project_root(cwd: str | os.PathLike[str] | None = None) -> Path:
    """The project's root: the working directory, or the project that owns a DVC temp copy.

    Stages run from the project root; this makes shared state (the MLflow store, a relative
    mirror path) land in the real project even when DVC runs the stage elsewhere.
    """
    path = Path(cwd or Path.cwd()).resolve()
    parts = path.parts
    for index in range(len(parts) - len(_EXPERIMENT_WORKSPACE) + 1):
        if parts[index : index + len(_EXPERIMENT_WORKSPACE)] == _EXPERIMENT_WORKSPACE:
            return Path(*parts[:index])
    return path
