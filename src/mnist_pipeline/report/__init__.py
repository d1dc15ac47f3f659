"""What a run produces besides weights: test metrics, per-epoch history, figures."""
