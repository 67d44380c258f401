"""Firth's bias-reduced logistic regression: the objective, its fit and its inference.

Firth (1993) maximises the log-likelihood plus half the log-determinant of
the Fisher information (the Jeffreys prior),
``l*(beta) = l(beta) + 1/2 log det I(beta)``, which has a finite maximum
also where the classes are (quasi-)separated and the maximum-likelihood
estimate does not exist, and removes the O(1/n) bias of the latter. This
module owns :class:`FirthObjective` (the penalized objective on the scale of
:class:`~sklearn_neuron._objective.linear.LinearObjective`, fitted by the package's
:func:`~sklearn_neuron._solvers.optimizers.newton` with the information as its
Hessian, which is Fisher scoring on the modified score, as logistf and
brglm2 do), the restricted fits behind profile penalized-likelihood
intervals and penalized likelihood-ratio tests, and
:class:`FirthInferenceResults`, which reports them as logistf does. Binary
logit only; on data in memory (dense, sparse, torch) or on dask blocks,
where the hat diagonal's pass is one more reduction.
"""

import math
from functools import cached_property

import numpy as np
import torch
from scipy import optimize, stats

from .._dask.inference import DaskInferenceResults
from .._inference.results import InferenceResults, InferenceSummary
from .optimizers import effective_tol, newton

#: Rows per chunk of the hat-diagonal pass over a dense X.
_HAT_CHUNK_ROWS = 8192
#: Gradient tolerance (mean scale) of the polish and of the restricted fits
#: of inference, floored at the dtype's (``effective_tol``).
_INFERENCE_TOL = 1e-12
_INFERENCE_MAX_ITER = 100
#: Gradient tolerance (mean scale) of the restricted fits of profiles and
#: tests: their penalized log-likelihood is then exact to ~S * tol^2.
_RESTRICTED_TOL = 1e-10
#: Halvings of a step before a restricted fit's line search gives up.
_MAX_HALVINGS = 40
#: Above this many ``n_rows * n_params**2`` the summary's table shows Wald
#: statistics (:class:`FirthInferenceSummary`); profile intervals and
#: penalized likelihood-ratio tests stay available from the results.
PROFILE_SUMMARY_WORK = 1e7
#: Doublings of the distance from the estimate when bracketing a profile bound.
_MAX_BRACKET_DOUBLINGS = 40


def check_firth_settings(model, n_classes=None):
    """Refuse ``firth=True`` with settings that change its statistical model.

    Firth's estimator is unpenalized logistic regression plus the Jeffreys
    prior, fitted by Newton (Fisher scoring): ``loss="log_loss"``,
    ``C=np.inf``, ``optimizer`` "auto" or "newton", two classes.
    """
    name = type(model).__name__
    if model.loss != "log_loss":
        raise ValueError(
            f"{name}(firth=True) is Firth's penalized logistic regression, which needs "
            f"loss='log_loss'; got loss={model.loss!r}. Set loss='log_loss' or firth=False."
        )
    if not math.isinf(model.C):
        raise ValueError(
            f"{name}(firth=True) adds the Jeffreys prior to the unpenalized likelihood and "
            f"needs C=np.inf; got C={model.C!r}. Pass C=np.inf with firth=True, or a "
            "finite C with firth=False (an L2-penalized fit)."
        )
    if isinstance(model.optimizer, type) or model.optimizer not in ("auto", "newton"):
        raise ValueError(
            f"{name}(firth=True) is fitted by Newton's method (Fisher scoring on the "
            f"modified score); optimizer={model._optimizer_label()!r} is not supported. "
            "Use optimizer='auto' or 'newton'."
        )
    if n_classes is not None and n_classes > 2:
        raise ValueError(
            f"{name}(firth=True) is implemented for two classes; y has {n_classes}. "
            "Fit one binary Firth model per class (one-vs-rest), or use firth=False."
        )


