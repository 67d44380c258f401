"""Peak extra memory of a default fit against LogisticRegression's (issue #15, point 9).

Each fit runs in a fresh process: the data are made, the resident set size
(RSS) is read and the process's peak RSS reset to it (``/proc/self/clear_refs``),
the estimator is fitted, and the peak RSS (``VmHWM``) minus the RSS before the
fit is its extra memory. torch's and
numpy's allocations are both counted (tracemalloc sees neither). Data:
``make_classification(n, p, n_informative=p // 2, random_state=0)``, binary,
default parameters (``NeuronClassifier()``, ``LogisticRegression()``,
``LogisticRegression(solver="newton-cholesky")``), wall time of the fit too.

Run from the repository root: ``PYTHONPATH=. python benchmarks/bench_memory.py``
(``--quick``: a tenth of the rows).
"""

import argparse
import json
import os
import subprocess
import sys

from _timing import machine_description, markdown_table

_CHILD = r"""
import json, resource, sys, time, warnings
import numpy as np
from sklearn.datasets import make_classification
n, p, dtype, which = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
X, y = make_classification(n, p, n_informative=p // 2, random_state=0)
X = np.ascontiguousarray(X, dtype=dtype)
if which == "neuron":
    from sklearn_neuron import NeuronClassifier as Model
    kwargs = {}
else:
    from sklearn.linear_model import LogisticRegression as Model
    kwargs = {} if which == "lbfgs" else {"solver": "newton-cholesky"}
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()
Model(**kwargs).fit(X[:1000], y[:1000])  # imports and first-call set-up outside the measure
import gc; gc.collect()
with open("/proc/self/clear_refs", "w") as f:  # reset the peak (VmHWM) to the current RSS
    f.write("5")
before = rss()
start = time.perf_counter()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    Model(**kwargs).fit(X, y)
seconds = time.perf_counter() - start
with open("/proc/self/status") as f:
    peak = next(int(l.split()[1]) for l in f if l.startswith("VmHWM")) * 1024
print(json.dumps({"extra_mb": (peak - before) / 2**20, "seconds": seconds,
                  "data_mb": X.nbytes / 2**20}))
"""

CASES = [(1_000_000, 50, "float32"), (2_000_000, 20, "float64")]
MODELS = [("neuron", "NeuronClassifier()"), ("lbfgs", "LogisticRegression()"),
          ("newton-cholesky", 'LogisticRegression(solver="newton-cholesky")')]


def measure(n, p, dtype, which):
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    out = subprocess.run([sys.executable, "-c", _CHILD, str(n), str(p), dtype, which],
                         capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    rows = []
    for n, p, dtype in CASES:
        n = n // 10 if args.quick else n
        results = {which: measure(n, p, dtype, which) for which, _ in MODELS}
        for which, label in MODELS:
            r = results[which]
            rows.append([f"{n:,} x {p} {dtype} ({r['data_mb']:.0f} MB)", label,
                         f"{r['extra_mb']:.0f} MB", f"{r['seconds']:.2f} s",
                         f"{r['extra_mb'] / results['lbfgs']['extra_mb']:.2f}"])
    print(machine_description())
    print(markdown_table(["data", "estimator", "peak extra memory", "fit time",
                          "memory / LogisticRegression()'s"], rows))


if __name__ == "__main__":
    main()
