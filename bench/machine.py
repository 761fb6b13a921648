"""What the benchmarks print about the machine they ran on."""
from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_name() -> str:
    """The CPU's model name as ``lscpu`` prints it (``/proc/cpuinfo``); where that file does not exist, what
    ``platform`` knows (the processor, else the architecture)."""
    cpuinfo = Path('/proc/cpuinfo')
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    return platform.processor() or platform.machine() or 'unknown CPU'


def load_average() -> float:
    """The machine's 1-minute load average (other processes compete for the same cores)."""
    return os.getloadavg()[0]