class FirthObjective:
    """A binary log-loss :class:`~sklearn_neuron._objective.linear.LinearObjective` plus
    Firth's penalty, ``f*(theta) = f(theta) - log det I(theta) / (2 S)``.

    ``f`` is the weighted mean negative log-likelihood and ``S`` the sum of
    the weights, so ``-S f*`` is the penalized log-likelihood; ``I = S H``
    with ``H`` the objective's Hessian. The gradient is ``-U*/S`` with the
    modified score ``U* = X^T (s (y - p) + h (1/2 - p))`` and ``h`` the
    diagonal of the hat matrix ``W^1/2 X I^-1 X^T W^1/2``. Every evaluation
    takes the value, gradient and information from one Gram pass over X,
    factors the information once (its log-determinant and the hat
    diagonal's quadratic forms both come from that Cholesky factor) and
    reads X once more for ``h`` and its gradient term. :meth:`hessian` at
    the point just evaluated returns that information (not the exact
    Hessian of ``f*``): Newton then takes Fisher-scoring steps, as logistf
    and brglm2, and its line search keeps each step an ascent of ``l*``.
    Everything else is the wrapped objective's.
    """

    #: Inference on a Firth fit reports its own statistics.
    firth = True
    #: Newton starts cold: a subsample's maximum-likelihood fit (dask data)
    #: may be far out along a separating direction, where Firth's is not.
    subsample_newton = None

    def __init__(self, objective):
        if objective.n_outputs != 1 or objective.loss.activation.name != "sigmoid":
            raise ValueError("FirthObjective needs a binary log-loss objective.")
        self._objective = objective
        self._last = (None, None)
        self._evaluations = 0

    def __getattr__(self, name):
        return getattr(self._objective, name)

    def row_bounds(self):
        # No certified final Newton step (dask): its bounds are the
        # log-likelihood's, not the penalized one's; the step is evaluated.
        return None

    @property
    def inference_results_class(self):
        if getattr(self._objective, "distributed", False):
            return DaskFirthInferenceResults
        return FirthInferenceResults

    @property
    def base(self):
        """The wrapped (unpenalized) objective."""
        return self._objective

    def penalized_terms(self, theta):
        """``(f*, grad f*, H, log det I)`` at ``theta``; ``f* = inf`` where I is singular."""
        obj = self._objective
        f, g, _, H = obj.value_gradient_hessian(theta)
        factor = _information_factor(H, obj.weight_sum)
        first = self._evaluations == 0
        self._evaluations += 1
        if factor is None:
            if first:
                raise ValueError(
                    "firth=True: the Fisher information is singular at the starting "
                    "coefficients, so log det I is -inf and Firth's penalty is undefined. "
                    "The design must have full column rank: drop constant or collinear "
                    "features (or the intercept's duplicate)."
                )
            return torch.tensor(math.inf, dtype=f.dtype), g, H, -math.inf
        root_inverse, logdet = factor
        if getattr(obj, "distributed", False):  # a sum over the dask blocks
            (correction,) = obj.reduce(
                _penalty_gradient_block, obj._theta(theta), root_inverse.cpu().numpy()
            )
            correction = torch.as_tensor(correction, dtype=g.dtype)
        else:
            correction = _penalty_gradient(obj, theta, root_inverse)
        S = obj.weight_sum
        return f - logdet / (2.0 * S), g - correction, H, logdet

    def value_gradient(self, theta, index=None):
        if index is not None:
            raise ValueError("A Firth objective has no minibatch gradient.")
        f, g, H, _ = self.penalized_terms(theta)
        self._last = (theta, H)
        return f, g, None

    def value(self, theta, raw=None):
        return self.penalized_terms(theta)[0]

    def full_value(self, theta):
        return float(self.value(theta))

    def hessian(self, theta, raw=None, pointwise=None):
        point, H = self._last
        if point is theta and pointwise is None:
            return H
        return self._objective.hessian(theta, raw, pointwise)

    def value_gradient_hessian(self, theta):
        f, g, H, _ = self.penalized_terms(theta)
        return f, g, None, H

    def penalized_loglike(self, theta):
        """Penalized log-likelihood ``l(theta) + 1/2 log det I(theta)`` (a float)."""
        return -self.weight_sum * float(self.penalized_terms(theta)[0])


