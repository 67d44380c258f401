"""The comparison command (``python -m sklearn_neuron``), an application of the library.

Every loss x optimizer of the neuron cross-validated against LogisticRegression, its
table, figures and report. It is built on the library's public API (three private
pieces it still needs are named in ``tests/test_study.py``). Its modules:
``options`` (the names and defaults ``--help`` shows; imports nothing),
``datasets`` (loading and checking the data), ``fitting`` (the study's fit
settings and recorded fits), ``scores`` (cross-validated scores and
LogisticRegression's objective), ``peers`` (skorch and MLPClassifier beside the
neuron), ``runs`` (the classification and regression studies), ``result`` (what a
study returns), ``verdict`` (the conclusions in words), ``landscape`` (the data of
the explanatory figures), ``plots`` (the figures), ``report`` (tables, JSON and
the report) and ``cli`` (the arguments and the command's flow).
"""
