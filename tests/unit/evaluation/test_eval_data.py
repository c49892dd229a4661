"""What each forget request of the world evaluates: its own TOFU and MUSE splits."""

from __future__ import annotations

import pytest

from unlearnkit.core.errors import UnlearnkitError
from unlearnkit.data.world import generate_world, world_preset
from unlearnkit.evaluation.data import eval_data


@pytest.mark.parametrize("forget", ["forget01", "forget05", "forget10", "forget25"])
def test_world_forget_requests_evaluate_their_own_people(forget: str) -> None:
    world = generate_world(world_preset("test"))
    data = eval_data(world, forget=forget)
    people = set(world.split_people[forget])
    assert data.tofu is not None and data.muse is not None
    assert {r["person_id"] for r in data.tofu.forget} == people
    assert not {r["person_id"] for r in data.tofu.retain} & people
    assert not {r["person_id"] for r in data.tofu.neighbours} & people
    # MUSE: the biographies and QA of the same people
    bios = {p.bio for p in world.people_in(forget)}
    assert {r["text"] for r in data.muse.privleak_forget} == bios
    assert {r["prompt"] + r["gt"] for r in data.muse.verbmem_forget} == bios
    assert len(data.muse.knowmem_forget_qa) == len(data.tofu.forget)
    assert data.describe()["forget"] == forget


def test_unknown_forget_request_names_the_choices() -> None:
    with pytest.raises(UnlearnkitError, match="forget25"):
        eval_data(generate_world(world_preset("test")), forget="forget50")
