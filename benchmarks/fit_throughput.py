"""Seconds per epoch of the train stage's fit against Keras's default fit, side by side.

Same data (data/split/ from `dvc repro split`), model and seed for every variant; each runs
in its own process, because Keras picks its backend once per process:

- `default`: TensorFlow with Keras's default `fit` (one batch per call, TensorFlow's own
  thread count), as the baseline script runs it;
- `tensorflow`: the train stage's settings (`train.steps_per_execution`, `train.threads`);
- `jax`: the same settings with `train.backend: jax` (needs the 'jax' extra).

Prints a table, whether `default` and `tensorflow` give identical weights (they must:
`steps_per_execution` and the thread count only change how the work is scheduled), and
whether the `jax` runs of every round do. Variants are interleaved over two rounds.

    python benchmarks/fit_throughput.py [--epochs 4]
    python benchmarks/fit_throughput.py --variant jax   # one variant; prints a JSON line
"""

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time

VARIANTS = ("default", "tensorflow", "jax")


def measure(variant: str, epochs: int) -> dict:
    """Fit in this process; per-epoch seconds, the weights' sha256 and final val_accuracy."""
    import dataclasses

    from mnist_pipeline import atomic, paths
    from mnist_pipeline.data.datasets import dataset_classes, sha256
    from mnist_pipeline.model import training
    from mnist_pipeline.model.architecture import model_spec
    from mnist_pipeline.params import load_params

    params = load_params()
    backend = "jax" if variant == "jax" else "tensorflow"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    training.select_backend(backend, params.train.threads)
    import keras

    from mnist_pipeline.model import keras_model as mlp

    if variant == "default":  # seeded and deterministic, but TensorFlow's own thread count
        import tensorflow as tf

        keras.utils.set_random_seed(params.seed)
        tf.config.experimental.enable_op_determinism()
    else:
        training.configure_determinism(params.seed, params.train.threads)
    classes = dataset_classes(params.data.dataset, params.data.class_names)
    spec = model_spec([dataclasses.asdict(layer) for layer in params.model.values()], len(classes))
    model = mlp.build_model(spec)
    steps = 1 if variant == "default" else params.train.steps_per_execution
    mlp.compile_model(model, params.train.optimizer, params.train.learning_rate, steps)

    seconds: list[float] = []
    timer = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: seconds.append(-time.perf_counter()),
        on_epoch_end=lambda epoch, logs: seconds.__setitem__(-1, seconds[-1] + time.perf_counter()),
    )
    train = atomic.read_npz(paths.SPLIT_TRAIN)
    val = atomic.read_npz(paths.SPLIT_VAL)
    history = training.fit(model, train, val, epochs, params.train.batch_size, callbacks=[timer])
    weights = training.weights_npz(mlp.get_weights(model))
    return {
        "variant": variant,
        "steps_per_execution": steps,
        # The first epoch includes tracing/compilation; the median of the rest is the steady state.
        "seconds_per_epoch": statistics.median(seconds[1:]),
        "epoch_seconds": seconds,
        "weights_sha256": sha256(weights),
        "val_accuracy": history[-1]["val_accuracy"],
    }


def run_variant(variant: str, epochs: int) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--variant", variant, "--epochs", str(epochs)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"fit variant {variant} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare(epochs: int, rounds: int = 2) -> dict:
    """Every variant once per round, each in a fresh process (the machine's speed drifts
    over minutes, so the variants are interleaved); jax only when installed. A variant's
    seconds per epoch is its median over the rounds."""
    names = ["default", "tensorflow"]
    if importlib.util.find_spec("jax") is not None:
        names.append("jax")
    runs = [run_variant(name, epochs) for _ in range(rounds) for name in names]
    by_name = {}
    for name in names:
        mine = [run for run in runs if run["variant"] == name]
        by_name[name] = mine[0] | {
            "seconds_per_epoch": statistics.median(run["seconds_per_epoch"] for run in mine),
            "rounds": [run["seconds_per_epoch"] for run in mine],
            "repeats_bit_for_bit": len({run["weights_sha256"] for run in mine}) == 1,
        }
    return {
        "variants": by_name,
        "tensorflow_matches_default": by_name["default"]["weights_sha256"]
        == by_name["tensorflow"]["weights_sha256"],
        "jax_repeats": by_name["jax"]["repeats_bit_for_bit"] if "jax" in by_name else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--variant", choices=VARIANTS)
    arguments = parser.parse_args()
    if arguments.variant:
        print(json.dumps(measure(arguments.variant, arguments.epochs)))
        return
    comparison = compare(arguments.epochs)
    baseline = comparison["variants"]["default"]["seconds_per_epoch"]
    print(f"{'fit':<24}{'s/epoch':>10}{'speed-up':>10}  weights sha256")
    for name, result in comparison["variants"].items():
        seconds = result["seconds_per_epoch"]
        label = f"{name} (spe={result['steps_per_execution']})"
        digest = result["weights_sha256"][:12]
        print(f"{label:<24}{seconds:>10.3f}{baseline / seconds:>9.2f}x  {digest}")
    matches = comparison["tensorflow_matches_default"]
    print(f"tensorflow weights identical to default fit: {matches}")
    print(f"jax weights identical in every round: {comparison['jax_repeats']}")
    print(json.dumps(comparison))


if __name__ == "__main__":
    main()
