"""Try a configuration on the validation set only: how the tuned configurations were chosen.

Trains like the train stage (same library calls, same determinism) on the pipeline's split
(`data/split/`, from `dvc repro`; another project's with --split), and prints the final
and best validation accuracy and the fit time, as one JSON line. The test set is never
loaded: it is looked at once per configuration, by the pipeline's evaluate stage.

    python benchmarks/explore.py --units 256 256 --dropout 0 0 --augment-shift 1 --epochs 20

Flags mirror params.yaml (`train.*`, `model.hidden_N.*`, `seed`); hidden layers get the
same activation.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from mnist_pipeline import training
from mnist_pipeline.architecture import LR_SCHEDULES, model_spec
from mnist_pipeline.stage import read_npz


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, nargs="+", default=[256, 256])
    parser.add_argument("--dropout", type=float, nargs="+", help="per layer (default 0)")
    parser.add_argument("--activation", default="relu")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--learning-rate", type=float, default=0.001)
    parser.add_argument("--lr-schedule", choices=LR_SCHEDULES, default="cosine")
    parser.add_argument("--augment-shift", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--backend", default="jax")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps-per-execution", type=int, default=50)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--split", type=Path, default=Path("data/split"))
    arguments = parser.parse_args()
    dropout = arguments.dropout or [0.0] * len(arguments.units)
    if len(dropout) != len(arguments.units):
        sys.exit("--dropout: one value per hidden layer")

    training.select_backend(arguments.backend, arguments.threads)
    training.configure_determinism(arguments.seed, arguments.threads)
    from mnist_pipeline import model as mlp

    train = read_npz(str(arguments.split / "train.npz"))
    val = read_npz(str(arguments.split / "val.npz"))
    spec = model_spec([{"units": units, "activation": arguments.activation, "dropout": rate}
                       for units, rate in zip(arguments.units, dropout, strict=True)])  # fmt: skip
    model = mlp.build_model(spec)
    mlp.compile_model(
        model, "adam", arguments.learning_rate, arguments.steps_per_execution,
        lr_schedule=arguments.lr_schedule,
        total_steps=training.total_steps(len(train["y"]), arguments.batch_size, arguments.epochs),
    )  # fmt: skip
    start = time.perf_counter()
    history = training.fit(model, train, val, arguments.epochs, arguments.batch_size,
                           max_shift=arguments.augment_shift, seed=arguments.seed)  # fmt: skip
    seconds = time.perf_counter() - start
    result = {key: value for key, value in vars(arguments).items() if key != "split"}
    result |= {
        "dropout": dropout,
        "val_accuracy": round(history[-1]["val_accuracy"], 4),
        "best_val_accuracy": round(max(epoch["val_accuracy"] for epoch in history), 4),
        "fit_seconds": round(seconds, 1),
        "load_1min": round(os.getloadavg()[0], 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
