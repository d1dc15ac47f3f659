"""A registered version's model card: Markdown under a YAML header in Hugging Face's
`model-index` format (huggingface/hub-docs modelcard.md), from plain values only.

The header is `yaml.safe_dump` of a dict, so a value never breaks the YAML. Where the
model-index schema has no field for something, the closest documented one carries it: the
dataset's content sha256 is the dataset's `revision` (what identifies the exact data), and a
metric's seed spread (from a replicate group of the same configuration) goes in that metric's
`args`, so `value` stays this version's own number. tracking/cards.py gathers the values
from MLflow and logs the card.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

SPLIT = "test"  # the split every reported metric is measured on
TASK = "image-classification"
# Test metric (MLflow name) -> (model-index metric type, pretty name, compute args).
METRICS = {
    "test_accuracy": ("accuracy", "Test accuracy", {}),
    "test_loss": ("loss", "Test loss (cross-entropy)", {}),
    "test_macro_f1": ("f1", "Test macro F1", {"average": "macro"}),
}
SPREAD_KEYS = ("mean", "std", "ci95_low", "ci95_high")
# Datasets whose content the card can describe; any other gets the generic wording.
KNOWN_DATA = {
    "mnist": ("MNIST", "handwritten digits 0-9"),
    "fashion_mnist": ("Fashion-MNIST", "Zalando article photos in 10 clothing classes"),
}


@dataclass(frozen=True)
class Spread:
    """A configuration's seed spread: per test metric its mean, sd and 95% t-interval."""

    group: str  # the replicate group it comes from
    seeds: int
    metrics: dict[str, dict[str, float]]  # test metric -> {mean, std, ci95_low, ci95_high}


@dataclass(frozen=True)
class CardFacts:
    """Everything the card says, as plain values (tracking/cards.py reads them off MLflow)."""

    model_name: str
    version: str
    run_id: str
    dataset: str
    dataset_sha256: str
    weights_sha256: str
    params: dict[str, str]  # the run's params, flattened (`train.learning_rate`)
    metrics: dict[str, float]  # the run's test metrics (`test_accuracy`, ...)
    commit: str | None = None
    dirty: bool | None = None
    changed: dict[str, str] | None = None  # params that differ from the commit's (None: unknown)
    lock_md5: str | None = None  # md5 of the dvc.lock that recorded these weights, if known
    experiment: str | None = None  # the DVC experiment that trained it, if any
    spread: Spread | None = None
    spread_note: str = "no replicate group of this configuration was found"


def header(facts: CardFacts) -> dict:
    """The YAML header as a dict: HF's top-level keys and one model-index result."""
    pretty, _ = KNOWN_DATA.get(facts.dataset, (facts.dataset, ""))
    metrics = []
    for name, (kind, label, args) in METRICS.items():
        if name not in facts.metrics:
            continue
        entry = {"type": kind, "name": label, "value": round(float(facts.metrics[name]), 6)}
        spread = facts.spread.metrics.get(name) if facts.spread else None
        seed_args = _seed_args(facts.spread, spread) if spread else {}
        if args or seed_args:
            entry["args"] = {**args, **seed_args}
        metrics.append(entry)
    result = {
        "task": {"type": TASK, "name": "Image Classification"},
        "dataset": {
            "type": facts.dataset,
            "name": pretty,
            "split": SPLIT,
            "revision": facts.dataset_sha256,
        },
        "metrics": metrics,
    }
    return {
        "datasets": [facts.dataset],
        "metrics": [METRICS[name][0] for name in METRICS if name in facts.metrics],
        "pipeline_tag": TASK,
        "tags": ["image-classification", "mlflow", "mnist-pipeline"],
        "model-index": [
            {"name": f"{facts.model_name} version {facts.version}", "results": [result]}
        ],
    }


def _seed_args(spread: Spread, values: dict[str, float]) -> dict:
    found = {f"seed_{key}": round(float(values[key]), 6) for key in SPREAD_KEYS if key in values}
    return {**found, "seeds": spread.seeds, "replicate_group": spread.group}


def render(facts: CardFacts) -> str:
    """The whole card: `---` YAML `---`, then the Markdown sections."""
    yaml_text = yaml.safe_dump(header(facts), sort_keys=True, allow_unicode=True)
    sections = [
        summary(facts),
        _data_section(facts),
        _metrics_section(facts),
        _configuration_section(facts),
        _reproduce_section(facts),
        _use_section(facts),
    ]
    return f"---\n{yaml_text}---\n\n" + "\n\n".join(sections) + "\n"


def summary(facts: CardFacts) -> str:
    """The card's title and first lines: also the version's description in the registry."""
    accuracy = facts.metrics.get("test_accuracy")
    score = f"test accuracy {accuracy:.4f}" if accuracy is not None else "no test accuracy"
    if facts.spread and "std" in facts.spread.metrics.get("test_accuracy", {}):
        sd = facts.spread.metrics["test_accuracy"]["std"]
        score += f" (seed sd {sd:.4f} over {facts.spread.seeds} seeds)"
    pretty, _ = KNOWN_DATA.get(facts.dataset, (facts.dataset, ""))
    return (
        f"# {facts.model_name} version {facts.version}\n\n"
        f"An MLP image classifier trained by mnist-pipeline on {pretty}: {score} on the "
        f"{SPLIT} split. Weights sha256 `{facts.weights_sha256}`, MLflow run `{facts.run_id}`."
    )


