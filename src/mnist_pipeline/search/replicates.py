"""`mnist-pipeline replicate`: one configuration over N seeds, a replicate group.

A group is an Optuna study run by the search's engine (tuning.py): every seed is a trial,
queued when the study is made, and each trial is `dvc exp run --temp -n <group>-seed<k>
-S seed=<k> <the configuration's -S list>`, a real DVC experiment whose MLflow run is nested
under the group's parent run. Any number of workers on any machines that share the study
storage take the queued seeds (Optuna hands each queued trial to one worker); a dead
worker's seed is queued again; a rerun resumes, adding the seeds not done yet.

After each seed the parent run's metrics are, for every headline test metric, the mean,
sample standard deviation and 95% t-interval of the mean over the seeds finished so far
(`test_accuracy_mean`, `test_accuracy_std`, `test_accuracy_ci95_low`/`_high`, at step n),
so the MLflow runs table compares configurations, not single seeds. The parent and each
finished seed's run carry the tag `replicate_group=<group>` (studyrun.GROUP_TAG).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import yaml

from mnist_pipeline import configs, paths
from mnist_pipeline.errors import ParamsError, PipelineError, StudyError
from mnist_pipeline.report import noise
from mnist_pipeline.report.evaluation import HEADLINE_METRICS
from mnist_pipeline.search import searchfile, trial, tuning
from mnist_pipeline.tracking import studyrun, tracker
from mnist_pipeline.tracking.studyrun import GROUP_TAG, StudyRun

# Trial and study user attributes: a seed's test metrics; what the group runs.
TEST_ATTR, GROUP_ATTR = "test_metrics", "replicate_group"
HEADLINE = tuple(f"test_{name}" for name in HEADLINE_METRICS)  # the children's metric names
STATISTICS = ("mean", "std", "ci95_low", "ci95_high")  # spread's keys
# The parent run's metrics: test_accuracy_mean, ..., test_accuracy_ci95_high, ..., n_seeds.
GROUP_METRICS = (*(f"{m}_{s}" for m in HEADLINE for s in STATISTICS), "n_seeds")
OBJECTIVE = "val_loss"  # what Optuna records per trial (the seeds are not optimised)
SEED_MAX = 2**32 - 1  # numpy's and Keras's seeds are 32-bit
SEEDS_PATTERN = re.compile(r"(\d+)(?:-(\d+))?")


def parse_seeds(texts: Iterable[str]) -> tuple[int, ...]:
    """`1-5`, `1,3,8` or `1 2 3` (several arguments): the distinct seeds, in order."""
    seeds: list[int] = []
    for part in ",".join(texts).replace(" ", ",").split(","):
        match = SEEDS_PATTERN.fullmatch(part.strip())
        if part.strip() and not match:
            raise ParamsError(f"--seeds: expected seeds such as 1-5 or 1,3,8, got {part!r}")
        if match:
            low, high = int(match[1]), int(match[2] or match[1])
            if high < low or high > SEED_MAX:
                raise ParamsError(f"--seeds: {part!r} is not a range of seeds 0-{SEED_MAX}")
            seeds += [seed for seed in range(low, high + 1) if seed not in seeds]
    if not seeds:
        raise ParamsError("--seeds: no seed given (e.g. --seeds 1-5)")
    return tuple(seeds)


def configuration(name: str | None, root: Path) -> dict:
    """The params.yaml values the group sets (on HEAD): configs.yaml's `name`, else the DVC
    experiment `name`'s params.yaml edits to the commit it ran from, or (None) the
    workspace's params.yaml edits since HEAD (a `dvc exp run` would take them too); never
    `seed`, which the group varies (an experiment's own seed is left out: the group is its
    configuration over seeds)."""
    if name is None:
        now = yaml.safe_load((root / "params.yaml").read_text("utf-8"))
        values = edits(now, tracker.git("show", "HEAD:params.yaml"))
    else:
        configurations = configs.load_configs()
        if name not in configurations and (found := experiment(name)) is not None:
            return {key: value for key, value in found.items() if key != "seed"}
        values = dict(configs.named(configurations, name))
    if "seed" in values:
        where = f"configuration {name}" if name else "the workspace's params.yaml edit"
        raise ParamsError(f"{where} sets seed: a replicate group varies it (--seeds)")
    return values


def edits(now: dict, committed_text: str) -> dict:
    """The flattened params.yaml values of `now` that differ from the committed text's."""
    from mnist_pipeline.params import flatten

    before = flatten(yaml.safe_load(committed_text or "{}") or {})
    return {key: value for key, value in flatten(now).items() if before.get(key, value) != value}


