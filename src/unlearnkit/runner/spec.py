"""The experiment spec: what ``unlearnkit run`` builds, unlearns and evaluates.

A spec names either the embedded synthetic benchmark (``build``: the world, its target and
oracle, all cached) or real artefacts (``model``, ``oracle``, ``data``: a local Hugging Face
model directory and TOFU- / MUSE-format data files), the methods to run (each with config
overrides, full weights or LoRA), the seeds and the evaluation suites::

    spec = ExperimentSpec.from_yaml("recipes/demo.yaml").with_overrides(["seeds=[0,1]"])

The shipped default (:func:`default_spec`) is the embedded demo.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from unlearnkit.audit.api import AuditConfig
from unlearnkit.core.config import Config, _set_dotted, load_yaml_file, param, parse_overrides
from unlearnkit.core.errors import ConfigError
from unlearnkit.data.formatting import resolve_prompt_format
from unlearnkit.evaluation.api import EvalConfig
from unlearnkit.evaluation.suites import SUITES
from unlearnkit.runner.build import BuildSpec, build_spec

DEMO_METHODS = ("grad_ascent", "grad_diff", "npo", "simnpo", "idk_dpo", "rmu")


@dataclass(frozen=True)
class MethodSpec(Config):
    """One method of an experiment. name: the registry name (``unlearnkit list methods``).
    label: how tables call it (default: the name, with ``+lora`` under LoRA). config:
    overrides of the method's defaults (``lr``, ``epochs``, ``lora``...)."""

    name: str
    label: str | None = None
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def display(self) -> str:
        if self.label:
            return self.label
        return f"{self.name}+lora" if self.config.get("lora") else self.name

    def validate(self) -> None:
        from unlearnkit.core.errors import did_you_mean
        from unlearnkit.methods import METHODS
        from unlearnkit.methods.api import method_config, register_builtin_methods

        register_builtin_methods()
        if self.name not in METHODS.names():
            close = did_you_mean(self.name, METHODS.names())
            self.fail("name", self.name, f"a registered method.{close} `unlearnkit list methods`")
        try:
            method_config(self.name, dict(self.config))
        except ConfigError as exc:
            self.fail("config", self.config, f"valid {self.name} settings ({exc})")


def validate_methods_and_seeds(spec: Config, family: str) -> None:
    """The checks every family's spec makes of its ``methods`` and ``seeds``: at least one
    method, each a registered method of ``family`` (another family's method or a misspelt
    name fails with "did you mean"), distinct labels, at least one seed, each once."""
    from unlearnkit.core.errors import did_you_mean
    from unlearnkit.methods import METHODS
    from unlearnkit.methods.api import method_family, methods_of

    methods: tuple[MethodSpec, ...] = spec.methods  # type: ignore[attr-defined]
    seeds: tuple[int, ...] = spec.seeds  # type: ignore[attr-defined]
    if not methods:
        spec.fail("methods", methods, "give at least one method")
    known = methods_of(family)
    for m in methods:
        if m.name in known:
            continue
        close = did_you_mean(m.name, known)
        listing = f" Its methods: {', '.join(known)}."
        if m.name in METHODS:
            other = method_family(m.name)
            why = f"{m.name!r} belongs to the {other} family (`unlearnkit list methods`)."
            spec.fail("methods", m.name, f"a method of the {family} family: {why}{close}{listing}")
        spec.fail("methods", m.name, f"a method of the {family} family.{close}{listing}")
    labels = [m.display for m in methods]
    dup = next((x for x in labels if labels.count(x) > 1), None)
    if dup is not None:
        spec.fail("methods", labels, f"distinct labels ({dup!r} twice: set label=...)")
    if not seeds or len(set(seeds)) != len(seeds):
        spec.fail("seeds", seeds, "at least one seed, each once")


