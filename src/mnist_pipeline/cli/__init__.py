"""The `mnist-pipeline` command (commands.py) and the tools only it uses."""

from mnist_pipeline.cli.commands import main

__all__ = ["main"]
