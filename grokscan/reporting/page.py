"""The report page: the run in one line, then a summary (the run's story in a computed
paragraph, the crossing table, the facts and the few figures that show what happened), then
every other figure in collapsible sections under a table of contents; self-contained HTML
around the figures."""

from __future__ import annotations

import base64
import html
import os

from grokscan._version import __version__
from grokscan.onset.forecast import not_applicable
from grokscan.onset.shipped import default
from grokscan.reporting.base import Page, Section, forecasts
from grokscan.reporting.words import story
from grokscan.store.metrics import MetricsFile
from grokscan.summary import (
    THRESHOLDS,
    lead_words,
    model_line,
    of_run,
    onset_lead,
    optimizer_line,
)


def run_line(m: MetricsFile) -> str:
    """The run's task, model and optimizer in one line."""
    if not m.config:
        return "a run recorded without a configuration" + (
            f" · {m.task['line']}" if m.task.get("line") else "")
    md, o = m.config.get("model", {}), m.config.get("train", {})
    return " · ".join(part for part in (m.task.get("line"), model_line(md), optimizer_line(o))
                      if part)


def summary(m: MetricsFile, markers: dict) -> dict:
    """The numbers of the summary table, from every checkpoint of the run (not only the
    analysed ones): the same as ``grokscan info``."""
    steps, scalars = m.run_steps, m.run_scalars
    run = of_run(steps, scalars)
    fc = forecasts(m)
    shown = fc[fc["shown"]] if fc["shown"] else None
    # the lead's delay from the first checkpoint at train accuracy 0.99, as onset evaluate
    # measures it (the in-loop detector's own memorisation is a step's batch)
    memorised = markers.get("memorisation")
    return {"crossings": run["crossings"], "grokking_delay": run["delay"],
            "final": run["final"], "key_freqs": m.key_freqs, "forecast": shown,
            "lead": onset_lead(shown["step"] if shown else None, memorised, steps, scalars),
            "steps": (int(m.steps[0]), int(m.steps[-1])), "n": m.n,
            "run_steps": (int(steps[0]), int(steps[-1])), "run_n": len(steps)}


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
 margin:0;background:#f6f6f4;color:#222;line-height:1.45}
