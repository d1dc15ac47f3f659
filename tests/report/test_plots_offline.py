"""`dvc plots show` and `dvc plots diff` draw every chart with no network: the page template
in .dvc/plots/ inlines the Vega libraries (see its README). Each page is opened in headless
Chromium with networking off, and its DOM, layout and network log are checked."""

import json
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
from dvc_render.html import PAGE_HTML

from conftest import ROOT, dvc, git_commit_all, tiny_repository_copy

CHROMIUM = shutil.which("chromium")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium) to render pages"
)
# The element ids DVC gives the top-level `plots:` of dvc.yaml: every Vega chart on the page.
CHARTS = {"Loss", "Accuracy", "Confusion_matrix", "F1_per_class"}
# Appended to a copy of the page: once everything has loaded, where each image landed.
LAYOUT_PROBE = """<script>
addEventListener("load", () => {
    const images = [...document.images].map((image) => {
        const box = image.getBoundingClientRect();
        return {src: image.getAttribute("src"), right: box.right, loaded: image.naturalWidth};
    });
    const probe = document.createElement("pre");
    probe.id = "layout";
    probe.textContent = JSON.stringify({width: document.documentElement.clientWidth, images});
    document.body.append(probe);
});
</script>"""
WINDOW_WIDTH = 1600