def parse(text: str) -> tuple[dict, str]:
    """A card's header (as a dict) and its Markdown body; ValueError if it has no header."""
    if not text.startswith("---\n") or "\n---\n" not in text[3:]:
        raise ValueError("not a model card: no YAML header between --- lines")
    head, body = text[4:].split("\n---\n", 1)
    return yaml.safe_load(head), body


def _data_section(facts: CardFacts) -> str:
    pretty, content = KNOWN_DATA.get(facts.dataset, (facts.dataset, ""))
    what = f" ({content})" if content else ""
    return (
        "## Data\n\n"
        f"`{facts.dataset}`: {pretty}{what}, 28 x 28 grayscale images. Content sha256 "
        f"`{facts.dataset_sha256}` (the digest of the arrays, whatever file they came in). "
        f"Trained on the training split less a validation split; every metric below is on "
        f"the {SPLIT} split, which no training or model choice looked at."
    )


def _metrics_section(facts: CardFacts) -> str:
    rows = ["| metric | this version | seed mean ± sd | 95% interval of the mean |"]
    rows.append("|---|---|---|---|")
    for name, (_, label, _) in METRICS.items():
        value = facts.metrics.get(name)
        spread = facts.spread.metrics.get(name, {}) if facts.spread else {}
        mean_sd = f"{spread['mean']:.4f} ± {spread['std']:.4f}" if "std" in spread else "-"
        interval = (
            f"{spread['ci95_low']:.4f} to {spread['ci95_high']:.4f}"
            if "ci95_low" in spread
            else "-"
        )
        shown = f"{value:.4f}" if value is not None else "not recorded"
        rows.append(f"| {label} | {shown} | {mean_sd} | {interval} |")
    if facts.spread:
        source = (
            f"Seed spread: replicate group `{facts.spread.group}` of the same configuration "
            f"({facts.spread.seeds} seeds; `mnist-pipeline diff` compares groups)."
        )
    else:
        source = (
            f"No seed spread: {facts.spread_note}, so how much of this score is the seed is "
            "unknown (on this pipeline seeds alone move test accuracy by up to ~0.005; "
            "`mnist-pipeline replicate` measures it)."
        )
    return "## Test metrics\n\n" + "\n".join(rows) + "\n\n" + source


def _configuration_section(facts: CardFacts) -> str:
    lines = [f"- `{key}`: `{value}`" for key, value in sorted(facts.params.items())]
    listed = "\n".join(lines) or "(the run logged no params)"
    return "## Configuration\n\nThe run's params (params.yaml, flattened):\n\n" + listed


def _reproduce_section(facts: CardFacts) -> str:
    """Commit, dvc.lock, weights hash, and the commands that train these weights again."""
    commit = facts.commit or "unknown (trained outside git)"
    dirty = " (with uncommitted changes: they are not in the commit)" if facts.dirty else ""
    lock = (
        f"`dvc.lock` md5 `{facts.lock_md5}` (the lock that recorded these weights)"
        if facts.lock_md5
        else "`dvc.lock`: not recorded for this version (the commit's lock, with the params "
        "above, is the recipe)"
    )
    if facts.changed is None:
        settings = " -S <each param above that differs from the commit's params.yaml>"
    else:
        settings = "".join(f" -S '{key}={value}'" for key, value in sorted(facts.changed.items()))
    run = f"dvc exp run{settings}" if settings else "dvc repro"
    return (
        "## Reproduce\n\n"
        f"- git commit `{commit}`{dirty}\n"
        f"- {lock}\n"
        f"- weights sha256 `{facts.weights_sha256}` (models/weights.npz)\n"
        + (f"- DVC experiment `{facts.experiment}`\n" if facts.experiment else "")
        + "\n```bash\n"
        + (f"git checkout {facts.commit}\n" if facts.commit else "")
        + f"{run}\n"
        "sha256sum models/weights.npz   # the weights sha256 above, on the same platform\n"
        "```"
    )


def _use_section(facts: CardFacts) -> str:
    pretty, _ = KNOWN_DATA.get(facts.dataset, (facts.dataset, ""))
    return (
        "## Intended use and limits\n\n"
        f"For images like {pretty}'s: 28 x 28 grayscale, one centred object, white on black, "
        "raw pixels 0-255 (the model applies its own scaling). `mnist-pipeline predict` "
        "converts pictures; `--center` frames a digit that fills its picture as MNIST framed "
        "its digits (size-normalised into 20 x 20, centred by mass), which photos and drawings "
        "need. Not for other scripts, letters, several objects in one image, other handwriting "
        "conventions or image types it never saw: it always answers one of its classes, with "
        "a probability that is not calibrated for such inputs. A research and teaching model "
        "(a small MLP), not for decisions about people. Usage: docs/use-the-model.md."
    )
