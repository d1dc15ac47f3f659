"""mnist-pipeline: a reproducible DVC + MLflow + Keras pipeline for MNIST."""
