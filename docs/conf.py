"""Sphinx configuration of the journeyfsm documentation site (`make docs`).

The pages are the markdown files of docs/ (MyST), tested as they are by tests/test_docs.py;
the API reference is generated from every public module's ``__all__`` by
docs/_ext/apiref.py.  Nothing is fetched at build time: no intersphinx.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent))

import journeyfsm  # noqa: E402

project = "journeyfsm"
author = "journeyfsm developers"
copyright = "journeyfsm developers, MIT licensed"
release = journeyfsm.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "apiref",
]

# the pages; README-only and example files are linked, not built
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "**/.venv"]

myst_enable_extensions = ["colon_fence", "deflist", "fieldlist"]
# "[text](page.md#some-heading)": anchors for headings down to ###
myst_heading_anchors = 3
# ```output blocks hold what a python block prints (tests/test_docs.py compares them)
highlight_language = "python3"

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
autodoc_default_options = {"members": True, "undoc-members": True, "show-inheritance": True}

# a broken reference fails the build; what it may not resolve (the standard library and
# third-party types, with no intersphinx inventories here) is listed in apiref.py
nitpicky = True

html_theme = "furo"
html_title = f"journeyfsm {release}"
html_static_path: list[str] = []
html_show_sourcelink = False
