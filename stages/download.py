"""DVC stage `download`: fetch and verify the dataset into data/raw/<dataset>.npz.

A preset is downloaded: set MNIST_PIPELINE_MIRROR to a local folder or URL to work offline
(see README). Your own dataset is read from its folder, params.yaml's data.source.
"""

import logging
import os

from mnist_pipeline import atomic, paths
from mnist_pipeline.data.datasets import content_digest, describe
from mnist_pipeline.data.download import MIRROR_VARIABLE, fetch, sources_for
from mnist_pipeline.params import load_params
from mnist_pipeline.stage import run

log = logging.getLogger("download")


def main() -> None:
    params = load_params()
    spec = describe(params.data)
    sources = sources_for(spec, os.environ.get(MIRROR_VARIABLE))
    arrays, source = fetch(spec, sources, verify=params.data.verify)
    log.info(
        "%s from %s (%s)", spec.name, source, "verified" if params.data.verify else "unverified"
    )

    atomic.write_npz(paths.raw_data(spec.name), **arrays)
    # The source is logged, not recorded: an absolute path would break reproducibility.
    atomic.write_json(
        paths.raw_record(spec.name),
        {
            "dataset": spec.name,
            "content_sha256": content_digest(arrays),
            "verified": params.data.verify,
            "train_size": len(arrays["y_train"]),
            "test_size": len(arrays["y_test"]),
        },
    )


if __name__ == "__main__":
    run(main)