@dataclass(frozen=True)
class ExperimentSpec(Config):
    """An experiment: data + target + oracle, methods × seeds, evaluation suites.

    name: names the run directory. build: the embedded benchmark preset and its settings
    (used unless ``model`` is given). model / oracle / data: a real target model directory,
    its retrain oracle's directory (optional: forget quality and PrivLeak need it) and a
    data directory in the TOFU (and/or MUSE) layout. forget: the forget request. methods,
    seeds: every method runs once per seed (the seed of its batch order). suites,
    bootstrap, ci_level: the evaluation. batch_size: sequences per forward pass. audit: the
    robustness audit of every model (``audit={}`` for the defaults; docs/audit.md), or none.
    evaluation: further settings of every evaluation, as :class:`EvalConfig` names them
    (``max_new_tokens``, ``seed``, ``lm_eval_tasks``, ``lm_eval_include``, ``lm_eval_limit``,
    ``lm_eval_num_fewshot``); suites, forget, bootstrap, ci_level and batch_size are the
    spec's own fields.
    prompt_format: how the real model and oracle were prompted in training: a preset name
    (``tofu``, ``llama-3-instruct``, ``qwen2.5-instruct``, ``chat``, ...), a mapping of
    fields (``{preset: tofu, stop: ["\\n"]}``, ``{template: ..., answer_prefix: ...}``) or a
    YAML/JSON file (docs: "Prompt formats"); default: the format stored with the model, and
    a model without one is refused. Embedded builds set theirs in ``build.prompt_format``.
    """

    name: str = "demo"
    build: BuildSpec = field(default_factory=lambda: build_spec("demo"))
    model: str | None = None
    oracle: str | None = None
    data: str | None = None
    forget: str = "forget10"
    methods: tuple[MethodSpec, ...] = tuple(MethodSpec(m) for m in DEMO_METHODS)
    seeds: tuple[int, ...] = (0,)
    suites: tuple[str, ...] = ("tofu", "muse", "mia")
    bootstrap: int = param(1000, ge=0)
    ci_level: float = param(0.95, gt=0, lt=1)
    batch_size: int = param(64, ge=1)
    audit: AuditConfig | None = None
    evaluation: dict[str, Any] = field(default_factory=dict)
    prompt_format: str | dict[str, Any] | None = None

    def eval_config(self) -> EvalConfig:
        """The settings of every evaluation of the run."""
        return EvalConfig(
            suites=self.suites,
            forget=self.forget,
            bootstrap=self.bootstrap,
            ci_level=self.ci_level,
            batch_size=self.batch_size,
        ).with_overrides(self.evaluation)

    @property
    def embedded(self) -> bool:
        """True when the world, target and oracle come from the embedded build."""
        return self.model is None

    def validate(self) -> None:
        if (problem := run_name_problem(self.name)) is not None:
            self.fail("name", self.name, problem)
        validate_methods_and_seeds(self, "lm")
        for s in self.suites:
            if s not in SUITES.names():
                self.fail("suites", self.suites, f"suites among {SUITES.names()}")
        if not self.suites:
            self.fail("suites", self.suites, "at least one suite")
        if self.model is not None and self.data is None:
            self.fail("data", self.data, "a data directory when a real model is given")
        if self.model is None and (self.oracle is not None or self.data is not None):
            self.fail(
                "model",
                self.model,
                "a model directory too: oracle= and data= are for real models (the "
                "embedded build makes its own)",
            )
        for key in ("model", "oracle", "data"):
            value = getattr(self, key)
            if value is not None and not Path(value).expanduser().exists():
                self.fail(key, value, "an existing local directory")
        if self.prompt_format is not None:
            if self.embedded:
                self.fail(
                    "prompt_format",
                    self.prompt_format,
                    "only for real models (model=...); the embedded build's format is "
                    "build.prompt_format",
                )
            resolve_prompt_format(self.prompt_format)  # an unknown preset fails here
        own = sorted(
            set(self.evaluation) & {"suites", "forget", "bootstrap", "ci_level", "batch_size"}
        )
        if own:
            self.fail(
                "evaluation",
                self.evaluation,
                f"only further settings: {own} are the spec's own fields (set {own[0]}=...)",
            )
        try:
            self.eval_config()
        except ConfigError as exc:
            self.fail("evaluation", self.evaluation, f"valid evaluation settings ({exc})")
        if self.audit is not None and self.audit.forget != self.forget:
            self.fail("audit", self.audit.forget, f"audit.forget={self.forget} (the run's forget)")
        if self.embedded and self.forget != self.build.forget:
            self.fail(
                "forget",
                self.forget,
                f"the embedded oracle's forget split ({self.build.forget}); set "
                f"build.forget={self.forget} too",
            )


def run_name_problem(name: object) -> str | None:
    """Why ``name`` cannot name a run folder (``RUNS/<name>/<id>``), or None when it can.

    A name is one folder name: ``.``, ``..``, path separators, a drive (``C:``) or control
    characters would put the run outside ``--runs`` or make a name the shell mangles.
    """
    allowed = (
        "a folder name such as 'demo' or 'tofu-npo_v2': not empty, not '.' or '..', "
        "without '/', '\\', ':' or control characters"
    )
    if not isinstance(name, str) or not name.strip() or name in (".", ".."):
        return allowed
    if any(c in name for c in "/\\:") or any(ord(c) < 32 or ord(c) == 127 for c in name):
        return allowed
    if name != name.strip():
        return "no spaces at the start or end of the name"
    return None


def default_spec() -> ExperimentSpec:
    """The shipped default: the embedded demo (``recipes/demo.yaml``)."""
    return ExperimentSpec()


def recipe_path(name: str) -> Path:
    """The path of a shipped recipe (``demo``, ``local_hf_model``)."""
    ref = resources.files("unlearnkit.runner") / "recipes" / f"{name}.yaml"
    return Path(str(ref))


