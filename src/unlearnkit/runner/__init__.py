"""The runner: the only layer that wires data, models, methods and evaluation together."""
