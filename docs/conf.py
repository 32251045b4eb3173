"""Sphinx configuration of grokscan's documentation (``make docs`` builds it into
docs/_build/html with warnings as errors).

What is generated rather than written: the command-line reference (sphinx-click, from the
click commands), the API reference (autosummary with numpydoc, from the public modules'
``__all__``: the pages under reference/api/ are written here, at every build), the metric
table and the ``grokscan train`` keys (the directives of _ext/grokscan_docs.py, from the
registries and the settings), the figure gallery (one example per figure function, written
into _gallery_src/ from its docstring's example and run by sphinx-gallery), and the
tutorials' output (myst-nb runs every tutorial at every build).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(DOCS / "_ext"))
os.environ.setdefault("MPLBACKEND", "Agg")  # the tutorials' kernels and the gallery draw off-screen
# the tutorials' kernels, and the commands they run, import this checkout's grokscan too
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))

import grokscan_docs  # noqa: E402

import grokscan  # noqa: E402

project = "grokscan"
author = "the grokscan authors"
copyright = "the grokscan authors"
release = grokscan.__version__
version = release

extensions = [
    "myst_nb",  # Markdown pages (myst-parser) and executed text notebooks
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx.ext.intersphinx",
    "sphinx_click",
    "sphinx_gallery.gen_gallery",
    "grokscan_docs",
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "jupyter_execute", "gallery/*.ipynb",
                    "sg_execution_times.rst", "gallery/sg_execution_times.rst", "_gallery_src",
                    "results/onset3_*.md"]  # tables the onset3 scripts write, included there
templates_path = ["_templates"]
root_doc = "index"

# -- every reference must resolve ------------------------------------------------------------
nitpicky = True
# The libraries' own objects resolve through intersphinx where their inventories can be had
# (see below); offline they cannot, and a type named in a docstring ("ndarray", "Figure",
# "torch.nn.Module") is not a link to the docs of grokscan. So an unresolved reference into
# another package is not an error; one into grokscan is.
nitpick_ignore_regex = [
    (r"py:.*", r"(numpy|np|torch|h5py|matplotlib|pandas|pd|click|scipy|sklearn|dask|"
               r"distributed|pathlib|collections|typing|os|datetime|json|io)(\..*)?"),
    (r"py:.*", r"(Figure|Axes|FuncAnimation|DataFrame|Series|Path|PathLike|ndarray|"
               r"array_like|array-like|Module|Tensor|Generator|Normalize|LogNorm|"
               r"Mapping|Sequence|Iterable|Iterator|Callable|Any|Literal|optional|default|"
               r"callable|mapping|sequence|iterable|file-like|path-like|scalar|object|"
               r"None|int|float|str|bool|dict|list|tuple|bytes|set|frozenset|type)"),
]

# -- intersphinx: numpy, torch, h5py, matplotlib ---------------------------------------------
# The build must not need the network (only PyPI is reached where CI runs). Each inventory is
# taken from docs/_intersphinx/<name>.inv where one is kept there, else fetched once (3 s at
# most) into docs/_build/intersphinx/; one that cannot be had is left out, with a line saying
# so, and its references stay plain text (nitpick_ignore_regex above).
INTERSPHINX = {
    "python": "https://docs.python.org/3/",
    "numpy": "https://numpy.org/doc/stable/",
    "torch": "https://docs.pytorch.org/docs/stable/",
    "h5py": "https://docs.h5py.org/en/stable/",
    "matplotlib": "https://matplotlib.org/stable/",
}
intersphinx_mapping = grokscan_docs.available_inventories(
    INTERSPHINX, kept=DOCS / "_intersphinx", cache=DOCS / "_build" / "intersphinx", timeout=3)
intersphinx_timeout = 3

# -- the API reference -----------------------------------------------------------------------
# One page per public module (tests/test_api.py PUBLIC_MODULES), each name of its __all__ on a
# page of its own.
API_MODULES = ("grokscan", "grokscan.cli", "grokscan.figures", "grokscan.metrics", "grokscan.onset",
               "grokscan.tasks", "grokscan.tasks.modular", "grokscan.tasks.ising",
               "grokscan.factor", "grokscan.sweep", "grokscan.watch", "grokscan.studies")
grokscan_docs.write_api_pages(API_MODULES, DOCS / "reference" / "api")

autosummary_generate = True
autosummary_imported_members = True
autodoc_typehints = "none"  # numpydoc's Parameters sections give the types
autodoc_inherit_docstrings = False
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks: set = set()

# -- Markdown and the executed tutorials -----------------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist", "dollarmath"]
myst_heading_anchors = 3
# Every build runs every tutorial again ("force"): a cached output could describe a grokscan
# that no longer exists. GROKSCAN_DOCS_EXECUTE=off skips them (a quick look at the text).
nb_execution_mode = os.environ.get("GROKSCAN_DOCS_EXECUTE", "force")
nb_execution_timeout = 300  # per cell; each tutorial runs in seconds
nb_execution_raise_on_error = True  # a tutorial that fails fails the build
nb_execution_in_temp = True  # each runs in a fresh folder: nothing is written into docs/
nb_merge_streams = True

# -- the gallery: one example per figure function --------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "_gallery_src",  # written below from the figure functions' docstrings
    "gallery_dirs": "gallery",
    "filename_pattern": r"/plot_",
    "image_scrapers": ("grokscan_docs.figure_scraper",),
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
    "plot_gallery": "True",
    "min_reported_time": 10,
    "abort_on_example_error": True,
    "doc_module": ("grokscan",),
    "backreferences_dir": None,
}

grokscan_docs.write_gallery_examples(DOCS / "_gallery_src")

# -- HTML ------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"grokscan {release}"
html_static_path: list = []  # the images are those of data/
html_show_sourcelink = False
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 6,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
    "secondary_sidebar_items": ["page-toc"],
}
html_context = {"default_mode": "light"}
smartquotes = False
