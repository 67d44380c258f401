"""Inference on a Dask fit: the statistics of :mod:`sklearn_neuron._inference` over blocks."""

import functools
import math
import warnings

import numpy as np
import torch

from .._inference.results import (
    _SATURATED_MARGIN,
    InferenceResults,
    _check_leverage,
    _raise_not_finite,
    _warn_separation,
    cluster_score_sums,
    count_rising_margins,
    drop_empty_groups,
    group_labels,
    leverage_meat,
)

#: Per-block results are added in groups of this many, on the workers.
from .core import DaskObjective, _block_objective, _blocks, _compute, _numpy


def _second_order(objective, theta, model, nonrobust):
    theta = torch.from_numpy(theta)
    pointwise = model._inference_pointwise_information(objective) if nonrobust else None
    raw, grad, H, _ = objective.second_order(theta, pointwise)
    not_finite = int((~torch.isfinite(raw)).sum())
    return np.asarray(not_finite), _numpy(grad), _numpy(H)


def _hook_value(objective, theta, model, hook, null_raw, kwargs):
    """``model.<hook>(objective, raw, **kwargs)`` on a block (a float, or None)."""
    if null_raw is None:
        raw = objective.raw(torch.from_numpy(theta))
    else:
        raw = torch.from_numpy(null_raw).expand(objective.X.shape[0], objective.n_outputs)
        if objective.offset is not None:
            raw = raw + objective.offset
    value = getattr(model, hook)(objective, raw, **kwargs)
    return None if value is None else (np.asarray(float(value)),)



def _meat(objective, theta):
    """One block's share of the sandwich's meat (as ``InferenceResults._sandwich``)."""
    raw = objective.raw(torch.from_numpy(theta))
    _, grad_raw = objective.loss.value_gradient(raw, objective.target)
    weighted = grad_raw * (objective.weight * objective.weight_sum).unsqueeze(1)
    return (_numpy(objective.gram(weighted.unsqueeze(2) * grad_raw.unsqueeze(1))),)


def _cluster_sums(objective, theta, n_groups, codes):
    """One block's share of the per-group score sums (``codes``: its rows' groups)."""
    raw = objective.raw(torch.from_numpy(theta))
    return (_numpy(cluster_score_sums(objective, raw, codes, n_groups)),)


def _positive_rows(objective, n_labels, codes):
    """One block's count of rows of positive weight per group."""
    positive = (objective.weight > 0).cpu().numpy()
    return (np.bincount(codes[positive], minlength=n_labels),)


def _leverage_meat(objective, theta, inverse, cov_type):
    """One block's share of the HC2/HC3 meat, and its count of rows of leverage 1."""
    raw = objective.raw(torch.from_numpy(theta))
    inverse = torch.from_numpy(inverse)
    meat, n_high = leverage_meat(objective, raw, lambda B: inverse @ B, cov_type)
    return _numpy(meat), np.array(n_high)


def _separation(objective, theta, model, step):
    """One block's separation counts: separated, positive-weight and correct samples.

    The exact test of ``InferenceResults._check_separation`` (its bounds only
    skip rows for which it finds nothing), on the block's rows.
    """
    theta, step = torch.from_numpy(theta), torch.from_numpy(step)
    raw = objective.raw(theta)
    margins = model._inference_margins(objective, raw)
    positive = objective.weight > 0
    candidates = (margins > _SATURATED_MARGIN) & positive
    n_separated = 0
    if bool(candidates.any()):
        n_separated = count_rising_margins(model, objective, raw, margins, candidates, -step)
    if raw.shape[1] > 1:
        predicted, observed = raw.argmax(dim=1), objective.target.argmax(dim=1)
    else:
        predicted, observed = raw[:, 0] > 0, objective.target[:, 0] > 0.5
    correct = int((predicted == observed)[positive].sum())
    return (np.array([n_separated, int(positive.sum()), correct]),)


def _same_rows(y_a, w_a, y_b, w_b):
    same_y = np.array_equal(np.asarray(y_a), np.asarray(y_b))
    ones = np.ones(np.shape(y_a)[0])
    w_a = ones if w_a is None else np.asarray(w_a, dtype=np.float64)
    w_b = ones if w_b is None else np.asarray(w_b, dtype=np.float64)
    return same_y and np.allclose(w_a, w_b)


