"""The family of each loss owns its likelihood (``sklearn_neuron._loss.likelihood``).

Each family's per-row functions, summed with frequency weights, give statsmodels'
``llf``, ``deviance`` and ``scale`` (Logit, MNLogit, GLM Gaussian, Poisson, Gamma,
Tweedie) at statsmodels' own estimates; the information is the loss's Hessian
(observed) and its expectation (expected); and inference's reductions of these
functions over two halves of the rows add up to the whole's, as over Dask blocks.
"""

import numpy as np
import pytest
import torch
from scipy import special

sm = pytest.importorskip("statsmodels.api")

from sklearn_neuron._inference.reductions import (  # noqa: E402
    At,
    deviance_sum,
    loglike_sum,
    pearson_sum,
)
from sklearn_neuron._loss.likelihood import (  # noqa: E402
    LIKELIHOODS,
    Bernoulli,
    Gamma,
    Gaussian,
    Multinomial,
    NoLikelihood,
    Poisson,
    Tweedie,
    likelihood_of,
)
from sklearn_neuron._loss.losses import (  # noqa: E402
    CLASSIFICATION_LOSSES,
    REGRESSION_LOSSES,
    BinaryLogLoss,
    HalfGammaLoss,
    HalfPoissonLoss,
    HalfSquaredError,
    HalfTweedieLoss,
    MultinomialLogLoss,
)
from sklearn_neuron._objective.linear import LinearObjective  # noqa: E402

LOG = sm.families.links.Log()
#: loss, its statsmodels GLM family, and a target generator from the mean.
GLMS = {
    "gaussian": (HalfSquaredError, lambda: sm.families.Gaussian(), Gaussian),
    "poisson": (HalfPoissonLoss, lambda: sm.families.Poisson(), Poisson),
    "gamma": (HalfGammaLoss, lambda: sm.families.Gamma(LOG), Gamma),
    "tweedie": (
        lambda: HalfTweedieLoss(1.5),
        lambda: sm.families.Tweedie(var_power=1.5, link=LOG, eql=False),
        Tweedie,
    ),
}


