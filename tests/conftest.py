"""Test configuration shared by all test modules."""

import os

# scikit-learn's check_array_api_input runs only when SciPy's array API
# support is switched on, which must happen before SciPy is imported.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

# Under pytest-xdist every worker is a process of its own: one BLAS/OpenMP
# thread each, or the workers' spinning thread pools fight over the cores
# (measured: digits Newton fits 10x slower with 2 workers x 2 threads).
if "PYTEST_XDIST_WORKER" in os.environ:
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")
