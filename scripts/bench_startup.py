"""Start-up time of the command line: `grokscan --help`, `grokscan train --help` and `grokscan
info` on a small file, each in a fresh process (the median of ``--repeat`` runs), and whether
torch was loaded. Target: `grokscan --help` under 0.5 s.

    .venv/bin/python scripts/bench_startup.py
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

FILE = Path(__file__).resolve().parents[1] / "tests" / "data" / "checkpoints-v1.h5"
CODE = """
import sys
from grokscan.cli import main
try:
    main(sys.argv[1:], standalone_mode=False)
except SystemExit:
    pass
print("TORCH" if "torch" in sys.modules else "NOTORCH", file=sys.stderr)
"""


def timed(args: list[str]) -> tuple[float, bool]:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", CODE, *args], capture_output=True, text=True)
    return time.perf_counter() - t0, "NOTORCH" not in r.stderr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    repeat = ap.parse_args().repeat
    rows = {}
    for name, args in (("grokscan --help", ["--help"]), ("grokscan train --help",
                                                         ["train", "--help"]),
                       ("grokscan info FILE", ["info", str(FILE)])):
        runs = [timed(args) for _ in range(repeat)]
        rows[name] = {"median_s": round(statistics.median(t for t, _ in runs), 3),
                      "max_s": round(max(t for t, _ in runs), 3),
                      "torch_loaded": any(x for _, x in runs)}
        print(f"{name:<24} median {rows[name]['median_s']:.3f} s (max {rows[name]['max_s']:.3f})"
              f"  torch loaded: {rows[name]['torch_loaded']}")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
