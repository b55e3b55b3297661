"""Fragment resolution read off the peaks, on every real file.

    python benchmarks/fragment_resolution.py

For each file of ``../shared/data/real``: what its metadata states
(mzML/mzXML: per spectrum, :func:`denovo.io.mzml.fragmentation`), the
sharpness of its complementary b/y pair sums
(:func:`denovo.core.resolution.sharpness`: within 0.01 Da vs 0.02-0.05 Da
of ``M + 2 H+``, per Da) and the class
:func:`denovo.core.resolution.fragment_resolution` gives it (< 2: low,
> 3: high). Writes ``benchmarks/results/fragment_resolution.{md,json}``.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from pathlib import Path

from machine import describe, write_results

from denovo.core.resolution import fragment_resolution, sharpness
from denovo.io import read_spectra
from denovo.io.formats import FORMATS, detect_format

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "real"


def main() -> None:
    if not DATA.is_dir():
        sys.exit(f"{DATA} not found")
    rows = []
    for path in sorted(DATA.iterdir()):
        try:
            if detect_format(path) not in FORMATS:
                continue
        except Exception:  # noqa: BLE001 - not a spectrum file
            continue
        stated = Counter(s.fragmentation for s in read_spectra(path))
        ratio, pairs = sharpness(read_spectra(path))
        rows.append({"file": path.name,
                     "stated": {str(k): v for k, v in stated.items()},
                     "sharpness": round(ratio, 2), "pairs": pairs,
                     "class": fragment_resolution(read_spectra(path))})
        print(rows[-1])
    report = {"command": "python benchmarks/fragment_resolution.py",
              "date": time.strftime("%Y-%m-%d"), "machine": describe(),
              "rows": rows}
    lines = ["# Fragment resolution read off the peaks", "",
             f"`{report['command']}` on {report['date']} "
             f"({report['machine']}). Sharpness: complementary b/y pair sums "
             "of the 60 strongest peaks of the first 300 charged spectra, "
             "per Da within 0.01 Da of M + 2 H+ over those 0.02-0.05 Da "
             "away; < 2 reads as low resolution (the engine then uses "
             "0.5 Da for a file that states nothing), > 3 as high, "
             "between or under 30 pairs: cannot tell (0.02 Da).", "",
             "| file | the file states | sharpness | pairs within 0.05 Da "
             "| class |", "|---|---|---|---|---|"]
    for r in rows:
        stated = ", ".join(f"{k} {v}" for k, v in r["stated"].items())
        lines.append(f"| {r['file']} | {stated} | {r['sharpness']} | "
                     f"{r['pairs']} | {r['class']} |")
    write_results("fragment_resolution", report, lines)


if __name__ == "__main__":
    main()
