"""How a question becomes a prompt and an answer a continuation (one place for every family
member that feeds QA data to a causal LM: training, scoring and generation agree)."""

from __future__ import annotations

from dataclasses import dataclass

from unlearnkit.core.config import Config, param


@dataclass(frozen=True)
class PromptFormat(Config):
    """Turns QA records into (prompt, continuation) strings.

    template: the prompt, with ``{question}`` where the question goes.
    answer_prefix: put before the answer (a space, so that the answer's first word is
        tokenised as it is inside running text).
    stop: stop strings for generation (the continuation never contains them).
    """

    template: str = "Question: {question}\nAnswer:"
    answer_prefix: str = " "
    stop: tuple[str, ...] = param(default=("\n",))

    def validate(self) -> None:
        if "{question}" not in self.template:
            self.fail("template", self.template, "must contain the placeholder {question}")
        if any(not s for s in self.stop):
            self.fail("stop", self.stop, "stop strings must be non-empty")

    def prompt(self, question: str) -> str:
        return self.template.replace("{question}", question)

    def continuation(self, answer: str) -> str:
        return self.answer_prefix + answer

    def pair(self, question: str, answer: str) -> tuple[str, str]:
        """(prompt, continuation) of a QA pair; a raw text (empty question) is learnt whole,
        without the template, as the embedded build trains biographies and corpora."""
        if not question:
            return "", answer
        return self.prompt(question), self.continuation(answer)
