"""Gradient-based unlearning methods: one module per method, registered in ``METHODS``."""