def test_template_holds_the_vendored_libraries():
    """template.html's inlined scripts are exactly the files in .dvc/plots/vendor/."""
    script = ROOT / ".dvc" / "plots" / "inline_vega.py"
    result = subprocess.run([sys.executable, script, "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def write_run(project: Path, seed: int) -> None:
    """Plot data of a small run: 4 epochs of history, 60 test predictions, per-class
    scores, the figures."""
    rng = np.random.default_rng(seed)
    loss = np.sort(rng.uniform(0.05, 0.5, size=(4, 2)), axis=0)[::-1]
    rows = [
        f"{epoch},{a:.4f},{1 - a:.4f},{b:.4f},{1 - b:.4f}" for epoch, (a, b) in enumerate(loss, 1)
    ]
    history = project / "reports" / "train" / "history.csv"
    history.parent.mkdir(parents=True, exist_ok=True)
    history.write_text("\n".join(["epoch,loss,accuracy,val_loss,val_accuracy", *rows]) + "\n")
    actual = np.repeat(np.arange(10), 6)
    predicted = np.where(rng.random(actual.size) < 0.8, actual, rng.integers(0, 10, actual.size))
    predictions = project / "reports" / "evaluate" / "predictions.csv"
    predictions.parent.mkdir(parents=True, exist_ok=True)
    predictions.write_text(
        "actual,predicted\n" + "".join(f"{a},{p}\n" for a, p in zip(actual, predicted, strict=True))
    )
    scores = rng.uniform(0.8, 1, size=10)
    (project / "reports" / "evaluate" / "per_class.csv").write_text(
        "class,precision,recall,f1,support\n"
        + "".join(f"{digit},{f1},{f1},{f1},6\n" for digit, f1 in enumerate(scores))
    )
    figures = project / "reports" / "figures"
    shutil.copytree(ROOT / "reports" / "figures", figures, dirs_exist_ok=True)


@pytest.fixture(scope="module")
def plots_project(tmp_path_factory):
    """A copy of the repository with two committed runs' plot data (HEAD~1 and HEAD)."""
    project, env = tiny_repository_copy(tmp_path_factory.mktemp("plots"))
    for seed in (1, 2):
        write_run(project, seed)
        git_commit_all(project, f"run {seed}")
    return project, env


class Page(HTMLParser):
    """A rendered DOM: the marks (canvas or svg) drawn in each vega-embed container, and what
    the layout probe wrote."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "wbr"}

    def __init__(self, dom: str):
        super().__init__()
        self.charts: dict[str | None, list[tuple[int, int]]] = {}
        self.layout: dict | None = None
        self._open: list[str | None] = []  # per open element: its chart id if a container
        self._probe: list[str] | None = None
        self.feed(dom)
        self.close()

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        classes = (attributes.get("class") or "").split()
        chart = attributes.get("id") if "vega-embed" in classes else None
        if chart is not None:
            self.charts[chart] = []
        # Vega's drawing surface; the container also holds an svg icon (the actions menu).
        if tag in ("canvas", "svg") and "marks" in classes:
            owner = next((name for name in reversed(self._open) if name is not None), None)
            size = (int(attributes.get("width") or 0), int(attributes.get("height") or 0))
            self.charts.setdefault(owner, []).append(size)
        if attributes.get("id") == "layout":
            self._probe = []
        if tag not in self.VOID:
            self._open.append(chart)

    def handle_endtag(self, tag):
        if tag not in self.VOID and self._open:
            self._open.pop()
        if self._probe is not None:
            self.layout = json.loads("".join(self._probe))
            self._probe = None

    def handle_data(self, data):
        if self._probe is not None:
            self._probe.append(data)


class Scripts(HTMLParser):
    """The src of every <script> element of a document ('' for an inline script)."""

    def __init__(self, html: str):
        super().__init__()
        self.sources: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        if tag == "script":
            self.sources.append(dict(attrs).get("src") or "")


def page_requests(net_log: Path) -> list[str]:
    """URLs the page asked the network for (not Chromium's own background requests)."""
    log = json.loads(net_log.read_text())
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [
        event["params"]["url"]
        for event in log["events"]
        if event["type"] == start_job
        and "url" in event.get("params", {})
        and event["params"].get("network_isolation_key", "").startswith("file://")
    ]


def render_offline(page: Path, work: Path) -> tuple[Page, list[str]]:
    """Open `page` (a copy with the layout probe) in headless Chromium with no network; wait
    until the page has been idle for 30 s of virtual time (fast-forwarded, so seconds of real
    time, however loaded the machine), then return its DOM and the network requests it made."""
    probed = page.with_name("probed.html")
    body, end = page.read_text(encoding="utf-8").rsplit("</body>", 1)  # vega-embed has one too
    probed.write_text(f"{body}{LAYOUT_PROBE}</body>{end}", encoding="utf-8")
    net_log = work / "net-log.json"
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={work / 'profile'}",
        # No network: every connection goes to a closed port, every host name fails.
        "--proxy-server=127.0.0.1:9",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        f"--log-net-log={net_log}",
        f"--window-size={WINDOW_WIDTH},1200",
        "--virtual-time-budget=30000",
        "--dump-dom",
        probed.as_uri(),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    return Page(result.stdout), page_requests(net_log)


def assert_drawn_offline(page: Path, work: Path) -> Page:
    sources = Scripts(page.read_text(encoding="utf-8")).sources
    assert sources and not any(sources), f"scripts loaded from elsewhere: {sources}"
    rendered, requests = render_offline(page, work)
    assert not [url for url in requests if urlparse(url).scheme != "file"], requests
    assert set(rendered.charts) == CHARTS, rendered.charts
    for chart, surfaces in rendered.charts.items():
        assert surfaces and all(width > 0 and height > 0 for width, height in surfaces), chart
    return rendered


def assert_images_fit(rendered: Page, count: int) -> None:
    layout = rendered.layout
    assert layout is not None, "the layout probe did not run"
    assert len(layout["images"]) == count, layout
    assert layout["width"] <= WINDOW_WIDTH
    for image in layout["images"]:
        assert image["loaded"] > 0, f"not loaded: {image['src']}"
        assert image["right"] <= layout["width"], f"wider than the page: {image}"


@pytest.mark.slow
@needs_chromium
def test_plots_show_draws_every_chart_offline(plots_project, tmp_path):
    project, env = plots_project
    dvc("plots", "show", cwd=project, env=env)
    rendered = assert_drawn_offline(project / "dvc_plots" / "index.html", tmp_path)
    assert_images_fit(rendered, count=5)


@pytest.mark.slow
@needs_chromium
def test_plots_diff_draws_every_chart_offline_and_images_fit(plots_project, tmp_path):
    project, env = plots_project
    dvc("plots", "diff", "HEAD~1", cwd=project, env=env)
    rendered = assert_drawn_offline(project / "dvc_plots" / "index.html", tmp_path)
    # Two revisions of five figures; two 1000 px predictions.png side by side overflow a
    # 1600 px window unless the template scales them.
    assert_images_fit(rendered, count=10)


@pytest.mark.slow
def test_plots_diff_confusion_panels_share_one_fixed_colour_scale(plots_project):
    """Both revisions in one chart, shaded by the share of the true class on 0..1: the same
    scale for any revision and any test set size."""
    project, env = plots_project
    result = dvc("plots", "diff", "HEAD~1", "HEAD", "--json", cwd=project, env=env)
    (chart,) = json.loads(result.stdout)["data"]["Confusion matrix"]
    assert chart["revisions"] == ["HEAD~1", "HEAD"]
    spec = chart["content"]
    assert spec["resolve"] == {"scale": {"color": "shared"}}
    color = spec["spec"]["layer"][0]["encoding"]["color"]
    assert (color["field"], color["scale"]) == ("share", {"domain": [0, 1]})


@pytest.mark.slow
@needs_chromium
def test_dvc_default_page_needs_the_network(plots_project, tmp_path):
    """The control: DVC's own page loads Vega from a CDN, so offline it draws no chart (and
    the checks above would see it ask the network)."""
    project, env = plots_project
    default = tmp_path / "default.html"
    default.write_text(PAGE_HTML)
    out = tmp_path / "default-plots"
    dvc("plots", "show", "--html-template", str(default), "-o", str(out), cwd=project, env=env)
    rendered, requests = render_offline(out / "index.html", tmp_path)
    assert any(urlparse(url).scheme == "https" for url in requests), requests
    assert rendered.charts == {}, rendered.charts
