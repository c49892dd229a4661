"""Evaluation: metrics, attacks and probes that take a model adapter and data, and return
per-example results. Never imports ``methods``: it evaluates a model however it was made."""
