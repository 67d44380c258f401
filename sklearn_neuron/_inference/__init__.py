"""The statistical model of a fitted neuron: standard errors, tests, marginal effects.

One results class for every storage; it asks the objective's likelihood through
reductions, so in-memory and Dask fits give the same statistics.
"""
