"""Solvers: each minimises an objective from :mod:`sklearn_neuron._objective`.

Newton, L-BFGS / OWL-QN, Hessian-free Newton, the minibatch family, and the
specialised solvers for hinge loss, least absolute deviations and Firth's
penalised likelihood; the stopping rule, the line search and the certificate
that a fit reached its optimum. :mod:`.dispatch` is the registry the estimators
call (which solver, its settings, its messages); :mod:`.path` fits a sequence of
penalties, warm-started (``fit`` and NeuronClassifierCV).
"""
