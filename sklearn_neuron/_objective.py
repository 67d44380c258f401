"""The objective a neuron minimises: weighted mean loss plus an L2 penalty.

For coefficients ``W`` (n_outputs x n_features) and intercepts ``b``::

    f(W, b) = 1/S * sum_i s_i * loss(x_i @ W.T + b, y_i) + l2 / 2 * ||W||_F^2

with ``S = sum_i s_i``. The intercept is never penalized. The estimators
choose ``l2`` so that this is their public objective divided by a positive
constant (for the classifier ``l2 = 1 / (C * S)``, which makes ``f`` equal to
LogisticRegression's ``C * sum_i s_i loss_i + ||W||^2 / 2`` divided by
``C * S``); the minimiser is the same, and gradient tolerances are on the
scale of a mean loss whatever the number of samples.

Parameters travel as one flat tensor ``theta`` of length
``n_outputs * (n_features + fit_intercept)``; ``theta.view(n_outputs, -1)``
has the coefficients of each output unit in a row, its intercept last.
"""

import torch


class LinearObjective:
    """Loss of a linear layer on fixed data, with gradient and Hessian.

    Parameters
    ----------
    X : torch.Tensor of shape (n_samples, n_features)
    target : torch.Tensor of shape (n_samples, n_outputs)
        Encoded target, as the loss expects it.
    sample_weight : torch.Tensor of shape (n_samples,)
        Non-negative weights with a positive sum.
    loss : NeuronLoss
    l2 : float
        Strength of the L2 penalty on the coefficients (not the intercept).
    fit_intercept : bool
    """

    def __init__(self, X, target, sample_weight, loss, l2, fit_intercept):
        self.X = X
        self.target = target
        self.loss = loss
        self.l2 = float(l2)
        self.fit_intercept = bool(fit_intercept)
        self.n_features = X.shape[1]
        self.n_outputs = loss.n_outputs
        self.n_params_per_output = self.n_features + self.fit_intercept
        self.n_params = self.n_outputs * self.n_params_per_output
        # Normalised weights: f is a weighted *mean* loss.
        self.weight = sample_weight / sample_weight.sum()
        self.dtype = X.dtype
        self.device = X.device

    # -- parameter layout -------------------------------------------------
    def zeros(self):
        """Starting point: all coefficients and intercepts zero."""
        return torch.zeros(self.n_params, dtype=self.dtype, device=self.device)

    def unpack(self, theta):
        """Split ``theta`` into coefficients (K, p) and intercepts (K,)."""
        W = theta.view(self.n_outputs, self.n_params_per_output)
        if self.fit_intercept:
            return W[:, :-1], W[:, -1]
        return W, None

    def pack(self, coef, intercept=None):
        """Inverse of :meth:`unpack`."""
        coef = torch.as_tensor(coef, dtype=self.dtype, device=self.device)
        coef = coef.reshape(self.n_outputs, self.n_features)
        if self.fit_intercept:
            intercept = torch.as_tensor(intercept, dtype=self.dtype, device=self.device)
            coef = torch.cat([coef, intercept.reshape(self.n_outputs, 1)], dim=1)
        return coef.reshape(-1).clone()

    def raw(self, theta):
        """Raw output ``X @ W.T + b`` of shape (n_samples, n_outputs)."""
        coef, intercept = self.unpack(theta)
        raw = self.X @ coef.T
        if intercept is not None:
            raw = raw + intercept
        return raw

    # -- value and derivatives ---------------------------------------------
    def penalty(self, theta):
        coef, _ = self.unpack(theta)
        return 0.5 * self.l2 * torch.dot(coef.reshape(-1), coef.reshape(-1))

    def value(self, theta, raw=None):
        """Objective value at ``theta`` (a 0-d tensor)."""
        if raw is None:
            raw = self.raw(theta)
        return torch.dot(self.weight, self.loss.value(raw, self.target)) + self.penalty(
            theta
        )

    def value_gradient(self, theta):
        """Return ``(f, grad, raw)`` at ``theta``; ``raw`` serves the Hessian."""
        raw = self.raw(theta)
        pointwise, grad_raw = self.loss.value_gradient(raw, self.target)
        f = torch.dot(self.weight, pointwise) + self.penalty(theta)
        weighted = grad_raw * self.weight.unsqueeze(1)
        grad_coef = weighted.T @ self.X
        coef, _ = self.unpack(theta)
        if self.l2:
            grad_coef = grad_coef + self.l2 * coef
        if self.fit_intercept:
            grad = torch.cat([grad_coef, weighted.sum(dim=0).unsqueeze(1)], dim=1)
        else:
            grad = grad_coef
        return f, grad.reshape(-1), raw

    def hessian(self, theta, raw):
        """Hessian of the objective, shape (n_params, n_params).

        Built block by block: ``H[k, l] = Xa.T @ diag(w * h_kl) @ Xa`` with
        ``Xa = [X, 1]`` and ``h`` the loss's pointwise Hessian.
        """
        h = self.loss.hessian(raw, self.target) * self.weight.view(-1, 1, 1)
        X = self.X
        if self.fit_intercept:
            ones = torch.ones((X.shape[0], 1), dtype=self.dtype, device=self.device)
            X = torch.cat([X, ones], dim=1)
        K, q = self.n_outputs, self.n_params_per_output
        H = torch.empty((K, q, K, q), dtype=self.dtype, device=self.device)
        for k in range(K):
            for m in range(k, K):
                block = X.T @ (X * h[:, k, m].unsqueeze(1))
                H[k, :, m, :] = block
                if m != k:
                    H[m, :, k, :] = block.T
        if self.l2:
            diag = torch.full((q,), self.l2, dtype=self.dtype, device=self.device)
            if self.fit_intercept:
                diag[-1] = 0.0
            H += torch.diag(diag).view(1, q, 1, q) * torch.eye(
                K, dtype=self.dtype, device=self.device
            ).view(K, 1, K, 1)
        return H.reshape(K * q, K * q)

    # -- the softmax's redundant directions --------------------------------
    def null_mask(self):
        """Mask of the per-class columns along which a softmax fit is free.

        Adding the same number to one column of every class's parameters
        leaves a softmax's probabilities unchanged. The intercept column is
        always such a direction; without penalty every column is. Returns
        None when the model has no such direction (one output unit).
        """
        if self.n_outputs < 2:
            return None
        mask = torch.zeros(self.n_params_per_output, dtype=self.dtype, device=self.device)
        if self.l2 == 0:
            mask[:] = 1.0
        elif self.fit_intercept:
            mask[-1] = 1.0
        else:
            return None
        return mask

    def center(self, theta):
        """Return ``theta`` with the free directions centred over the classes.

        Predictions are unchanged; the result is scikit-learn's symmetric
        parametrisation (coefficients and intercepts summing to zero over
        classes where the objective does not pin them).
        """
        mask = self.null_mask()
        if mask is None:
            return theta
        W = theta.view(self.n_outputs, self.n_params_per_output)
        return (W - mask * W.mean(dim=0, keepdim=True)).reshape(-1)
