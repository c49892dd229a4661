"""The adapter contract every family shares: one weight fingerprint (any dtype, bfloat16
included, equal weights equal fingerprints, the values the caches were keyed with), the
inference-time wrappers registered by kind, and every adapter an instance of the
``ModelAdapter`` protocol."""

from __future__ import annotations

import copy
import hashlib

import pytest
import torch

from unlearnkit.core.errors import RegistryError
from unlearnkit.models.adapters import CausalLMAdapter, ModelAdapter, model_fingerprint
from unlearnkit.models.adapters.base import tensor_bytes
from unlearnkit.models.adapters.classifier import ClassifierAdapter
from unlearnkit.models.adapters.wrappers import InferenceWrapper, wrap_saved, wrapper_kinds
from unlearnkit.models.recommender import RecommenderAdapter, RecommenderConfig, build_recommender
from unlearnkit.models.vision import build_classifier, classifier_preset


def _numpy_hash(model: torch.nn.Module, layout: bool) -> str:
    """The fingerprints as they were computed before they were shared (float32 only):
    the LM's with dtype and shape, the classifier's and recommender's without."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        if layout:
            h.update(str(t.dtype).encode())
            h.update(str(tuple(t.shape)).encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


@pytest.fixture(scope="module")
def adapters(tiny_lm) -> dict[str, object]:
    """A float32 adapter of each family, on its own copy of the weights."""
    return {
        "causal_lm": CausalLMAdapter(copy.deepcopy(tiny_lm.model), tiny_lm.tokenizer),
        "classifier": ClassifierAdapter(build_classifier(classifier_preset("cnn-test"), seed=0)),
        "recommender": RecommenderAdapter(
            build_recommender(RecommenderConfig(arch="lightgcn", n_factors=8), 6, 5, seed=0)
        ),
    }


def test_tensor_bytes_are_numpys_bytes_and_exist_for_every_dtype() -> None:
    x = torch.linspace(-2, 2, 12).reshape(3, 4)
    for dtype in (torch.float32, torch.float16, torch.float64, torch.int64, torch.bool):
        t = x.to(dtype)
        assert bytes(tensor_bytes(t)) == t.numpy().tobytes()
    assert bytes(tensor_bytes(x.T)) == x.T.contiguous().numpy().tobytes()  # not contiguous
    assert bytes(tensor_bytes(torch.tensor(3.0))) == torch.tensor(3.0).numpy().tobytes()
    half = x.to(torch.bfloat16)  # numpy has no bfloat16: its raw 16-bit words
    assert bytes(tensor_bytes(half)) == half.view(torch.int16).numpy().tobytes()
    assert len(tensor_bytes(x.to(torch.float8_e4m3fn))) == 12


@pytest.mark.parametrize("family", ["causal_lm", "classifier", "recommender"])
def test_fingerprints_keep_their_cached_values(adapters, family) -> None:
    """Fingerprints key caches: a float32 model hashes as it did before the three
    implementations became one."""
    adapter = adapters[family]
    assert adapter.fingerprint() == _numpy_hash(adapter.model, layout=family == "causal_lm")


def _around(adapter, model: torch.nn.Module):
    """An adapter of ``adapter``'s family around ``model``."""
    if isinstance(adapter, CausalLMAdapter):
        return CausalLMAdapter(model, adapter.tokenizer)
    return type(adapter)(model)


@pytest.mark.parametrize("family", ["causal_lm", "classifier", "recommender"])
def test_equal_weights_equal_fingerprints_and_bfloat16_differs(adapters, family) -> None:
    adapter = adapters[family]
    same = _around(adapter, copy.deepcopy(adapter.model))
    assert same.fingerprint() == adapter.fingerprint()
    half = _around(adapter, copy.deepcopy(adapter.model).to(torch.bfloat16))
    assert len(half.fingerprint()) == 16 and half.fingerprint() != adapter.fingerprint()
    assert _around(adapter, copy.deepcopy(half.model)).fingerprint() == half.fingerprint()
    with torch.no_grad():  # one weight moved: another fingerprint
        next(iter(same.model.parameters())).view(-1)[0] += 1
    assert same.fingerprint() != adapter.fingerprint()


def test_layout_separates_reshaped_weights() -> None:
    """With ``layout`` (the LM's) the same bytes in another shape or dtype hash apart."""
    a, b = torch.nn.Linear(4, 2, bias=False), torch.nn.Linear(2, 4, bias=False)
    with torch.no_grad():
        b.weight.copy_(a.weight.reshape(4, 2))
    assert model_fingerprint(a) != model_fingerprint(b)
    assert model_fingerprint(a, layout=False) == model_fingerprint(b, layout=False)


def test_the_inference_wrappers_register_by_kind() -> None:
    from unlearnkit.models.adapters.agentic import AgenticAdapter
    from unlearnkit.models.adapters.guarded import GuardedAdapter
    from unlearnkit.models.adapters.logit_difference import ULDAdapter
    from unlearnkit.models.adapters.prompted import PromptedAdapter

    assert wrapper_kinds() == {
        "prompt": PromptedAdapter,
        "guard": GuardedAdapter,
        "agentic": AgenticAdapter,
        "uld": ULDAdapter,
    }
    with pytest.raises(RegistryError, match="two inference-time wrappers have the kind 'guard'"):

        class Another(InferenceWrapper):
            kind = "guard"

    assert wrapper_kinds()["guard"] is GuardedAdapter


def test_an_unknown_saved_wrapper_names_the_known_kinds(tiny_lm) -> None:
    adapter = CausalLMAdapter(tiny_lm.model, tiny_lm.tokenizer)
    with pytest.raises(ValueError, match=r"unknown inference-time wrapper 'mask'.*'agentic'"):
        wrap_saved(adapter, {"kind": "mask"})


#: how to build a tiny instance of each wrapper kind (a new kind must add itself here)
_WRAPPER_OPTIONS: dict[str, dict[str, object]] = {
    "prompt": {"instruction": "Count:\n"},
    "guard": {"targets": ["one"], "forbidden": [5], "penalty": 10.0},
    "agentic": {"forbidden": {"one": [5]}},
    "uld": {},
}


def _known_adapters(adapters) -> list[object]:
    """A tiny instance of every adapter class: one per family and one per wrapper kind."""
    from unlearnkit.models.adapters.logit_difference import LogitDifference, truncated_copy

    lm = adapters["causal_lm"]
    out = [lm, adapters["classifier"], adapters["recommender"]]
    for kind, cls in wrapper_kinds().items():
        model = None
        if kind == "uld":
            model = LogitDifference(lm.model, truncated_copy(lm.model, 1), 1.0, 0.1)
        out.append(cls.around(lm, model=model, **_WRAPPER_OPTIONS[kind]))
    return out


def test_every_adapter_satisfies_the_model_adapter_protocol(adapters) -> None:
    known = _known_adapters(adapters)
    assert {type(a) for a in known} >= {CausalLMAdapter, ClassifierAdapter, RecommenderAdapter}
    for adapter in known:
        assert isinstance(adapter, ModelAdapter), type(adapter).__name__
        assert adapter.device == torch.device("cpu")
        assert len(adapter.fingerprint()) == 16
    assert adapters["classifier"].family == "classifier"
    assert adapters["recommender"].family == "recommender"
    lms = [a for a in known if isinstance(a, CausalLMAdapter)]  # the LM and its wrappers
    assert len(lms) == 1 + len(wrapper_kinds()) and {a.family for a in lms} == {"causal_lm"}
    assert not isinstance(adapters["classifier"].model, ModelAdapter)  # a bare model is not one
