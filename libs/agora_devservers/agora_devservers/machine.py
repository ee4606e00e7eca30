"""What every benchmark prints first: the machine its figures were measured on (they mean little without it)."""

import os
import platform
from pathlib import Path


def _first(path: str, prefix: str) -> str | None:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def describe() -> str:
    """CPUs usable by this process, CPU model, RAM, OS and Python, and the load average: these machines are shared,
    so a figure measured under load says so."""
    model = _first("/proc/cpuinfo", "model name") or platform.processor() or "unknown CPU"
    memory = _first("/proc/meminfo", "MemTotal")
    ram = f", {int(memory.split()[0]) / 1024 / 1024:.1f} GiB RAM" if memory else ""
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (f"{len(os.sched_getaffinity(0))} CPUs (nproc), {model}{ram}, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}; load average {load} (1/5/15 min)")
