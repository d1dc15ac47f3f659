"""Try a configuration on the validation set only: how the tuned configurations were chosen.

Trains like the train stage (same library calls, same determinism) on the pipeline's split
(`data/split/`, from `dvc repro`; another project's with --split), and prints the final
and best validation accuracy and the fit time, as one JSON line. The test set is never
loaded: it is looked at once per configuration, by the pipeline's evaluate stage.

    python benchmarks/explore.py --config tuned --units 512 512 --dropout 0.2 0.2

It starts from a named configuration of configs.yaml (--config, default `tuned`) and the
flags, which mirror params.yaml (`train.*`, `model.hidden_N.*`, `seed`), change it: --units
gives new hidden layers (dropout 0 unless --dropout, the first layer's activation unless
--activation, which sets every layer's). The split is the pipeline's as it is: its dataset is
the one `dvc repro` last ran with, whatever the configuration's data.dataset.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import yaml

from mnist_pipeline import configs
from mnist_pipeline.errors import ParamsError
from mnist_pipeline.model import training
from mnist_pipeline.model.architecture import LR_SCHEDULES, OPTIMIZERS, model_spec
from mnist_pipeline.params import Params, parse_params
from mnist_pipeline.stage import read_npz

ROOT = Path(__file__).resolve().parents[1]


def settings(argv: list[str] | None = None) -> tuple[argparse.Namespace, list[dict]]:
    """The flags, their defaults the configuration's, and the hidden layers they give."""
    first = argparse.ArgumentParser(add_help=False)
    first.add_argument("--config", default="tuned", help="configs.yaml configuration to start from")
    params = configuration_params(first.parse_known_args(argv)[0].config)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], parents=[first])
    parser.add_argument("--units", type=int, nargs="+", help="new hidden layers' units")
    parser.add_argument("--dropout", type=float, nargs="+", help="per layer")
    parser.add_argument("--activation", help="every layer's")
    parser.add_argument("--epochs", type=int, default=params.train.epochs)
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default=params.train.optimizer)
    parser.add_argument("--learning-rate", type=float, default=params.train.learning_rate)
    parser.add_argument("--lr-schedule", choices=LR_SCHEDULES, default=params.train.lr_schedule)
    parser.add_argument("--augment-shift", type=int, default=params.train.augment_shift)
    parser.add_argument("--batch-size", type=int, default=params.train.batch_size)
    parser.add_argument("--backend", default=params.train.backend)
    parser.add_argument("--threads", type=int, default=params.train.threads)
    parser.add_argument("--steps-per-execution", type=int, default=params.train.steps_per_execution)
    parser.add_argument("--seed", type=int, default=params.seed)
    parser.add_argument("--split", type=Path, default=Path("data/split"))
    arguments = parser.parse_args(argv)
    return arguments, hidden_layers(arguments, list(params.model.values()))


def configuration_params(name: str) -> Params:
    """params.yaml with the named configuration's values set, validated."""
    try:
        configurations = configs.load_configs(ROOT / configs.FILENAME, ROOT / "params.yaml")
        values = configs.named(configurations, name)
    except ParamsError as error:
        sys.exit(f"explore.py: {error}")
    raw = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    return parse_params(configs.apply(raw, values))


def hidden_layers(arguments: argparse.Namespace, configured: list) -> list[dict]:
    """The configuration's hidden layers, or --units' new ones, with --dropout and --activation
    applied."""
    if arguments.units is None:
        layers = [dataclasses.asdict(layer) for layer in configured]
    else:
        layers = [
            {"units": units, "activation": configured[0].activation, "dropout": 0.0}
            for units in arguments.units
        ]
    if arguments.dropout is not None:
        if len(arguments.dropout) != len(layers):
            sys.exit("--dropout: one value per hidden layer")
        for layer, rate in zip(layers, arguments.dropout, strict=True):
            layer["dropout"] = rate
    for layer in layers:
        layer["activation"] = arguments.activation or layer["activation"]
    return layers


def main() -> None:
    arguments, layers = settings()
    training.select_backend(arguments.backend, arguments.threads)
    training.configure_determinism(arguments.seed, arguments.threads)
    from mnist_pipeline.model import keras_model as mlp

    train = read_npz(str(arguments.split / "train.npz"))
    val = read_npz(str(arguments.split / "val.npz"))
    spec = model_spec(layers, int(train["y"].max()) + 1)  # classes: those the labels use
    model = mlp.build_model(spec)
    mlp.compile_model(
        model,
        arguments.optimizer,
        arguments.learning_rate,
        arguments.steps_per_execution,
        lr_schedule=arguments.lr_schedule,
        total_steps=training.total_steps(len(train["y"]), arguments.batch_size, arguments.epochs),
    )
    start = time.perf_counter()
    history = training.fit(
        model,
        train,
        val,
        arguments.epochs,
        arguments.batch_size,
        max_shift=arguments.augment_shift,
        seed=arguments.seed,
    )
    seconds = time.perf_counter() - start
    result = {key: value for key, value in vars(arguments).items() if key != "split"}
    result |= {
        "units": [layer["units"] for layer in layers],
        "dropout": [layer["dropout"] for layer in layers],
        "activation": [layer["activation"] for layer in layers],
        "val_accuracy": round(history[-1]["val_accuracy"], 4),
        "best_val_accuracy": round(max(epoch["val_accuracy"] for epoch in history), 4),
        "fit_seconds": round(seconds, 1),
        "load_1min": round(os.getloadavg()[0], 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
