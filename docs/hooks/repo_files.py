"""MkDocs hook: the repository files that the pages link to outside docs/, in the site.

The pages link to files such as `../reports/figures/loss.png` or `../params.yaml` by their
place in the repository, so one link works on GitHub, in an editor and in the site. MkDocs
knows only the files under docs/: this adds each linked file that exists to the site under
`repo/` (a Markdown one as a page). A link to a file that does not exist is left alone, so
`mkdocs build --strict` fails on it. Nothing is copied into docs/: the figures stay where
DVC writes them.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from mkdocs.structure.files import File, InclusionLevel

LINK = re.compile(r"\]\((\.\./[^)\s#]+)")  # [text](../path) and ![alt](../path)
SITE_FOLDER = "repo"


def site_path(uri: str, use_directory_urls: bool) -> str:
    """Where `../path` lands in the site: repo/path, a Markdown file as its rendered page."""
    path = f"{SITE_FOLDER}/{uri.removeprefix('../')}"
    if not path.endswith(".md"):
        return path
    path = path.removesuffix(".md")
    return f"{path}/index.html" if use_directory_urls else f"{path}.html"


def outside_links(page: File) -> set[str]:
    """The repository files one page links to outside docs/, as `../path` from docs/."""
    text = Path(page.abs_src_path).read_text(encoding="utf-8")
    folder = posixpath.dirname(page.src_uri)
    uris = {posixpath.normpath(posixpath.join(folder, target)) for target in LINK.findall(text)}
    return {uri for uri in uris if uri.startswith("../") and not uri.startswith("../../")}


def on_files(files, config):
    docs = Path(config.docs_dir)
    for page in list(files.documentation_pages()):
        for uri in sorted(outside_links(page)):
            if files.get_file_from_path(uri) is None and (docs / uri).is_file():
                destination = site_path(uri, config.use_directory_urls)
                files.append(
                    File(
                        uri,
                        str(docs),
                        config.site_dir,
                        config.use_directory_urls,
                        dest_uri=destination,
                        # a repository page (BENCHMARKS.md) is linked from a topic, not in the nav
                        inclusion=InclusionLevel.NOT_IN_NAV,
                    )
                )
    return files
