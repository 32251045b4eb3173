"""What ``grokscan watch`` shows, from the checkpoints read so far (:class:`View`), and how a
terminal draws it (rich renderables: no terminal control codes are written here).

The view keeps, per checkpoint, the step and the scalars, and for a task with residues the
Fourier measures of the per-residue vectors (the embedding): FFD (Furuta et al.,
arXiv:2402.16726 Eq. 5) and the Gini coefficient of its Fourier norms (Nanda et al.,
arXiv:2301.05217 §4), in the basis the analysis uses (grokscan/analysis/setup.py: multiplicative
when every operation is, else additive). Of the latest checkpoint it keeps the norms, the key
frequencies (those that carry 80 % of the power, as the report's) and the constellation: the
centred residue vectors on the plane of the strongest frequency, the plane
grokscan/analysis/setup.py fixes for the report's animation, here taken at the current
checkpoint. The forecast is the default onset detector over the checkpoints seen
(grokscan/onset/forecast.py), named, with its held-out record in the summary; the state says
what the accuracies show, never what a detector predicts. Updating costs the rows that are
new; drawing costs the width of the screen.
"""

from __future__ import annotations

import colorsys

import numpy as np
from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from grokscan.groups import discrete_log_order
from grokscan.metrics import fourier as fm
from grokscan.onset.forecast import Forecast, Spectrum, not_applicable
from grokscan.onset.shipped import default
from grokscan.summary import GROKKED, MEMORISED

DEFAULT = default()  # the forecast shown: the shipped detector that measured best held out

RISE = 0.05  # test accuracy this far above its lowest before memorisation: "generalising"
KEY_COVER = 0.8  # key frequencies: the fewest carrying this share of the power (the report's)
N_KEYS = 8
SPARK = "▁▂▃▄▅▆▇█"
SPARK_WIDTH = 48
PLOT_W, PLOT_H = 24, 12  # the constellation, in characters (48 × 48 braille dots)
CURVES = (("train_loss", "train loss", True), ("test_loss", "test loss", True),
          ("train_acc", "train acc", False), ("test_acc", "test acc", False))


class Series:
    """A growing float64 array: appending k values costs k (amortised), reading is a view."""

    def __init__(self):
        self._a, self.n = np.empty(64), 0

    def extend(self, values) -> None:
        values = np.asarray(values, dtype=np.float64).ravel()
        if self.n + len(values) > len(self._a):
            grown = np.empty(max(2 * len(self._a), self.n + len(values)))
            grown[: self.n] = self._a[: self.n]
            self._a = grown
        self._a[self.n: self.n + len(values)] = values
        self.n += len(values)

    @property
    def values(self) -> np.ndarray:
        return self._a[: self.n]

    def last(self, back: int = 0) -> float | None:
        return float(self._a[self.n - 1 - back]) if self.n > back else None


def plane(spectrum: Spectrum, E: np.ndarray, k: int) -> np.ndarray:
    """(R, 2): the centred vectors E (P, d) in picture order (Z_P^* in discrete-log order for a
    multiplicative basis) on the plane of the cos and sin directions of frequency k
    (orthonormalised), as grokscan/analysis/setup.py."""
    p = spectrum.p
    order = discrete_log_order(p) if spectrum.basis == "multiplicative" else np.arange(p)
    X = E[order].astype(np.float64)
    X = X - X.mean(axis=0)
    theta = 2 * np.pi * k * np.arange(len(X)) / len(X)
    axes, _ = np.linalg.qr(np.stack([np.cos(theta) @ X, np.sin(theta) @ X], 1))
    return X @ axes


