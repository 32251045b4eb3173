"""The parts of grokscan's documentation made from the code rather than written by hand.

- The API pages (:func:`write_api_pages`): one page per public module, an autosummary of
  its ``__all__``.
- The metric tables (directives ``grokscan-families`` and ``grokscan-metrics``): the metric
  families of ``grokscan analyze`` (``grokscan.FAMILIES`` and the optional ones) with what
  each needs, and the registered metric functions (``grokscan.metrics.METRICS``) with their
  shapes and the paper and equation their docstrings cite.
- The keys of ``grokscan train`` (directive ``grokscan-train-keys``): every setting of a
  task, the model and the training, from the settings dataclasses (grokscan/settings.py,
  grokscan/config.py), with its help, its range and its default for that task.
- The papers (directive ``grokscan-papers``): every arXiv number the code cites, where.
- The gallery (:func:`write_gallery_examples`): one example per figure function, its
  docstring's example. Its image scraper (:func:`figure_scraper`): grokscan's figure
  functions return Figures that pyplot never sees, so the scraper looks for them among the
  example's names.
"""

from __future__ import annotations

import inspect
import re
import urllib.request
from pathlib import Path

from docutils.parsers.rst import Directive, Parser, directives
from docutils.utils import new_document

# -- intersphinx without the network ---------------------------------------------------------


def available_inventories(urls: dict[str, str], *, kept: Path, cache: Path,
                          timeout: float) -> dict:
    """``intersphinx_mapping`` of the inventories that can be had: ``kept/<name>.inv`` (a copy
    kept with the docs), else ``cache/<name>.inv`` fetched before (by an earlier build), else
    fetched now within ``timeout`` seconds. One that cannot be had is left out and said so."""
    mapping, missing = {}, []
    for name, url in urls.items():
        for path in (kept / f"{name}.inv", cache / f"{name}.inv"):
            if path.is_file():
                mapping[name] = (url, str(path))
                break
        else:
            try:
                with urllib.request.urlopen(url + "objects.inv", timeout=timeout) as r:
                    data = r.read()
                cache.mkdir(parents=True, exist_ok=True)
                (cache / f"{name}.inv").write_bytes(data)
                mapping[name] = (url, str(cache / f"{name}.inv"))
            except Exception:  # noqa: BLE001 - offline, a proxy, a timeout: all the same
                missing.append(name)
    if missing:
        print(f"intersphinx: no inventory could be had for {', '.join(missing)}; their names "
              "stay plain text")
    return mapping


# -- the API pages ---------------------------------------------------------------------------


def write_api_pages(modules, out: Path) -> None:
    """``out/index.rst`` and ``out/<module>.rst`` for each public module: its docstring and an
    autosummary of its ``__all__`` (each name a page under ``out/generated/``). A file is
    rewritten only when its text changes, so an unchanged API is not rebuilt."""
    import importlib

    out.mkdir(parents=True, exist_ok=True)
    index = ["API reference", "=============", "",
             "The public API: what ``import grokscan`` exports and the public modules, each with "
             "its ``__all__``. Every other module is internal and may change between versions.",
             "", ".. toctree::", "   :maxdepth: 1", ""]
    for name in modules:
        module = importlib.import_module(name)
        lines = [name, "=" * len(name), "", f".. automodule:: {name}", "   :no-members:", ""]
        if name == "grokscan.cli":  # main, the click group: its reference is the command line's
            lines += ["``main`` is the click group of the command line ``grokscan``: every "
                      "command and option is in :doc:`/reference/cli`."]
        else:
            lines += [f".. currentmodule:: {name}", "", ".. autosummary::",
                      "   :toctree: generated", "   :nosignatures:", ""]
            lines += [f"   {n}" for n in module.__all__ if n != "__version__"]
        _write_if_changed(out / f"{name}.rst", "\n".join(lines) + "\n")
        index.append(f"   {name}")
    _write_if_changed(out / "index.rst", "\n".join(index) + "\n")


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


# -- tables ----------------------------------------------------------------------------------


def _cell(text: str) -> str:
    """Text for one cell of a list-table: one line, RST's inline markup characters escaped."""
    text = " ".join(str(text).split())
    return re.sub(r"([*`|_\\])", r"\\\1", text) if text else "—"


