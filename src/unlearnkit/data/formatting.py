"""How a question becomes a prompt and an answer a continuation: one place for training,
unlearning, scoring and generation, so that all four see the tokens the model was trained on.

A :class:`PromptFormat` is data (stored with every model the toolkit writes, in
``unlearnkit.json``). Two kinds:

* a **plain template**: ``system_prompt + template.replace("{question}", q)`` then
  ``answer_prefix + answer`` (open-unlearning's ``user_start_tag + q + user_end_tag +
  asst_start_tag`` layout, e.g. TOFU's ``"Question: {question}\\nAnswer: "``);
* the tokenizer's own **chat template** (``chat_template=true``): the prompt is
  ``apply_chat_template([system?, user], add_generation_prompt=True)`` and the answer is
  what the template renders for the assistant turn (e.g. ``answer<|im_end|>\\n`` for ChatML).

Both follow TOFU and open-unlearning (``src/data/utils.py`` at d3d7cf9): the answer ends
with the tokenizer's EOS token (appended when the rendered answer does not already end
with it), and the answer's tokens are those of ``tokenize(prompt + answer)`` after the
first ``len(tokenize(prompt))`` ones (``boundary="prompt_tokens"``). A rendered prompt
that already holds the BOS text (a chat template, or a template starting with ``<s>``) is
tokenised without adding special tokens again: never a double BOS.

Named presets (:data:`PRESETS`) give the formats of the public TOFU / MUSE checkpoints
(open-unlearning's model configs); :func:`resolve_prompt_format` accepts a preset name, a
mapping, a YAML / JSON file, or a :class:`PromptFormat`. A format works on text only once
bound to a tokenizer (:func:`bind_prompt_format`), which the causal-LM adapter, the
training and the unlearning loops do.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from unlearnkit.core.config import Config, param
from unlearnkit.core.errors import ConfigError, UnlearnkitError, did_you_mean

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

#: The placeholder of the question in a plain template.
QUESTION = "{question}"
# A string no question or answer contains: renders the chat template around a known answer.
_SENTINEL = "\u2063ANSWER\u2063"


class PromptFormatError(UnlearnkitError, ValueError):
    """A prompt format does not fit its tokenizer (or is missing for a foreign model)."""


@dataclass(frozen=True)
class PromptFormat(Config):
    """Turns QA records into (prompt, continuation) strings.

    template: the plain prompt, with ``{question}`` where the question goes (unused with
        ``chat_template``).
    answer_prefix: put before the answer in a plain template (our own models use a space,
        so the answer's first word is tokenised as inside running text; TOFU's template
        ends with the space instead and uses "").
    stop: stop strings for generation besides EOS (the continuation never contains them).
    chat_template: render prompts with the tokenizer's own chat template
        (``apply_chat_template``); the tokenizer must have one.
    system_prompt: with ``chat_template``, the content of a system message (none when
        empty); in a plain template, text put before the template verbatim (it may hold
        special tokens, like open-unlearning's ``system_prompt_with_special_tokens``).
    date_string: passed to chat templates that read it (Llama 3's); open-unlearning pins
        "10 Apr 2025" so that prompts do not change with the day.
    eos: end every answer with the tokenizer's EOS token, in training, unlearning and
        scoring (TOFU and open-unlearning do; probabilities and losses include it).
    boundary: where the answer's tokens start. ``"prompt_tokens"``: after the first
        ``len(tokenize(prompt))`` tokens of ``tokenize(prompt + answer)`` (TOFU,
        open-unlearning); ``"offsets"``: the first token reaching past the prompt's last
        character (a token straddling the border counts as answer).
    name: the preset this format came from ("" for a custom one); informational.
    """

    template: str = "Question: {question}\nAnswer:"
    answer_prefix: str = " "
    stop: tuple[str, ...] = param(default=("\n",))
    chat_template: bool = False
    system_prompt: str = ""
    date_string: str | None = None
    eos: bool = True
    boundary: Literal["prompt_tokens", "offsets"] = "prompt_tokens"
    name: str = ""

    def validate(self) -> None:
        if not self.chat_template and QUESTION not in self.template:
            self.fail(
                "template",
                self.template,
                "must contain the placeholder {question} (or set chat_template: true to use "
                "the tokenizer's chat template)",
            )
        if any(not s for s in self.stop):
            self.fail("stop", self.stop, "stop strings must be non-empty")

    # -- text without a tokenizer (plain templates only) -------------------------------------
    def prompt(self, question: str) -> str:
        """The prompt text of ``question`` (plain templates; a chat template needs a
        tokenizer: use :func:`bind_prompt_format`)."""
        if self.chat_template:
            raise PromptFormatError(
                "a chat-template prompt format renders prompts with the tokenizer's template; "
                "bind it first: bind_prompt_format(fmt, tokenizer).prompt(question)"
            )
        return self.system_prompt + self.template.replace(QUESTION, question)

    def continuation(self, answer: str) -> str:
        """The answer text as it follows the prompt (without EOS: that needs the tokenizer)."""
        if self.chat_template:
            raise PromptFormatError(
                "a chat-template prompt format renders answers with the tokenizer's template; "
                "bind it first: bind_prompt_format(fmt, tokenizer).continuation(answer)"
            )
        return self.answer_prefix + answer

    def pair(self, question: str, answer: str) -> tuple[str, str]:
        """(prompt, continuation) of a QA pair; a raw text (empty question) is learnt whole,
        without the template, as the embedded build trains biographies and corpora."""
        if not question:
            return "", answer
        return self.prompt(question), self.continuation(answer)

    def same_as(self, other: PromptFormat) -> bool:
        """Whether ``other`` prompts alike (``name`` is only a label: the ``unlearnkit`` preset
        is the same format as the default one)."""
        return self.replace(name="") == other.replace(name="")

    def describe(self) -> str:
        """One line for logs and reports."""
        if self.name:
            return self.name
        if self.chat_template:
            system = f" (system: {self.system_prompt!r})" if self.system_prompt else ""
            return "the tokenizer's chat template" + system
        return f"template {self.template!r} + {self.answer_prefix!r}answer"


class BoundPromptFormat:
    """A :class:`PromptFormat` bound to a tokenizer: the texts the model sees.

    ``prompt`` / ``continuation`` / ``pair`` as on the format, with chat templates rendered
    and the EOS text appended to answers (when ``eos``); ``add_special_tokens``: whether the
    tokenizer should add its own special tokens (BOS) when encoding these prompts.
    Everything else (``to_dict``, ``stop``, ...) is the format's.
    """

    def __init__(self, fmt: PromptFormat, tokenizer: PreTrainedTokenizerBase) -> None:
        self.format = fmt
        self.tokenizer = tokenizer
        self.eos_text = _eos_text(tokenizer) if fmt.eos else ""
        if fmt.chat_template:
            self._answer_affixes = _chat_answer_affixes(fmt, tokenizer)
            self.add_special_tokens = False  # the template writes BOS itself
        else:
            self._answer_affixes = (fmt.answer_prefix, "")
            bos = tokenizer.bos_token
            head = fmt.system_prompt + fmt.template
            self.add_special_tokens = not (bool(bos) and head.startswith(bos))

    # -- what the format is ------------------------------------------------------------------
    @property
    def stop(self) -> tuple[str, ...]:
        return self.format.stop

    @property
    def eos(self) -> bool:
        return self.format.eos

    @property
    def boundary(self) -> str:
        return self.format.boundary

    def to_dict(self) -> dict[str, Any]:
        return self.format.to_dict()

    def describe(self) -> str:
        return self.format.describe()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, BoundPromptFormat):
            return self.format == other.format
        if isinstance(other, PromptFormat):
            return self.format == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.format)

    def __repr__(self) -> str:
        return f"BoundPromptFormat({self.format!r})"

    # -- texts -------------------------------------------------------------------------------
    def prompt(self, question: str) -> str:
        fmt = self.format
        if not fmt.chat_template:
            return fmt.prompt(question)
        return _render_chat(fmt, self.tokenizer, question, None)

    def continuation(self, answer: str) -> str:
        head, tail = self._answer_affixes
        text = head + answer + tail
        if self.eos_text and not text.endswith(self.eos_text):
            text += self.eos_text
        return text

    def pair(self, question: str, answer: str) -> tuple[str, str]:
        if not question:
            return "", answer
        return self.prompt(question), self.continuation(answer)

    def strip_answer(self, continuation: str) -> str:
        """The answer inside a continuation made by :meth:`continuation`."""
        head, tail = self._answer_affixes
        text = continuation
        if self.eos_text and text.endswith(self.eos_text) and not tail.endswith(self.eos_text):
            text = text[: -len(self.eos_text)]
        if tail and text.endswith(tail):
            text = text[: -len(tail)]
        return text[len(head) :] if head and text.startswith(head) else text


def bind_prompt_format(
    fmt: PromptFormat | BoundPromptFormat | None, tokenizer: PreTrainedTokenizerBase
) -> BoundPromptFormat:
    """``fmt`` bound to ``tokenizer`` (the default format when ``None``; a bound format is
    re-bound when its tokenizer differs)."""
    if isinstance(fmt, BoundPromptFormat):
        if fmt.tokenizer is tokenizer:
            return fmt
        fmt = fmt.format
    return BoundPromptFormat(fmt or PromptFormat(), tokenizer)


def unbound(fmt: PromptFormat | BoundPromptFormat | None) -> PromptFormat:
    """The plain :class:`PromptFormat` of ``fmt`` (the default when ``None``)."""
    if isinstance(fmt, BoundPromptFormat):
        return fmt.format
    return fmt or PromptFormat()


# -- chat templates --------------------------------------------------------------------------
def _messages(fmt: PromptFormat, question: str, answer: str | None) -> list[dict[str, str]]:
    chat = [{"role": "system", "content": fmt.system_prompt}] if fmt.system_prompt else []
    chat.append({"role": "user", "content": question})
    if answer is not None:
        chat.append({"role": "assistant", "content": answer})
    return chat


def _render_chat(
    fmt: PromptFormat, tokenizer: PreTrainedTokenizerBase, question: str, answer: str | None
) -> str:
    extra = {"date_string": fmt.date_string} if fmt.date_string is not None else {}
    return tokenizer.apply_chat_template(
        _messages(fmt, question, answer),
        tokenize=False,
        add_generation_prompt=answer is None,
        **extra,
    )


def _chat_answer_affixes(fmt: PromptFormat, tokenizer: PreTrainedTokenizerBase) -> tuple[str, str]:
    """What the chat template writes before and after an answer, after the prompt."""
    if not getattr(tokenizer, "chat_template", None):
        raise PromptFormatError(
            f"prompt format {fmt.describe()!r} uses the tokenizer's chat template, but "
            f"{type(tokenizer).__name__} has none (no chat_template in tokenizer_config.json); "
            "use a plain template instead, e.g. --prompt-format tofu"
        )
    try:
        prompt = _render_chat(fmt, tokenizer, "Q", None)
        full = _render_chat(fmt, tokenizer, "Q", _SENTINEL)
    except Exception as exc:  # jinja's TemplateError and the template's raise_exception
        raise PromptFormatError(
            f"the tokenizer's chat template cannot render a (system?, user, assistant) "
            f"conversation: {exc}"
        ) from exc
    if not full.startswith(prompt) or _SENTINEL not in full[len(prompt) :]:
        raise PromptFormatError(
            "the tokenizer's chat template renders a conversation with an answer differently "
            "from the prompt alone (the prompt is not a prefix of it); such templates are not "
            "supported: use a plain template (template=..., answer_prefix=...)"
        )
    rest = full[len(prompt) :]
    head, _, tail = rest.partition(_SENTINEL)
    return head, tail


def _eos_text(tokenizer: PreTrainedTokenizerBase) -> str:
    """The EOS token as text, checked to encode back to exactly the EOS id."""
    eos, eos_id = tokenizer.eos_token, tokenizer.eos_token_id
    if not eos or eos_id is None:
        raise PromptFormatError(
            f"the prompt format appends EOS to answers (eos: true, as TOFU does), but "
            f"{type(tokenizer).__name__} has no eos token; set eos: false in the prompt format"
        )
    ids = tokenizer(eos, add_special_tokens=False)["input_ids"]
    if list(ids) != [eos_id]:
        raise PromptFormatError(
            f"the tokenizer does not encode its eos text {eos!r} as the eos id {eos_id} "
            f"(got {list(ids)}); set eos: false in the prompt format"
        )
    return eos


# -- presets ---------------------------------------------------------------------------------
_ASSISTANT = "You are a helpful assistant."

#: Named prompt formats: ours, TOFU's plain template, and the formats of the public TOFU /
#: MUSE checkpoints (open-unlearning's configs/model/*.yaml at d3d7cf9).
PRESETS: dict[str, PromptFormat] = {
    "unlearnkit": PromptFormat(name="unlearnkit"),
    # TOFU's and open-unlearning's plain template (Llama-2-7b-hf, Llama-2-13b-hf, phi-1_5)
    "tofu": PromptFormat(
        template="Question: {question}\nAnswer: ", answer_prefix="", stop=(), name="tofu"
    ),
    "phi-1_5": PromptFormat(
        template="Question: {question}\nAnswer: ", answer_prefix="", stop=(), name="phi-1_5"
    ),
    "llama-2": PromptFormat(
        template="Question: {question}\nAnswer: ", answer_prefix="", stop=(), name="llama-2"
    ),
    # Llama-2-7b-chat-hf: [INST] tags written as text (not the tokenizer's template)
    "llama-2-chat": PromptFormat(
        template="[INST] {question} [/INST]", answer_prefix="", stop=(), name="llama-2-chat"
    ),
    "llama-3-instruct": PromptFormat(
        chat_template=True,
        system_prompt=_ASSISTANT,
        date_string="10 Apr 2025",
        stop=(),
        name="llama-3-instruct",
    ),
    "phi-3.5-instruct": PromptFormat(
        chat_template=True, system_prompt=_ASSISTANT, stop=(), name="phi-3.5-instruct"
    ),
    "qwen2.5-instruct": PromptFormat(
        chat_template=True, system_prompt=_ASSISTANT, stop=(), name="qwen2.5-instruct"
    ),
    "gemma-it": PromptFormat(chat_template=True, stop=(), name="gemma-it"),
    "zephyr": PromptFormat(
        chat_template=True,
        system_prompt=_ASSISTANT,
        date_string="10 Apr 2025",
        stop=(),
        name="zephyr",
    ),
    # any tokenizer's own chat template, no system message
    "chat": PromptFormat(chat_template=True, stop=(), name="chat"),
}
# the checkpoint names people know them by
PRESET_ALIASES: dict[str, str] = {
    "llama-2-7b-hf": "llama-2",
    "llama-2-13b-hf": "llama-2",
    "llama-2-7b-chat-hf": "llama-2-chat",
    "llama-3.1-8b-instruct": "llama-3-instruct",
    "llama-3.2-1b-instruct": "llama-3-instruct",
    "llama-3.2-3b-instruct": "llama-3-instruct",
    "phi-3.5-mini-instruct": "phi-3.5-instruct",
    "qwen2.5-1.5b-instruct": "qwen2.5-instruct",
    "qwen2.5-3b-instruct": "qwen2.5-instruct",
    "qwen2.5-7b-instruct": "qwen2.5-instruct",
    "gemma-7b-it": "gemma-it",
    "zephyr-7b-beta": "zephyr",
    "phi-1.5": "phi-1_5",
}


def resolve_prompt_format(
    value: PromptFormat | BoundPromptFormat | Mapping[str, Any] | str | Path | None,
) -> PromptFormat | None:
    """A :class:`PromptFormat` from a preset name, a mapping of its fields (optionally with
    ``preset:`` to start from), a YAML / JSON file, or a format; ``None`` stays ``None``.

    Raises :class:`ConfigError` for an unknown preset (with a suggestion) or a bad field.
    """
    if value is None:
        return None
    if isinstance(value, BoundPromptFormat):
        return value.format
    if isinstance(value, PromptFormat):
        return value
    if isinstance(value, Mapping):
        data = dict(value)
        base = data.pop("preset", None)
        if base is None:
            return PromptFormat.from_dict(data)
        start = _preset(str(base))
        return start.replace(**data) if data else start
    text = str(value).strip()
    path = Path(text).expanduser()
    if text.endswith((".yaml", ".yml", ".json")) or (path.is_file() and "\n" not in text):
        if not path.is_file():
            raise ConfigError("prompt_format", "file", text, "no such file")
        import yaml

        raw = path.read_text(encoding="utf-8")
        data = json.loads(raw) if path.suffix == ".json" else yaml.safe_load(raw)
        if not isinstance(data, Mapping):
            raise ConfigError(
                "prompt_format", "file", text, "must hold a mapping of prompt-format fields"
            )
        return resolve_prompt_format(data)
    return _preset(text)


def _preset(name: str) -> PromptFormat:
    key = name.strip().lower()
    key = PRESET_ALIASES.get(key, key)
    if key not in PRESETS:
        names = sorted({*PRESETS, *PRESET_ALIASES})
        raise ConfigError(
            "prompt_format",
            "preset",
            name,
            f"one of {', '.join(sorted(PRESETS))} (or a checkpoint name such as "
            f"qwen2.5-7b-instruct), a mapping of fields, or a YAML/JSON file."
            + did_you_mean(key, names),
        )
    return PRESETS[key]


def require_same_format(
    formats: Mapping[str, PromptFormat | BoundPromptFormat | None],
) -> None:
    """Raise :class:`PromptFormatError` unless every named model (``None``: absent) is
    prompted alike: a target, its oracle and its unlearned versions compared under different
    prompts give numbers that mean nothing."""
    present = {role: unbound(f) for role, f in formats.items() if f is not None}
    if len({f.replace(name="") for f in present.values()}) <= 1:
        return
    lines = "; ".join(f"{role}: {fmt.describe()}" for role, fmt in present.items())
    raise PromptFormatError(
        f"the models are prompted differently ({lines}); a model and its oracle must use the "
        "prompt format they were trained with, and the same one. Declare the right one with "
        "--prompt-format (or prompt_format=...), or re-save the model with its format."
    )
