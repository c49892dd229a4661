"""A small byte-level BPE tokenizer trained from scratch (HF ``tokenizers``) on a world's text,
saved as a standard ``PreTrainedTokenizerFast`` that ``AutoTokenizer.from_pretrained`` loads."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from unlearnkit.core.config import Config, param

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
SPECIAL_TOKENS = (PAD, BOS, EOS, UNK)  # ids 0, 1, 2, 3 in this order


@dataclass(frozen=True)
class TokenizerConfig(Config):
    """vocab_size: BPE vocabulary including the 256 byte symbols and 4 special tokens.
    min_frequency: a merge must occur this often in the training text."""

    vocab_size: int = param(2048, ge=300)
    min_frequency: int = param(2, ge=1)


def train_tokenizer(texts: Iterable[str], config: TokenizerConfig) -> PreTrainedTokenizerFast:
    """Train byte-level BPE on ``texts``. Deterministic for the same texts in the same order.

    Byte-level BPE has no unknown characters and decodes exactly back to the text, which
    generation-based metrics need. ``<s>`` is prepended to every encoded text (like Llama).
    The result is the same with the tokenizers library's parallelism on or off
    (tests/unit/test_tokenizer.py), so the caller's ``TOKENIZERS_PARALLELISM`` is left alone.
    """
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=config.vocab_size,
        min_frequency=config.min_frequency,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(texts), trainer=trainer)
    bos_id = tok.token_to_id(BOS)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, bos_id)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        padding_side="right",
        model_max_length=1024,
        clean_up_tokenization_spaces=False,
    )