class DaskInferenceResults(InferenceResults):
    """:class:`~sklearn_neuron._inference.results.InferenceResults` on a :class:`DaskObjective`.

    The same statistics, with every pass over the rows a reduction over the
    blocks: the information (or observed Hessian) and gradient, the
    sandwich's meat, the log-likelihoods, deviances and dispersion (the
    estimator's own ``_inference_*`` hooks, evaluated per block and added),
    and the separation check. The hooks are sums over rows plus at most a
    constant, so the whole's value is the blocks' sum less the constant
    counted once per extra block (the hook's value on no rows).
    """

    def _second_order(self, theta, pointwise):
        """Gradient and information at ``theta`` by one reduction; returns ``theta``."""
        objective = self.objective
        not_finite, grad, H = objective.reduce(
            _second_order, objective._theta(theta), self.model, pointwise is not None
        )
        if int(not_finite):
            _raise_not_finite(objective)
        grad = objective._penalized_gradient(torch.as_tensor(grad, dtype=objective.dtype), theta)
        self._raw = None  # the rows' raw outputs stay on the workers
        self._observed = None
        self._grad = grad
        H = objective._add_penalty_hessian(torch.as_tensor(H, dtype=objective.dtype))
        self._cov_theta_factor = self._information_solve(H)
        return theta

    def _check_separation(self, observed):
        objective = self.objective
        if not self.model._inference_has_margins(objective):
            return False
        step = self._newton_step().to(objective.dtype)
        (counts,) = objective.reduce(
            _separation, objective._theta(self.theta), self.model, step.numpy()
        )
        n_separated, n_positive, correct = counts.tolist()
        if not n_separated:
            return False
        _warn_separation(int(n_separated), int(n_positive), correct == n_positive)
        return True

    def _hook_sum(self, hook, null_raw=None, **kwargs):
        """The hook on the whole data, from its values on the blocks."""
        objective = self.objective
        theta = objective._theta(self.theta)
        null = None if null_raw is None else _numpy(null_raw)
        total = objective.reduce(_hook_value, theta, self.model, hook, null, kwargs)
        if total is None:
            return None
        empty = self._empty_objective()
        raw = torch.zeros((0, objective.n_outputs), dtype=objective.dtype)
        constant = getattr(self.model, hook)(empty, raw, **kwargs)
        # Empty blocks add nothing (their parts are skipped), not even the constant.
        n_blocks = sum(1 for rows in objective.X.chunks[0] if rows)
        return float(total[0]) - (n_blocks - 1) * float(constant)

    def _empty_objective(self):
        objective = self.objective
        spec = objective._spec
        X = np.zeros((0, objective.n_features), dtype=objective.X.dtype)
        y = np.zeros(0, dtype=objective.y.dtype)
        return _block_objective(spec, X, y, None)

    @functools.cached_property
    def scale(self):
        """Dispersion multiplying the covariance (1 for Bernoulli and categorical)."""
        return float(self._hook_sum("_inference_scale"))

    def _sandwich(self):
        objective = self.objective
        (meat,) = objective.reduce(_meat, objective._theta(self.theta))
        M = self._cov_theta_factor
        return M.T @ torch.as_tensor(meat, dtype=torch.float64) @ M

    def _block_codes(self, codes):
        """``codes`` split as X's blocks of rows, one tuple of arguments per block."""
        bounds = np.cumsum((0, *self.objective.X.chunks[0]))
        return [(codes[a:b],) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]

    def _group_codes(self, groups):
        """The labels (a dask array or in memory) are brought to the driver, one
        per row, to be numbered; the weights stay on the workers."""
        labels = groups.compute() if hasattr(groups, "compute") else groups
        codes, n_labels = group_labels(labels, int(self.objective.X.shape[0]))
        per_block = self._block_codes(codes)
        (counts,) = self.objective.reduce(_positive_rows, n_labels, per_block=per_block)
        return drop_empty_groups(codes, counts)

    def _cluster_scores(self):
        objective = self.objective
        (sums,) = objective.reduce(
            _cluster_sums, objective._theta(self.theta), self.n_groups,
            per_block=self._block_codes(self._groups),
        )
        return torch.as_tensor(sums, dtype=torch.float64)

    def _leverage_sandwich(self):
        objective = self.objective
        eye = torch.eye(self._cholesky.shape[0], dtype=torch.float64)
        inverse = _numpy(self._solve(eye))
        meat, n_high = objective.reduce(
            _leverage_meat, objective._theta(self.theta), inverse, self.cov_type
        )
        _check_leverage(int(n_high), self.cov_type)
        M = self._cov_theta_factor
        return M.T @ torch.as_tensor(meat, dtype=torch.float64) @ M

    def _loglike_scale(self):
        """The dispersion the log-likelihood is evaluated at when the hook is given none.

        The hooks' defaults are not sums over rows; what they amount to on the
        whole data is passed explicitly: the Gaussian's concentrated
        likelihood at ``RSS / nobs`` (statsmodels' llf), the fit's Pearson
        dispersion otherwise (Gamma, Tweedie; ignored by the others).
        """
        from .._loss.losses import HalfSquaredError

        if isinstance(self.objective.loss, HalfSquaredError):
            return self._hook_sum("_inference_deviance") / self.nobs
        return self.scale

    @functools.cached_property
    def llf(self):
        """Log-likelihood at the fitted parameters."""
        self._require_likelihood("The log-likelihood")
        return self._hook_sum("_inference_loglike", scale=self._loglike_scale())

    @functools.cached_property
    def llnull(self):
        """Log-likelihood of the intercept-only model, fitted on the same data."""
        self._require_likelihood("The null log-likelihood")
        null_raw = self.objective.null_raw()
        return self._hook_sum("_inference_loglike", null_raw, scale=self.scale)

    @functools.cached_property
    def deviance(self):
        """``2 * (llf_saturated - llf)``; ``-2 llf`` for individual class labels."""
        deviance = self._hook_sum("_inference_deviance")
        if deviance is not None:
            return deviance
        return 2.0 * (self._llsaturated - self.llf)

    @functools.cached_property
    def null_deviance(self):
        """Deviance of the intercept-only model."""
        deviance = self._hook_sum("_inference_deviance", self.objective.null_raw())
        if deviance is not None:
            return deviance
        return 2.0 * (self._llsaturated - self.llnull)

    def same_observations(self, other):
        """Whether ``other`` was computed on the same observations (the LR test's check)."""
        a, b = self.objective, other.objective
        if not isinstance(b, DaskObjective):
            return False
        if a.X.shape[0] != b.X.shape[0] or not math.isclose(
            self.nobs, other.nobs, rel_tol=1e-12
        ) or a.n_outputs != b.n_outputs:
            return False
        import dask

        y_b = b.y.rechunk((a.X.chunks[0],))
        w_b = None if b.sample_weight is None else b.sample_weight.rechunk((a.X.chunks[0],))
        pairs = _blocks(a.y, a.sample_weight, y_b, w_b)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return all(_compute([dask.delayed(_same_rows)(*p) for p in pairs]))
