"""The objective of a fit: loss x design x penalty.

A loss (from :mod:`sklearn_neuron._loss`) read through a design matrix with sample
weights, plus a penalty: value, gradient, Hessian and Hessian-vector products,
evaluated by every solver in :mod:`sklearn_neuron._solvers` and read by inference.

- :mod:`.protocol`: the declared interfaces, :class:`~.protocol.Objective` (every
  storage, Dask included) and :class:`~.protocol.RowObjective` (rows in memory);
- :mod:`.linear`: :class:`~.linear.LinearObjective`, the in-memory objective that
  composes the three;
- :mod:`.design`: how X of each storage is read (dense, sparse CSR); a new storage
  is a new :class:`~.design.Design`;
- :mod:`.penalty`: the parameter layout, the L2 / L1 terms and the softmax's free
  directions;
- :mod:`.gram` and :mod:`.fused`: the chunked kernels over large data;
- :mod:`.fingerprint`: the training data's fingerprint that inference checks.
"""
