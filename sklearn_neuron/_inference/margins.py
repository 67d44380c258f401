"""Average marginal effects of a fitted neuron and their delta-method covariance.

This module owns the marginal effects statsmodels reports with
``get_margeff``: the derivative of the model's mean (a class probability, a
GLM mean) with respect to each feature, averaged over the observations
(``at="overall"``) or taken at their mean (``at="mean"``), as ``dy/dx`` or
as an elasticity (``eydx``, ``dyex``, ``eyex``), with standard errors by the
delta method, ``J V J^T``, from the covariance ``V`` of the fitted
parameters and the exact Jacobian ``J`` of the effects in them (closed
forms: statsmodels takes it by complex-step differentiation, which is exact
to rounding too). The numerics take the reported parameters, their
covariance, the rows and the activation (the inverse link), so they are
testable without an estimator (:func:`average_marginal_effects`); every sum
over the rows is additive, so data spread over a cluster reduce them block by
block. :class:`MarginalEffects` is the table an estimator's
``marginal_effects`` returns, built on an
:class:`~sklearn_neuron._inference.results.InferenceResults`.
"""

import numpy as np
import scipy.sparse
import torch
from scipy import special, stats

from .._objective.protocol import RowObjective
from .checks import format_count
from .summary import InferenceSummary

#: Where the effects are evaluated.
AT = ("overall", "mean")
#: The effect and its transformation, with its column name (statsmodels'
#: without the parentheses, to fit the table's column).
METHODS = {
    "dydx": "dy/dx",
    "eydx": "dlny/dx",
    "dyex": "dy/dlnx",
    "eyex": "dlny/dlnx",
}
#: Activations (inverse links) whose effects are defined here.
ACTIVATIONS = ("identity", "sigmoid", "exp", "softmax")
#: Entries of the largest temporary of a chunk of rows (the softmax's
#: n_rows x n_features x K x K products): the memory a chunk takes, not its speed.
_CHUNK_ENTRIES = 1 << 21


def check_margins_options(at, method, alpha):
    """Raise a ValueError for an ``at``, ``method`` or ``alpha`` not supported."""
    if at not in AT:
        raise ValueError(
            f"at must be one of {AT} (the average of the effects over the "
            f"observations, or the effects at their mean), got {at!r}."
        )
    if method not in METHODS:
        raise ValueError(f"method must be one of {tuple(METHODS)}, got {method!r}.")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}.")


def average_marginal_effects(
    params, cov, X, activation, *, fit_intercept=True, sample_weight=None,
    offset=None, at="overall", method="dydx",
):
    """Marginal effects of a linear model's mean and their delta-method covariance.

    Parameters
    ----------
    params : ndarray of shape (n_equations * n_terms,)
        The reported parameters, equation after equation, each equation's
        terms the intercept first (with ``fit_intercept``) then the features
        (statsmodels' order, with ``add_constant``). A softmax model has
        K - 1 equations: each class's coefficients less those of the
        reference class 0.
    cov : ndarray of shape (n_params, n_params)
        Covariance of ``params``.
    X : ndarray or scipy sparse matrix of shape (n_samples, n_features)
        The observations, without the constant column.
    activation : {"identity", "sigmoid", "exp", "softmax"}
        The inverse link, mapping ``x @ beta`` to the mean.
    fit_intercept : bool, default=True
        Whether the first term of each equation is the intercept.
    sample_weight : ndarray of shape (n_samples,), default=None
        Frequency weights of the average (and of the mean with ``at="mean"``).
    offset : ndarray of shape (n_samples,) or (n_samples, K), default=None
        A known term added to the linear predictor (for a softmax, to each
        class's raw output).
    at : {"overall", "mean"}, default="overall"
        ``"overall"``: the average of the effects at every observation;
        ``"mean"``: the effects at the (weighted) mean observation.
    method : {"dydx", "eydx", "dyex", "eyex"}, default="dydx"
        ``dy/dx``; ``d(ln y)/dx`` (divided by the mean at each observation);
        ``dy/d(ln x)`` (times the feature's value); ``d(ln y)/d(ln x)``.

    Returns
    -------
    effects : ndarray of shape (n_features, n_outcomes)
        The effect of each feature on the mean of each outcome: one for a
        single-output model, one per class (reference class included) for a
        softmax.
    cov_effects : ndarray of shape (n_features * n_outcomes, n_features * n_outcomes)
        Their covariance, outcome after outcome (``effects.ravel("F")``).
    """
    check_margins_options(at, method, 0.05)
    name = getattr(activation, "name", activation)
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {name!r}.")
    params = np.asarray(params, dtype=np.float64)
    X = X.tocsr() if scipy.sparse.issparse(X) else np.asarray(X, dtype=np.float64)
    n = X.shape[0]
    weight = np.ones(n) if sample_weight is None else np.asarray(sample_weight, float)
    weight = weight / weight.sum()
    if offset is not None:
        offset = np.asarray(offset, dtype=np.float64).reshape(n, -1)
    if at == "mean":
        X, offset = weighted_mean_row(X, weight, offset)
        weight = np.ones(1)
    effects, jacobian = effect_sums(
        params, X, weight, name, fit_intercept=fit_intercept, offset=offset, method=method
    )
    return effects, delta_covariance(jacobian, cov)


