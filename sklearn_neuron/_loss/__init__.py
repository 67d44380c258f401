"""Pointwise losses, their links (activations), their targets and the regression families.

What one row contributes: the loss and its derivatives in the raw output (``losses``),
the link between raw output and prediction (``activations``), the target y becomes
and the values of y a loss accepts (``targets``), and each family's likelihood.
Nothing here knows about X, penalties or solvers.
"""