def _penalty_gradient(objective, theta, root_inverse):
    """Minus the gradient of Firth's penalty on the objective's scale, ``X^T (h (1/2 - p)) / S``.

    ``root_inverse`` is ``B`` with ``B^T B = I^-1``, from the information's
    Cholesky factor. ``h_i = s_i p_i (1 - p_i) x_i' I^-1 x_i`` and the
    objective's weights are ``s_i / S``. A block of rows of a larger data set
    (dask) gives its share of the whole's.
    """
    prob = torch.sigmoid(objective.raw(theta)[:, 0])
    leverage = _quadratic_forms(objective, root_inverse)  # x_i' I^-1 x_i
    scores = objective.weight * prob * (1.0 - prob) * (0.5 - prob) * leverage
    return objective.linear_gradient(scores.unsqueeze(1)).reshape(-1)


def _penalty_gradient_block(objective, theta, root_inverse):
    """:func:`_penalty_gradient` on one dask block's objective, as numpy (a reduction's term)."""
    correction = _penalty_gradient(
        objective, torch.from_numpy(theta), torch.from_numpy(root_inverse)
    )
    return (correction.detach().cpu().numpy(),)


def _information_factor(H, weight_sum):
    """``(B, log det I)`` with ``B^T B = I^-1`` for ``I = weight_sum * H``, or None if singular.

    The information is equilibrated to unit diagonal before its Cholesky
    factorisation, so that the pivot test measures collinearity, not the
    scale of the features.
    """
    A = H.to(torch.float64) * weight_sum
    diagonal = A.diagonal()
    if not bool((diagonal > 0).all()) or not bool(torch.isfinite(A).all()):
        return None
    scale = diagonal.rsqrt()
    L, info = torch.linalg.cholesky_ex(A * scale[:, None] * scale[None, :])
    if int(info) != 0 or float(L.diagonal().min()) ** 2 < 1e3 * torch.finfo(torch.float64).eps:
        return None
    logdet = 2.0 * float(L.diagonal().log().sum()) - 2.0 * float(scale.log().sum())
    eye = torch.eye(A.shape[0], dtype=A.dtype, device=A.device)
    L_inverse = torch.linalg.solve_triangular(L, eye, upper=False)
    return (L_inverse * scale[None, :]).to(H.dtype), logdet


def _quadratic_forms(objective, root_inverse):
    """``||B xa_i||^2`` for every row ``xa_i = [x_i, 1]`` of the design (n,).

    One pass over X (by chunks of rows where X is dense), never forming
    ``[X, 1]``: ``xa_i B^T = x_i B^T[:p] + B^T[p]``.
    """
    Bt = root_inverse.T.contiguous()
    p = objective.n_features
    top, shift = Bt[:p], (Bt[p] if objective.fit_intercept else None)
    X = objective.X
    if objective.is_sparse:
        R = X @ top
        if shift is not None:
            R += shift
        return (R * R).sum(dim=1)
    n = X.shape[0]
    out = torch.empty(n, dtype=Bt.dtype, device=Bt.device)
    for start in range(0, n, _HAT_CHUNK_ROWS):
        rows = slice(start, start + _HAT_CHUNK_ROWS)
        R = X[rows] @ top
        if shift is not None:
            R += shift
        torch.sum(R * R, dim=1, out=out[rows])
    return out


