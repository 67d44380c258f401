"""NeuronClassifier on a CUDA device against the same fits on the CPU, in one run.

For a machine with a GPU (skipped with a message elsewhere). Rows: a dense
200,000 x 100 problem in float64 and float32, with L-BFGS and Newton, and
one epoch of minibatch Adam (batch 1024). Each fit is run once untimed
(CUDA context, kernels) and then ``repeats`` times; medians are reported,
with ``torch.cuda.synchronize`` before the clock stops. The CPU side is
whatever CPU the GPU machine has, so the ratio says what the device buys
there, not against this repository's reference machine.

Run from the repository root: ``PYTHONPATH=. python benchmarks/bench_cuda.py``
"""

import statistics
import time
import warnings

import numpy as np
import torch
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning

from sklearn_neuron import NeuronClassifier


def median_time(fit, repeats):
    fit()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fit()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    if not torch.cuda.is_available():
        print("torch sees no CUDA device: nothing to compare.")
        return
    warnings.simplefilter("ignore", ConvergenceWarning)
    X, y = make_classification(200_000, 100, n_redundant=0, random_state=0)
    rows = []
    for dtype in (np.float64, np.float32):
        Xd = X.astype(dtype)
        for label, params in [
            ("lbfgs", {"optimizer": "lbfgs"}),
            ("newton", {"optimizer": "newton"}),
            ("adam, 1 epoch", {"optimizer": "adam", "max_iter": 1, "batch_size": 1024}),
        ]:
            times = {}
            coefs = {}
            for device in ("cpu", "cuda"):
                model = NeuronClassifier(device=device, random_state=0, **params)
                times[device] = median_time(lambda model=model, Xd=Xd: model.fit(Xd, y), 3)
                coefs[device] = model.coef_
            diff = float(np.abs(coefs["cpu"] - coefs["cuda"]).max())
            rows.append(
                f"| 200,000 x 100 {np.dtype(dtype).name} | {label} | "
                f"{times['cpu'] * 1e3:.1f} | {times['cuda'] * 1e3:.1f} | "
                f"{times['cuda'] / times['cpu']:.2f} | {diff:.1e} |"
            )
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}, "
          f"{torch.get_num_threads()} CPU threads")
    print("| data | optimizer | CPU ms | CUDA ms | ratio CUDA / CPU | max |coef diff| |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
