"""The `mnist-pipeline` command: tools around the pipeline that are not DVC stages."""

from __future__ import annotations

import argparse
import json
import sys


def _scratch(arguments: argparse.Namespace) -> int:
    from mnist_pipeline.scratch import gradient_report

    print(json.dumps(gradient_report(arguments.seed), indent=2, sort_keys=True))
    return 0


def _check_repro(arguments: argparse.Namespace) -> int:
    from pathlib import Path

    from mnist_pipeline.reprocheck import check_repro

    return check_repro(
        Path(arguments.repo).resolve(), arguments.exp_param, arguments.tolerance,
        fail_fast=arguments.fail_fast, keep=arguments.keep,
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mnist-pipeline", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    scratch = commands.add_parser(
        "scratch", help="loss and gradients of the numpy network on the toy problem"
    )
    scratch.add_argument("--seed", type=int, default=0, help="toy problem seed (0: reference)")
    scratch.set_defaults(handler=_scratch)

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
        "--tolerance", type=float, default=0.005,
        help="test accuracy tolerance against the committed run on another platform",
    )  # fmt: skip
    check.add_argument("--fail-fast", action="store_true", help="stop at the first failure")
    check.add_argument("--keep", action="store_true", help="keep the temporary clone")
    check.set_defaults(handler=_check_repro)

    arguments = parser.parse_args(argv)
    return arguments.handler(arguments)


if __name__ == "__main__":
    sys.exit(main())