class View:
    """The state of the view after the checkpoints given to :meth:`~grokscan.watch.View.update`.

    path: the run file; task: its TaskData (grokscan.tasks); residue_vectors: the file's
    layout. ``status`` is what the header says of the run ("live", "ended", "replay").
    """

    def __init__(self, path: str, task, residue_vectors: list[dict]):
        self.path, self.kind = path, task.kind
        res = task.residues
        self.what = f"{', '.join(res.ops)} mod {res.p}" if res is not None else task.kind
        self.fourier = Spectrum.of(task, residue_vectors)
        # the forecast: the default onset detector over the checkpoints seen (its own signal,
        # from the weights); where the default reads every step, the file's or the trainer's
        self.forecast = Forecast(DEFAULT.settings, self.fourier) \
            if DEFAULT.settings is not None else None
        self.no_forecast = not_applicable(task.kind, residues=res is not None,
                                          vectors=bool(residue_vectors))
        self.steps = Series()
        self.scalars: dict[str, Series] = {}
        self.ffd, self.gini = Series(), Series()
        self.norms: np.ndarray | None = None  # (B,) the latest checkpoint's
        self.keys: list[int] = []
        self.points: np.ndarray | None = None  # (R, 2)
        self.crossings: dict[str, int | None] = {"train_acc": None, "test_acc": None}
        self.first: dict[str, float] = {}
        self.status = "live"
        self.live_onset: int | None = None  # the flag of a default that reads every step
        self.test_floor: float | None = None  # lowest test accuracy up to memorisation

    # --- the numbers -------------------------------------------------------------------------
    def update(self, rows) -> None:
        """Take the new checkpoints ``rows`` (grokscan.watch.reader.Rows)."""
        if not len(rows):
            return
        if rows.onset is not None:
            self.live_onset = rows.onset
        self.steps.extend(rows.steps)
        self._floor(rows.scalars)
        for name, values in rows.scalars.items():
            self.scalars.setdefault(name, Series()).extend(values)
            if name in self.crossings and self.crossings[name] is None:
                level = MEMORISED if name == "train_acc" else GROKKED
                hit = np.flatnonzero(np.asarray(values) >= level)
                self.crossings[name] = int(rows.steps[hit[0]]) if hit.size else None
        if self.fourier is not None and rows.params:
            self._spectrum(self.fourier.vectors(rows.params))
        if self.forecast is not None and (rows.params or not self.forecast.params):
            self.forecast.add(rows.steps, rows.scalars, rows.params)

    def _floor(self, scalars: dict) -> None:
        """The lowest test accuracy of the checkpoints up to memorisation (inclusive)."""
        train, test = scalars.get("train_acc"), scalars.get("test_acc")
        if train is None or test is None or self.crossings["train_acc"] is not None:
            return
        hit = np.flatnonzero(np.asarray(train) >= MEMORISED)
        low = float(np.min(test[: hit[0] + 1] if hit.size else test))
        self.test_floor = low if self.test_floor is None else min(self.test_floor, low)

    def _spectrum(self, W: np.ndarray) -> None:
        norms = fm.fourier_norms(W.astype(np.float64), self.fourier.B)  # (k, B)
        self.ffd.extend(fm.ffd(norms))
        self.gini.extend(fm.gini(norms))
        self.first.setdefault("ffd", float(self.ffd.values[0]))
        self.first.setdefault("gini", float(self.gini.values[0]))
        self.norms = norms[-1]
        power = fm.frequency_power(self.norms)
        mask = fm.key_frequency_mask(self.norms, cover=KEY_COVER)
        keys = np.flatnonzero(mask)
        self.keys = [int(k) + 1 for k in keys[np.argsort(-power[keys], kind="stable")]][:N_KEYS]
        self.points = plane(self.fourier, W[-1], self.keys[0]) if self.keys else None

    def value(self, name: str) -> float | None:
        s = self.scalars.get(name)
        return None if s is None else s.last()

    @property
    def onset(self) -> int | None:
        """The forecast's flag step (the default onset detector, grokscan/onset/shipped.py,
        over the checkpoints seen; no test-set quantity reaches it), or None."""
        if self.forecast is None:
            return self.live_onset
        return self.forecast.result.step if self.forecast.result else None

    @property
    def state(self) -> str:
        """What the run shows at its latest checkpoint: memorising (train acc < 0.99),
        memorised (train ≥ 0.99, test accuracy not risen), generalising (test accuracy RISE or
        more above its lowest value up to memorisation, below 0.99), grokked (test ≥ 0.99);
        "—" before the first checkpoint or without accuracies."""
        train, test = self.value("train_acc"), self.value("test_acc")
        if train is None or test is None:
            return "—"
        if train < MEMORISED:
            return "memorising"
        if test >= GROKKED:
            return "grokked"
        floor = self.test_floor
        return "generalising" if floor is not None and test >= floor + RISE else "memorised"

    # --- the drawing -------------------------------------------------------------------------
    def header(self) -> Text:
        step = self.steps.last()
        t = Text.assemble(("step ", "dim"), (f"{int(step)}" if step is not None else "—", "bold"),
                          ("  checkpoints ", "dim"), f"{self.steps.n}", ("  state ", "dim"),
                          (self.state, STATE_STYLE.get(self.state, "")))
        onset = self.onset
        if onset is not None:
            t.append_text(Text.assemble((f"\n{DEFAULT.label}: flagged at step ", "dim"),
                                        (f"{onset}", "bold magenta")))
        elif self.no_forecast:
            t.append_text(Text(f"\n{self.no_forecast}", style="dim"))
        return t

    def curves(self) -> Table:
        table = Table.grid(padding=(0, 2))
        for _ in range(3):
            table.add_column()
        for name, label, log in CURVES:
            s = self.scalars.get(name)
            if s is None:
                continue
            now = s.last()
            table.add_row(label, _number(now, log), Text(sparkline(s.values, log=log),
                                                           style="cyan"))
        return table

    def spectrum(self) -> Group | Text:
        if self.fourier is None:
            return Text(f"Fourier measures: left out (the {self.kind} task has no residues "
                        "mod P)" if self.kind != "modular" else
                        "Fourier measures: left out (the file names no residue vectors)",
                        style="dim")
        if self.norms is None:
            return Text("Fourier norms: waiting for the first checkpoint", style="dim")
        power = fm.frequency_power(self.norms)
        keys = ", ".join(map(str, self.keys)) or "—"
        lines = [Text(f"embedding Fourier norm per frequency k = 1..{len(power)} "
                      f"({self.fourier.basis})", style="bold"),
                 bar_row(power, self.keys), ruler(len(power)),
                 Text.assemble(("key frequencies ", "dim"), (keys, "bold magenta")),
                 Text.assemble(("FFD ", "dim"), f"{self.ffd.last():.3f} {trend(self.ffd)}",
                               ("   Gini ", "dim"), f"{self.gini.last():.3f} {trend(self.gini)}")]
        return Group(*lines)

    def constellation(self) -> Text:
        if self.points is None:
            return Text("")
        title = Text(f"residues on the plane of k = {self.keys[0]}\n", style="bold")
        return title + braille(self.points, PLOT_W, PLOT_H)

    def __rich__(self) -> Panel:
        body = Table.grid(padding=(0, 3))
        body.add_column()
        body.add_column()
        body.add_row(Group(self.curves(), Text(""), self.spectrum()), self.constellation())
        return Panel(Group(self.header(), Text(""), body), title=self._title(),
                     title_align="left", border_style=STATUS_STYLE.get(self.status.split(":")[0],
                                                                       "blue"))

    def _title(self) -> str:
        return f"grokscan watch · {self.what} · {self.status} · {self.path}"

    def summary(self) -> Panel:
        """The one-screen summary printed when the run ends."""
        t = Table.grid(padding=(0, 2))
        t.add_column(style="dim")
        t.add_column()
        last = self.steps.last()
        t.add_row("checkpoints", f"{self.steps.n}, last step "
                                 f"{int(last) if last is not None else '—'}")
        t.add_row("state", Text(self.state, style=STATE_STYLE.get(self.state, "")))
        for name, label, log in CURVES:
            if name in self.scalars:
                t.add_row(label, _number(self.value(name), log))
        for name, what in (("train_acc", "memorised (train acc ≥ 0.99)"),
                           ("test_acc", "grokked (test acc ≥ 0.99)")):
            if name in self.scalars:
                step = self.crossings[name]
                t.add_row(what, "not reached" if step is None else f"at step {step}")
        if self.no_forecast:
            t.add_row("onset", self.no_forecast)
        elif self.forecast is None or self.forecast.possible:
            onset = self.onset
            t.add_row(DEFAULT.label, ("not flagged" if onset is None else f"at step {onset}")
                      + f"\n{DEFAULT.reliability()}")
        if self.fourier is not None and self.norms is not None:
            t.add_row("key frequencies", ", ".join(map(str, self.keys)) or "—")
            t.add_row("FFD", f"{self.first['ffd']:.3f} → {self.ffd.last():.3f}")
            t.add_row("Gini", f"{self.first['gini']:.3f} → {self.gini.last():.3f}")
        return Panel(t, title=f"summary · {self.what} · {self.path}", title_align="left",
                     border_style="green")