def restricted_fit(objective, theta, fixed, *, tol=_RESTRICTED_TOL, max_iter=_INFERENCE_MAX_ITER):
    """Maximise the penalized log-likelihood with the parameters ``fixed`` held at ``theta``'s.

    ``fixed`` is a boolean mask over ``theta``. The penalty stays that of
    the full design (``log det I`` of all parameters), as in logistf's
    profile likelihood and penalized likelihood-ratio tests. Quasi-Newton
    on the free parameters: the Fisher information at the start, updated
    by BFGS from the steps taken (Fisher scoring alone converges only
    linearly where the penalty's curvature matters, as far out in a
    profile), with a backtracking line search. Stops at ``max|grad| <=
    tol`` (mean scale) or where no step lowers the objective any more (its
    rounding). Returns ``(theta, penalized log-likelihood)``.
    """
    free = ~fixed
    theta = theta.clone()
    f, g, H, _ = objective.penalized_terms(theta)
    f = float(f)
    if not bool(free.any()):
        return theta, -objective.weight_sum * f
    tol = effective_tol(tol, theta.dtype)
    resolution = 100 * torch.finfo(theta.dtype).eps
    B = H[free][:, free].to(torch.float64)
    for _ in range(max_iter):
        g_free = g[free].to(torch.float64)
        if float(g_free.abs().max()) <= tol:
            break
        step = -torch.linalg.solve(B, g_free)
        slope = float(torch.dot(g_free, step))
        length, accepted = 1.0, None
        for _ in range(_MAX_HALVINGS):
            candidate = theta.clone()
            candidate[free] += (length * step).to(theta.dtype)
            f_new, g_new, _, _ = objective.penalized_terms(candidate)
            f_new = float(f_new)
            if f_new <= f + 1e-4 * length * slope or (
                f_new <= f + resolution * max(abs(f), 1.0)
                and float(g_new[free].abs().max()) < float(g_free.abs().max())
            ):
                accepted = candidate, f_new, g_new
                break
            length *= 0.5
        if accepted is None:
            break  # the objective's rounding: no step is measurably better
        s = (accepted[0] - theta)[free].to(torch.float64)
        change = accepted[2][free].to(torch.float64) - g_free
        theta, f, g = accepted
        curvature = float(torch.dot(change, s))
        if curvature > 0:  # BFGS update; skipped where it would lose definiteness
            Bs = B @ s
            B = B + torch.outer(change, change) / curvature - torch.outer(Bs, Bs) / float(s @ Bs)
    return theta, -objective.weight_sum * f


