"""Sphinx configuration of the focalloss documentation: ``sphinx-build -W docs docs/_build/html``.

Pages are Markdown (MyST) and reStructuredText; the API reference is autodoc from the docstrings.
Math is rendered by MathJax, bundled with the build (sphinx-mathjax-offline): no page loads anything
from the network.
"""

import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "src")))

project = "focalloss"
author = "the focalloss authors"
copyright = "the focalloss authors"
release = "0.1.0"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": False}
napoleon_google_docstring = True
napoleon_numpy_docstring = False

html_theme = "alabaster"
html_static_path = []
html_theme_options = {"description": "Focal loss and its relatives for PyTorch", "fixed_sidebar": True}
