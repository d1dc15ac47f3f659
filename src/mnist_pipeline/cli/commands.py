"""The `mnist-pipeline` command: tools around the pipeline that are not DVC stages."""

from __future__ import annotations

import argparse
import json
import os
import sys


def _scratch(arguments: argparse.Namespace) -> int:
    from mnist_pipeline.model.scratch import gradient_report

    print(json.dumps(gradient_report(arguments.seed), indent=2, sort_keys=True))
    return 0


def _check_repro(arguments: argparse.Namespace) -> int:
    from pathlib import Path

    from mnist_pipeline.cli.reprocheck import check_repro

    return check_repro(
        Path(arguments.repo).resolve(),
        arguments.exp_param,
        arguments.tolerance,
        fail_fast=arguments.fail_fast,
        keep=arguments.keep,
    )


def _diff(arguments: argparse.Namespace) -> int:
    from pathlib import Path

    from mnist_pipeline.params import load_params
    from mnist_pipeline.report.figures import png_bytes
    from mnist_pipeline.tracking import groupdiff, rundiff

    if len(arguments.runs) > 2:
        raise rundiff.RunError(f"at most two runs to compare, got {len(arguments.runs)}")
    experiment = arguments.experiment or load_params().tracking.experiment
    references = arguments.runs
    if len(references) == 1:
        references = [*references, "latest"]  # one run: compare it with the newest
    diff, runs = groupdiff.load(experiment, references, all_params=arguments.all)
    if arguments.plot and runs is None:
        raise rundiff.RunError("--plot draws two runs' curves: name two runs, not groups")
    sys.stdout.write(groupdiff.render(diff, arguments.format))
    if arguments.plot:
        Path(arguments.plot).write_bytes(png_bytes(rundiff.curves_figure(*runs), dpi=100))
    return 0


def _report(arguments: argparse.Namespace) -> int:
    from pathlib import Path

    from mnist_pipeline.cli import prreport

    root = Path.cwd()
    out = Path(arguments.out) if arguments.out else root / prreport.DEFAULT_OUT
    print(prreport.write_report(root, arguments.base, out, arguments.images_note))
    return 0


def _exps(arguments: argparse.Namespace) -> int:
    import shutil

    from mnist_pipeline.cli import expshow

    options = ["--all-commits"] if arguments.all_commits else []
    options += ["--rev", arguments.rev] if arguments.rev else []
    options += ["--num", str(arguments.num)] if arguments.num is not None else []
    table = expshow.rows(expshow.dvc_experiments(options))
    width = arguments.width or shutil.get_terminal_size().columns  # $COLUMNS, else the tty's
    sys.stdout.write(expshow.render(table, width))
    return 0


def _predict(arguments: argparse.Namespace) -> int:
    from mnist_pipeline.cli import predictions
    from mnist_pipeline.data import images

    if arguments.card:
        sys.stdout.write(predictions.model_card(arguments.model))
        return 0
    if not arguments.files:
        from mnist_pipeline.errors import DataError

        raise DataError("no image files to predict (or --card: the model's card)")
    names, batch, unreadable = images.read_each(
        arguments.files, arguments.polarity, arguments.center, arguments.key
    )
    if names or not unreadable:  # all unreadable: no model to load
        if arguments.model:
            from mnist_pipeline.tracking import serving

            model = serving.load_model(arguments.model)
        else:
            from mnist_pipeline.data.datasets import dataset_classes
            from mnist_pipeline.params import load_params

            data = load_params().data
            model = predictions.workspace_model(dataset_classes(data.dataset, data.class_names))
        rows = predictions.records(names, model(batch))
        sys.stdout.write(predictions.render(rows, arguments.format))
        sys.stdout.flush()  # the answers first, then what was left out
    for error in unreadable:  # each bad file on its own line, after the answers for the rest
        print(f"mnist-pipeline predict: {error}", file=sys.stderr)
    return 1 if unreadable else 0


