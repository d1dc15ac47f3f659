"""Put this folder first on PYTHONPATH to run as in a TensorFlow-only environment.

TensorFlow imports jax for TFLite whenever it is installed (0.6 s, 150 MB), and this
project's environment has it for `train.backend: jax`. The baseline script must not pay for
that: `make bench` runs it with this folder on PYTHONPATH, so `import jax` fails as if jax
were not installed (TensorFlow catches the ImportError).
"""

raise ImportError("jax hidden by benchmarks/tensorflow_only (a TensorFlow-only environment)")