def experiment(name: str) -> dict | None:
    """The params.yaml edits of the DVC experiment `name` (a ref refs/exps/.../<name>) on the
    commit it ran from; None when no experiment has that name, ParamsError when several do."""
    refs = tracker.git("for-each-ref", "--format=%(refname)", "refs/exps").split()
    matches = [ref for ref in refs if ref.rsplit("/", 1)[-1] == name]
    if len(matches) > 1:
        raise ParamsError(
            f"{name!r} names {len(matches)} DVC experiments (on different commits): "
            "`dvc exp show` lists them; rename one or use configs.yaml"
        )
    if not matches:
        return None
    run = yaml.safe_load(tracker.git("show", f"{matches[0]}:params.yaml") or "{}")
    return edits(run or {}, tracker.git("show", f"{matches[0]}~1:params.yaml"))


def group_spec(group: str, values: dict, seeds: tuple[int, ...]) -> searchfile.Search:
    """The group as the search engine's study: one integer dimension, `seed`, every value
    queued (never drawn); no pruning; `values` fixed in every trial. The seeds are left out
    of what identifies the study, so a rerun with more seeds extends it."""
    if not searchfile.STUDY_NAME.fullmatch(group):
        raise ParamsError(
            f"--group: expected a name of letters, digits, '-' and '_' starting with a "
            f"letter (it names the DVC experiments), got {group!r}"
        )
    return searchfile.Search(
        study=group,
        objective=OBJECTIVE,
        n_trials=len(seeds),
        sampler="random",
        seed=0,
        startup_trials=0,
        pruner="none",
        warmup_epochs=0,
        space=(searchfile.Dimension("seed", low=0, high=SEED_MAX, integer=True),),
        fixed=values,
    )


def spread(values: list[float]) -> dict[str, float]:
    """Mean; from two values on, the sample sd and the 95% t-interval of the mean, named as
    the parent run's metrics name them (noise.summarize computes them, as `diff` does)."""
    found = noise.summarize(values)
    if found["n"] < 2:
        return {"mean": found["mean"]}
    return {
        "mean": found["mean"],
        "std": found["std"],
        "ci95_low": found["low"],
        "ci95_high": found["high"],
    }


def group_metrics(per_seed: dict[int, dict[str, float]]) -> dict[str, float]:
    """The parent run's metrics: each headline test metric's spread over the seeds
    (`test_accuracy_mean`, `test_accuracy_std`, ...), and `n_seeds`."""
    found = {"n_seeds": float(len(per_seed))}
    for metric in HEADLINE:
        values = [metrics[metric] for metrics in per_seed.values() if metric in metrics]
        if values:
            found |= {f"{metric}_{key}": value for key, value in spread(values).items()}
    return found


def seed_of(frozen) -> int | None:
    """A trial's seed: drawn (its param) or queued (its fixed params)."""
    return frozen.params.get("seed", frozen.system_attrs.get("fixed_params", {}).get("seed"))


def finished_seeds(study) -> dict[int, dict]:
    """{seed: its test metrics} over the study's complete trials (the first of a seed)."""
    from optuna.trial import TrialState

    found: dict[int, dict] = {}
    for frozen in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if TEST_ATTR in frozen.user_attrs:
            found.setdefault(seed_of(frozen), frozen.user_attrs[TEST_ATTR])
    return dict(sorted(found.items()))


def replicate(
    config: str | None,
    seeds: tuple[int, ...],
    group: str | None = None,
    storage: str | None = None,
    push: str | None = None,
    out: Callable[[str], None] = print,
) -> int:
    """Run the configuration's seeds not finished yet (sharing them with the group's other
    workers) and print the group's spread; 0 when every seed is done."""
    from mnist_pipeline.params import load_params

    root = paths.project_root()
    params = load_params(root / "params.yaml")
    commit = tracker.git("rev-parse", "HEAD")
    if not commit:
        raise PipelineError(
            "replicate runs each seed as a DVC experiment: this needs a git "
            "repository with at least one commit"
        )
    values = configuration(config, root)
    group = group or f"{config or 'workspace'}-{commit[:7]}"
    spec = group_spec(group, values, seeds)
    worker = ReplicateWorker(spec, tuning.storage_url(storage), root, push, out, seeds, config)
    tuning.work(worker, params.tracking.experiment)
    out(report(group, finished_seeds(worker.study), worker.parent))
    return 0