def _publish(arguments: argparse.Namespace) -> int:
    """Register a model as a version and let the gate decide on the champion: the workspace's
    (its run completed first), or RUN's."""
    from mnist_pipeline import quiet
    from mnist_pipeline.params import load_params
    from mnist_pipeline.tracking import publishing, registry, rundiff

    quiet.filter_logs()  # MLflow's notes when it logs the raw-image model, as in plot
    params = load_params()
    experiment = arguments.experiment or params.tracking.experiment
    if arguments.run is None:
        decision = publishing.publish_workspace(params, experiment)
    else:
        run_id = rundiff.resolve_one(experiment, arguments.run)
        decision = registry.publish_run_id(run_id, params.registry)
    print(decision.message)
    return 0


def _promote(arguments: argparse.Namespace) -> int:
    return _move_champion(arguments, promote=True)


def _demote(arguments: argparse.Namespace) -> int:
    return _move_champion(arguments, promote=False)


def _move_champion(arguments: argparse.Namespace, promote: bool) -> int:
    """`promote` or `demote` a run's version, recorded on the run."""
    from mnist_pipeline.params import load_params
    from mnist_pipeline.tracking import registry, rundiff

    params = load_params()
    experiment = arguments.experiment or params.tracking.experiment
    run_id = rundiff.resolve_one(experiment, arguments.run)
    print(registry.move_champion(run_id, params, promote))
    return 0


def _ui(arguments: argparse.Namespace) -> int:
    """Serve the UI on the embedded store and print the experiment's runs page in the
    model-training view once it answers (a tracking server serves its own UI: only its URL
    is printed)."""
    from mnist_pipeline.params import load_params
    from mnist_pipeline.tracking import tracker

    experiment = arguments.experiment or load_params().tracking.experiment
    uri = tracker.tracking_uri()
    served = uri.startswith("sqlite:")
    base = f"http://{arguments.host}:{arguments.port}" if served else uri.rstrip("/")
    shown = f"MLflow UI, experiment {experiment!r}: {_runs_page(base, experiment)}"
    if not served:
        print(shown, flush=True)
        return 0
    return _serve_ui(uri, arguments.host, arguments.port, f"{shown}  (Ctrl-C stops it)")


def _runs_page(base: str, experiment: str) -> str:
    """The URL of the experiment's runs list (test metrics shown) under the UI at `base`,
    or of the experiments list if it has none yet."""
    from mnist_pipeline.tracking import tracker

    found = tracker.ui_experiment(experiment)  # checks the store answers; sets its UI tags
    view = f"viewStateShareKey={tracker.RUNS_VIEW_KEY}&"  # test metrics in the runs list
    page = f"experiments/{found}/runs?{view}" if found else "experiments?"
    # Not the GenAI views (traces, prompts) MLflow 3.17 shows a fresh browser (docs: compare).
    return f"{base}/#/{page}workflowType=machine_learning"


def _serve_ui(uri: str, host: str, port: int, ready: str) -> int:
    """Run `mlflow ui` on the store at `uri`, print `ready` once it answers, and wait for it
    (Ctrl-C or SIGTERM: 0); the server never outlives this."""
    import signal
    import subprocess

    command = ["mlflow", "ui", "--backend-store-uri", uri, "--host", host, "--port", str(port)]
    server = subprocess.Popen(command, env=ui_environment())
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stopped: stop the server too
    try:
        if not _answers(server, f"http://{host}:{port}"):
            return server.returncode  # it failed to start (port taken?): its own message says why
        print(ready, flush=True)
        try:
            return server.wait()
        except KeyboardInterrupt:
            return 0
    finally:
        if server.poll() is None:
            server.terminate()
            server.wait(timeout=30)


def _answers(server, base: str) -> bool:
    """Wait until the UI at `base` answers (True) or its server exits first (False); a
    TrackingError after 180 s."""
    import time

    from mnist_pipeline.tracking import tracker

    deadline = time.monotonic() + 180  # the UI takes 10-30 s to start on a busy machine
    while server.poll() is None:
        try:
            tracker.check_reachable(base, timeout=2)
            return True
        except tracker.TrackingError:
            if time.monotonic() > deadline:
                raise tracker.TrackingError(
                    f"mlflow ui did not answer at {base} in 180 s"
                ) from None
            time.sleep(0.5)
    return False


def ui_environment() -> dict[str, str]:
    """The environment for `mlflow ui`: without the StarletteDeprecationWarning each of its
    workers printed on start (MLflow's own import of starlette.middleware.wsgi, nothing a user
    can act on). Only that message: other warnings still show."""
    known = "ignore:starlette.middleware.wsgi is deprecated"
    warnings = ",".join(filter(None, [os.environ.get("PYTHONWARNINGS"), known]))
    return {**os.environ, "PYTHONWARNINGS": warnings}


