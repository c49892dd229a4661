"""Recommender unlearning methods (UnlearnRec / MMRecUn / RecEraser-style requests of
interactions, users or items), one module per method, registered in ``METHODS`` with
``family="recommender"``."""