def delta_covariance(jacobian, cov):
    """``J V J^T``, symmetrised."""
    cov_effects = jacobian @ np.asarray(cov, dtype=np.float64) @ jacobian.T
    return 0.5 * (cov_effects + cov_effects.T)


def weighted_mean_row(X, weight, offset=None):
    """The weighted mean of the rows of X (and of the offset), as one-row arrays.

    ``weight`` sums to one over the whole data; on part of the rows the
    results are that part's share, which add up over the parts.
    """
    mean = np.asarray(X.T @ weight, dtype=np.float64).reshape(1, -1)
    if offset is not None:
        offset = (weight @ offset).reshape(1, -1)
    return mean, offset


def effect_sums(params, X, weight, activation, *, fit_intercept, offset=None, method="dydx"):
    """Weighted sums over the rows of the effects and of their Jacobian.

    With weights that sum to one these are the average effects and the
    Jacobian of the average in ``params``; over parts of the rows (blocks of
    a cluster, chunks in memory) they add up.

    Parameters
    ----------
    params, activation, fit_intercept, method
        As in :func:`average_marginal_effects`.
    X : ndarray or scipy sparse CSR matrix of shape (n_samples, n_features)
    weight : ndarray of shape (n_samples,)
    offset : ndarray of shape (n_samples, n_raw) or None

    Returns
    -------
    effects : ndarray of shape (n_features, n_outcomes)
    jacobian : ndarray of shape (n_features * n_outcomes, n_params)
    """
    n, p = X.shape
    q = p + bool(fit_intercept)
    n_equations = params.size // q
    coef = params.reshape(n_equations, q).T  # (q, n_equations)
    n_outcomes = n_equations + 1 if activation == "softmax" else n_equations
    effects = np.zeros((p, n_outcomes))
    jacobian = np.zeros((p * n_outcomes, params.size))
    chunk = max(1, _CHUNK_ENTRIES // max(1, p * n_outcomes * n_outcomes))
    for start in range(0, n, chunk):
        rows = slice(start, min(n, start + chunk))
        X_rows = X[rows]
        X_rows = X_rows.toarray() if scipy.sparse.issparse(X_rows) else X_rows
        X_rows = np.asarray(X_rows, dtype=np.float64)
        design = np.column_stack([np.ones(len(X_rows)), X_rows]) if fit_intercept else X_rows
        rows_offset = None if offset is None else offset[rows]
        # A zero mean under "ey" gives inf and NaN, refused below as a whole.
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            sums = (_softmax_sums if activation == "softmax" else _single_sums)(
                coef, X_rows, design, weight[rows], activation, rows_offset, method
            )
            effects += sums[0]
            jacobian += sums[1]
    if not (np.isfinite(effects).all() and np.isfinite(jacobian).all()):
        raise ValueError(
            f"The marginal effects with method={method!r} are not finite: 'eydx' and "
            "'eyex' divide by the predicted mean, which is zero at some observation "
            "(or the mean overflows). Use method='dydx' or 'dyex'."
        )
    return effects, jacobian


def _single_sums(coef, X, design, weight, activation, offset, method):
    """:func:`effect_sums` of one output ``mu = g^-1(x~ beta)``.

    The effect at row i is ``a(eta_i) beta_j c_ij``: ``a`` is ``dmu/deta``
    (``/ mu`` for ``ey``), ``c_ij`` is ``x_ij`` for ``ex`` and 1 otherwise;
    its derivative in ``beta_l`` is ``a'(eta_i) x~_il beta_j c_ij`` plus
    ``a(eta_i) c_ij`` for l the term of feature j.
    """
    beta = coef[:, 0]
    q, p = design.shape[1], X.shape[1]
    eta = design @ beta
    if offset is not None:
        eta = eta + offset[:, 0]
    a, da = _inverse_link_slope(activation, eta, log_mean="ey" in method)
    features = beta[q - p:]
    jacobian = np.zeros((p, q))
    if "ex" in method:
        level = (weight * a) @ X
        curvature = X.T @ ((weight * da)[:, None] * design)
        jacobian += features[:, None] * curvature
    else:
        level = np.full(p, weight @ a)
        jacobian += np.outer(features, (weight * da) @ design)
    jacobian[:, q - p:] += np.diag(level)
    return (features * level)[:, None], jacobian


def _inverse_link_slope(activation, eta, *, log_mean):
    """``(a, da/deta)`` with ``a = dmu/deta``, or ``dmu/deta / mu`` with ``log_mean``."""
    if activation == "identity":
        if log_mean:
            return 1.0 / eta, -1.0 / eta**2
        return np.ones_like(eta), np.zeros_like(eta)
    if activation == "exp":
        if log_mean:
            return np.ones_like(eta), np.zeros_like(eta)
        mu = np.exp(eta)
        return mu, mu
    mu = special.expit(eta)
    slope = mu * (1.0 - mu)
    if log_mean:
        return 1.0 - mu, -slope
    return slope, slope * (1.0 - 2.0 * mu)


def _softmax_sums(coef, X, design, weight, activation, offset, method):
    """:func:`effect_sums` of a softmax over K classes, class 0 the reference.

    With ``B`` the (q, K) coefficients (column 0 zero), ``P`` the
    probabilities and ``D_ijk = B_jk - sum_m P_im B_jm``, the effect on
    class k at row i is ``s_ik D_ijk c_ij`` (``s = P``, or 1 for ``ey``:
    ``D`` is the derivative of ``log P``). In ``B_lm``::

        dD_ijk = delta_jl (delta_km - P_im) - x~_il P_im D_ijm
        dP_ik = P_ik (delta_km - P_im) x~_il
    """
    q, p = design.shape[1], X.shape[1]
    B = np.column_stack([np.zeros(q), coef])  # (q, K)
    K = B.shape[1]
    raw = design @ B
    if offset is not None:
        raw = raw + offset
    P = special.softmax(raw, axis=1)
    features = B[q - p:]  # (p, K)
    D = features[None, :, :] - (P @ features.T)[:, :, None]  # (n, p, K)
    scale = P if "ey" not in method else np.ones_like(P)
    level = X if "ex" in method else np.ones_like(X)
    U = weight[:, None, None] * level[:, :, None] * scale[:, None, :]  # (n, p, K)
    effects = np.einsum("ijk,ijk->jk", U, D)
    eye = np.eye(K)
    # J[j, k, l, m]: the effect of feature j on class k, in B_lm.
    jacobian = -np.einsum("ijk,ijm,il->jklm", U, P[:, None, :] * D, design, optimize=True)
    diagonal = np.einsum("ijk->jk", U)[:, :, None] * eye - np.einsum("ijk,im->jkm", U, P)
    jacobian[np.arange(p), :, q - p + np.arange(p), :] += diagonal
    if "ey" not in method:
        G = U * D
        own = np.einsum("ijk,il->jkl", G, design)
        jacobian += own[:, :, :, None] * eye[None, :, None, :]
        jacobian -= np.einsum("ijk,im,il->jklm", G, P, design, optimize=True)
    # Rows: class after class; columns: the equations of classes 1..K-1.
    jacobian = jacobian[:, :, :, 1:].transpose(1, 0, 3, 2).reshape(K * p, (K - 1) * q)
    return effects, jacobian


# -- the estimator's table ----------------------------------------------------------
def _objective_arrays(
    objective: RowObjective,
) -> tuple[np.ndarray | scipy.sparse.csr_matrix, np.ndarray, np.ndarray | None]:
    """The rows of an objective as numpy: X (dense or CSR), weights, offset or None."""
    X = objective.design.host_rows()  # numpy, or scipy CSR for sparse X
    weight = objective.weight.detach().to(torch.float64).cpu().numpy()
    if objective.offset is None:
        return X, weight, None
    offset = objective.offset.detach().to(torch.float64).cpu().numpy()
    return X, weight, offset.reshape(X.shape[0], -1)


def _objective_effect_sums(objective, params, activation, method):
    """:func:`effect_sums` on an objective's rows (a block's, on its worker)."""
    X, weight, offset = _objective_arrays(objective)
    return effect_sums(
        params, X, weight, activation, fit_intercept=objective.fit_intercept,
        offset=offset, method=method,
    )


def _objective_mean_row(objective):
    """:func:`weighted_mean_row` of an objective's rows, the offset's as a second array."""
    X, weight, offset = _objective_arrays(objective)
    mean, offset_mean = weighted_mean_row(X, weight, offset)
    return mean, (np.zeros((1, 0)) if offset_mean is None else offset_mean)


class MarginalEffects(InferenceSummary):
    """Marginal effects of a fitted model with delta-method standard errors.

    Returned by ``marginal_effects`` of a fitted estimator (statsmodels'
    ``get_margeff``); ``str()`` gives the table as text, ``.frame`` a pandas
    DataFrame, ``.table`` the rows as tuples.

    Attributes
    ----------
    effects : ndarray of shape (n_features,) or (n_features, n_classes)
        The effects (statsmodels' ``margeff``): one column per class for a
        multinomial classifier, the reference class included.
    bse : ndarray of the shape of ``effects``
        Their standard errors (statsmodels' ``margeff_se``).
    cov_effects : ndarray
        Their covariance, class after class (statsmodels' ``margeff_cov``).
    zvalues, pvalues : ndarray of the shape of ``effects``
        Wald z statistics and their two-sided p-values.
    at, method : str
        Where the effects are evaluated and which transformation.
    alpha : float
        One minus the level of the confidence intervals of the table.
    results : InferenceResults
        The inference the effects come from (their parameters and covariance).
    header, table, columns, notes, title
        As in :class:`~sklearn_neuron.InferenceSummary`.

    See Also
    --------
    sklearn_neuron.InferenceResults : The coefficients' inference.

    Examples
    --------
    >>> import numpy as np
    >>> import statsmodels.api as sm
    >>> from sklearn_neuron import NeuronClassifier
    >>> data = sm.datasets.spector.load_pandas().data
    >>> X, y = data[["GPA", "TUCE", "PSI"]], data["GRADE"]
    >>> clf = NeuronClassifier(C=np.inf, optimizer="newton", tol=1e-10).fit(X, y)
    >>> margins = clf.marginal_effects(X, y)
    >>> margins.effects.round(4)
    array([0.3626, 0.0122, 0.3052])
    >>> margins.bse.round(4)
    array([0.1094, 0.0178, 0.0924])
    """

    def __init__(self, results, *, at="overall", method="dydx", alpha=0.05):
        check_margins_options(at, method, alpha)
        objective = results.objective
        activation = objective.loss.activation.name
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"Marginal effects are defined for the activations {ACTIVATIONS}; "
                f"loss={objective.loss.name!r} has {activation!r}."
            )
        self.results, self.at, self.method, self.alpha = results, at, method, alpha
        params = results.params
        # Sums over the rows: the whole data in memory, the blocks on a cluster.
        if at == "mean":
            mean, offset = objective.reduce(_objective_mean_row)
            effects, jacobian = effect_sums(
                params, mean, np.ones(1), activation,
                fit_intercept=objective.fit_intercept,
                offset=offset if offset.size else None, method=method,
            )
        else:
            effects, jacobian = objective.reduce(
                _objective_effect_sums, params, activation, method
            )
        cov = delta_covariance(jacobian, results.cov_params)
        bse = np.sqrt(np.diag(cov)).reshape(effects.shape, order="F")
        single = effects.shape[1] == 1
        self.effects = effects[:, 0] if single else effects
        self.bse = bse[:, 0] if single else bse
        self.cov_effects = cov
        self.zvalues = self.effects / self.bse
        self.pvalues = 2.0 * stats.norm.sf(np.abs(self.zvalues))
        self._describe(results, single)

    def conf_int(self, alpha=None):
        """Wald confidence intervals of the effects.

        Parameters
        ----------
        alpha : float, default=None
            One minus the confidence level; None: the table's ``alpha``.

        Returns
        -------
        ndarray of shape (n_effects, 2)
            Lower and upper bounds, in the order of ``effects.ravel("F")``.
        """
        alpha = self.alpha if alpha is None else alpha
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {alpha!r}.")
        q = stats.norm.isf(alpha / 2)
        effects, bse = self.effects.ravel("F"), self.bse.ravel("F")
        return np.column_stack([effects - q * bse, effects + q * bse])

    def _describe(self, results, single):
        """The title, header, rows and notes of the table."""
        description, objective = results.description, results.objective
        terms = description.term_names(objective)[int(objective.fit_intercept):]
        outcomes = description.output_names(objective)
        y = results.endog_name  # the name of a y Series, else "y"
        if single:
            classes = description.classes
            dependent = (
                f"P({y}={classes[-1]})" if classes is not None
                else description.dependent(objective, y)
            )
            equations = [None] * len(terms)
        else:
            dependent = f"P({y}=class) of each class"
            equations = [f"P({y}={out})" for out in outcomes for _ in terms]
        alpha = self.alpha
        self.title = f"{results.model_name} Marginal Effects"
        self.columns = [
            METHODS[self.method], "std err", "z", "P>|z|",
            f"[{alpha / 2:g}", f"{1 - alpha / 2:g}]",
        ]
        numbers = np.column_stack(
            [
                self.effects.ravel("F"), self.bse.ravel("F"), self.zvalues.ravel("F"),
                self.pvalues.ravel("F"), self.conf_int(),
            ]
        )
        self.table = [
            (eq, name, *values)
            for eq, name, values in zip(
                equations, terms * (len(equations) // len(terms)), numbers.tolist(),
                strict=True,
            )
        ]
        self.header = [
            ("Dependent variable", dependent),
            ("Model", results.model_name),
            ("Method", self.method),
            ("At", self.at),
            ("No. observations", format_count(results.nobs)),
            ("Covariance type", results.cov_type),
        ]
        at = (
            "Average marginal effects (the effect at each observation, averaged)"
            if self.at == "overall" else "Marginal effects at the mean observation"
        )
        self.notes = [
            f"{at}; standard errors by the delta method.",
            "Sample weights are frequency weights: No. observations is their sum.",
        ]
        if results.penalized:
            self.notes.append(
                "Penalized fit: standard errors use the penalized Hessian; the Wald "
                "statistics and p-values are NOT valid."
            )
