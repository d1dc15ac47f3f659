"""Inline the vendored Vega libraries into template.html, the page DVC fills for `dvc plots
show` and `dvc plots diff` (`plots.html_template` in .dvc/config; see README.md here).

    python .dvc/plots/inline_vega.py           # rewrite template.html's scripts from vendor/
    python .dvc/plots/inline_vega.py --check   # exit 1 if template.html is out of date

Only the part between the two marker comments is generated; the rest of template.html (page
skeleton, CSS) is edited by hand.
"""

import argparse
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "template.html"
# In load order: each UMD bundle sets a global (vega, vegaLite, vegaEmbed) the next one reads.
SCRIPTS = (
    "vendor/vega-5.20.2/vega.min.js",
    "vendor/vega-lite-5.2.0/vega-lite.min.js",
    "vendor/vega-embed-6.18.2/vega-embed.min.js",
)
BEGIN = "<!-- vendored scripts: begin -->"
END = "<!-- vendored scripts: end -->"
# DVC fills the template by replacing these strings wherever they occur.
PLACEHOLDERS = ("{scripts}", "{plot_divs}", "{refresh_tag}")


def script_element(relative_path: str) -> str:
    source = (HERE / relative_path).read_text(encoding="utf-8")
    # The source maps are not vendored: drop the comment that points at one.
    source = re.sub(r"\s*//# sourceMappingURL=\S+\s*$", "", source)
    # Either would end the <script> element early or be filled in by DVC.
    for forbidden in ("</script", "<!--", *PLACEHOLDERS):
        if forbidden in source.lower():
            raise ValueError(f"{relative_path}: contains {forbidden!r}, cannot be inlined")
    return f"<script>/* {relative_path} */\n{source}\n</script>"


def inline(template: str) -> str:
    """template with the scripts between the markers replaced by the vendored files."""
    if template.count(BEGIN) != 1 or template.count(END) != 1:
        raise ValueError(f"{TEMPLATE.name}: expected one {BEGIN!r} and one {END!r}")
    head, rest = template.split(BEGIN)
    _, tail = rest.split(END)
    scripts = "\n".join(script_element(path) for path in SCRIPTS)
    return f"{head}{BEGIN}\n{scripts}\n{END}{tail}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check, write nothing")
    arguments = parser.parse_args()
    current = TEMPLATE.read_text(encoding="utf-8")
    expected = inline(current)
    if arguments.check:
        if current != expected:
            print(f"{TEMPLATE}: out of date, run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    TEMPLATE.write_text(expected, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