def load_spec(
    source: str | Path | None = None, overrides: list[str] | None = None
) -> ExperimentSpec:
    """A spec from a YAML file or a shipped recipe name (default: the demo), with overrides.

    The YAML may be partial: it is laid over the default spec (nested mappings merge, so
    ``build: {train: {epochs: 20}}`` changes one setting), then the ``key=value`` overrides
    are applied, and the result is validated once (so an override can fix a placeholder
    path of a recipe). ``build=<preset>`` (``test``, ``demo``, ``moe``, ``book``, ``wmdp``...)
    takes a build preset by name, with its forget request and, for the corpus requests,
    the suites that measure them (``book``: muse; ``hazard``: wmdp, muse) unless given.
    """
    data = default_spec().to_dict()
    loaded_keys: list[str] = []
    if source is not None:
        path = Path(source)
        if not path.is_file() and recipe_path(str(source)).is_file():
            path = recipe_path(str(source))
        if not path.is_file():
            raise ConfigError(
                "ExperimentSpec", "source", str(source), "a YAML file or a recipe name (demo)"
            )
        loaded = load_yaml_file(path, "ExperimentSpec") or {}
        if not isinstance(loaded, dict):
            raise ConfigError("ExperimentSpec", "<file>", str(path), "a YAML mapping")
        data = _merge(data, loaded)
        loaded_keys = list(loaded)
    parsed = parse_overrides(overrides or [])
    for dotted, value in parsed.items():
        if dotted == "build" and isinstance(value, str):  # a build preset by name
            _use_preset(data, value, set(parsed) | set(loaded_keys))
            continue
        _set_dotted(ExperimentSpec, data, dotted, value)
    return ExperimentSpec.from_dict(data)


#: the suites a run of a corpus request evaluates when none are named
CORPUS_SUITES = {"book": ("muse",), "hazard": ("wmdp", "muse")}


def _use_preset(data: dict[str, Any], name: str, given: set[str]) -> None:
    """``build=<preset>``: the preset's build spec, and (unless given too) its forget
    request and, for a corpus request, the suites that measure it."""
    build = build_spec(name)
    data["build"] = build.to_dict()
    if "forget" not in given:
        data["forget"] = build.forget
    if "suites" not in given and build.forget in CORPUS_SUITES:
        data["suites"] = list(CORPUS_SUITES[build.forget])


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def spec_kind(source: str | Path | None) -> str:
    """The family a ``run`` source names: a family's name (its default spec), or a YAML file
    with that ``kind``; ``lm`` (language models) otherwise. An unknown ``kind`` in a file
    fails with "did you mean"."""
    from unlearnkit.runner.families import FAMILIES, get_family

    if source is None:
        return "lm"
    if str(source) in FAMILIES and not Path(source).is_file():
        return str(source)
    path = Path(source)
    if not path.is_file():
        return "lm"
    loaded = load_yaml_file(path, "spec")
    kind = loaded.get("kind") if isinstance(loaded, dict) else None
    if kind is None:
        return "lm"
    return get_family(str(kind)).name


def load_any_spec(source: str | Path | None, overrides: list[str] | None = None) -> Any:
    """The spec ``source`` names, of whichever family (:func:`spec_kind`), with the
    ``key=value`` overrides: ``None`` / ``demo`` / a recipe / a YAML file without ``kind``
    is a language-model spec, ``classifier`` / ``recommender`` (or a file with that
    ``kind``) that family's."""
    from unlearnkit.runner.families import get_family

    kind = spec_kind(source)
    family = get_family(kind)
    if kind != "lm" and str(source) == kind and not Path(str(source)).is_file():
        source = None  # the family's default spec
    return family.load_spec(source, overrides or [])


def load_family_spec(
    cls: type[Config],
    source: str | Path | None,
    overrides: list[str] | None,
    presets: dict[str, Any] | None = None,
) -> Any:
    """A family spec (``cls``) from a YAML file or the shipped default, with ``key=value``
    overrides; ``presets[key](name)`` turns ``key=<preset name>`` into that preset's dict."""
    data = cls().to_dict()
    if source is not None and Path(source).is_file():
        loaded = load_yaml_file(source, cls.__name__) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(cls.__name__, "<file>", str(source), "a YAML mapping")
        data.update(loaded)
    for dotted, value in parse_overrides(overrides or []).items():
        if presets and dotted in presets and isinstance(value, str):
            data[dotted] = presets[dotted](value).to_dict()
            continue
        _set_dotted(cls, data, dotted, value)
    spec = cls.from_dict(data)
    name = getattr(spec, "name", None)
    if name is not None and (problem := run_name_problem(name)) is not None:
        raise ConfigError(cls.__name__, "name", name, problem)
    return spec
