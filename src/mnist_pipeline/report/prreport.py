"""The pull-request report: one Markdown page a CI job posts on a pull request.

What changed between a base revision and the workspace, each part from plain values (the
gathering is cli/prreport.py's): the params, the headline metrics judged against the seed
spread of the configuration (noise.against_spread), whether the pipeline reproduces byte for
byte (what `check-repro` recorded) and in which environment, and the figures that changed,
base beside workspace. Plain GitHub Markdown, no HTML, so it renders in a PR comment and a job
summary alike; images are links to PNG files beside the page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mnist_pipeline.report.noise import A_BETTER, B_BETTER, SPREAD_MULTIPLE, against_spread

NO_SPREAD = "no recorded seed spread for this configuration: the change is a single-seed difference"
NOT_CHECKED = "not checked"
REPRO_CHECK = "`dvc repro --force` is byte-identical"  # check-repro's name for the rerun check

# A figure's status: what the report says about it.
CHANGED, UNCHANGED, NEW, REMOVED, BASE_UNAVAILABLE = (
    "changed",
    "unchanged",
    "new (not in the base)",
    "removed (not in the workspace)",
    "base unavailable",
)


@dataclass
class Figure:
    """One figure of the plot stage: its path, its status, and (when it changed) the names of
    the two PNG files written beside the report; `note` says why the base is missing."""

    path: str
    status: str
    base_image: str | None = None
    workspace_image: str | None = None
    note: str = ""


def cell(value: Any) -> str:
    """A table cell: pipes escaped (they would split the cell), newlines flattened."""
    text = "null" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(cell(name) for name in header) + " |"]
    lines.append("|" + "|".join(" --- " for _ in header) + "|")
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return lines


def _param(value: Any) -> str:
    """A param's value; "-" where the revision lacks it (DVC gives None)."""
    return "-" if value is None else f"`{value}`"


