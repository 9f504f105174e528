"""The deterministic train/validation split by document."""
from __future__ import annotations

import hashlib


def is_validation(document: str, val_fraction: float) -> bool:
    """True iff the document's stable hash (blake2b of its text) mod 1000 < val_fraction · 1000."""
    digest = hashlib.blake2b(document.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") % 1000 < round(val_fraction * 1000)


def split_documents(documents: list[str], val_fraction: float) -> tuple[list[str], list[str]]:
    """(train, validation) documents, each in reading order, both non-empty when there are two documents or more.

    A document goes to validation by its hash (`is_validation`). If that leaves validation empty, the last
    document moves there; if it leaves training empty, the first document moves there. A single document is not
    split here (see `prepare.py`, which cuts its tokens instead).
    """
    flags = [is_validation(d, val_fraction) for d in documents]
    if len(documents) >= 2:
        if not any(flags):
            flags[-1] = True
        if all(flags):
            flags[0] = False
    train = [d for d, v in zip(documents, flags) if not v]
    val = [d for d, v in zip(documents, flags) if v]
    return train, val