def _interruptible() -> None:
    """Ctrl-C and SIGTERM stop a worker's trial too. SIGINT is set even though it is Python's
    default: started in the background by a script, the worker inherits it ignored, and so
    would the trial's DVC, which it stops with SIGINT (a handler resets to default on exec)."""
    import signal

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.default_int_handler)


def _tune(arguments: argparse.Namespace) -> int:
    from mnist_pipeline.errors import PipelineError
    from mnist_pipeline.search import tuning

    _interruptible()
    trials = _trials(arguments.trials)
    if arguments.publish and not arguments.best:
        raise PipelineError("--publish goes with --best: it registers the best trial's model")
    if arguments.best:
        tuning.best(arguments.search, arguments.storage, trials, register=arguments.publish)
        return 0
    try:
        return tuning.tune(arguments.search, arguments.storage, arguments.push, trials=trials)
    except KeyboardInterrupt:
        print(
            "mnist-pipeline tune: interrupted; the trial is marked failed, run `tune` again "
            "to resume the study",
            file=sys.stderr,
        )
        return 130


def _replicate(arguments: argparse.Namespace) -> int:
    from mnist_pipeline.search import replicates

    _interruptible()
    seeds = replicates.parse_seeds(arguments.seeds)
    try:
        return replicates.replicate(
            arguments.config, seeds, arguments.group, arguments.storage, arguments.push
        )
    except KeyboardInterrupt:
        print(
            "mnist-pipeline replicate: interrupted; the seed is marked failed, run the same "
            "command again to resume the group",
            file=sys.stderr,
        )
        return 130


def _config(arguments: argparse.Namespace) -> int:
    """A named configuration's -S arguments (for `dvc exp run`, the Makefile), or
    the table of them all (docs/better-models.md)."""
    import shlex

    import yaml

    from mnist_pipeline import configs, paths
    from mnist_pipeline.errors import ParamsError
    from mnist_pipeline.search import searchfile

    configurations = configs.load_configs()
    if arguments.markdown:
        params = yaml.safe_load((paths.project_root() / "params.yaml").read_text("utf-8"))
        sys.stdout.write(configs.markdown_table(configurations, params))
    elif arguments.name is None:
        raise ParamsError(f"name a configuration (one of {list(configurations)}) or --markdown")
    else:
        print(shlex.join(searchfile.set_params(configs.named(configurations, arguments.name))))
    return 0


def _docs(arguments: argparse.Namespace) -> int:
    """Rewrite the documentation's generated blocks (metric names, samples) from the code,
    or with --check name the stale ones and fail."""
    from mnist_pipeline import paths
    from mnist_pipeline.cli import docs

    root = paths.project_root()
    if arguments.check:
        found = docs.stale(root)
        for entry in found:
            print(f"mnist-pipeline docs: stale: {entry}", file=sys.stderr)
        if found:
            print("mnist-pipeline docs: run `mnist-pipeline docs` to regenerate", file=sys.stderr)
        return 1 if found else 0
    for path in docs.write(root):
        print(f"rewrote {path}")
    return 0


def _trials(text: str | None) -> int | None:
    """--trials N: a whole number >= 1 (checked here, so a bad one is a single line)."""
    from mnist_pipeline.errors import ParamsError

    if text is None:
        return None
    try:
        number = int(text)
    except ValueError:
        number = 0
    if number < 1:
        raise ParamsError(f"--trials: expected an integer >= 1, got {text!r}")
    return number


RUN_REFERENCE = (
    "a run id or its first characters, a run name, a DVC experiment name, `latest` or `previous`"
)


def _add_experiment_option(command: argparse.ArgumentParser) -> None:
    command.add_argument("--experiment", help="MLflow experiment (default: from params.yaml)")


def _add_scratch(commands: argparse._SubParsersAction) -> None:
    scratch = commands.add_parser(
        "scratch", help="loss and gradients of the numpy network on the toy problem"
    )
    scratch.add_argument("--seed", type=int, default=0, help="toy problem seed (0: reference)")
    scratch.set_defaults(handler=_scratch)