def _literal(value) -> str:
    """RST for a value shown as code: ``value`` (none: a dash)."""
    return "—" if value is None or value == "" else f"``{value}``"


def list_table(header: list[str], rows: list[list[str]], widths: list[int] | None = None,
               raw: set[int] = frozenset()) -> list[str]:
    """The lines of an RST list-table; the columns in ``raw`` are RST already."""
    lines = [".. list-table::", "   :header-rows: 1"]
    if widths:
        lines.append(f"   :widths: {' '.join(map(str, widths))}")
    lines.append("")
    for row in [header, *rows]:
        for i, value in enumerate(row):
            cell = value if (i in raw and row is not header) else _cell(value)
            lines.append(f"   {'*' if i == 0 else ' '} - {cell}")
    return lines


class _Generated(Directive):
    """A directive whose content is RST made by :meth:`lines`."""

    has_content = False
    option_spec = {"task": directives.unchanged}

    def lines(self) -> list[str]:
        raise NotImplementedError

    def run(self):
        # parsed as reStructuredText whatever the page's own language (a Markdown page's
        # nested parse would read it as Markdown)
        document = new_document("<grokscan_docs>", self.state.document.settings)
        Parser().parse("\n".join(self.lines()), document)
        return list(document.children)


# what a family needs, in words (as `grokscan metrics` says it)
NEEDS = {"replay": "replays the model", "subset": "on a subset of the checkpoints",
         "residues": "residues mod P", "residue_vectors": "the per-residue vectors",
         "logit_map": "the neuron-logit map", "moments": "two checkpoints only",
         "attention": "a transformer", "first_layer": "an MLP's first hidden layer"}


def family_rows() -> list[list[str]]:
    """[name, what it computes, what it needs, default or optional] of every family."""
    from grokscan.analysis.families import ALL, OPTIONAL

    rows = []
    for name, fam in ALL.items():
        needs = ", ".join(NEEDS[n] for n in sorted(fam.needs)) or "the weights alone"
        rows.append([_literal(name), fam.doc, needs, "optional" if name in OPTIONAL else "default"])
    return rows


# every arXiv number cited in the code, and who wrote it (as the code names them)
PAPERS = {
    "2201.02177": "Power et al. 2022",
    "2205.10343": "Liu et al. 2022",
    "2210.01117": "Liu et al. 2022 (Omnigrok)",
    "2301.05217": "Nanda et al. 2023",
    "2308.12108": "Lau et al.",
    "2402.16726": "Furuta et al. 2024",
    "2411.05353": "Salah & Yevick 2024",
    "2507.11645": "Salah & Yevick 2025",
    "2510.25966": "Hutchison & Yevick 2025",
    "2207.08799": "Barak et al. 2022",
    "2303.11873": "Merrill et al. 2023",
    "2403.19896": "Yevick 2024",
    "2501.04697": "Prieto et al. 2025",
}
_AUTHORS = {"Furuta et al.": "2402.16726", "Nanda et al.": "2301.05217",
            "Hutchison & Yevick": "2510.25966", "Lau et al.": "2308.12108"}
_WHERE = re.compile(r"(?:§\s?[\d.–-]+|Eqs?\.\s?[\d–-]+|Figs?\.\s?[\d–, -]+\d)")


def citations(doc: str) -> list[str]:
    """The papers a docstring cites, each with the section, equation or figure named beside
    it: ["Furuta et al. 2024 (arXiv:2402.16726), Eq. 6"]."""
    found: dict[str, list[str]] = {}
    for m in re.finditer(r"arXiv:(\d{4}\.\d{5})([^.;)]*(?:\.\s?\d[^.;)]*)?)", doc):
        found.setdefault(m.group(1), []).extend(_WHERE.findall(m.group(2)))
    for name, number in _AUTHORS.items():
        for m in re.finditer(re.escape(name) + r"([^.;(]*(?:\.\s?\d[^.;(]*)?)", doc):
            found.setdefault(number, []).extend(_WHERE.findall(m.group(1)))
    out = []
    for number, where in found.items():
        where = list(dict.fromkeys(w.strip().rstrip(",") for w in where))
        out.append(f"{PAPERS.get(number, 'arXiv')} (arXiv:{number})"
                   + (f", {', '.join(where)}" if where else ""))
    return out


