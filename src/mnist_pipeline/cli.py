"""The `mnist-pipeline` command: tools around the pipeline that are not DVC stages."""

from __future__ import annotations

import argparse
import json
import sys


def _scratch(arguments: argparse.Namespace) -> int:
    from mnist_pipeline.scratch import gradient_report

    print(json.dumps(gradient_report(arguments.seed), indent=2, sort_keys=True))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mnist-pipeline", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    scratch = commands.add_parser(
        "scratch", help="loss and gradients of the numpy network on the toy problem"
    )
    scratch.add_argument("--seed", type=int, default=0, help="toy problem seed (0: reference)")
    scratch.set_defaults(handler=_scratch)

    arguments = parser.parse_args(argv)
    return arguments.handler(arguments)


if __name__ == "__main__":
    sys.exit(main())