def _add_check_repro(commands: argparse._SubParsersAction) -> None:
    check = commands.add_parser(
        "check-repro",
        help="prove the pipeline reproduces: clean run, forced rerun, no-op, one core, "
        "committed metrics, experiments; on a temporary clone of HEAD",
    )
    check.add_argument("--repo", default=".", help="repository to clone (default: .)")
    check.add_argument(
        "--exp-param", default="train.epochs=2", help="the -S of the `dvc exp run` check"
    )
    check.add_argument(
        "--tolerance",
        type=float,
        default=0.005,
        help="test accuracy tolerance against the committed run on another platform",
    )
    check.add_argument("--fail-fast", action="store_true", help="stop at the first failure")
    check.add_argument("--keep", action="store_true", help="keep the temporary clone")
    check.set_defaults(handler=_check_repro)


def _add_diff(commands: argparse._SubParsersAction) -> None:
    diff = commands.add_parser(
        "diff",
        help="what changed between two MLflow runs: params, per-epoch and test metrics, "
        "data/weights/code identity, against the seed noise; or between two replicate groups: "
        "means, intervals, a paired test and a verdict",
    )
    diff.add_argument(
        "runs",
        nargs="*",
        metavar="RUN",
        help=f"{RUN_REFERENCE}, or a replicate group's name (default: previous latest)",
    )
    diff.add_argument("--all", action="store_true", help="list every param, not only changes")
    diff.add_argument("--format", choices=("table", "markdown", "json"), default="table")
    diff.add_argument("--plot", metavar="FILE", help="write both runs' curves to this PNG")
    _add_experiment_option(diff)
    diff.set_defaults(handler=_diff)


