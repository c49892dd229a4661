"""unlearnkit: remove chosen data or knowledge from trained models, and prove it is gone.

The library is layered (import direction downward only)::

    cli / runner    experiment spec -> runs -> results (one runner; runner/families/ holds
                    each model family's implementation of the family contract)
    report          tables, plots, HTML of a run's results (reads core.runs only)
    audit           attacks on a model: relearning, quantization, probes, traces
    evaluation      metrics, attacks, probes (per-example results)
    methods         unlearners
    models          loading, tiny builders, family adapters
    data            benchmark schemas, synthetic world, loaders
    core            registry, config, result types, seeding, io, cache
"""

__version__ = "0.1.0"