def _design(n=120, p=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng, rng.normal(size=(n, p)) * 0.5


def _glm_data(name, seed=0):
    rng, X = _design(seed=seed)
    mu = np.exp(0.3 + X @ np.array([0.4, -0.3, 0.2]))
    if name == "gaussian":
        y = 1.0 + X @ np.array([0.4, -0.3, 0.2]) + rng.normal(size=len(X))
    elif name == "poisson":
        y = rng.poisson(mu).astype(float)
    elif name == "gamma":
        y = rng.gamma(2.0, mu / 2.0)
    else:  # compound Poisson-Gamma: zeros and positive amounts
        y = np.where(rng.random(len(X)) < 0.3, 0.0, rng.gamma(2.0, mu / 2.0))
    w = rng.integers(1, 4, size=len(X)).astype(float)
    return X, y, w


def _weighted(values, w):
    return float(np.dot(w, values.detach().cpu().numpy()))


@pytest.mark.parametrize("name", list(GLMS))
def test_glm_family_sums_are_statsmodels_llf_deviance_and_scale(name):
    make_loss, family, expected = GLMS[name]
    X, y, w = _glm_data(name)
    res = sm.GLM(y, sm.add_constant(X), family=family(), freq_weights=w).fit(tol=1e-12)
    likelihood = likelihood_of(make_loss())
    assert type(likelihood) is expected and likelihood.glm
    raw = torch.as_tensor(sm.add_constant(X) @ res.params).unsqueeze(1)
    target = torch.as_tensor(y).unsqueeze(1)
    deviance = _weighted(likelihood.deviance_obs(raw, target), w)
    np.testing.assert_allclose(deviance, res.deviance, rtol=1e-10)
    pearson = _weighted(likelihood.pearson_obs(raw, target), w)
    nobs, k = w.sum(), X.shape[1] + 1
    np.testing.assert_allclose(pearson, res.pearson_chi2, rtol=1e-10)
    scale = pearson / (nobs - k) if likelihood.dispersion else 1.0
    np.testing.assert_allclose(scale, res.scale, rtol=1e-10)
    # The Gaussian's llf is the concentrated one, at deviance / nobs.
    at = deviance / nobs if likelihood.profiles_scale else scale
    loglike = _weighted(likelihood.loglike_obs(raw, target, at), w)
    np.testing.assert_allclose(loglike, res.llf, rtol=1e-10)
    saturated = _weighted(likelihood.saturated_loglike_obs(raw, target, at), w)
    if name == "poisson":  # (statsmodels' log(mu) at mu = y = 0 is not finite)
        expected_saturated = np.dot(w, special.xlogy(y, y) - y - special.gammaln(y + 1.0))
    elif name != "tweedie":
        expected_saturated = res.family.loglike(y, y, freq_weights=w, scale=at)
    if name != "tweedie":
        np.testing.assert_allclose(saturated, expected_saturated, rtol=1e-10)


def test_bernoulli_and_multinomial_sums_are_logit_and_mnlogit_llf():
    rng, X = _design(n=200)
    Xc = sm.add_constant(X)
    y = (X[:, 0] + rng.normal(size=len(X)) > 0).astype(float)
    logit = sm.Logit(y, Xc).fit(disp=0, tol=1e-12)
    likelihood = likelihood_of(BinaryLogLoss())
    assert type(likelihood) is Bernoulli and likelihood.has_margins
    raw = torch.as_tensor(Xc @ logit.params).unsqueeze(1)
    target = torch.as_tensor(y).unsqueeze(1)
    np.testing.assert_allclose(float(likelihood.loglike_obs(raw, target).sum()), logit.llf,
                               rtol=1e-10)
    # Individual labels: the saturated log-likelihood is 0, the deviance -2 llf.
    np.testing.assert_allclose(likelihood.saturated_loglike_obs(raw, target), 0.0, atol=1e-12)
    np.testing.assert_allclose(float(likelihood.deviance_obs(raw, target).sum()),
                               -2.0 * logit.llf, rtol=1e-10)

    labels = np.digitize(X[:, 1] + rng.normal(size=len(X)), [-0.5, 0.5])
    mnlogit = sm.MNLogit(labels, Xc).fit(disp=0, method="newton", tol=1e-12)
    likelihood = likelihood_of(MultinomialLogLoss(3))
    assert type(likelihood) is Multinomial
    raw = torch.as_tensor(np.column_stack([np.zeros(len(X)), Xc @ mnlogit.params]))
    target = torch.nn.functional.one_hot(torch.as_tensor(labels), 3).to(torch.float64)
    np.testing.assert_allclose(float(likelihood.loglike_obs(raw, target).sum()), mnlogit.llf,
                               rtol=1e-10)
    margins = likelihood.margins(raw, target)
    others = raw.masked_fill(target > 0.5, -torch.inf).amax(dim=1)
    np.testing.assert_array_equal(margins, raw[torch.arange(len(X)), labels] - others)


@pytest.mark.parametrize("name", ["poisson", "gamma", "tweedie"])
def test_information_observed_is_the_hessian_and_expected_its_mean(name):
    make_loss, _, _ = GLMS[name]
    X, y, _ = _glm_data(name)
    likelihood = likelihood_of(make_loss())
    raw = torch.as_tensor(0.2 + X[:, :1] * 0.3)
    target = torch.as_tensor(y).unsqueeze(1)
    # Observed: minus the second derivative of the log-likelihood in the raw
    # output (times the dispersion), by central differences.
    scale, h = (1.3 if likelihood.dispersion else 1.0), 1e-4

    def loglike(z):
        return likelihood.loglike_obs(z, target, scale) * scale

    second = (loglike(raw + h) - 2.0 * loglike(raw) + loglike(raw - h)) / h**2
    observed = likelihood.observed_information(raw, target)
    np.testing.assert_allclose(observed[:, 0, 0], -second, rtol=1e-5, atol=1e-6)
    # Expected: the observed one at y = mu (it is linear in y), statsmodels'
    # IRLS weights mu^(2-p) for the log link.
    mu = torch.exp(raw)
    expected = likelihood.expected_information(raw, target)
    np.testing.assert_allclose(expected, likelihood.observed_information(raw, mu), rtol=1e-12)
    assert likelihood.fisher_information is not None


def test_sums_over_two_halves_add_up_to_the_whole():
    # What a reduction over Dask blocks relies on: no correction terms.
    for name in GLMS:
        make_loss, _, _ = GLMS[name]
        X, y, w = _glm_data(name, seed=3)
        loss = make_loss()
        tensors = [torch.as_tensor(a) for a in (X, y[:, None], w)]
        total_weight = float(w.sum())

        def objective(rows, S=total_weight, tensors=tensors, loss=loss):
            Xr, yr, wr = (t[rows] for t in tensors)
            return LinearObjective(Xr, yr, wr, loss, 0.0, True, weight_sum=S)

        theta = torch.as_tensor([0.3, -0.2, 0.1, 0.25])
        whole, half = objective(slice(None)), [objective(slice(0, 50)), objective(slice(50, None))]
        for function, args in ((loglike_sum, (1.7,)), (deviance_sum, ()), (pearson_sum, ())):
            total = whole.reduce(function, At(theta=theta), *args)[0]
            parts = sum(part.reduce(function, At(theta=theta), *args)[0] for part in half)
            np.testing.assert_allclose(parts, total, rtol=1e-12)
        null = whole.null_raw()
        total = whole.reduce(deviance_sum, At.null(null))[0]
        parts = sum(part.reduce(deviance_sum, At.null(null))[0] for part in half)
        np.testing.assert_allclose(parts, total, rtol=1e-12)


def test_tweedie_loglike_is_refused_outside_compound_poisson_gamma():
    for power in (1.0, 1.5, 2.0):
        assert likelihood_of(HalfTweedieLoss(power)).loglike_refusal() is None
    for power in (0.0, 2.5, 3.0):
        reason = likelihood_of(HalfTweedieLoss(power)).loglike_refusal()
        assert f"not for power={power:g}" in reason


def test_every_loss_has_a_family_or_says_it_has_none():
    losses = [factory(2) for factory in CLASSIFICATION_LOSSES.values()]
    losses += [factory(3) for factory in CLASSIFICATION_LOSSES.values()]
    losses += [factory(1.5, 1.35) for factory in REGRESSION_LOSSES.values()]
    assert {type(loss) for loss in losses} >= set(LIKELIHOODS)
    raw = torch.zeros((4, 1), dtype=torch.float64)
    for loss in losses:
        likelihood = likelihood_of(loss)
        assert likelihood.is_likelihood == loss.is_log_likelihood
        if not loss.is_log_likelihood:
            assert isinstance(likelihood, NoLikelihood)
            assert "is not a negative log-likelihood" in likelihood.loglike_refusal()
            with pytest.raises(ValueError, match="not a negative log-likelihood"):
                likelihood.loglike_obs(raw, raw)
