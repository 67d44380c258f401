"""The torch module: one linear layer and its output activation."""

from torch import nn

from ._loss.activations import get_activation


class NeuronModule(nn.Module):
    """A single layer of neurons: ``activation(x @ weight.T + bias)``.

    ``forward`` returns the **raw output (logits)**, so that the module plugs
    into torch losses such as ``BCEWithLogitsLoss`` and ``CrossEntropyLoss``;
    :meth:`predict_mean` applies the output activation (sigmoid or softmax
    for a classifier: probabilities of the positive class, or of each class).

    Parameters
    ----------
    n_features : int
        Number of inputs.
    n_outputs : int
        Number of output units (1 for a sigmoid, K for a softmax).
    activation : str
        Name of the output activation: "sigmoid", "softmax", "identity", "exp".
    bias : bool
        Whether the layer has an intercept.
    dtype, device : optional
        Passed to :class:`torch.nn.Linear`.

    Examples
    --------
    >>> import torch
    >>> from sklearn_neuron import NeuronModule
    >>> module = NeuronModule.from_coefficients(
    ...     torch.tensor([[2.0, -1.0]]), torch.tensor([0.5]), "sigmoid"
    ... )
    >>> x = torch.tensor([[1.0, 1.0]])
    >>> module(x)  # logits: 2 - 1 + 0.5
    tensor([[1.5000]], grad_fn=<AddmmBackward0>)
    >>> module.predict_mean(x).round(decimals=4)  # sigmoid(1.5)
    tensor([[0.8176]], grad_fn=<RoundBackward1>)
    """

    def __init__(
        self, n_features, n_outputs, activation, *, bias=True, dtype=None, device=None
    ):
        super().__init__()
        self.linear = nn.Linear(
            n_features, n_outputs, bias=bias, dtype=dtype, device=device
        )
        self.activation_name = activation
        self.activation = get_activation(activation)

    def forward(self, x):
        """Raw output (logits), shape (n_samples, n_outputs)."""
        return self.linear(x)

    def predict_mean(self, x):
        """Activated output: probabilities for a classifier, means for a GLM."""
        return self.activation(self.forward(x))

    @classmethod
    def from_coefficients(cls, coef, intercept, activation, *, copy=True):
        """Build a module holding ``coef`` (K, p) and ``intercept`` (K,).

        With ``copy=False`` the parameters share the given tensors' memory
        (how an estimator's ``module_`` shares its ``coef_``).
        """
        module = cls.__new__(cls)
        nn.Module.__init__(module)
        module._modules["linear"] = _linear(coef, intercept, copy)
        module.__dict__.update(
            activation_name=activation, activation=get_activation(activation)
        )
        return module


def _linear(coef, intercept, copy=True):
    """An :class:`torch.nn.Linear` holding ``coef`` and ``intercept`` (copies if ``copy``).

    ``nn.Linear(...)`` first draws random initial weights, which would be
    overwritten at once; on small data that initialisation is a visible
    share of a whole fit, so the layer is assembled with the given values.
    """
    linear = nn.Linear.__new__(nn.Linear)
    nn.Module.__init__(linear)
    # What nn.Linear's __init__ registers, written directly (a fresh module
    # has nothing for nn.Module.__setattr__ to reconcile).
    linear.__dict__.update(in_features=coef.shape[1], out_features=coef.shape[0])
    def parameter(tensor):
        tensor = tensor.detach()
        return nn.Parameter(tensor.clone() if copy else tensor)

    linear._parameters["weight"] = parameter(coef)
    linear._parameters["bias"] = None if intercept is None else parameter(intercept)
    return linear
