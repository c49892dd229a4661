"""Core building blocks every layer uses: errors, registry, typed configs, results, seeding,
atomic I/O and the content-hashed cache. ``core`` imports nothing else from unlearnkit."""

from unlearnkit.core.cache import Cache, content_hash, default_cache_dir
from unlearnkit.core.config import Config, parse_overrides
from unlearnkit.core.errors import (
    ConfigError,
    DataValidationError,
    RegistryError,
    UnknownNameError,
    UnlearnkitError,
)
from unlearnkit.core.io import atomic_dir, atomic_write_bytes, atomic_write_json, atomic_write_text
from unlearnkit.core.registry import Registry
from unlearnkit.core.results import Result
from unlearnkit.core.seeding import derive_seed, make_generator, seed_everything, set_threads

__all__ = [
    "Cache",
    "Config",
    "ConfigError",
    "DataValidationError",
    "Registry",
    "RegistryError",
    "Result",
    "UnknownNameError",
    "UnlearnkitError",
    "atomic_dir",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "content_hash",
    "default_cache_dir",
    "derive_seed",
    "make_generator",
    "parse_overrides",
    "seed_everything",
    "set_threads",
]
