"""The objective of a fit: loss x design x penalty.

A loss (from :mod:`sklearn_neuron._loss`) read through a design matrix with sample
weights, plus a penalty: value, gradient, Hessian and Hessian-vector products,
evaluated by every solver in :mod:`sklearn_neuron._solvers`.
"""