def report(group: str, per_seed: dict[int, dict], parent: StudyRun | None) -> str:
    """The group's seeds and each headline metric's mean ± sd and 95% interval."""
    lines = [f"replicate group {group}: {len(per_seed)} seeds ({', '.join(map(str, per_seed))})"]
    metrics = group_metrics(per_seed)
    for metric in HEADLINE:
        if f"{metric}_std" in metrics:
            lines.append(
                f"  {metric}: {metrics[f'{metric}_mean']:.4f} ± {metrics[f'{metric}_std']:.4f}"
                f" (95% interval {metrics[f'{metric}_ci95_low']:.4f} to "
                f"{metrics[f'{metric}_ci95_high']:.4f})"
            )
        elif f"{metric}_mean" in metrics:
            lines.append(f"  {metric}: {metrics[f'{metric}_mean']:.4f} (one seed: no spread)")
    if parent is not None:
        lines.append(f"MLflow parent run {parent.id[:8]}, tag {GROUP_TAG}={group}")
    return "\n".join(lines)


class ReplicateWorker(tuning.Worker):
    """A tuning worker whose trials are the group's queued seeds."""

    def __init__(self, spec, url, root, push, out, seeds: tuple[int, ...], config: str | None):
        super().__init__(spec, url, root, push, out)
        self.seeds, self.config = seeds, config or "workspace"

    def check_study(self, created: bool) -> None:
        """A new group queues its seeds (before its parent exists: the other workers wait
        for that); an existing one must be a replicate group of the same params."""
        if created:
            self.study.set_user_attr(GROUP_ATTR, self.config)
            self._queue(self.seeds)
            return
        recorded = self.study.user_attrs
        if tuning.SEARCH_ATTR in recorded and GROUP_ATTR not in recorded:
            raise StudyError(
                f"study {self.spec.study} in {trial.masked(self.url)} is a hyperparameter "
                "search, not a replicate group: --group NAME names another"
            )
        if tuning.SEARCH_ATTR not in recorded:
            return  # its creator is between two writes: join waits for it, then compares
        fixed = recorded[tuning.SEARCH_ATTR]["fixed"]
        wanted = json.loads(json.dumps(self.spec.fixed))
        if fixed != wanted:
            changed = sorted(
                set(fixed) ^ set(wanted) | {k for k in fixed if wanted.get(k) != fixed[k]}
            )
            raise StudyError(
                f"replicate group {self.spec.study} runs other params (its {', '.join(changed)} "
                "differ): --group NAME starts another group"
            )

    def create_parent(self, experiment: str, spec: searchfile.Search, url: str) -> StudyRun:
        """The group's parent run: the configuration's params (all but seed), so the runs
        table lines it up with single runs; tagged with the group."""
        from mnist_pipeline.params import flatten

        params = yaml.safe_load((self.root / "params.yaml").read_text("utf-8"))
        flat = flatten(configs.apply(params, spec.fixed))
        flat.pop("seed")
        worker_tag, started = tuning.worker_record()
        return StudyRun.create(
            experiment,
            f"replicates {spec.study}",
            tags={
                tuning.ROLE_TAG: "replicates",
                GROUP_TAG: spec.study,
                trial.STUDY_TAG: spec.study,
                "configuration": self.config,
                "study_storage": trial.masked(url),
                "git_commit": tracker.git("rev-parse", "HEAD"),
                tracker.DESCRIPTION_TAG: f"Replicate group **{spec.study}**: no seed done yet.",
                worker_tag: started,
            },
            params=flat,
        )

    def experiment_name(self, optuna_trial) -> str:
        return f"{self.spec.study}-seed{optuna_trial.params['seed']}"

    def run(self) -> str:
        """Queued seeds until every one asked for is done; the parent run's end status."""
        import optuna

        waiting_for: list[int] = []
        while True:
            optuna.storages.fail_stale_trials(self.study)
            done = finished_seeds(self.study)
            if set(self.seeds) <= set(done):
                return "FINISHED"
            if not self._queue([seed for seed in self.seeds if seed not in done]):
                running = self._seeds_in("RUNNING")
                if running != waiting_for:
                    self.out(f"waiting for seed(s) {', '.join(map(str, running))} of other workers")
                    waiting_for = running
                time.sleep(tuning.HEARTBEAT_SECONDS)  # polls the study's state
                continue
            self.study.optimize(
                self.objective,
                n_trials=1,
                catch=(tuning.TrialFailedError, tuning.SurplusTrialError),
                callbacks=[self.summarize],
                gc_after_trial=False,
            )
            if self.failures >= tuning.FAILURES_IN_A_ROW:
                raise PipelineError(
                    f"{self.failures} seeds in a row failed on this worker "
                    f"(logs in {tuning.LOG_DIR}/): stopping"
                )

    def _seeds_in(self, *states: str) -> list[int]:
        from optuna.trial import TrialState

        wanted = tuple(TrialState[state] for state in states)
        return sorted({seed_of(t) for t in self.study.get_trials(deepcopy=False, states=wanted)})

    def _queue(self, missing: list[int]) -> list[int]:
        """Queue each missing seed no trial holds yet; the seeds queued now."""
        taken = set(self._seeds_in("RUNNING", "WAITING"))
        for seed in missing:
            if seed not in taken:
                self.study.enqueue_trial({"seed": seed})
        return self._seeds_in("WAITING")

    def _check_not_surplus(self, number: int, optuna_trial) -> None:
        """SurplusTrialError for a trial that is not a queued seed (another worker took the
        last one meanwhile), or whose seed an earlier trial holds (two workers queued it)."""
        from optuna.trial import TrialState

        frozen = self.store.get_trial(tuning.trial_id_of(self.store, self.study, number))
        seed = seed_of(frozen)
        holding = (TrialState.WAITING, TrialState.RUNNING, TrialState.COMPLETE)
        earlier = [
            t
            for t in self.study.get_trials(deepcopy=False, states=holding)
            if t.number < number and seed_of(t) == seed
        ]
        if seed is None or earlier:
            optuna_trial.set_user_attr(tuning.SURPLUS_ATTR, True)
            raise tuning.SurplusTrialError(f"trial {number}: no seed of the group left for it")

    def objective(self, optuna_trial) -> float:
        """The seed's DVC experiment; its child run's headline test metrics recorded."""
        score = super().objective(optuna_trial)
        link = self.store.get_trial(tuning.trial_id_of(self.store, self.study, optuna_trial.number))
        metrics = studyrun.run_metrics(link.user_attrs[trial.RUN_ATTR])
        found = {name: metrics[name] for name in HEADLINE if name in metrics}
        optuna_trial.set_user_attr(TEST_ATTR, found)
        shown = ", ".join(f"{name} {value:.4f}" for name, value in found.items())
        self.out(f"trial {optuna_trial.number}: seed {optuna_trial.params['seed']}: {shown}")
        return score

    def publish_state(self, parent: StudyRun, finished=None) -> None:
        """The parent's metrics and description from the finished seeds; a finished seed's
        run tagged with the group."""
        from optuna.trial import TrialState

        if finished is not None and finished.state == TrialState.COMPLETE:
            studyrun.tag_run(finished.user_attrs[trial.RUN_ATTR], GROUP_TAG, self.spec.study)
        per_seed = finished_seeds(self.study)
        if not per_seed:
            return
        for key, value in group_metrics(per_seed).items():
            parent.log_metric(key, value, step=len(per_seed))
        description = report(self.spec.study, per_seed, None).replace("\n  ", "  \n")
        parent.set_tags(
            {"seeds": ",".join(map(str, per_seed)), tracker.DESCRIPTION_TAG: description}
        )
        rows = ["seed," + ",".join(HEADLINE)]
        rows += [
            f"{s}," + ",".join(str(m.get(n, "")) for n in HEADLINE) for s, m in per_seed.items()
        ]
        parent.log_text("\n".join(rows) + "\n", "replicates/seeds.csv")
