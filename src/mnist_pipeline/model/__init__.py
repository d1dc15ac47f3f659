"""The model: its architecture, the Keras model and its training, numpy inference."""
