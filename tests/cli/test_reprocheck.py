"""The reproducibility check: its parsing on crafted inputs, and the real check on a tiny
copy of the repository, once as it is (passes) and once with nondeterminism injected."""

import subprocess
import sys

import pytest
import yaml

from mnist_pipeline.cli.reprocheck import differences, find_experiment, lock_hashes, stages_run

from conftest import git_commit_all, tiny_repository_copy

LOCK = """
schema: '2.0'
stages:
  train:
    cmd: python stages/train.py
    outs:
    - path: models/weights.npz
      hash: md5
      md5: aaa
      size: 10
  evaluate:
    cmd: python stages/evaluate.py
    outs:
    - path: reports/evaluate/metrics.json
      hash: md5
      md5: bbb
      size: 20
"""


def test_lock_hashes_collects_every_output():
    assert lock_hashes(LOCK) == {
        "models/weights.npz": "aaa",
        "reports/evaluate/metrics.json": "bbb",
    }


def test_differences_name_file_and_both_hashes():
    expected = {"a": "1", "b": "2", "gone": "3"}
    actual = {"a": "1", "b": "9", "new": "4"}
    assert differences(expected, actual) == [
        "b: expected md5 2, got 9",
        "gone: expected md5 3, got (absent)",
        "new: expected md5 (absent), got 4",
    ]
    assert differences(expected, dict(expected)) == []


def test_stages_run_and_find_experiment():
    output = (
        "Running stage 'split':\n> python x\nStage 'train' didn't change\nRunning stage 'plot':"
    )
    assert stages_run(output) == ["split", "plot"]
    shown = [
        {"rev": "workspace", "experiments": None},
        {
            "rev": "abc",
            "experiments": [
                {"name": "other", "revs": [{"data": {"x": 1}}]},
                {"name": "mine", "revs": [{"data": {"x": 2}}]},
            ],
        },
    ]
    assert find_experiment(shown, "mine") == {"x": 2}
    assert find_experiment(shown, "missing") is None


def check_repro(project, env, *arguments):
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mnist_pipeline.cli",
            "check-repro",
            "--repo",
            str(project),
            "--exp-param",
            "train.epochs=1",
            *arguments,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )


@pytest.fixture(scope="module")
def tiny_repository(tmp_path_factory):
    """A copy of the repository on generated data, its pipeline run and committed as the
    real project commits its full run."""
    project, env = tiny_repository_copy(tmp_path_factory.mktemp("reprocheck"))
    subprocess.run(
        [sys.executable, "-m", "dvc", "repro"],
        cwd=project,
        env=env,
        check=True,
        capture_output=True,
    )
    git_commit_all(project, "tiny run")
    return project, env


@pytest.mark.slow
def test_check_passes_on_a_reproducible_pipeline(tiny_repository):
    project, env = tiny_repository
    result = check_repro(project, env)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("[")]
    assert len(lines) == 6 and all(line.startswith("[PASS]") for line in lines), result.stdout
    assert "identical to the committed run" in result.stdout
    assert "params diff train.epochs: 2 -> 1" in result.stdout
    assert "check-repro: all checks passed" in result.stdout


@pytest.mark.slow
def test_check_fails_and_names_the_output_that_changed(tiny_repository):
    project, env = tiny_repository
    dvc_yaml = yaml.safe_load((project / "dvc.yaml").read_text())
    scratch = dvc_yaml["stages"]["scratch"]
    scratch["cmd"] += (
        " && python -c \"import time; open('reports/scratch/stamp.txt', 'w')"
        '.write(str(time.time_ns()))"'
    )
    scratch["outs"] = [{"reports/scratch/stamp.txt": {"cache": False}}]
    (project / "dvc.yaml").write_text(yaml.safe_dump(dvc_yaml, sort_keys=False))
    git_commit_all(project, "a stage that writes the time")

    result = check_repro(project, env, "--fail-fast")
    assert result.returncode == 1
    assert "[FAIL] 2. `dvc repro --force` is byte-identical" in result.stdout
    assert "reports/scratch/stamp.txt: expected md5 " in result.stdout
    assert "check-repro: 1 of 2 checks failed" in result.stdout
