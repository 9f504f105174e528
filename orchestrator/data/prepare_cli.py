"""`orchestrator-prepare`: tokenize a text corpus once, up front, into what `data=tokens` reads.

    orchestrator-prepare TEXT_PATH --out DIR [--tokenizer byte|enwiki-bpe|tokenizer.json] [--val-fraction 0.05]

TEXT_PATH is what `data=text` takes (a file, or a directory of .txt/.md/.txt.gz files, one document per file). DIR
receives `train.bin` and `val.bin` (flat little-endian ids, documents joined by the tokens of a blank line) and
`tokens.json` ({"dtype", "vocab_size"}); then `orchestrator-train data=tokens data.path=DIR`. The split is the one
`data=text` makes, by document. DIR must not exist yet: it is written under a temporary name and renamed into place,
so a stopped run leaves nothing behind. Bad input exits 2 naming it, before anything is written.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from orchestrator.data.errors import DataError
from orchestrator.data.prepare import tokenize_corpus, write_split


def prepare_token_dir(text_path: str | None, out: Path, *, tokenizer: str = "byte",
                      val_fraction: float = 0.05) -> dict:
    """Write DIR (see the module docstring); returns its tokens.json plus the token counts."""
    out = Path(out).expanduser()
    if out.exists():
        raise DataError(f"--out: {out} exists; choose a new folder (nothing is overwritten)")
    if not 0.0 < val_fraction < 0.5:
        raise DataError(f"--val-fraction: must be in (0, 0.5), got {val_fraction}")
    corpus = tokenize_corpus(text_path, tokenizer, val_fraction)  # bad text or tokenizer fails here, nothing written
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    dtype = corpus.dtype if corpus.dtype.itemsize >= 2 else np.dtype(np.uint16)  # data=tokens reads uint16/uint32
    try:
        counts = {split: write_split(staging / f"{split}.bin", documents, corpus.separator, dtype)
                  for split, documents in (("train", corpus.train), ("val", corpus.val))}
        sidecar = {"dtype": dtype.name, "vocab_size": corpus.vocab_size}
        (staging / "tokens.json").write_text(json.dumps(sidecar) + "\n")
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return sidecar | {"train_tokens": counts["train"], "val_tokens": counts["val"], "source": corpus.source}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="orchestrator-prepare", description=__doc__.splitlines()[0])
    parser.add_argument("text_path", help="a text file or a directory of .txt/.md/.txt.gz files ('-' for the "
                                          "embedded corpus)")
    parser.add_argument("--out", required=True, type=Path, help="the folder to create")
    parser.add_argument("--tokenizer", default="byte", help="byte, enwiki-bpe, or the path of a tokenizer.json")
    parser.add_argument("--val-fraction", type=float, default=0.05)
    args = parser.parse_args(argv)
    try:
        made = prepare_token_dir(None if args.text_path == "-" else args.text_path, args.out,
                                 tokenizer=args.tokenizer, val_fraction=args.val_fraction)
    except DataError as error:
        print(f"error: {str(error).replace('data.path', 'TEXT_PATH').replace('data.tokenizer', '--tokenizer')}",
              file=sys.stderr)
        return 2
    print(f"wrote {args.out}: {made['train_tokens']} training and {made['val_tokens']} validation tokens of "
          f"{made['source']} ({made['dtype']}, vocabulary {made['vocab_size']})")
    print(f"train on them: orchestrator-train data=tokens data.path={args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
