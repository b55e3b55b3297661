"""One description of the machine a benchmark ran on, and one way to
write a benchmark's results."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

__all__ = ["cpu_name", "describe", "write_results", "RESULTS"]

RESULTS = Path(__file__).resolve().parent / "results"


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo, else what platform reports."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe() -> str:
    """``"<cpu>, <n> cores, <os>, python <version>"``."""
    return (f"{cpu_name()}, {os.cpu_count()} cores, {platform.system()}, "
            f"python {platform.python_version()}")


def write_results(stem: str, report: dict, lines: list[str]) -> Path:
    """``results/<stem>.json`` (the report) and ``results/<stem>.md``
    (``lines``); returns the Markdown file."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{stem}.json").write_text(json.dumps(report, indent=1)
                                          + "\n")
    md = RESULTS / f"{stem}.md"
    md.write_text("\n".join(lines) + "\n")
    return md