def text_as_rst(text: str) -> str:
    """Plain text (or a docstring's line) as inline RST: a role's target and a `single` or
    ``double`` backticked span become literal, and a bar or star elsewhere is escaped."""
    text = re.sub(r":\w+:`~?([^`]+)`", r"``\1``", " ".join(text.split()))
    text = re.sub(r"(?<!`)`([^`]+)`(?!`)", r"``\1``", text)
    parts = re.split(r"(``[^`]*``)", text)
    return "".join(p if p.startswith("``") else re.sub(r"([|*_\\])(?=\W|$)|([|*])", _escape, p)
                   for p in parts)


def _escape(m: re.Match) -> str:
    return "\\" + m.group(0)


def metric_papers(fn) -> str:
    """The papers a metric function's docstring cites; where it cites none, those of the
    functions of its module that it names (``:func:`x```), else its module's docstring's, said
    so."""
    import sys

    doc = inspect.getdoc(fn) or ""
    found = citations(doc)
    if found:
        return "; ".join(found)
    module = sys.modules[fn.__module__]
    for ref in re.findall(r":func:`~?\.?(\w+)`", doc):
        other = getattr(module, ref, None)
        if callable(other) and (found := citations(inspect.getdoc(other) or "")):
            return f"{'; '.join(found)} (through ``{ref}``)"
    found = citations(inspect.getdoc(module) or "")
    return f"{'; '.join(found)} (the module's papers)" if found else ""


def metric_rows() -> list[list[str]]:
    """[name, input core shape, output core shape, summary, papers] of every metric."""
    from grokscan.metrics import METRICS

    rows = []
    for name in sorted(METRICS):
        m = METRICS[name]
        doc = inspect.getdoc(m.fn) or ""
        summary = doc.split("\n\n")[0]
        core = "(..., " + ", ".join(f"n{i}" for i in range(m.core_ndim)) + ")"
        rows.append([_literal(name), f"{core}, e.g. {tuple(m.example_shape)}",
                     f"(...) + {m.out_core}", text_as_rst(summary), metric_papers(m.fn)])
    return rows


class Families(_Generated):
    def lines(self):
        return list_table(["family", "what it computes", "needs", "runs"], family_rows(),
                          widths=[18, 44, 28, 10], raw={0})


class Metrics(_Generated):
    def lines(self):
        return list_table(["metric", "input", "output", "what", "paper and equation"],
                          metric_rows(), widths=[18, 16, 10, 36, 20], raw={0, 3, 4})


# -- the keys of `grokscan train` ------------------------------------------------------------


def train_key_rows(kind: str) -> list[list[str]]:
    """[key, option, section, type and range, default for this task, help] of every setting of
    a run of task ``kind``, in the order `grokscan train --help` shows them."""
    from grokscan import tasks
    from grokscan.config import sections
    from grokscan.settings import describe_range, value_type

    defaults = tasks.get(kind).defaults
    rows = []
    for key, (section, f) in sections(kind).items():
        m, t = f.metadata, value_type(f)
        if key == "task":
            kind_text = "one of " + ", ".join(tasks.TRAINABLE)
        elif m.get("choices"):
            kind_text = "one of " + ", ".join(map(str, m["choices"]))
        elif t is bool:
            kind_text = "true or false"
        elif t is tuple:
            kind_text = "names, comma-separated"
        elif t in (int, float):
            kind_text = describe_range(f)
        else:
            kind_text = "a string"
        default = defaults.get(f.name, f.default)
        shown = ",".join(default) if isinstance(default, tuple) else default
        if isinstance(shown, bool):
            shown = str(shown).lower()
        flag = "--" + key.replace("_", "-")
        option = f"{flag} / --no-{flag[2:]}" if t is bool else flag
        rows.append([_literal(key.replace("_", "-")), _literal(option), section, kind_text,
                     _literal(shown), m["help"]])
    return rows


