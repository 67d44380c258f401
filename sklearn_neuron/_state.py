"""The minibatch optimizer's state as plain numpy, and back.

``optimizer_state_`` is fitted state: it is pickled, saved with skops and
loaded on machines without the device it was trained on. torch tensors in it
would make skops refuse the file (``Cannot directly construct TensorBase``)
and pin a CUDA fit to CUDA, so the estimators keep the state as numpy arrays
and Python values on the CPU, converted from and to the
``torch.optim.Optimizer.state_dict()`` format only where an optimizer is
built (``load_state_dict`` moves it to the parameters' device and dtype).
"""

import numpy as np
import torch


def _to_numpy(value):
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy().copy()
    if isinstance(value, dict):
        return {key: _to_numpy(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_numpy(item) for item in value)
    return value


def _to_torch(value):
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.array(value))  # a copy: the fitted state stays put
    if isinstance(value, dict):
        return {key: _to_torch(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_torch(item) for item in value)
    return value


def state_to_numpy(state_dict):
    """A torch optimizer's ``state_dict()`` as numpy arrays and Python values.

    The per-parameter states are keyed by the parameter's index as a string
    (skops keeps dicts with string keys); everything else keeps its layout.
    """
    if not state_dict:
        return {}
    return {
        "state": {str(index): _to_numpy(s) for index, s in state_dict["state"].items()},
        "param_groups": _to_numpy(state_dict["param_groups"]),
    }


def state_from_numpy(state):
    """Inverse of :func:`state_to_numpy`: a dict for ``Optimizer.load_state_dict``."""
    if not state:
        return None
    return {
        "state": {int(index): _to_torch(s) for index, s in state["state"].items()},
        "param_groups": _to_torch(state["param_groups"]),
    }
