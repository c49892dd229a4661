"""unlearnkit: remove chosen data or knowledge from trained models, and prove it is gone.

The library is layered (import direction downward only)::

    cli / runner    experiment spec -> runs -> results -> report
    evaluation      metrics, attacks, probes (per-example results)
    methods         unlearners
    models          loading, tiny builders, family adapters
    data            benchmark schemas, synthetic world, loaders
    core            registry, config, result types, seeding, io, cache
"""

__version__ = "0.1.0"