def command_key_rows() -> list[list[str]]:
    """The command's own keys of a --config file (not settings of the run)."""
    from grokscan.cli.main import main

    cmd = main.commands["train"]
    import click

    ctx = click.Context(cmd, info_name="train")
    params = {p.name: p for p in cmd.get_params(ctx)}
    from grokscan.cli.train import COMMAND_KEYS

    rows = []
    for key in COMMAND_KEYS:
        p = params[key]
        rows.append([_literal(key), _literal(", ".join(p.opts)), p.help or ""])
    return rows


class TrainKeys(_Generated):
    def lines(self):
        kind = self.options.get("task", "modular")
        return list_table(["key", "option", "section", "value", "default", "meaning"],
                          train_key_rows(kind), widths=[12, 16, 7, 17, 10, 38], raw={0, 1, 4})


class CommandKeys(_Generated):
    def lines(self):
        return list_table(["key", "option", "meaning"], command_key_rows(), widths=[12, 18, 70],
                          raw={0, 1})


# -- the papers ------------------------------------------------------------------------------


def paper_rows(root: Path) -> list[list[str]]:
    """[paper, arXiv number, the modules whose text cites it] of every paper in PAPERS."""
    cited: dict[str, set[str]] = {n: set() for n in PAPERS}
    for path in sorted((root / "grokscan").rglob("*.py")):
        text = path.read_text()
        for number in PAPERS:
            if f"arXiv:{number}" in text:
                cited[number].add(str(path.relative_to(root)).removesuffix(".py")
                                  .replace("/", ".").removesuffix(".__init__"))
    return [[PAPERS[n], f"arXiv:{n}", ", ".join(sorted(cited[n]))] for n in PAPERS]


class Papers(_Generated):
    def lines(self):
        root = Path(__file__).resolve().parents[2]
        rows = [[name, f"https://arxiv.org/abs/{number[6:]}", _cell(where)]
                for name, number, where in paper_rows(root)]
        return list_table(["paper", "arXiv", "cited in"], rows, widths=[25, 20, 55],
                          raw={1})


# -- the gallery: one example per figure function, from its docstring ------------------------


def gallery_functions() -> list[str]:
    """The names of grokscan.figures that get an example: every figure function (no ``ax=``:
    it lays out a Figure of its own) and every panel function that no figure function draws
    (a single-panel figure: ``roc``, ``frequency_loss``), in ``__all__``'s order."""
    import grokscan.figures as gf

    names = [n for n in gf.__all__ if callable(getattr(gf, n)) and n != "marker_legend"]
    figures = [n for n in names if "ax" not in inspect.signature(getattr(gf, n)).parameters]
    used = set()
    for n in figures:
        source = inspect.getsource(getattr(gf, n))
        used |= {m for m in names if m != n and re.search(rf"\b{m}\(", source)}
    return [n for n in names if n in figures or n not in used]


def panels_of(name: str) -> list[str]:
    """The public panel functions the figure function ``name`` draws its Axes with."""
    import grokscan.figures as gf

    source = inspect.getsource(getattr(gf, name))
    return [m for m in gf.__all__ if m != name and callable(getattr(gf, m))
            and "ax" in inspect.signature(getattr(gf, m)).parameters
            and re.search(rf"\b{m}\(", source)]


GALLERY_README = """Figure gallery
==============

Every figure of the report is a function of :mod:`grokscan.figures` that takes numbers and
draws them. A *figure function* returns a new :class:`matplotlib.figure.Figure` laid out as the
report shows it, without pyplot and without writing a file; each of its panels is a function
of its own that draws on the Axes given as ``ax=`` and returns it. Each example below is the
example of the function's docstring, run as it stands on its small synthetic numbers: one per
figure function, and one per single-panel figure.
"""