STATE_STYLE = {"memorising": "yellow", "memorised": "yellow", "generalising": "cyan",
               "grokked": "bold green"}
STATUS_STYLE = {"live": "blue", "ended": "green", "replay": "magenta", "stopped": "red"}


def _number(x: float | None, log: bool) -> str:
    if x is None or not np.isfinite(x):
        return "—"
    return f"{x:.3g}" if log else f"{x:.3f}"


def sparkline(values: np.ndarray, *, width: int = SPARK_WIDTH, log: bool = False) -> str:
    """The last value of each of ``width`` equal stretches of ``values``, as block heights
    between their minimum and maximum (log10 when ``log``); non-finite values are blank."""
    v = np.asarray(values, dtype=np.float64)
    if not len(v):
        return ""
    pick = np.unique(np.linspace(0, len(v) - 1, min(len(v), width)).round().astype(int))
    v = v[pick]
    if log:
        v = np.log10(np.where(v > 0, v, np.nan))
    ok = np.isfinite(v)
    if not ok.any():
        return " " * len(v)
    lo, hi = np.nanmin(v[ok]), np.nanmax(v[ok])
    level = np.zeros(len(v), int) if hi <= lo else \
        np.round((v - lo) / (hi - lo) * (len(SPARK) - 1)).astype(int, copy=False)
    return "".join(SPARK[int(x)] if good else " " for x, good in zip(level, ok))


