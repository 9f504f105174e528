"""Train the BPE that ships as `enwiki_bpe.json` (`data.tokenizer=enwiki-bpe`) on the embedded corpus, offline.

Byte-level BPE (GPT-2's pre-tokenizer and decoder: every text encodes, nothing is unknown) with VOCAB_SIZE ids,
trained with Hugging Face `tokenizers` on the articles of `enwiki_sample.txt.gz`. Rerun it to remake the file; a test
checks that it reproduces the committed one.

    .venv/bin/python orchestrator/data/corpus/train_bpe.py [OUT.json]
"""
from __future__ import annotations

import sys
from pathlib import Path

VOCAB_SIZE = 4096
OUT = Path(__file__).resolve().parent / "enwiki_bpe.json"


def train_bpe(vocab_size: int = VOCAB_SIZE):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    from orchestrator.data.sources import read_texts

    documents, _ = read_texts(None)
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=["<|endoftext|>"], show_progress=False)
    tokenizer.train_from_iterator(documents, trainer=trainer)
    return tokenizer


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else OUT
    train_bpe().save(str(out))
    print(f"wrote {out}")
