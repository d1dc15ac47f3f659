"""What digit is this image? The trained MLP on raw images, in numpy (no TensorFlow).

Raw means what people have: pixels 0..255 as uint8, white on black as in MNIST, N x 28 x 28
(or flattened, N x 784). The classifier applies the training run's own scaling (prepare's
`scaling.json`) with the very functions prepare used, then numpy inference, so it gives
exactly evaluate's predictions. It answers, per image, the label (a class name), its
probability, and the probability of every class, one column per class name.

The logged MLflow model (serving.py) wraps it; `mnist-pipeline predict` uses it directly on
the workspace's model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mnist_pipeline.data.preprocessing import apply_scaling, as_images, flatten
from mnist_pipeline.model.inference import predict_proba
from mnist_pipeline.stage import read_json, read_npz

LABEL, PROBABILITY = "label", "probability"  # then one probability column per class name


@dataclass(frozen=True)
class RawImageClassifier:
    spec: dict[str, Any]  # models/model.json
    weights: dict[str, np.ndarray]  # models/weights.npz
    scaling: dict[str, float]  # data/prepared/scaling.json
    class_names: tuple[str, ...]

    @classmethod
    def from_files(
        cls, spec_path: str, weights_path: str, scaling_path: str, class_names: Sequence[str]
    ) -> RawImageClassifier:
        return cls(
            read_json(spec_path),
            read_npz(weights_path),
            read_json(scaling_path),
            tuple(class_names),
        )

    def probabilities(self, images: Any) -> np.ndarray:
        """N x num_classes float32, as evaluate computes them from prepare's output."""
        scaled = apply_scaling(flatten(as_images(images)), self.scaling)
        return predict_proba(self.spec, self.weights, scaled)

    def predict(self, images: Any):
        return prediction_table(self.probabilities(images), self.class_names)


def prediction_table(probabilities: np.ndarray, class_names: Sequence[str]):
    """A pandas DataFrame: label, probability, then each class's probability (float32)."""
    import pandas as pd

    best = probabilities.argmax(axis=1)
    table = pd.DataFrame(
        {
            LABEL: np.asarray(class_names, dtype=object)[best],
            PROBABILITY: probabilities[np.arange(len(best)), best],
        }
    )
    per_class = pd.DataFrame(probabilities, columns=list(class_names))
    return pd.concat([table, per_class], axis=1)
