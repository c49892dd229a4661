"""Classifier unlearning methods (MUFAC / MUCAC-style instance forgetting), one module per
method, registered in ``METHODS`` with ``family="classifier"``."""