def _add_report(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser(
        "report",
        help="a pull request's report in Markdown: params and headline metrics changed since "
        "REV (against the seed spread), check-repro's verdict, the environment, the figures "
        "that changed",
    )
    report.add_argument(
        "--base", required=True, metavar="REV", help="the git revision to compare with"
    )
    report.add_argument(
        "--out",
        metavar="DIR",
        help="where report.md and the images it links go (default: reports/pr)",
    )
    report.add_argument(
        "--images-note",
        default="",
        metavar="TEXT",
        help="a line above the figures, e.g. where CI uploaded the images",
    )
    report.set_defaults(handler=_report)


def _add_exps(commands: argparse._SubParsersAction) -> None:
    exps = commands.add_parser(
        "exps",
        help="DVC's experiments in a terminal's width: name, test accuracy and loss, and the "
        "params that differ between the rows (from `dvc exp show --json`)",
    )
    exps.add_argument(
        "-A", "--all-commits", action="store_true", help="experiments of every commit"
    )
    exps.add_argument("--rev", metavar="COMMIT", help="experiments of this commit (default HEAD)")
    exps.add_argument("-n", "--num", type=int, help="experiments of the last N commits")
    exps.add_argument("--width", type=int, help="columns to fit (default: the terminal's)")
    exps.set_defaults(handler=_exps)


def _add_predict(commands: argparse._SubParsersAction) -> None:
    from mnist_pipeline.cli import predictions
    from mnist_pipeline.data import images

    predict = commands.add_parser(
        "predict",
        help="what the model says these images are: PNG/JPEG pictures of any size, "
        "IDX image files, npz arrays",
    )
    predict.add_argument("files", nargs="*", metavar="FILE")
    predict.add_argument(
        "--model",
        metavar="URI",
        help="an MLflow model URI: models:/<name>@champion, runs:/<run id>/model, ... "
        "(default: the workspace's model, models/ and data/prepared/scaling.json)",
    )
    predict.add_argument(
        "--polarity",
        choices=images.POLARITIES,
        default=images.AUTO,
        help="pictures: auto (a light border means dark ink on light paper: inverted to "
        "MNIST's white on black) or as given; IDX and npz arrays are taken as white on black "
        "unless set",
    )
    predict.add_argument(
        "--center",
        action="store_true",
        help="frame the digit as MNIST does (background black, contrast stretched, cropped, "
        "fit to 20 x 20, centered by its mass): for photos and drawings whose digit fills them",
    )
    predict.add_argument(
        "--card",
        action="store_true",
        help="print the model card of the registered version it would use (the --model one, "
        "or the version holding the workspace's weights) instead of predicting",
    )
    predict.add_argument("--key", help="npz: the array of images, when it holds several")
    predict.add_argument("--format", choices=predictions.FORMATS, default="table")
    predict.set_defaults(handler=_predict)


def _add_publish(commands: argparse._SubParsersAction) -> None:
    publish = commands.add_parser(
        "publish",
        help="register a model as a version of its registered model and let the "
        "gate decide on the champion: the workspace's (its MLflow run completed first; `make "
        "run` does this after `dvc repro`), or RUN's. No stage registers anything",
    )
    publish.add_argument(
        "run",
        metavar="RUN",
        nargs="?",
        help=f"{RUN_REFERENCE} (default: the run of the workspace's models/weights.npz)",
    )
    _add_experiment_option(publish)
    publish.set_defaults(handler=_publish)


def _add_promote_and_demote(commands: argparse._SubParsersAction) -> None:
    for name, handler, text in (
        ("promote", _promote, "make the model of RUN champion of its registered model, by hand"),
        ("demote", _demote, "undo: the champion RUN's model steps back for the one it replaced"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("run", metavar="RUN", help=RUN_REFERENCE)
        _add_experiment_option(command)
        command.set_defaults(handler=handler)


def _add_config(commands: argparse._SubParsersAction) -> None:
    config = commands.add_parser(
        "config",
        help="print a named configuration of configs.yaml as `dvc exp run` -S "
        "arguments (`dvc exp run $(mnist-pipeline config tuned)`)",
    )
    config.add_argument("name", metavar="NAME", nargs="?", help="a configuration's name")
    config.add_argument(
        "--markdown",
        action="store_true",
        help="print every configuration as a table (docs/better-models.md)",
    )
    config.set_defaults(handler=_config)


def _add_docs(commands: argparse._SubParsersAction) -> None:
    documentation = commands.add_parser(
        "docs",
        help="regenerate the documentation's generated blocks (metric names, sample outputs) "
        "in README.md and docs/ from the code",
    )
    documentation.add_argument(
        "--check", action="store_true", help="change nothing: fail if any block is stale"
    )
    documentation.set_defaults(handler=_docs)


def _add_tune(commands: argparse._SubParsersAction) -> None:
    tune = commands.add_parser(
        "tune",
        help="run trials of the hyperparameter search in search.yaml (an Optuna "
        "study; each trial a DVC experiment and an MLflow run under the study's run); start "
        "it on several machines to share the work",
    )
    tune.add_argument("--search", default="search.yaml", help="search file (default: search.yaml)")
    tune.add_argument(
        "--storage",
        metavar="URL",
        help="the study's database, shared by all its workers: postgresql+psycopg2://user:"
        "password@host/db (default: $MNIST_PIPELINE_STUDY_STORAGE, else sqlite optuna.db "
        "beside the MLflow store)",
    )
    tune.add_argument(
        "--push", metavar="REMOTE", help="`dvc exp push` each trial's experiment to this git remote"
    )
    tune.add_argument(
        "--best",
        action="store_true",
        help="run nothing: print the best trial of the --search file's study and how to apply it",
    )
    tune.add_argument(
        "--trials",
        metavar="N",
        help="finish N trials in all (earlier ones of the study count) instead of the search "
        "file's n_trials: `--trials 2` is a short search without editing the file",
    )
    tune.add_argument(
        "--publish",
        action="store_true",
        help="with --best: register the best trial's model through the champion gate (trials "
        "themselves never register)",
    )
    tune.set_defaults(handler=_tune)


def _add_replicate(commands: argparse._SubParsersAction) -> None:
    from mnist_pipeline.report.noise import FEWEST_SEEDS

    replicate = commands.add_parser(
        "replicate",
        help="run a configuration over several seeds (each a DVC experiment and an MLflow run "
        "under the group's run, whose metrics are each test metric's mean, sd and 95%% "
        "interval); start it on several machines to share the seeds",
    )
    replicate.add_argument(
        "config",
        nargs="?",
        help="a configuration of configs.yaml, or a DVC experiment's name (its params.yaml "
        "edits, its seed left out); default: the workspace's params.yaml",
    )
    replicate.add_argument(
        "--seeds",
        nargs="+",
        default=[f"1-{FEWEST_SEEDS}"],
        metavar="SEEDS",
        help=f"the seeds: 1-5, 1,3,8 or 1 2 3 (default: 1-{FEWEST_SEEDS}, the fewest "
        "a paired test can judge with one seed against the rest); a rerun with more extends "
        "the group",
    )
    replicate.add_argument(
        "--group",
        help="the group's name (default: CONFIG-<commit>, or workspace-<commit>): its MLflow "
        "tag replicate_group, its DVC experiments GROUP-seed<k>",
    )
    replicate.add_argument(
        "--storage",
        metavar="URL",
        help="the group's study database, shared by all its workers (as for tune)",
    )
    replicate.add_argument(
        "--push", metavar="REMOTE", help="`dvc exp push` each seed's experiment to this git remote"
    )
    replicate.set_defaults(handler=_replicate)


def _team_add_user(arguments: argparse.Namespace) -> int:
    from pathlib import Path

    from mnist_pipeline.errors import TrackingError
    from mnist_pipeline.tracking import team, tracker

    out = Path(arguments.out)
    if out.exists():
        raise TrackingError(f"{out} exists: give --out a new file")
    uri = tracker.tracking_uri()
    tracker.check_reachable(uri)  # and the admin's credentials accepted
    password = team.add_user(uri, arguments.name, arguments.role)
    team.credentials_file(out, arguments.name, password)
    print(f"user {arguments.name} ({arguments.role}) on {uri}: credentials in {out}")
    return 0


def _add_team(commands: argparse._SubParsersAction) -> None:
    from mnist_pipeline.tracking.team import ROLES

    command = commands.add_parser("team", help="the team's users on the tracking server")
    actions = command.add_subparsers(dest="action", required=True)
    add = actions.add_parser(
        "add-user",
        help="as the admin (MLFLOW_TRACKING_USERNAME/PASSWORD): a user with a role on "
        "MLFLOW_TRACKING_URI, a generated password written to --out (docs/team.md)",
    )
    add.add_argument("name", metavar="NAME")
    add.add_argument("--role", choices=ROLES, required=True, help="viewer, member or publisher")
    add.add_argument(
        "--out",
        required=True,
        metavar="FILE",
        help="MLflow's credentials file for the user (mode 600; to ~/.mlflow/credentials)",
    )
    add.set_defaults(handler=_team_add_user)


def _add_ui(commands: argparse._SubParsersAction) -> None:
    ui = commands.add_parser(
        "ui",
        help="print the URL of the experiment's runs, and serve the MLflow UI on the "
        "embedded store",
    )
    ui.add_argument("--host", default="127.0.0.1", help="address to serve on (default: loopback)")
    ui.add_argument("--port", type=int, default=5000, help="port to serve on (default: 5000)")
    _add_experiment_option(ui)
    ui.set_defaults(handler=_ui)


# One builder per sub-command, in the order `--help` lists them.
SUB_COMMANDS = (
    _add_scratch,
    _add_check_repro,
    _add_diff,
    _add_report,
    _add_exps,
    _add_predict,
    _add_publish,
    _add_promote_and_demote,
    _add_config,
    _add_docs,
    _add_tune,
    _add_replicate,
    _add_team,
    _add_ui,
)


def build_parser() -> argparse.ArgumentParser:
    """The command line: each sub-command's options, and its handler as `handler`."""
    command_line = argparse.ArgumentParser(prog="mnist-pipeline", description=__doc__)
    commands = command_line.add_subparsers(dest="command", required=True)
    for add in SUB_COMMANDS:
        add(commands)
    return command_line


def main(argv: list[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    from mnist_pipeline.errors import PipelineError
    from mnist_pipeline.stage import OUTAGES

    try:
        return arguments.handler(arguments)
    except PipelineError as error:  # anything else is a bug: its traceback shows
        print(f"mnist-pipeline {arguments.command}: {error}", file=sys.stderr)
        return 1
    except Exception as error:  # ... but an outage (a server refusing the user) is one line
        said = next(filter(None, (outage(error) for outage in OUTAGES)), None)
        if said is None:
            raise
        print(f"mnist-pipeline {arguments.command}: {said}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
