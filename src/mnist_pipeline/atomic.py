"""Atomic file output: a failed or interrupted stage never leaves a half-written file.

Every writer goes through `atomic_path`, which hands out a temporary sibling of the target
and renames it over the target only when the writer returned without an exception.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it onto `target` on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
    )
    os.close(handle)
    temporary = Path(temporary)
    temporary.chmod(0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
    try:
        yield temporary
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(target: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(target) as temporary:
        temporary.write_bytes(data)


def write_text(target: str | os.PathLike[str], text: str) -> None:
    write_bytes(target, text.encode("utf-8"))


def write_json(target: str | os.PathLike[str], payload: Any) -> None:
    """Sorted keys and a trailing newline, so equal content means equal bytes."""
    write_text(target, json.dumps(payload, indent=2, sort_keys=True) + "\n")


def write_npz(target: str | os.PathLike[str], **arrays: np.ndarray) -> None:
    """Uncompressed npz; numpy writes it byte-identically for identical arrays."""
    with atomic_path(target) as temporary, temporary.open("wb") as stream:
        np.savez(stream, **arrays)


def read_npz(source: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    with np.load(source, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}
