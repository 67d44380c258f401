"""Fitting and predicting on Dask collections: thin glue around the in-memory code.

The blocks of a Dask array each hold the same objective as an in-memory fit;
this package schedules them and adds up their reductions. Its modules, from
the bottom up:

- :mod:`.detect`: whether an argument is a Dask collection; Dask's import.
- :mod:`.blocks`: the arrays' blocks, where they are held, running a function
  on each and adding up the results.
- :mod:`.validation`: the estimators' checks, by reductions (the messages are
  :mod:`sklearn_neuron._validation`'s).
- :mod:`.tasks`: what runs on the workers (a block's in-memory objective).
- :mod:`.warm_start`: Newton's subsample warm start, on one worker.
- :mod:`.objective`: :class:`~.objective.DaskObjective`, the
  :class:`~sklearn_neuron._objective.protocol.Objective` on Dask data.
- :mod:`.build`: the classifier's and the regressor's objectives on Dask data.
- :mod:`.predict`: predictions as lazy Dask arrays.

Nothing here imports an estimator.
"""
