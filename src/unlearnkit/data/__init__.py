"""Benchmark data: record schemas (TOFU, MUSE), loaders for local or hub datasets, and the
synthetic world generator (``unlearnkit.data.world``)."""
