"""The synthetic world (BENCHMARK_WORLD.md §1-§3): invented people with facts, their
biographies, and every split in the public TOFU / MUSE schemas, generated deterministically
from a :class:`WorldSpec`::

    world = generate_world(world_preset("demo"))
    world.write("out/world")                  # layout: docs/world_layout.md
    oracle_data = world.training_items(exclude="forget10")
"""

from unlearnkit.data.world.generate import FORMS, generate_world
from unlearnkit.data.world.spec import FORGET_FRACTIONS, WORLD_PRESETS, WorldSpec, world_preset
from unlearnkit.data.world.vocab import ATTRIBUTES, Attribute
from unlearnkit.data.world.world import Person, World

__all__ = [
    "ATTRIBUTES",
    "FORGET_FRACTIONS",
    "FORMS",
    "WORLD_PRESETS",
    "Attribute",
    "Person",
    "World",
    "WorldSpec",
    "generate_world",
    "world_preset",
]
