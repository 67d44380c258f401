"""What history_, callbacks and the progress bar cost a fit, as ratios.

Every fit now reports each iteration to a Monitor (``_callbacks.py``): a dict
appended to ``history_``, a clock read, and the callbacks. The smallest fits
are where that could show (breast_cancer, 569 x 30: Newton ~2 ms for 7
iterations, L-BFGS ~3 ms for 20, minibatch Adam ~30 ms for 30 epochs). Each
row times, in one run with the fits alternating in blocks:

- ``baseline``: the same fit with the monitor's per-iteration work switched
  off (its ``report`` replaced by a no-op: the cost before this feature, when
  a non-verbose fit only tested ``verbose``);
- the default fit (history recorded, no callbacks), one with a Python
  callback, and one with a :class:`ProgressBar` writing to a buffer.

It also prints the cost of one ``Monitor.report`` call (timeit), the figure
that does not drown in the machine's noise.

Run: ``python benchmarks/bench_callbacks.py`` (tqdm needed for the last column).
"""

import io
import timeit
import warnings

from _timing import machine_description, markdown_table, time_pair
from sklearn.datasets import load_breast_cancer
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from sklearn_neuron import NeuronClassifier, ProgressBar
from sklearn_neuron._callbacks import Monitor

FITS = {
    "newton": dict(optimizer="newton"),
    "lbfgs": dict(optimizer="lbfgs"),
    "adam, 30 epochs": dict(optimizer="adam", max_iter=30, random_state=0),
}


def _without_monitor(fit):
    """``fit`` with Monitor.report a no-op (the baseline)."""
    report = Monitor.report

    def run():
        Monitor.report = lambda self, *args, **kwargs: False
        try:
            fit()
        finally:
            Monitor.report = report

    return run


def main():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    warnings.simplefilter("ignore", ConvergenceWarning)
    rows = []
    for name, params in FITS.items():
        def fit(params=params, **extra):
            return lambda: NeuronClassifier(**params, **extra).fit(X, y)

        base = _without_monitor(fit())
        t_base, t_default = time_pair(base, fit(), repeats=30)
        _, t_callback = time_pair(base, fit(callbacks=[lambda info: None]), repeats=30)
        _, t_bar = time_pair(
            base, fit(callbacks=[ProgressBar(file=io.StringIO())]), repeats=30
        )
        n_iter = NeuronClassifier(**params).fit(X, y).n_iter_
        rows.append(
            [
                name,
                n_iter,
                f"{t_base * 1e3:.2f}",
                f"{t_default / t_base:.3f}",
                f"{t_callback / t_base:.3f}",
                f"{t_bar / t_base:.3f}",
            ]
        )
    monitor = Monitor()
    calls = 20_000
    per_report = timeit.timeit(
        lambda: monitor.report("bench", 1, 0.5, 1e-3, 1.0), number=calls
    ) / calls
    print(machine_description())
    print()
    print(f"Monitor.report, no callbacks: {per_report * 1e6:.2f} us per iteration")
    print()
    print(
        markdown_table(
            [
                "breast_cancer fit",
                "iterations",
                "baseline ms",
                "default (history) / baseline",
                "+ Python callback / baseline",
                "+ ProgressBar / baseline",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()
