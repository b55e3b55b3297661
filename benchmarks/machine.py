"""One description of the machine a benchmark ran on."""

from __future__ import annotations

import os
import platform
from pathlib import Path

__all__ = ["cpu_name", "describe"]


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