class FirthInferenceResults(InferenceResults):
    """Inference of a Firth fit, as logistf reports it.

    ``params`` is Firth's estimate (polished to a tight modified score);
    ``bse`` the Wald standard errors from the inverse Fisher information
    there (as brglm2 and logistf); ``conf_int`` the profile
    penalized-likelihood intervals and ``pvalues`` the penalized
    likelihood-ratio tests of each parameter being zero (logistf's
    defaults); ``wald_conf_int`` and ``wald_pvalues`` the Wald ones. ``llf``
    is the (unpenalized) log-likelihood at the estimate,
    ``penalized_llf`` the penalized one; ``llr`` and ``llr_pvalue`` are the
    penalized likelihood-ratio test against the intercept-only model
    (logistf's "Likelihood ratio test"). Restricted fits keep the full
    design's penalty, as logistf's do.
    """

    def __init__(self, model, objective, theta, *, cov_type="nonrobust", **kwargs):
        if cov_type != "nonrobust":
            raise ValueError(
                f"cov_type={cov_type!r} is not available for a Firth fit (firth=True): its "
                "standard errors are the inverse Fisher information at the penalized "
                "estimate, as logistf and brglm2 report them. Use cov_type='nonrobust'."
            )
        super().__init__(model, objective, theta, cov_type=cov_type, **kwargs)
        self.model_name = f"{self.model_name}, Firth-penalized"

    def _check_separation(self, observed):
        # Firth's estimate is finite under separation: the remedy, not the problem.
        return False

    def _polish(self, pointwise):
        """Fisher-scoring steps on the modified score to a tight gradient."""
        result = newton(
            self.objective, self.theta, tol=_INFERENCE_TOL, max_iter=_INFERENCE_MAX_ITER,
            name="firth/polish",
        )
        self.theta = self._second_order(result.theta, pointwise)

    # -- penalized likelihood ---------------------------------------------------
    @cached_property
    def penalized_llf(self):
        """Penalized log-likelihood ``llf + 1/2 log det I`` at the estimate."""
        return self.objective.penalized_loglike(self.theta)

    def _theta_index(self):
        """Index in ``theta`` of each reported parameter (a permutation for a binary logit)."""
        return self._parametrisation.matrix.argmax(dim=1).tolist()

    def _restricted(self, fixed_values, start=None):
        """``(theta, penalized log-likelihood)`` with ``{theta index: value}`` held
        fixed, the others fitted from ``start`` (default: the estimate)."""
        theta = (self.theta if start is None else start).clone()
        fixed = torch.zeros_like(theta, dtype=torch.bool)
        for index, value in fixed_values.items():
            theta[index] = value
            fixed[index] = True
        return restricted_fit(self.objective, theta, fixed)

    @cached_property
    def penalized_lr_statistics(self):
        """Penalized likelihood-ratio chi2 (1 df) of each parameter being zero."""
        return np.array([
            max(2.0 * (self.penalized_llf - self._restricted({index: 0.0})[1]), 0.0)
            for index in self._theta_index()
        ])

    @cached_property
    def pvalues(self):
        """p-values of the penalized likelihood-ratio tests (logistf's default)."""
        return stats.chi2.sf(self.penalized_lr_statistics, 1)

    @cached_property
    def wald_pvalues(self):
        """Two-sided p-values of the Wald z statistics."""
        return 2.0 * stats.norm.sf(np.abs(self.zvalues))

    def wald_conf_int(self, alpha=0.05):
        """Wald confidence intervals, ``params +- z * bse``."""
        return InferenceResults.conf_int(self, alpha)

    def conf_int(self, alpha=0.05):
        """Profile penalized-likelihood confidence intervals (logistf's default).

        Each bound is where twice the drop of the profile penalized
        log-likelihood equals the chi2(1) quantile of ``1 - alpha``.

        Parameters
        ----------
        alpha : float, default=0.05
            One minus the confidence level.

        Returns
        -------
        ndarray of shape (n_params, 2)
        """
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {alpha!r}.")
        cache = vars(self).setdefault("_profile_cache", {})
        if alpha not in cache:
            cache[alpha] = self._profile_intervals(alpha)
        return cache[alpha].copy()

    def _profile_intervals(self, alpha):
        critical = stats.chi2.isf(alpha, 1)
        wald = InferenceResults.conf_int(self, alpha)
        bounds = np.empty((self.params.size, 2))
        for row, index in enumerate(self._theta_index()):
            estimate = float(self.theta[index])
            for side, sign in enumerate((-1.0, 1.0)):
                distance = max(abs(wald[row, side] - estimate), 1e-8)
                bounds[row, side] = self._profile_bound(index, estimate, sign, distance, critical)
        return bounds

    def _profile_bound(self, index, estimate, sign, distance, critical):
        """The root of the profile's drop, ``2 (pl_hat - pl(b)) = critical``, on one side."""
        solutions = {estimate: self.theta}

        def excess(value):
            # The penalized likelihood need not be concave: far out the free
            # parameters can have two local maxima. The profile is the larger
            # of the fits from the estimate and from the nearest value
            # already fitted (continuation).
            nearest = min(solutions, key=lambda known: abs(known - value))
            theta, loglike = self._restricted({index: value})
            if nearest != estimate:
                other, other_loglike = self._restricted({index: value}, solutions[nearest])
                if other_loglike > loglike:
                    theta, loglike = other, other_loglike
            solutions[value] = theta
            return 2.0 * (self.penalized_llf - loglike) - critical

        inner = estimate
        for _ in range(_MAX_BRACKET_DOUBLINGS):
            outer = estimate + sign * distance
            if excess(outer) > 0:
                break
            inner, distance = outer, 2.0 * distance
        else:
            return sign * math.inf
        scale = max(abs(estimate), abs(outer), 1.0)
        return optimize.brentq(
            excess, min(inner, outer), max(inner, outer), xtol=1e-10 * scale
        )

    @cached_property
    def penalized_llnull(self):
        """Penalized log-likelihood with every coefficient but the intercept at zero."""
        index = self._theta_index()
        names = self._parametrisation.names
        return self._restricted({
            i: 0.0 for i, name in zip(index, names, strict=True) if name != "const"
        })[1]

    @cached_property
    def llr(self):
        """Penalized likelihood-ratio statistic against the intercept-only model."""
        return 2.0 * (self.penalized_llf - self.penalized_llnull)

    def summary(self, alpha=0.05):
        """Summary table (see :class:`FirthInferenceSummary`)."""
        return FirthInferenceSummary(self, alpha)


