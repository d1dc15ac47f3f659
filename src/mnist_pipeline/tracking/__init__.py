"""Everything MLflow: runs and what they log, the registry, the served model, run diffs.

The only package that imports mlflow (an import-linter contract in pyproject.toml).
"""
