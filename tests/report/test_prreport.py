"""The pull-request report's Markdown, from plain values: each part says what it must, and
the page renders as GitHub would (tables, images, no raw HTML)."""

import re

import markdown_it  # noqa: E402  (dev extra: GitHub-like rendering of the report)
import pytest

from mnist_pipeline.report import prreport
from mnist_pipeline.report.prreport import Figure, Report

METRICS = {
    "test.accuracy": {"old": 0.9694, "new": 0.9750},
    "test.loss": {"old": 0.1108, "new": 0.1000},
    "test.macro_f1": {"old": 0.9692, "new": 0.9692},
}
PARAMS = {
    "params.yaml": {"train.epochs": {"old": 10, "new": 12}, "model.a|b": {"old": 1, "new": 2}}
}
CHECKS = [
    {"name": "clean `dvc repro`", "passed": True, "detail": "ran everything", "seconds": 60},
    {"name": prreport.REPRO_CHECK, "passed": True, "detail": "all identical", "seconds": 50},
]
FINGERPRINT = {"python": "3.11.7", "numpy": "2.4.6", "uv.lock sha256": "ab" * 32}


def report(**changes) -> Report:
    values = dict(
        base="HEAD~1",
        title="Pipeline report",
        params_diff=PARAMS,
        metrics_diff=METRICS,
        spread={"test.accuracy": 0.0018, "test.loss": 0.01, "test.macro_f1": 0.002},
        spread_source="replicate group reference (5 seeds)",
        repro={"commit": "c" * 40, "finished": "today", "checks": CHECKS},
        head="c" * 40,
        fingerprint=FINGERPRINT,
        figures=[
            Figure(
                "reports/figures/loss.png", prreport.CHANGED, "base-loss.png", "workspace-loss.png"
            ),
            Figure("reports/figures/samples.png", prreport.UNCHANGED),
            Figure(
                "reports/figures/confusion_matrix.png",
                prreport.BASE_UNAVAILABLE,
                note="not in the DVC cache",
            ),
        ],
    )
    return Report(**(values | changes))


def test_changed_params_are_listed_with_both_values_and_pipes_escaped():
    text = "\n".join(prreport.params_section(PARAMS))
    assert "| `train.epochs` | `10` | `12` |" in text
    assert "`model.a\\|b`" in text
    added = "\n".join(prreport.params_section({"params.yaml": {"x": {"old": None, "new": []}}}))
    assert "| `x` | - | `[]` |" in added
    assert prreport.params_section({}) == ["## Params that changed", "", "No param changed.", ""]


def test_each_metric_change_is_judged_against_the_seed_spread():
    text = "\n".join(
        prreport.metrics_section(METRICS, {"test.accuracy": 0.0018, "test.loss": 0.01}, "group g")
    )
    # +0.0056 is 3.1 sd: beyond; the loss fell by 1 sd: within; macro F1 did not move
    assert (
        "| `test.accuracy` | 0.9694 | 0.9750 | +0.0056 | 0.0018 | workspace better: beyond" in text
    )
    assert (
        "| `test.loss` | 0.1108 | 0.1000 | -0.0108 | 0.0100 | within the seed spread (1.1 sd"
        in text
    )
    assert "| `test.macro_f1` | 0.9692 | 0.9692 | +0.0000 | - | no change |" in text
    assert "Seed spread from group g" in text
    tiny = "\n".join(
        prreport.metrics_section({"test.loss": {"old": 0.11, "new": 0.11 - 1e-9}}, None, "")
    )
    assert "| `test.loss` | 0.1100 | 0.1100 | -1.0e-09 | - | single-seed difference |" in tiny
    worse = prreport.metric_verdict(0.05, 0.01, higher=False)
    assert worse.startswith("base better: beyond the seed spread (5.0 sd")


def test_without_a_spread_the_report_says_it_is_a_single_seed_difference():
    text = "\n".join(prreport.metrics_section(METRICS, None, "the store is unreachable"))
    assert f"**{prreport.NO_SPREAD}** (the store is unreachable)." in text
    assert "| +0.0056 | - | single-seed difference |" in text
    assert "beyond" not in text and "within" not in text


@pytest.mark.parametrize(
    ("repro", "verdict"),
    [
        (None, "not checked"),
        ({"checks": CHECKS}, "yes"),
        ({"checks": [CHECKS[0], {**CHECKS[1], "passed": False}]}, "no"),
        ({"checks": [{**CHECKS[0], "passed": False}]}, "not checked (check-repro stopped"),
    ],
)
def test_the_rerun_verdict_comes_from_check_repros_rerun_check(repro, verdict):
    assert prreport.rerun_verdict(repro).startswith(verdict)


def test_the_repro_section_names_another_commit_and_another_environment():
    repro = {"commit": "d" * 40, "checks": CHECKS, "fingerprint": {**FINGERPRINT, "numpy": "1.0"}}
    text = "\n".join(prreport.repro_section(repro, "c" * 40, FINGERPRINT))
    assert "Byte-identical outputs on rerun: **yes**" in text
    assert "on commit `dddddddd`, not HEAD" in text and "2 of 2 checks passed" in text
    assert "It ran in another environment: numpy differ." in text
    assert f"| uv.lock sha256 | {'ab' * 32} |" in text
    absent = "\n".join(prreport.repro_section(None, "c" * 40, FINGERPRINT))
    assert "**not checked**" in absent and "make check-repro" in absent


def test_only_changed_figures_show_images_the_rest_are_listed():
    text = prreport.render(report(images_note="Images: the CI artifact pr-report."))
    assert "![reports/figures/loss.png at HEAD~1](base-loss.png)" in text
    assert "![reports/figures/loss.png in the workspace](workspace-loss.png)" in text
    assert "samples.png" not in "".join(re.findall(r"!\[[^]]*\]\([^)]*\)", text))
    assert "Unchanged: `reports/figures/samples.png`." in text
    assert (
        "Base unavailable: `reports/figures/confusion_matrix.png` (not in the DVC cache)." in text
    )
    assert text.index("Images: the CI artifact") < text.index("### `reports/figures/loss.png`")


def test_the_page_renders_as_github_markdown_tables_images_and_no_html():
    text = prreport.render(report())
    parser = markdown_it.MarkdownIt("commonmark").enable("table")
    tokens = parser.parse(text)
    assert not [t for t in tokens if t.type.startswith("html")]
    inline = [child for t in tokens if t.children for child in t.children]
    assert not [t for t in inline if t.type.startswith("html")]
    html = parser.render(text)
    # params, metrics, checks, environment, and loss.png's base and workspace side by side
    assert html.count("<table>") == 5
    assert re.findall(r'<img src="([^"]+)"', html) == ["base-loss.png", "workspace-loss.png"]
    assert "<td><code>test.accuracy</code></td>" in html
