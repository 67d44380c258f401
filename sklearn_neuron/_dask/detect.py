"""Whether an argument is a Dask collection, and Dask's import.

Dask is optional: nothing here imports it until a Dask collection arrives
(``pip install "sklearn-neuron[dask]"``), so the package imports and fits
in memory without it.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

_INSTALL = 'pip install "sklearn-neuron[dask]"'


def is_dask_collection(obj: Any) -> bool:
    """Whether ``obj`` is a dask collection (array, DataFrame, Series).

    Never imports dask: an object can only be a dask collection if dask
    has already been imported by whoever made it.
    """
    if "dask" not in sys.modules or obj is None:
        return False
    module = type(obj).__module__ or ""
    if not (module.startswith("dask") or module.startswith("dask_expr")):
        return False
    import dask

    return dask.is_dask_collection(obj)


def any_dask(*objs: Any) -> bool:
    """Whether any of ``objs`` is a dask collection."""
    return any(is_dask_collection(obj) for obj in objs)


def import_dask() -> tuple[ModuleType, ModuleType]:
    """``(dask, dask.array)``, or an ImportError that names the extra to install."""
    try:
        import dask
        import dask.array as da
    except ImportError as exc:  # pragma: no cover - dask input implies dask
        raise ImportError(
            "Fitting on dask collections needs dask[array]; install it with "
            f"{_INSTALL}."
        ) from exc
    return dask, da
