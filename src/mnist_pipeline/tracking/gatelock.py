"""One champion decision at a time, across processes and machines.

MLflow's registry has no compare-and-set: two publishers that read the same champion and
each move the alias leave the last writer's version champion, better or not, and each says
it won. So the gate's read-decide-move step (registry.publish) holds a lock every publisher
of that registered model shares:

- the embedded store (SQLite): the store's file lock (tracker.store_lock);
- a tracking server: a PostgreSQL advisory lock, per registered model, on the team's study
  database ($MNIST_PIPELINE_STUDY_STORAGE, the one `tune` workers already share; a SQLite
  file there: its file lock, which serves one machine). Not an optimistic check-after-set:
  without compare-and-set, re-reading the alias after moving it cannot see a publisher whose
  move is about to land, so both can still believe they won. The advisory lock is exact, and
  PostgreSQL drops it with its session, so a publisher killed mid-decision leaves none stale;
- a tracking server and no study database: no lock, and a warning says so.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections.abc import Iterator

from mnist_pipeline.errors import ModelError
from mnist_pipeline.tracking.tracker import store_lock, tracking_uri

log = logging.getLogger(__name__)

# The team's shared study database (search/tuning.py's default storage for `tune` too).
STORAGE_VARIABLE = "MNIST_PIPELINE_STUDY_STORAGE"
WAIT_SECONDS = 120  # the longest a publisher waits for another's decision
UNGUARDED = (
    f"no {STORAGE_VARIABLE} (the team's PostgreSQL study database) to lock on: two "
    "publishers at once may both decide against the same champion"
)


@contextlib.contextmanager
def decision_lock(name: str) -> Iterator[None]:
    """Hold the lock that makes deciding `name`'s champion one publisher's at a time."""
    uri = tracking_uri()
    storage = os.environ.get(STORAGE_VARIABLE, "")
    if uri.startswith("sqlite:///"):
        with store_lock(uri):
            yield
    elif storage.startswith("postgresql"):
        with advisory_lock(storage, f"mnist_pipeline champion of {name}"):
            yield
    elif storage.startswith("sqlite:///"):
        with store_lock(storage):
            yield
    else:
        log.warning(UNGUARDED)
        yield


def lock_key(text: str) -> int:
    """A stable signed 64-bit key for pg_advisory_lock (Python's hash() varies per process)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big", signed=True)


@contextlib.contextmanager
def advisory_lock(url: str, text: str) -> Iterator[None]:
    """A session-level PostgreSQL advisory lock on `url`, held while the block runs; a
    ModelError when the database cannot be reached or another holds it past WAIT_SECONDS."""
    import sqlalchemy
    from sqlalchemy.pool import NullPool

    key = {"key": lock_key(text)}
    engine = sqlalchemy.create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": 10})
    connection = None
    try:
        connection = engine.connect()
        connection.execute(sqlalchemy.text(f"SET lock_timeout = '{WAIT_SECONDS}s'"))
        connection.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), key)
    except sqlalchemy.exc.SQLAlchemyError as error:
        if connection is not None:
            connection.close()
        engine.dispose()
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        where = sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
        raise ModelError(f"cannot lock the champion decision on {where}: {reason}") from None
    try:
        yield
    finally:
        with contextlib.suppress(sqlalchemy.exc.SQLAlchemyError):  # closing drops it anyway
            connection.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:key)"), key)
        connection.close()
        engine.dispose()
