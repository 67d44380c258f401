"""Shared timing helpers of the benchmarks: interleaved repeats and a machine line."""

import os
import platform
import statistics
import time

import numpy as np
import sklearn
import torch


def time_pair(fit_a, fit_b, repeats, rounds=3):
    """Median wall time of two fits, measured in alternating blocks.

    Each round runs ``fit_a`` once untimed and ``repeats`` times timed, then
    the same for ``fit_b``. Blocks rather than strict alternation: numpy's
    OpenBLAS and torch's OpenMP threads keep spinning for a while after a
    call, and on 2 cores the other library's next call would pay for it. The
    untimed run at the start of each block absorbs that hand-over.
    Returns (median_a, median_b) in seconds.
    """
    times_a, times_b = [], []
    for _ in range(rounds):
        for fit, times in ((fit_a, times_a), (fit_b, times_b)):
            fit()
            for _ in range(repeats):
                start = time.perf_counter()
                fit()
                times.append(time.perf_counter() - start)
    return statistics.median(times_a), statistics.median(times_b)


def machine_description():
    """One line naming the CPU, cores, threads and library versions."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"{cpu}; {os.cpu_count()} cores; torch {torch.__version__} "
        f"({torch.get_num_threads()} threads); scikit-learn {sklearn.__version__}; "
        f"numpy {np.__version__}; Python {platform.python_version()}"
    )


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
