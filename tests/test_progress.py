import io
import re

from grokscan.progress import LogLines, progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_log_gets_a_line_every_five_percent():
    out = io.StringIO()
    bar = progress(2000, desc="train", unit="step", file=out)
    assert isinstance(bar, LogLines)
    for i in range(2000):
        if i == 1000:
            bar.set_postfix_str("loss 0.1/2.0")
        bar.update()
    bar.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 20  # 100, 200, ..., 1900, then the end
    assert [int(re.match(r"train: (\d+)/2000 step", ln).group(1)) for ln in lines] == \
        list(range(100, 2001, 100))
    assert "(5 %)" in lines[0] and "left" in lines[0] and "left" not in lines[-1]
    assert lines[-1].endswith("; loss 0.1/2.0") and "loss" not in lines[8]


def test_a_resumed_bar_counts_from_where_it_starts():
    out = io.StringIO()
    bar = progress(1000, desc="train", unit="step", initial=600, file=out)
    bar.update(30)  # 630: below 650, no line yet
    assert out.getvalue() == ""
    bar.update(30)
    bar.close()
    assert [ln.split()[1] for ln in out.getvalue().splitlines()] == ["660/1000"]


def test_large_updates_and_nothing_done():
    out = io.StringIO()
    bar = LogLines(10, desc="", unit="ckpt", file=out)
    bar.close()  # nothing done: no line
    assert out.getvalue() == ""
    bar = LogLines(10, desc="analyze", unit="ckpt", file=out)
    bar.update(7)
    bar.update(3)
    bar.close()
    assert out.getvalue().splitlines()[0].startswith("analyze: 7/10 ckpt (70 %)")
    assert out.getvalue().splitlines()[-1].startswith("analyze: 10/10 ckpt (100 %)")


def test_a_terminal_gets_a_bar_and_quiet_gets_nothing():
    term = Terminal()
    bar = progress(5, desc="x", file=term)
    assert not isinstance(bar, LogLines)
    bar.update(5)
    bar.close()
    assert "5/5" in term.getvalue()
    out = io.StringIO()
    bar = progress(5, quiet=True, file=out)
    bar.update(5)
    bar.close()
    assert out.getvalue() == ""
