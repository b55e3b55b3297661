"""CI check: a plain install (no extras) sequences mzML, mzXML, MGF, MSP.

Run from the repository root: ``python .ci/plain_install.py``. It builds
a fresh virtual environment, installs the package without extras
(``pip install .``), writes the bundled example spectra in each format
and runs ``denovo sequence`` on each with the plain environment, checking
the exit code and one output row per spectrum. It also checks that
``denovo --help`` lists the torch-side commands and that ``denovo train``
(its ``--help`` and a run) gives the PyTorch install hint, not a traceback.
``--inside DIR`` is the part that runs in the plain environment.
"""

from __future__ import annotations

import base64
import csv
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = Path("/tmp/denovo-plain-venv")


def _b64(values, dtype) -> str:
    import numpy as np
    return base64.b64encode(np.asarray(values, dtype).tobytes()).decode()


def _mzml(spectra) -> str:
    items = []
    for i, s in enumerate(spectra):
        arrays = "".join(
            f'<binaryDataArray encodedLength="{len(_b64(v, "<f8"))}">'
            f'<cvParam cvRef="MS" accession="MS:1000523" '
            f'name="64-bit float" value=""/>'
            f'<cvParam cvRef="MS" accession="MS:1000576" '
            f'name="no compression" value=""/>'
            f'<cvParam cvRef="MS" accession="{acc}" name="{name}" '
            f'value=""/><binary>{_b64(v, "<f8")}</binary>'
            "</binaryDataArray>"
            for v, acc, name in ((s.mz, "MS:1000514", "m/z array"),
                                 (s.intensity, "MS:1000515",
                                  "intensity array")))
        charge = (f'<cvParam cvRef="MS" accession="MS:1000041" '
                  f'name="charge state" value="{s.charge}"/>'
                  if s.charge else "")
        items.append(
            f'<spectrum index="{i}" id="scan={i + 1}" '
            f'defaultArrayLength="{len(s.mz)}">'
            '<cvParam cvRef="MS" accession="MS:1000511" name="ms level" '
            'value="2"/><precursorList count="1"><precursor>'
            '<selectedIonList count="1"><selectedIon>'
            '<cvParam cvRef="MS" accession="MS:1000744" '
            f'name="selected ion m/z" value="{s.precursor_mz}"/>{charge}'
            '</selectedIon></selectedIonList></precursor></precursorList>'
            f'<binaryDataArrayList count="2">{arrays}</binaryDataArrayList>'
            "</spectrum>")
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            '<mzML xmlns="http://psi.hupo.org/ms/mzml" version="1.1.0">'
            '<cvList count="1"><cv id="MS" fullName="PSI-MS" '
            'URI="https://raw.githubusercontent.com/HUPO-PSI/psi-ms-CV/'
            'master/psi-ms.obo"/></cvList><run id="r">'
            f'<spectrumList count="{len(spectra)}">{"".join(items)}'
            "</spectrumList></run></mzML>\n")


def _mzxml(spectra) -> str:
    import numpy as np
    scans = []
    for i, s in enumerate(spectra):
        pairs = np.column_stack([s.mz, s.intensity]).astype(">f8")
        peaks = base64.b64encode(pairs.tobytes()).decode()
        charge = f' precursorCharge="{s.charge}"' if s.charge else ""
        scans.append(
            f'<scan num="{i + 1}" msLevel="2" peaksCount="{len(s.mz)}">'
            f'<precursorMz{charge}>{s.precursor_mz}</precursorMz>'
            f'<peaks precision="64" byteOrder="network" '
            f'contentType="m/z-int" compressionType="none" '
            f'compressedLen="0">{peaks}</peaks></scan>')
    return ('<?xml version="1.0" encoding="ISO-8859-1"?>\n<mzXML xmlns='
            '"http://sashimi.sourceforge.net/schema_revision/mzXML_3.2">'
            f'<msRun scanCount="{len(spectra)}">{"".join(scans)}</msRun>'
            "</mzXML>\n")


def _msp(spectra) -> str:
    out = []
    for i, s in enumerate(spectra):
        out += [f"Name: spectrum{i}/{s.charge or 2}",
                f"PrecursorMZ: {s.precursor_mz}",
                f"Num peaks: {len(s.mz)}"]
        out += [f"{m:.5f}\t{x:.2f}" for m, x in zip(s.mz, s.intensity,
                                                         strict=True)]
        out.append("")
    return "\n".join(out) + "\n"


def _check_commands(exe: Path, work: Path) -> None:
    """--help lists every command; torch commands say how to get torch."""
    proc = subprocess.run([str(exe), "--help"], capture_output=True,
                          text=True)
    missing = [verb for verb in ("sequence", "evaluate", "train", "export",
                                 "simulate", "plot")
               if verb not in proc.stdout]
    if proc.returncode != 0 or missing:
        sys.exit(f"denovo --help failed or lacks {missing}:\n"
                 f"{proc.stdout}{proc.stderr}")
    for args, code in ((["train", "--help"], 0),
                       (["train", "--max-steps", "1", "--out",
                         str(work / "run")], 1)):
        proc = subprocess.run([str(exe), *args], capture_output=True,
                              text=True)
        text = proc.stdout + proc.stderr
        if (proc.returncode != code or "needs PyTorch" not in text
                or "Traceback" in text):
            sys.exit(f"denovo {' '.join(args)}: exit {proc.returncode}, "
                     f"no torch hint:\n{text}")
    print("plain install: denovo --help lists every command; "
          "denovo train gives the torch hint")


def inside(work: Path) -> None:
    """Write the example in four formats and sequence each."""
    from denovo.io import read_spectra

    import denovo
    example = Path(denovo.__file__).parent / "data" / "example.mgf"
    spectra = [s for s in read_spectra(example) if s.ok][:10]
    files = {"mgf": example}
    for fmt, text in (("mzML", _mzml(spectra)), ("mzXML", _mzxml(spectra)),
                      ("msp", _msp(spectra))):
        files[fmt] = work / f"example.{fmt}"
        files[fmt].write_text(text)
    exe = Path(sys.executable).parent / "denovo"
    _check_commands(exe, work)
    for fmt, path in files.items():
        table = work / f"{fmt}.csv"
        proc = subprocess.run([str(exe), "sequence", str(path), "--csv",
                               str(table), "--no-progress"],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"plain install cannot sequence {fmt}:\n{proc.stderr}")
        with open(table, newline="") as fh:
            rows = list(csv.DictReader(fh))
        want = 40 if fmt == "mgf" else len(spectra)
        if len(rows) != want or not any(r["sequence"] for r in rows):
            sys.exit(f"{fmt}: {len(rows)} rows, expected {want}")
        print(f"plain install sequenced {fmt}: {len(rows)} rows")
    for module in ("torch", "psm_utils", "pandas"):
        try:
            __import__(module)
        except ImportError:
            continue
        sys.exit(f"the plain install has {module}; not a plain install")


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--inside":
        inside(Path(sys.argv[2]))
        return
    venv.create(VENV, clear=True, with_pip=True)
    py = VENV / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", str(ROOT)],
                   check=True)
    work = VENV / "work"
    work.mkdir()
    # Run from the work folder so the checkout's denovo/ is not imported.
    subprocess.run([str(py), str(Path(__file__).resolve()), "--inside",
                    str(work)], check=True, cwd=work)


if __name__ == "__main__":
    main()
