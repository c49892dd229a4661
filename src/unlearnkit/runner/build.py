"""Build the embedded default: the synthetic world, its tokenizer, the target model (trained
on everything) and the exact retrain oracle (trained on everything but the forget people).

Every artefact is cached under a content hash of everything that determines it, so a second
build with the same spec reuses the cache and a changed spec rebuilds only what changed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import tokenizers
import torch

from unlearnkit import __version__
from unlearnkit.core.cache import Cache, content_hash
from unlearnkit.core.config import Config, param
from unlearnkit.core.errors import UnknownNameError
from unlearnkit.core.io import atomic_write_json
from unlearnkit.core.seeding import set_threads
from unlearnkit.data.formatting import BoundPromptFormat, PromptFormat, bind_prompt_format
from unlearnkit.data.world import World, WorldSpec, generate_world, world_preset
from unlearnkit.data.world.world import WORLD_VERSION
from unlearnkit.models.loading import load_causal_lm, save_causal_lm
from unlearnkit.models.tiny import TinyLMConfig, build_tiny_lm, count_parameters, tiny_preset
from unlearnkit.models.tokenizer import TokenizerConfig, train_tokenizer
from unlearnkit.models.training import TrainConfig, TrainExample, train_causal_lm

# Bump when a change to the code changes what an artefact contains (invalidates caches).
BUILD_FORMAT = 1


@dataclass(frozen=True)
class BuildSpec(Config):
    """Everything that determines the world, the target and the oracle.

    forget: what the oracle never sees: a forget split of people, or (in a world with a book /
    domains) the corpus ``book`` / ``hazard``. model_seed: weight initialisation.
    threads: torch threads while training (pinned: the count changes the bits). One thread
    per model lets the target and the oracle train side by side, one per CPU.
    """

    world: WorldSpec = field(default_factory=lambda: world_preset("demo"))
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    model: TinyLMConfig = field(default_factory=lambda: tiny_preset("demo"))
    train: TrainConfig = field(default_factory=TrainConfig)
    prompt_format: PromptFormat = field(default_factory=PromptFormat)
    forget: Literal["forget01", "forget05", "forget10", "forget25", "book", "hazard"] = "forget10"
    model_seed: int = 0
    threads: int = param(1, ge=1)

    def validate(self) -> None:
        if self.forget == "book" and not self.world.book_chapters:
            self.fail("forget", self.forget, "a world with a book: set world.book_chapters > 0")
        if self.forget == "hazard" and not self.world.domain_entities:
            self.fail(
                "forget", self.forget, "a world with the domains: set world.domain_entities > 0"
            )


BUILD_PRESETS: dict[str, Callable[[], BuildSpec]] = {
    "test": lambda: BuildSpec(
        world=world_preset("test"),
        tokenizer=TokenizerConfig(vocab_size=512),
        model=tiny_preset("test"),
        train=TrainConfig(epochs=30, batch_size=16, lr=5e-3),
    ),
    "demo": lambda: BuildSpec(),
    # the same worlds with a Mixtral mixture-of-experts target and oracle (4 experts, top-2)
    "moe-test": lambda: BuildSpec(
        world=world_preset("test"),
        tokenizer=TokenizerConfig(vocab_size=512),
        model=tiny_preset("moe-test"),
        train=TrainConfig(epochs=30, batch_size=16, lr=5e-3),
    ),
    "moe": lambda: BuildSpec(model=tiny_preset("moe")),
    # the demo world with its book (forget: the book; Who's Harry Potter, MUSE-Books) and
    # with the WMDP-like domains (forget: the hazardous corpus)
    "book": lambda: BuildSpec(world=world_preset("book"), forget="book"),
    "book-test": lambda: BuildSpec(
        world=world_preset("book-test"),
        tokenizer=TokenizerConfig(vocab_size=512),
        model=tiny_preset("test"),
        train=TrainConfig(epochs=30, batch_size=16, lr=5e-3),
        forget="book",
    ),
    # 24 epochs: a fact of the domains is stated twice per epoch, and at 16 epochs the
    # target chose the right of four values for 64% of the hazardous questions (measured)
    "wmdp": lambda: BuildSpec(
        world=world_preset("wmdp"), train=TrainConfig(epochs=24), forget="hazard"
    ),
    "wmdp-test": lambda: BuildSpec(
        world=world_preset("wmdp-test"),
        tokenizer=TokenizerConfig(vocab_size=512),
        model=tiny_preset("test"),
        train=TrainConfig(epochs=30, batch_size=16, lr=5e-3),
        forget="hazard",
    ),
    "bench": lambda: BuildSpec(
        world=world_preset("bench"),
        tokenizer=TokenizerConfig(vocab_size=4096),
        model=tiny_preset("bench"),
        train=TrainConfig(epochs=30, batch_size=32, lr=2e-3),
    ),
}


def build_spec(preset: str = "demo", overrides: list[str] | None = None) -> BuildSpec:
    """The spec of a named preset ("test", "demo", "bench"), with ``key=value`` overrides."""
    if preset not in BUILD_PRESETS:
        raise UnknownNameError("build preset", preset, BUILD_PRESETS)
    spec = BUILD_PRESETS[preset]()
    return spec.with_overrides(overrides) if overrides else spec


@dataclass(frozen=True)
class Built:
    """Paths of the built artefacts and what it cost to make them."""

    spec: BuildSpec
    world: World
    world_dir: Path
    tokenizer_dir: Path
    target_dir: Path
    oracle_dir: Path
    built: dict[str, bool]  # artefact -> built now (False: reused from the cache)
    seconds: dict[str, float]  # artefact -> seconds spent now (0 when reused)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)  # target/oracle training


def _keys(spec: BuildSpec, world: World) -> dict[str, dict[str, Any]]:
    """Cache keys: each holds a content hash of exactly what its artefact is made from (so
    a change to the generator's output invalidates it, even without a version bump), plus
    the settings and library versions that change the bits."""
    import transformers

    world_key = {
        "format": BUILD_FORMAT,
        "world_version": WORLD_VERSION,
        "world": spec.world.to_dict(),
    }
    tok = {
        "format": BUILD_FORMAT,
        "texts": content_hash(world.tokenizer_texts()),
        "tokenizer": spec.tokenizer.to_dict(),
        "tokenizers": tokenizers.__version__,
    }
    model = {
        **tok,
        "model": spec.model.to_dict(),
        "train": spec.train.to_dict(),
        "prompt_format": spec.prompt_format.to_dict(),
        "model_seed": spec.model_seed,
        "threads": spec.threads,
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }
    return {
        "world": world_key,
        "tokenizer": tok,
        "target": {**model, "items": content_hash(world.training_items()), "exclude": None},
        "oracle": {
            **model,
            "items": content_hash(world.training_items(exclude=spec.forget)),
            "exclude": spec.forget,
        },
    }


def training_examples(
    world: World, fmt: PromptFormat | BoundPromptFormat, exclude: str | None
) -> list[TrainExample]:
    """The world's trained items as (prompt, completion) pairs in the prompt format.

    Raw texts (biographies) have an empty prompt and are learnt whole.
    """
    out = []
    for item in world.training_items(exclude=exclude):
        if item["prompt"]:
            out.append(
                TrainExample(fmt.prompt(item["prompt"]), fmt.continuation(item["completion"]))
            )
        else:
            out.append(TrainExample("", item["completion"]))
    return out


@dataclass
class Prepared:
    """The world and tokenizer of a spec, built or reused, and where the target and the
    oracle live (or will live) in the cache."""

    spec: BuildSpec
    cache: Cache
    world: World
    world_dir: Path
    tokenizer_dir: Path
    keys: dict[str, dict[str, Any]]
    built: dict[str, bool]
    seconds: dict[str, float]

    def role_dir(self, role: str) -> Path:
        """The cache entry of ``"target"`` or ``"oracle"`` (its model is in ``model/``)."""
        return self.cache.path(role, self.keys[role])

    def missing(self) -> list[str]:
        """The roles not in the cache yet."""
        return [r for r in ROLES if not self.cache.has(r, self.keys[r])]

    def finish(self, dirs: dict[str, Path] | None = None) -> Built:
        """The :class:`Built` of this spec once both roles are in the cache."""
        dirs = dirs or {r: self.role_dir(r) for r in ROLES}
        records = {role: _read_json(dirs[role] / "build.json") for role in ROLES}
        return Built(
            spec=self.spec,
            world=self.world,
            world_dir=self.world_dir,
            tokenizer_dir=self.tokenizer_dir,
            target_dir=dirs["target"] / "model",
            oracle_dir=dirs["oracle"] / "model",
            built=self.built,
            seconds=self.seconds,
            records=records,
        )


ROLES = ("target", "oracle")


def prepare(spec: BuildSpec | None = None, *, cache: Cache | None = None) -> Prepared:
    """Build (or reuse) the world and the tokenizer of ``spec``; the models come after."""
    spec = spec or build_spec("demo")
    cache = cache or Cache()
    built: dict[str, bool] = {}
    seconds: dict[str, float] = {}

    t0 = time.perf_counter()
    world = generate_world(spec.world)
    keys = _keys(spec, world)
    world_root, built["world"] = cache.get_or_build(
        "world", keys["world"], lambda tmp: world.write(tmp / "world")
    )
    seconds["world"] = time.perf_counter() - t0 if built["world"] else 0.0

    def make_tokenizer(tmp: Path) -> None:
        train_tokenizer(world.tokenizer_texts(), spec.tokenizer).save_pretrained(tmp)

    t0 = time.perf_counter()
    tok_dir, built["tokenizer"] = cache.get_or_build("tokenizer", keys["tokenizer"], make_tokenizer)
    seconds["tokenizer"] = time.perf_counter() - t0 if built["tokenizer"] else 0.0
    return Prepared(spec, cache, world, world_root / "world", tok_dir, keys, built, seconds)


def build(
    spec: BuildSpec | None = None,
    *,
    cache: Cache | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    workers: int | None = None,
) -> Built:
    """Build (or reuse from ``cache``) the world, tokenizer, target and oracle of ``spec``.

    When both the target and the oracle are missing they train side by side in
    ``workers`` processes (default: two where there are at least two CPUs per
    ``spec.threads``); each pins ``spec.threads`` torch threads, so the weights are the
    same whichever way they were trained.
    """
    prep = prepare(spec, cache=cache)
    spec, cache, built, seconds = prep.spec, prep.cache, prep.built, prep.seconds
    missing = prep.missing()
    if workers is None:
        from unlearnkit.runner.workers import default_workers

        workers = default_workers(spec.threads, limit=len(missing))
    dirs: dict[str, Path] = {}
    if len(missing) > 1 and workers > 1:
        from unlearnkit.runner.workers import WorkerPool

        log(f"training {' and '.join(missing)} side by side ({spec.threads} thread(s) each)")
        with WorkerPool(min(workers, len(missing)), threads=spec.threads) as pool:
            futures = {
                r: pool.submit(_build_role_job, spec.to_dict(), str(cache.root), r, progress)
                for r in missing
            }
            for role, future in futures.items():
                path, built[role], seconds[role] = future.result()
                dirs[role] = Path(path)
                if built[role]:
                    log(f"trained {role} in {seconds[role]:.1f}s")
                else:  # another process built it while this one waited on the cache lock
                    log(f"reused {role} (built meanwhile by another process)")
    for role in ROLES:
        if role not in dirs:
            path, built[role], seconds[role] = _build_role(
                spec, prep.world, prep.tokenizer_dir, cache, prep.keys, role, progress, log
            )
            dirs[role] = Path(path)
    return prep.finish(dirs)


def _build_role(
    spec: BuildSpec,
    world: World,
    tok_dir: Path,
    cache: Cache,
    keys: dict[str, dict[str, Any]],
    role: str,
    progress: bool,
    log: Callable[[str], None],
) -> tuple[Path, bool, float]:
    """Train (or reuse) the target or the oracle: (cache entry, built now, seconds)."""
    from transformers import AutoTokenizer

    exclude = None if role == "target" else spec.forget

    def make_model(tmp: Path) -> None:
        tokenizer = AutoTokenizer.from_pretrained(tok_dir)
        fmt = bind_prompt_format(spec.prompt_format, tokenizer)
        examples = training_examples(world, fmt, exclude)
        model = build_tiny_lm(spec.model, tokenizer, seed=spec.model_seed)
        what = "all trained data" if exclude is None else f"everything but {exclude}"
        log(
            f"training {role} ({count_parameters(model) / 1e6:.2f} M parameters) on "
            f"{len(examples)} examples ({what}), {spec.train.epochs} epochs"
        )
        with pinned_threads(spec.threads):
            record = train_causal_lm(
                model,
                tokenizer,
                examples,
                spec.train,
                progress=progress,
                desc=role,
                log_path=tmp / "train_log.jsonl",
                prompt_format=fmt,
            )
        info = {
            "role": role,
            "trained_on": what,
            "exclude": exclude,
            "train_record": record.to_dict(),
            "parameters": count_parameters(model),
            "unlearnkit_version": __version__,
        }
        save_causal_lm(
            model, tokenizer, tmp / "model", prompt_format=spec.prompt_format, extra=info
        )
        atomic_write_json(tmp / "build.json", info)

    t0 = time.perf_counter()
    path, fresh = cache.get_or_build(role, keys[role], make_model)
    return path, fresh, time.perf_counter() - t0 if fresh else 0.0


def _build_role_job(
    spec_dict: dict[str, Any], cache_root: str, role: str, progress: bool
) -> tuple[str, bool, float]:
    """:func:`_build_role` in a worker process (plain arguments, plain results)."""
    spec = BuildSpec.from_dict(spec_dict)
    cache = Cache(cache_root)
    world = generate_world(spec.world)
    keys = _keys(spec, world)
    tok_dir = cache.path("tokenizer", keys["tokenizer"])
    path, fresh, seconds = _build_role(spec, world, tok_dir, cache, keys, role, progress, print)
    return str(path), fresh, seconds


@contextmanager
def pinned_threads(n: int) -> Iterator[None]:
    """Torch uses ``n`` threads inside the block (the count changes floating-point results,
    so training pins it), and its previous count after."""
    before = torch.get_num_threads()
    set_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def load_built_model(path: Path, device: str = "cpu"):
    """(model, tokenizer, prompt_format) of a built target or oracle."""
    return load_causal_lm(path, device=device)


def _read_json(path: Path) -> dict[str, Any]:
    import json

    return json.loads(path.read_text(encoding="utf-8"))
