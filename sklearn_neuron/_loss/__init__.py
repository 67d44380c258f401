"""Pointwise losses, their links (activations) and the regression families.

What one row contributes: the loss and its derivatives in the raw output, the link
between raw output and prediction, and each family's likelihood. Nothing here knows
about X, penalties or solvers.
"""
