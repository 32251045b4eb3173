"""The report's maps over the (a, b) grid at memorisation and at the end (the MOMENTS families,
``/moments`` of metrics.h5): single neurons per key frequency, and each head's attention from
'=' to a."""

from __future__ import annotations

import numpy as np

from grokscan import figures as F
from grokscan import groups
from grokscan.reporting.base import Item, Page, op_title, sfx
from grokscan.store.metrics import MetricsFile

# the group phase of an operation whose answer is a function of it (grokscan.tasks.modular)
MAX_ROWS = 4  # neurons drawn at most, one per frequency: the figure's height stays bounded
PHASE = {"add": "a + b", "sub": "a − b", "mul": "log a + log b", "div": "log a − log b"}
MOMENT_NAMES = {"memorisation": "memorisation", "end": "end"}  # column titles (else as stored)
PROSE = {"memorisation": "memorisation", "end": "the end",  # in captions
         "first analysed": "the first analysed checkpoint (after memorisation)",
         "last analysed": "the last analysed checkpoint (before the run's end)"}


def _moments(m: MetricsFile, family: str) -> tuple[list[str], np.ndarray]:
    g = f"moments/{family}"
    return m.texts(g, "moments"), m.numbers(g, "steps", [], whole=True, lo=0).astype(np.int64)


def _op_name(m: MetricsFile, op: str) -> str:
    return op or (m.ops[0] if len(m.ops) == 1 else "")


def _order(m: MetricsFile, op: str) -> np.ndarray | None:
    """Z_P^* in discrete-log order for an operation analysed in the multiplicative basis."""
    if m.op_basis.get(_op_name(m, op)) == "multiplicative" and m.p > 2:
        return groups.discrete_log_order(m.p)
    return None


def _view(values: np.ndarray, order: np.ndarray | None) -> np.ndarray:
    """(..., P, P) in the order drawn: natural, or rows and columns in discrete-log order."""
    return values if order is None else values[..., order[:, None], order[None, :]]


def _grid_words(order: np.ndarray | None) -> tuple[tuple[str, str], str]:
    if order is None:
        return ("a", "b"), "row a, column b"
    return ((r"$i$, $a = g^i$", r"$j$, $b = g^j$"),
            "rows and columns in discrete-log order, a = g^i and b = g^j for the smallest "
            "primitive root g, 0 left out")


def _columns(names: list[str], steps: np.ndarray) -> list[str]:
    return [f"{MOMENT_NAMES.get(n, n)}, step {s}" for n, s in zip(names, steps)]


def _range(x: np.ndarray) -> str:
    x = np.asarray(x, dtype=float)
    return f"median {np.median(x):.2f}, {x.min():.2f}–{x.max():.2f}"


def shown_neurons(freq: np.ndarray, share_end: np.ndarray, *,
                  max_rows: int | None = None) -> np.ndarray:
    """The rows of the neuron maps to draw, of the neurons the analysis picked (``freq``, (R,),
    each one's frequency; ``share_end``, (R,), its k-share at the end): the best explained
    neuron of each frequency, at most ``max_rows`` (default MAX_ROWS) of them, the best
    explained frequencies kept; in the order given (of k)."""
    freq, share_end = np.asarray(freq), np.nan_to_num(np.asarray(share_end, float), nan=-1.0)
    best = [int(np.flatnonzero(freq == k)[np.argmax(share_end[freq == k])])
            for k in dict.fromkeys(freq.tolist())]
    kept = sorted(best, key=lambda r: -share_end[r])[:max_rows or MAX_ROWS]
    return np.array(sorted(kept), dtype=np.int64)


def neuron_maps_item(page: Page, op: str) -> Item | None:
    m = page.m
    s = sfx(m, op)
    acts = m.moment(f"neurons/maps/acts{s}")
    if acts is None:
        return None
    if acts.shape[1] == 0:
        page.left_out.append((f"Single neurons over (a, b){op_title(m, op)}",
                              "no neuron of the last layer varies over (a, b) at the end"))
        return None
    names, steps = _moments(m, "neurons/maps")
    neuron, freq = m.moment(f"neurons/maps/neuron{s}")[-1], m.moment(f"neurons/maps/freq{s}")[-1]
    share, phase = m.moment(f"neurons/maps/share{s}"), m.moment(f"neurons/maps/phase_share{s}")
    order = _order(m, op)
    axes_names, grid = _grid_words(order)
    ks = sorted(set(freq.tolist()))
    per = max(np.sum(freq == k) for k in ks)
    rows = shown_neurons(freq, share[-1])
    shown = (f"{len(rows)} of the {len(neuron)} neurons picked:\nthe best explained of "
             + ("each frequency" if len(rows) == len(ks) else
                f"{len(rows)} of the {len(ks)} frequencies")
             if len(rows) < len(neuron) else "")

    def draw():
        return F.grid_maps(
            np.swapaxes(_view(acts[:, rows], order), 0, 1),
            rows=[f"neuron {neuron[r]}, k = {freq[r]}" for r in rows],
            moments=_columns(names, steps),
            titles=[[f"k-share {share[j, r]:.2f}" for j in range(len(names))] for r in rows],
            axes_names=axes_names, colour_label="activation", title=shown)

    phase_words = PHASE.get(_op_name(m, op))
    when = " and at ".join(f"{PROSE.get(n, n)} (step {t})" for n, t in zip(names, steps))
    stats = "; ".join(f"at {PROSE.get(n, n)} {_range(share[j])}"
                      for j, n in enumerate(names))
    wave, length = ("w_k·log a and w_k·log b, w_k = 2πk/(P − 1) (discrete logarithms)",
                    "(P − 1)/k in the drawn order") if order is not None else \
        ("w_k·a and w_k·b, w_k = 2πk/P", "P/k")
    keys = [int(k) for k in (m.key_freqs.get(_op_name(m, op)) or [])]
    which = (f"key frequency k ({', '.join(map(str, ks))})" if set(ks) <= set(keys) else
             f"frequency k ({', '.join(map(str, ks))}; no neuron's dominant frequency is "
             f"among the key frequencies ({', '.join(map(str, keys)) or 'none'}), so these "
             "are the frequencies that dominate the most neurons)")
    text = (f"The activation of {len(neuron)} neurons of the last hidden layer over every input "
            f"(a, b) ({grid}), up to {per} per {which}: "
            "those whose dominant frequency at the end is k, best explained first"
            + (f" (drawn: {shown.replace(chr(10), ' ')}, at most {MAX_ROWS})" if shown else "")
            + ", at "
            f"{when}; one colour scale per neuron (diverging around 0 where an activation is "
            "negative). Nanda et al. (arXiv:2301.05217 §4–5) find that after grokking a neuron "
            f"of frequency k is, to a good approximation, a function of cos and sin of {wave} "
            "(its products give "
            + (f"cos/sin(w_k({phase_words})), " if phase_words else "the answer's terms, ")
            + f"which the logits read), so that its map is a wave of wavelength {length} along "
            "each axis. The share of each neuron's variance that the 2-D Fourier components of its "
            f"frequency explain (k-share in the titles): {stats}.")
    text += _phase_words(phase_words, phase, names) + _verdict(
        page.markers.get("grokking"), int(steps[-1]), share[-1])
    return Item(f"neuron_maps{s}", f"Single neurons over (a, b){op_title(m, op)}", text, draw)