def params_section(params_diff: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> list[str]:
    """`dvc params diff`'s {file: {param: {old, new}}} as one table; a sentence if none."""
    rows = [
        [
            f"`{name}`" if file == "params.yaml" else f"`{file}: {name}`",
            _param(change.get("old")),
            _param(change.get("new")),
        ]
        for file, changes in sorted(params_diff.items())
        for name, change in sorted(changes.items())
    ]
    lines = ["## Params that changed", ""]
    if not rows:
        return [*lines, "No param changed.", ""]
    return [*lines, *table(["param", "base", "workspace"], rows), ""]


def higher_is_better(metric: str) -> bool:
    return not metric.endswith("loss")


def metric_verdict(delta: float | None, spread: float | None, higher: bool) -> str:
    """The verdict on one metric's change, base (A) to workspace (B)."""
    if delta is None:
        return "not comparable: one side lacks this metric"
    if delta == 0:
        return "no change"
    if spread is None:
        return "single-seed difference"
    verdict = against_spread(delta, spread, SPREAD_MULTIPLE, higher)["verdict"]
    return verdict.replace(B_BETTER, "workspace better").replace(A_BETTER, "base better")


def _number(value: Any, signed: bool = False) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "-" if value is None else str(value)
    if value != 0 and abs(value) < 5e-5:  # a change in the last digits: not shown as 0
        return f"{value:+.1e}" if signed else f"{value:.1e}"
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def metrics_section(
    metrics_diff: Mapping[str, Mapping[str, Any]],
    spread: Mapping[str, float] | None,
    spread_source: str,
) -> list[str]:
    """`dvc metrics diff`'s {metric: {old, new}} of the headline file, each change with its
    verdict; `spread` is {metric: sd over seeds} (`test.accuracy` keys), or None with
    `spread_source` saying why there is none."""
    rows = []
    for name, change in sorted(metrics_diff.items()):
        old, new = change.get("old"), change.get("new")
        numeric = all(isinstance(v, int | float) for v in (old, new))
        delta = new - old if numeric else None
        sd = None if spread is None else spread.get(name)
        verdict = metric_verdict(delta, sd, higher_is_better(name))
        rows.append(
            [f"`{name}`", _number(old), _number(new), _number(delta, True), _number(sd), verdict]
        )
    lines = ["## Headline metrics", ""]
    if not rows:
        return [*lines, "No metrics in the base or the workspace.", ""]
    lines += table(["metric", "base", "workspace", "change", "seed sd", "verdict"], rows)
    if spread is None:
        lines += ["", f"**{NO_SPREAD}**" + (f" ({spread_source})." if spread_source else ".")]
    else:
        lines += [
            "",
            f"Seed spread from {spread_source}: a change beyond {SPREAD_MULTIPLE:g} sd is more "
            "than the seed alone makes.",
        ]
    return [*lines, ""]


def rerun_verdict(result: Mapping[str, Any] | None) -> str:
    """yes / no / not checked: the rerun check of check-repro's recorded result."""
    if result is None:
        return NOT_CHECKED
    check = next((c for c in result.get("checks", []) if c.get("name") == REPRO_CHECK), None)
    if check is None:
        return f"{NOT_CHECKED} (check-repro stopped before the rerun)"
    return "yes" if check.get("passed") else "no"


def repro_section(
    result: Mapping[str, Any] | None, head: str, fingerprint: Mapping[str, str]
) -> list[str]:
    """The byte-identical verdict and each check of `check-repro`'s recorded `result` (None:
    never run here), which commit it checked against `head`, and the environment."""
    lines = ["## Reproducibility", ""]
    lines.append(f"Byte-identical outputs on rerun: **{rerun_verdict(result)}**")
    if result is None:
        lines += ["", "No `check-repro` result here: run `make check-repro` to check it."]
    else:
        checks = result.get("checks", [])
        passed = sum(1 for check in checks if check.get("passed"))
        commit = str(result.get("commit", ""))
        which = "this commit" if commit and commit == head else f"commit `{commit[:8]}`, not HEAD"
        lines += [
            "",
            f"`check-repro` on {which} ({result.get('finished', 'unknown time')}): "
            f"{passed} of {len(checks)} checks passed.",
            "",
            *table(
                ["check", "result", "detail"],
                [
                    [c.get("name"), "pass" if c.get("passed") else "FAIL", c.get("detail", "")]
                    for c in checks
                ],
            ),
        ]
        recorded = result.get("fingerprint") or {}
        differ = [key for key in fingerprint if recorded and recorded.get(key) != fingerprint[key]]
        if differ:
            lines += ["", f"It ran in another environment: {', '.join(differ)} differ."]
    lines += ["", "### Environment", "", *table(["", "version"], list(fingerprint.items())), ""]
    return lines


def figures_section(figures: Sequence[Figure], base: str, images_note: str) -> list[str]:
    """Each changed figure's base and workspace images side by side (one table row, so a
    difference is seen at a glance), then the unchanged ones and those without a base."""
    lines = ["## Figures", ""]
    if images_note:
        lines += [images_note, ""]
    changed = [figure for figure in figures if figure.status == CHANGED]
    for figure in changed:
        images = [
            f"![{figure.path} at {base}]({figure.base_image})",
            f"![{figure.path} in the workspace]({figure.workspace_image})",
        ]
        lines += [f"### `{figure.path}` changed", ""]
        lines += [*table([f"base `{base}`", "workspace"], [images]), ""]
    if not changed:
        lines += ["No figure changed.", ""]
    for status in (UNCHANGED, NEW, REMOVED, BASE_UNAVAILABLE):
        listed = [figure for figure in figures if figure.status == status]
        if listed:
            items = ", ".join(f"`{f.path}`" + (f" ({f.note})" if f.note else "") for f in listed)
            lines += [f"{status.capitalize()}: {items}.", ""]
    return lines


@dataclass
class Report:
    """Everything the report says, as plain values: `title` says what is compared with what;
    `spread` is {metric: seed sd} or None, `spread_source` where it came from or why there is
    none; `repro` is check-repro's recorded result or None; `head` the commit checked out."""

    base: str
    title: str
    params_diff: Mapping[str, Mapping[str, Mapping[str, Any]]]
    metrics_diff: Mapping[str, Mapping[str, Any]]
    spread: Mapping[str, float] | None
    spread_source: str
    repro: Mapping[str, Any] | None
    head: str
    fingerprint: Mapping[str, str]
    figures: Sequence[Figure]
    images_note: str = ""


def render(report: Report) -> str:
    """The whole page, in GitHub Markdown."""
    lines = [f"# {report.title}", ""]
    lines += params_section(report.params_diff)
    lines += metrics_section(report.metrics_diff, report.spread, report.spread_source)
    lines += repro_section(report.repro, report.head, report.fingerprint)
    lines += figures_section(report.figures, report.base, report.images_note)
    return "\n".join(lines).rstrip("\n") + "\n"