def bar_row(power: np.ndarray, keys: list[int]) -> Text:
    """One block per frequency, its height the frequency's power over the largest; the key
    frequencies in colour."""
    top = float(np.max(power)) if len(power) else 0.0
    t = Text()
    for k, x in enumerate(power, start=1):
        level = int(round(x / top * (len(SPARK) - 1))) if top > 0 else 0
        t.append(SPARK[level], style="bold magenta" if k in keys else "blue")
    return t


def ruler(n: int) -> Text:
    """Tick labels under a bar row of n frequencies: k = 1, then every tenth."""
    cells = [" "] * n
    for k in [1, *range(10, n + 1, 10)]:
        label = str(k)
        start = min(k - 1, n - len(label))
        cells[start:start + len(label)] = list(label)
    return Text("".join(cells), style="dim")


def trend(s: Series, back: int = 5) -> str:
    """↑, ↓ or → for the change over the last ``back`` checkpoints (→ under 1 % of the range
    the measure can take, [0, 1])."""
    now, then = s.last(), s.last(min(back, s.n - 1))
    if now is None or then is None or abs(now - then) < 0.01:
        return "→"
    return "↑" if now > then else "↓"


BRAILLE_BITS = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))  # [row][col]


def braille(points: np.ndarray, width: int, height: int) -> Text:
    """A scatter of ``points`` (R, 2) in ``width`` × ``height`` braille characters (2 × 4
    dots each), centred at 0 with equal scales on both axes; each character takes the colour
    of the last residue drawn in it (residue i of R at hue i/R, so that an ordered circle is a
    rainbow)."""
    pts = np.asarray(points, dtype=np.float64)
    cols, rows = 2 * width, 4 * height
    scale = np.nanmax(np.abs(pts)) * 1.05 if len(pts) and np.isfinite(pts).any() else 1.0
    scale = scale if scale > 0 else 1.0
    x = np.clip(((pts[:, 0] / scale + 1) / 2 * (cols - 1)).round(), 0, cols - 1).astype(int)
    y = np.clip(((1 - pts[:, 1] / scale) / 2 * (rows - 1)).round(), 0, rows - 1).astype(int)
    bits = np.zeros((height, width), int)
    colour = np.full((height, width), -1)
    for i, (cx, cy) in enumerate(zip(x, y)):
        bits[cy // 4, cx // 2] |= BRAILLE_BITS[cy % 4][cx % 2]
        colour[cy // 4, cx // 2] = i
    t = Text()
    for r in range(height):
        for c in range(width):
            i = colour[r, c]
            t.append(chr(0x2800 + bits[r, c]), style=_hue(i, len(pts)) if i >= 0 else "")
        if r < height - 1:
            t.append("\n")
    return t


def _hue(i: int, n: int) -> str:
    r, g, b = colorsys.hsv_to_rgb(i / max(n, 1), 0.75, 0.95)
    return f"rgb({int(r * 255)},{int(g * 255)},{int(b * 255)})"
