"""``grokscan factor``'s output: a reading or a search as text, and the plot file."""

from __future__ import annotations

import textwrap

from grokscan.factor.read import CheckpointReading, FactorReport
from grokscan.factor.search import Search
from grokscan.groups import is_prime


def _prime(p: int) -> str | None:
    """The verdict for a prime P: there is no factor to find, whatever the weights show."""
    if p >= 2 and is_prime(p):
        return (f"P = {p} is prime: it has no factor to find (a frequency k < P is coprime to "
                "P, so the rows fall on a circle, never in residue-class clusters)")
    return None


def _evidence_lines(report: FactorReport, indent: str = "  ") -> list[str]:
    lines = []
    for e in report.evidence:
        head = (f"{e.projection}: {e.n_clusters} clusters of {e.cluster_size}, share "
                f"{e.share:.2f}, quality {e.quality:.2f}; residue classes mod {e.n_clusters}:")
        classes = " ".join("{" + ",".join(map(str, arc)) + "}" for arc in e.residues)
        lines.append(indent + head)
        lines += textwrap.wrap(classes, 96, initial_indent=indent * 3,
                               subsequent_indent=indent * 3)
    reasons: dict[str, list[str]] = {}
    for e in report.rejected:
        reasons.setdefault(e.reason, []).append(e.projection)
    for reason, names in reasons.items():
        lines += textwrap.wrap(f"not read: {', '.join(names)}: {reason}", 96,
                               initial_indent=indent, subsequent_indent=indent * 3)
    return lines


def _verdict(report: FactorReport) -> str:
    if report.found:
        return report.summary()
    if _prime(report.p):
        return _prime(report.p)
    return (f"P = {report.p}: no factorisation; the weights show no residue-class clusters "
            "in any projection")


def _acc(acc: float | None) -> str:
    return "no recorded test accuracy" if acc is None else f"test accuracy {acc:.3f}"


def format_reading(r: CheckpointReading) -> str:
    lines = [f"{r.path}, step {r.step}, {_acc(r.test_acc)}", _verdict(r.report)]
    return "\n".join(lines + _evidence_lines(r.report))


def format_search(s: Search) -> str:
    lines = []
    for r in s.runs:
        where = f" ({r.path})" if r.path else ""
        grok = "not reached" if r.grokked_at is None else f"at step {r.grokked_at}"
        lines.append(f"seed {r.seed}: {r.steps} steps in {r.seconds:.1f} s, test accuracy ≥ "
                     f"0.99 {grok}; stopped: {r.stopped}{where}")
        lines.append(f"  step {r.reading.step}, {_acc(r.reading.test_acc)}: "
                     f"{_verdict(r.reading.report)}")
        lines += _evidence_lines(r.reading.report, indent="    ")
    factors, unresolved = s.factorisation
    n = sum(r.reading.report.found for r in s.runs)
    if s.found:
        combined = FactorReport(s.p, True, s.complete, factors, unresolved, tuple(s.divisors),
                                (), ())
        lines.append(f"{combined.summary()}: from the weights of {n} of {len(s.runs)} seeds")
    elif _prime(s.p):
        lines.append(_prime(s.p))
    else:
        lines.append(f"P = {s.p}: no factorisation; the weights of none of the {len(s.runs)} "
                     "seeds show residue-class clusters")
    return "\n".join(lines)
