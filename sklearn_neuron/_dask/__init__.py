"""Fitting and predicting on Dask collections.

The blocks of a Dask array each hold the same objective as an in-memory fit;
this package schedules them and adds up their reductions.
"""
