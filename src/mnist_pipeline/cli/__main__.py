"""`python -m mnist_pipeline.cli`: the `mnist-pipeline` command."""

import sys

from mnist_pipeline.cli.commands import main

sys.exit(main())