main{max-width:1120px;margin:0 auto;padding:1.2em 1.6em 3em;background:#fff}
h1{font-size:1.55em;margin:.3em 0 .1em}h2{font-size:1.25em;margin:1.8em 0 .5em;
 border-bottom:1px solid #ddd;padding-bottom:.2em}
.run{color:#444;margin:.2em 0 1em}
table{border-collapse:collapse;margin:.6em 0;font-size:.95em}
td,th{padding:.25em .8em;border-bottom:1px solid #e4e4e4;text-align:right}
th:first-child,td:first-child{text-align:left}
nav{font-size:.92em;margin:1em 0;column-width:16em}nav a{display:block;color:#2a5d9f;
 text-decoration:none;margin:.1em 0}
figure{margin:1.2em 0 2em}figure img{max-width:100%;height:auto;display:block;margin:0 auto}
figcaption{font-size:.93em;color:#333;max-width:60em;margin:.5em auto 0}
.facts{font-size:.95em}.facts li{margin:.15em 0}.foot{font-size:.85em;color:#666;margin-top:3em}
.story{font-size:1.02em;max-width:60em}
details{border-top:1px solid #ddd;margin:.4em 0}details>summary{cursor:pointer;padding:.5em 0;
 font-size:1.15em;font-weight:600}details>summary span{font-weight:400;color:#666;font-size:.8em}
@media print{details{display:block}details>summary{list-style:none}}
"""
# the figures that show what happened, drawn in the summary at the top (in this order)
SUMMARY = ("training_curves", "forecast", "fourier_heatmap")




def _table(s: dict) -> str:
    rows = []
    for key, label in (("train_acc", "train accuracy"), ("test_acc", "test accuracy")):
        if key in s["crossings"]:
            cells = "".join(f"<td>{'—' if v is None else v}</td>"
                            for v in s["crossings"][key].values())
            final = s["final"].get(key)
            rows.append(f"<tr><td>{label}</td>{cells}<td>"
                        f"{'—' if final is None else f'{final:.4f}'}</td></tr>")
    head = "".join(f"<th>step ≥ {t}</th>" for t in THRESHOLDS)
    return (f"<table><tr><th></th>{head}<th>final</th></tr>{''.join(rows)}</table>"
            if rows else "")


def _facts(m: MetricsFile, s: dict) -> list[str]:
    facts = []
    delay = s["grokking_delay"]
    facts.append(f"grokking delay (train ≥ 0.99 → test ≥ 0.99): "
                 f"{'—' if delay is None else f'{delay} steps'}")
    f = s["forecast"]
    if f is not None:
        d = f["detector"]
        flag = "no flag" if f["step"] is None else f"flagged at step {f['step']}"
        facts.append(f"{d.label}: {flag}; {lead_words({**s['lead'], 'step': f['step']})}. "
                     f"Read it with its record: {d.reliability()}")
    elif not m.p and not_applicable(m.task_kind, residues=False):
        facts.append(not_applicable(m.task_kind, residues=False))
    else:
        facts.append(f"{default().label}: not computed (its signal, "
                     f"{default().settings.signal if default().settings else 'the in-loop record'}"
                     ", is not in this analysis)")
    for op, ks in s["key_freqs"].items():
        if ks:
            facts.append(f"key frequencies{f' ({op})' if len(s['key_freqs']) > 1 else ''}, "
                         f"final checkpoint: {', '.join(map(str, ks))}")
    losses = ", ".join(f"{k} {v:.3g}" for k, v in s["final"].items() if k.endswith("_loss"))
    if losses:
        facts.append(f"final loss: {losses}")
    facts.append(f"the run: {s['run_n']} checkpoints, steps {s['run_steps'][0]}–"
                 f"{s['run_steps'][1]}; analysed: {s['n']} checkpoints, steps "
                 f"{s['steps'][0]}–{s['steps'][1]}"
                 + (f"; metric families: {', '.join(m.families)}" if m.families else ""))
    return facts


def _figure(it, images: dict) -> str:
    esc = html.escape
    mime, data = images[it.name]
    uri = f"data:{mime};base64,{base64.b64encode(data).decode()}"
    return (f'<figure id="{esc(it.name)}"><img src="{uri}" alt="{esc(it.title)}">'
            f"<figcaption><b>{esc(it.title)}.</b> {esc(it.caption)}</figcaption></figure>")


def summary_items(sections: list[Section]) -> list:
    """The items of SUMMARY that this report has, in SUMMARY's order."""
    found = {it.name: it for s in sections for it in s.items}
    return [found[n] for n in SUMMARY if n in found]


def _body(sections: list[Section], images: dict) -> str:
    """Every section but the summary's figures, each a collapsed <details> (opened by its link
    in the table of contents, or by a click)."""
    esc, body = html.escape, []
    for sec in sections:
        items = [it for it in sec.items if it.name not in SUMMARY]
        if not items:
            continue
        n = f"{len(items)} figure{'s' if len(items) > 1 else ''}"
        body.append(f'<section id="{esc(sec.key)}"><details><summary>{esc(sec.title)} '
                    f"<span>({n})</span></summary>")
        body += [_figure(it, images) for it in items]
        body.append("</details></section>")
    return "".join(body)


def _nav(sections: list[Section]) -> str:
    esc = html.escape
    links = []
    for sec in sections:
        items = [it for it in sec.items if it.name not in SUMMARY]
        if items:
            titles = "; ".join(it.title for it in items)
            links.append(f'<a href="#{esc(sec.key)}" title="{esc(titles)}">{esc(sec.title)} '
                         f"({len(items)})</a>")
    return "".join(links)


def _foot(m: MetricsFile, page: Page) -> str:
    esc = html.escape
    left = [f"{t}: {r}" for t, r in page.left_out]
    left += [f"metric family {k}: {v}" for k, v in m.left_out.items()]
    items = "".join(f"<li>{esc(x)}</li>" for x in left)
    source = os.path.basename(m.source) if m.source else "—"
    return ((f"<p>Left out of this report:</p><ul>{items}</ul>" if items else "")
            + f"<p>grokscan {esc(__version__)} · drawn from metrics.h5 (metrics format "
            f"version {m.version}) · analysed from the checkpoint file {esc(source)} · the "
            "figures are also in figures/ beside this page</p>")


def pdf_text(m: MetricsFile, page: Page, items: list) -> tuple[str, list[str]]:
    """The first page of the report's PDF: (title, paragraphs): the run, its story, the facts
    of the summary, and the figures that follow, one a page."""
    s = summary(m, page.markers)
    name = os.path.basename(m.source) if m.source else os.path.basename(os.path.dirname(m.path))
    text = story(m.run_steps, m.run_scalars.get("train_acc"), m.run_scalars.get("test_acc"),
                 markers=page.markers, key_freqs=m.key_freqs)
    figures = "; ".join(f"{i}. {it.title}" for i, it in enumerate(
        (it for it in items if it.name != "constellation_animation"), start=2))
    return (f"grokscan report — {name}", [run_line(m), text]
            + [f"• {f}" for f in _facts(m, s)]
            + [f"The figures, one a page (their captions are in report.html): {figures}."])


def html_page(m: MetricsFile, page: Page, sections: list[Section], images: dict) -> str:
    """The whole page: every image embedded as a data URI, no script, no network."""
    esc = html.escape
    s = summary(m, page.markers)
    name = os.path.basename(m.source) if m.source else os.path.basename(os.path.dirname(m.path))
    facts = "".join(f"<li>{esc(f)}</li>" for f in _facts(m, s))
    text = story(m.run_steps, m.run_scalars.get("train_acc"), m.run_scalars.get("test_acc"),
                 markers=page.markers, key_freqs=m.key_freqs)
    top = "".join(_figure(it, images) for it in summary_items(sections))
    # a section whose figures are all in the summary keeps its anchor there
    top += "".join(f'<div id="{esc(sec.key)}"></div>' for sec in sections
                   if all(it.name in SUMMARY for it in sec.items))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>grokscan report — {esc(name)}</title>
<style>{CSS}</style></head>
<body><main>
<h1>grokscan report — {esc(name)}</h1>
<p class="run">{esc(run_line(m))}</p>
<section id="summary"><h2>Summary</h2>
<p class="story">{esc(text)}</p>
{_table(s)}
<ul class="facts">{facts}</ul>
{top}</section>
<h2>Every figure, by section</h2>
<nav>{_nav(sections)}</nav>
{_body(sections, images)}
<div class="foot">{_foot(m, page)}</div>
</main></body></html>
"""