def write_gallery_examples(out: Path) -> None:
    """``out/plot_<name>.py`` for each of :func:`gallery_functions`: its docstring's summary,
    its panels and its docstring's example run as a script (the doctest's code without its
    expected output), so that the gallery shows what the docstring promises and cannot drift
    from it. A file is rewritten only when its text changes."""
    import doctest

    import grokscan.figures as gf

    out.mkdir(parents=True, exist_ok=True)
    _write_if_changed(out / "README.rst", GALLERY_README)
    wanted = set()
    for name in gallery_functions():
        doc = inspect.getdoc(getattr(gf, name)) or ""
        summary = " ".join(doc.split("\n\n")[0].split()).replace('"', "'")
        code = "".join(e.source for e in doctest.DocTestParser().get_examples(doc))
        head = [f"``{name}``", "=" * (len(name) + 4), "",
                f":func:`grokscan.figures.{name}`: {summary}"]
        panels = panels_of(name)
        if panels:
            head += ["", "Its panels: " + ", ".join(f":func:`~grokscan.figures.{p}`"
                                                  for p in panels) + "."]
        text = '"""\n' + "\n".join(head) + '\n"""\n\n' + code
        wanted.add(f"plot_{name}.py")
        _write_if_changed(out / f"plot_{name}.py", text)
    for stale in out.glob("plot_*.py"):
        if stale.name not in wanted:
            stale.unlink()


# -- the gallery's scraper -------------------------------------------------------------------


def figure_scraper(block, block_vars, gallery_conf, **kwargs):
    """Save every Figure an example block made (held by a name of the example, directly, as an
    Axes' figure or as an animation, or open in pyplot) that an earlier block did not, and
    return the RST that shows them; an animation is saved as a GIF."""
    import matplotlib.pyplot as plt
    from matplotlib.animation import Animation, PillowWriter
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from sphinx_gallery.scrapers import figure_rst

    seen = block_vars.setdefault("grokscan_seen", set())
    found: list = []
    values = list(block_vars["example_globals"].values())
    values += [plt.figure(n) for n in plt.get_fignums()]
    for value in values:
        if isinstance(value, Axes):
            value = value.figure
        if isinstance(value, (Figure, Animation)) and id(value) not in seen:
            if isinstance(value, Animation):
                seen.add(id(value._fig))
            elif any(isinstance(v, Animation) and v._fig is value for v in values):
                continue  # saved as its animation
            seen.add(id(value))
            found.append(value)
    paths = []
    for value, path in zip(found, block_vars["image_path_iterator"]):
        if isinstance(value, Animation):
            path = str(Path(path).with_suffix(".gif"))
            value.save(path, writer=PillowWriter(fps=4), dpi=60)
        else:
            value.savefig(path, dpi=80)
        paths.append(path)
    plt.close("all")
    return figure_rst(paths, gallery_conf["src_dir"]) if paths else ""


# -- the command-line reference -------------------------------------------------------------


def click_help_as_rst(app, ctx, lines: list[str]) -> None:
    """sphinx-click reads each command's help as reStructuredText, but it is written as plain
    text for a terminal: `code` in single backticks, |x| and * as themselves. Make it RST: a
    backticked span is literal, and a bar or star in the text is escaped (the bar that starts
    a line block of a \\b paragraph is kept)."""
    for i, line in enumerate(lines):
        body = line.lstrip()
        if body.startswith(".. ") or body.startswith(":"):
            continue
        head = line[: len(line) - len(body)]
        if body.startswith("| "):
            head, body = head + "| ", body[2:]
        body = re.sub(r"(?<!`)`([^`]+)`(?!`)", r"``\1``", body)
        parts = re.split(r"(``[^`]*``)", body)
        parts = [p if p.startswith("``") else re.sub(r"([|*])", r"\\\1", p) for p in parts]
        lines[i] = head + "".join(parts)


def all_commands(group=None, prefix: str = "") -> list:
    """[(path, command)] of every command under ``group`` (grokscan's by default), each with
    its options built: `grokscan train` makes its own only when first asked for them."""
    import click

    from grokscan.cli import main

    group = group or main
    out = []
    for name, cmd in group.commands.items():
        path = f"{prefix}{name}"
        cmd.get_params(click.Context(cmd, info_name=name))
        out.append((path, cmd))
        if isinstance(cmd, click.Group):
            out += all_commands(cmd, path + " ")
    return out


def setup(app):
    app.connect("builder-inited", lambda app: all_commands())
    for what in ("description", "options", "arguments", "epilog"):
        app.connect(f"sphinx-click-process-{what}", click_help_as_rst)
    app.add_directive("grokscan-families", Families)
    app.add_directive("grokscan-metrics", Metrics)
    app.add_directive("grokscan-train-keys", TrainKeys)
    app.add_directive("grokscan-command-keys", CommandKeys)
    app.add_directive("grokscan-papers", Papers)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