def _phase_words(phase_words: str | None, phase: np.ndarray, names: list[str]) -> str:
    """The share of the neurons' variance in cos and sin of the group phase alone."""
    if not phase_words or not np.isfinite(phase).all():
        return ""
    return (f" The share in cos and sin of w_k({phase_words}) alone: "
            + "; ".join(f"at {PROSE.get(n, n)} {_range(phase[j])}"
                        for j, n in enumerate(names)) + ".")


def _verdict(grok: int | None, end_step: int, share: np.ndarray) -> str:
    """Whether the neurons drawn bear out Nanda et al.'s finding at the end, after grokking."""
    if grok is None or end_step < grok:
        return (" In this run the end is not after grokking, so the finding has nothing to be "
                "checked against there.")
    end = float(np.median(share))
    return (f" After grokking this run {'agrees' if end >= 0.8 else 'does not'}: its frequency "
            f"explains a median {end:.2f} of a drawn neuron's variance at the end (0.8 or more "
            "read as a good approximation).")


def attention_maps_item(page: Page, op: str) -> Item | None:
    m = page.m
    s = sfx(m, op)
    to_a = m.moment(f"attention/maps/to_a{s}")
    if to_a is None:
        return None
    names, steps = _moments(m, "attention/maps")
    to_b, to_self = m.moment(f"attention/maps/to_b{s}"), m.moment(f"attention/maps/to_self{s}")
    dominant = m.moment(f"attention/maps/dominant{s}")
    explained = m.moment(f"attention/maps/explained{s}")
    order = _order(m, op)
    axes_names, grid = _grid_words(order)
    H = to_a.shape[1]

    def draw():
        return F.grid_maps(
            np.swapaxes(_view(to_a, order), 0, 1), rows=[f"head {h}" for h in range(H)],
            moments=_columns(names, steps),
            titles=[[f"k = {dominant[j, h]}: share {explained[j, h]:.2f}"
                     for j in range(len(names))] for h in range(H)],
            axes_names=axes_names, colour_label="attention to a")

    when = " and at ".join(f"{PROSE.get(n, n)} (step {t})" for n, t in zip(names, steps))
    keys = set(m.key_freqs.get(_op_name(m, op), []))
    end = ", ".join(f"head {h} k = {dominant[-1, h]} ({explained[-1, h]:.2f})" for h in range(H))
    at_key = int(sum(int(k) in keys for k in dominant[-1]))
    n_freqs = ((m.p - 1) if _order(m, op) is not None else m.p) // 2  # frequencies 1..n/2
    chance = len(keys) / max(n_freqs, 1)
    rest = "; ".join(f"at {PROSE.get(n, n)} to a {to_a[j].mean():.2f}, to b "
                     f"{to_b[j].mean():.2f}, to '=' {to_self[j].mean():.3f}"
                     for j, n in enumerate(names))
    text = ("The attention weight each head of the transformer gives, from the '=' token (the "
            "last position, where the logits are read) to the token a (position 0), over every "
            f"input (a, b) ({grid}), at {when}; one colour scale per head. The "
            "weight the heads do not give to a goes to b and to '=' itself (and to the "
            f"operation token of a multi-task model); on average over the grid: {rest}. Nanda "
            "et al. (arXiv:2301.05217, their attention figure) find each head's attention to a "
            "periodic in the inputs at a key frequency once the network generalises. The "
            "titles give each head's dominant 2-D frequency k and the share of the map's "
            f"variance that k's Fourier components explain; at the end: {end}"
            + (f", {at_key} of {H} at a key frequency ({', '.join(map(str, sorted(keys)))}; "
               f"a frequency drawn at random would be one with chance {chance:.0%})"
               if keys else "") + ".")
    return Item(f"attention_maps{s}", f"Attention from '=' to a{op_title(m, op)}", text, draw)
