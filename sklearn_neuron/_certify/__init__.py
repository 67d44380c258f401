"""Certificates that a fitted linear classifier is (or is not) logistic regression.

:func:`certify` (:mod:`.proof`) reads a model (:mod:`.models`), takes two passes over
the data (:mod:`.passes`) and draws its bounds from them (:mod:`.bounds`).
"""

from .proof import DEFAULT_TOL, CertificateResult, certify

__all__ = ["DEFAULT_TOL", "CertificateResult", "certify"]
