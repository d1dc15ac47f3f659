"""tracker.skip_environment_scan: MLflow still checks a model's pinned requirements, without
first mapping every installed distribution (seconds beside TensorFlow)."""

import importlib.metadata

import pytest

requirements_utils = pytest.importorskip("mlflow.utils.requirements_utils")


@pytest.fixture
def fresh_map(monkeypatch):
    """MLflow's map as a new process has it (None), restored afterwards."""
    monkeypatch.setattr(requirements_utils, "_MODULES_TO_PACKAGES", None)
    monkeypatch.setattr(requirements_utils, "_PACKAGES_TO_MODULES", None)


def test_pinned_requirements_are_checked_without_the_scan(fresh_map, monkeypatch):
    from mnist_pipeline.tracking import tracker

    def scan():
        raise AssertionError("MLflow scanned every installed distribution")

    monkeypatch.setattr(requirements_utils.importlib_metadata, "packages_distributions", scan)
    tracker.skip_environment_scan()
    numpy = importlib.metadata.version("numpy")
    assert requirements_utils._check_requirement_satisfied(f"numpy=={numpy}") is None
    mismatch = requirements_utils._check_requirement_satisfied("numpy==0.0.1")
    assert mismatch is not None and mismatch.installed_version == numpy  # still checked


def test_without_it_mlflow_would_scan(fresh_map, monkeypatch):
    """The private state it sets is where MLflow keeps it (an upgrade that moves it fails
    here, rather than silently scanning again)."""
    scanned = []
    monkeypatch.setattr(
        requirements_utils.importlib_metadata,
        "packages_distributions",
        lambda: scanned.append(True) or {},
    )
    requirements_utils._check_requirement_satisfied("numpy>=1")
    assert scanned == [True]
