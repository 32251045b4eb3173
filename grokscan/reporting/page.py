"""The report page: its header (the run in one line, the crossing table, the facts) and the
self-contained HTML around the figures."""

from __future__ import annotations

import base64
import html
import os

from grokscan._version import __version__
from grokscan.onset.forecast import not_applicable
from grokscan.onset.shipped import default
from grokscan.reporting.base import Page, Section, forecasts
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
nav{font-size:.92em;margin:1em 0}nav a{margin-right:1em;color:#2a5d9f;text-decoration:none}
figure{margin:1.2em 0 2em}figure img{max-width:100%;height:auto;display:block;margin:0 auto}
figcaption{font-size:.93em;color:#333;max-width:60em;margin:.5em auto 0}
.facts{font-size:.95em}.facts li{margin:.15em 0}.foot{font-size:.85em;color:#666;margin-top:3em}
"""




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


def _body(sections: list[Section], images: dict) -> str:
    esc, body = html.escape, []
    for sec in sections:
        body.append(f'<section id="{esc(sec.key)}"><h2>{esc(sec.title)}</h2>')
        for it in sec.items:
            mime, data = images[it.name]
            uri = f"data:{mime};base64,{base64.b64encode(data).decode()}"
            body.append(f'<figure id="{esc(it.name)}"><img src="{uri}" alt="{esc(it.title)}">'
                        f"<figcaption><b>{esc(it.title)}.</b> {esc(it.caption)}</figcaption>"
                        "</figure>")
        body.append("</section>")
    return "".join(body)


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


def html_page(m: MetricsFile, page: Page, sections: list[Section], images: dict) -> str:
    """The whole page: every image embedded as a data URI, no script, no network."""
    esc = html.escape
    s = summary(m, page.markers)
    name = os.path.basename(m.source) if m.source else os.path.basename(os.path.dirname(m.path))
    nav = "".join(f'<a href="#{esc(sec.key)}">{esc(sec.title)}</a>' for sec in sections)
    facts = "".join(f"<li>{esc(f)}</li>" for f in _facts(m, s))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>grokscan report — {esc(name)}</title>
<style>{CSS}</style></head>
<body><main>
<h1>grokscan report — {esc(name)}</h1>
<p class="run">{esc(run_line(m))}</p>
{_table(s)}
<ul class="facts">{facts}</ul>
<nav>{nav}</nav>
{_body(sections, images)}
<div class="foot">{_foot(m, page)}</div>
</main></body></html>
"""
