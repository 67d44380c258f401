"""The comparison command (``python -m sklearn_neuron``), an application of the library.

Every loss x optimizer of the neuron cross-validated against LogisticRegression, its
table, figures and report. It is built on the public estimators only.
"""