class _WaldView:
    """:class:`FirthInferenceResults` as the base summary reads it, with the
    Wald p-values and intervals (the profile ones are put in afterwards,
    where affordable)."""

    def __init__(self, results):
        self._results = results

    def __getattr__(self, name):
        return getattr(self._results, name)

    @property
    def pvalues(self):
        return self._results.wald_pvalues

    def conf_int(self, alpha=0.05):
        return self._results.wald_conf_int(alpha)


class FirthInferenceSummary(InferenceSummary):
    """logistf's table: coefficients, Wald standard errors, penalized
    likelihood-ratio chi2 and p-values, profile penalized-likelihood intervals.

    Those take two restricted fits per parameter and bound, each a few
    passes over the data: on data with ``n_rows * n_params**2`` above
    ``PROFILE_SUMMARY_WORK`` the table shows the Wald z, p-values and
    intervals instead, and a note says how to ask for the others.
    """

    def __init__(self, results, alpha=0.05):
        super().__init__(_WaldView(results), alpha)
        r = results
        self.header += [("Penalized log-likelihood", f"{r.penalized_llf:.6g}")]
        note = (
            "Firth-penalized fit (firth=True: log-likelihood + 1/2 log det I, the "
            "Jeffreys prior): std err are Wald, from the inverse Fisher information at "
            "the penalized estimate; LLR p-value is the penalized likelihood-ratio test "
            "against the intercept-only model, as logistf's."
        )
        n_rows, n_params = r.objective.X.shape[0], r.params.size
        if n_rows * n_params**2 > PROFILE_SUMMARY_WORK:
            self.notes.append(
                f"{note} z, P>|z| and the intervals are Wald's: on {n_rows} rows the "
                "penalized likelihood-ratio tests and profile intervals cost "
                f"{2 * n_params} restricted fits and more; results.pvalues and "
                "results.conf_int() compute them."
            )
            return
        profile = r.conf_int(alpha)
        self.columns = ["coef", "std err", "chi2", "P>chi2", *self.columns[4:]]
        self.table = [
            (*row[:4], chi2, p, low, high)
            for row, chi2, p, (low, high) in zip(
                self.table, r.penalized_lr_statistics.tolist(), r.pvalues.tolist(),
                profile.tolist(), strict=True,
            )
        ]
        self.notes.append(
            f"{note} chi2 and P>chi2 are penalized likelihood-ratio tests and the "
            "intervals profile penalized likelihood, as logistf's."
        )


def firth_objective(model, objective):
    """``objective`` (in memory or a dask ``DaskObjective``) with Firth's penalty,
    for ``model``'s fit (:class:`FirthObjective`)."""
    check_firth_settings(model, len(model.classes_))
    return FirthObjective(objective)


class DaskFirthInferenceResults(FirthInferenceResults, DaskInferenceResults):
    """:class:`FirthInferenceResults` on dask data: every pass a reduction over the blocks."""
