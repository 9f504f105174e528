"""Where the text comes from: the embedded Wikipedia sample, one user file, or a directory of text files.

`data.path` = null → the embedded corpus (`orchestrator/data/corpus/enwiki_sample.txt.gz`, one article per document);
a file → one document (`.gz` files are decompressed); a directory → every `*.txt`, `*.md` and `*.txt.gz` file
under it (recursively, hidden files and folders skipped, sorted by relative path), one document per file.
All text is read as UTF-8; bad input raises `DataError` naming `data.path`.
"""
from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

from orchestrator.data.errors import DataError

EMBEDDED_CORPUS = Path(__file__).resolve().parent / "corpus" / "enwiki_sample.txt.gz"
EMBEDDED_DESCRIPTION = "embedded English Wikipedia sample (gensim 4.4.0 test data, CC BY-SA 3.0)"
TEXT_SUFFIXES = (".txt", ".md", ".txt.gz")
ARTICLE_SEPARATOR = "\n\n"


def source_files(path: str | os.PathLike | None) -> list[Path]:
    """The files `read_texts(path)` reads, in reading order; raises DataError for a missing path or no text files."""
    if path is None:
        return [EMBEDDED_CORPUS]
    root = Path(path).expanduser()
    if not root.exists():
        raise DataError(f"data.path: no such file or directory: {root}")
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise DataError(f"data.path: not a regular file or directory: {root}")
    files = []
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = [d for d in subfolders if not d.startswith(".")]
        files += [Path(folder) / n for n in names if n.endswith(TEXT_SUFFIXES) and not n.startswith(".")]
    if not files:
        raise DataError(f"data.path: no {', '.join('*' + s for s in TEXT_SUFFIXES)} files under directory {root}")
    return sorted(files, key=lambda f: f.relative_to(root).as_posix())


def read_file(file: Path) -> str:
    """The UTF-8 text of one file (gzip-decompressed if its name ends in .gz); DataError names the file."""
    try:
        raw = gzip.decompress(file.read_bytes()) if file.name.endswith(".gz") else file.read_bytes()
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"data.path: cannot read {file}: {err}") from err
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as err:
        raise DataError(f"data.path: {file} is not UTF-8 text ({err.reason} at byte {err.start})") from err


def read_texts(path: str | os.PathLike | None) -> tuple[list[str], str]:
    """(documents, description of the source) for `data.path`; empty and whitespace-only documents are left out."""
    files = source_files(path)
    if path is None:
        articles = read_file(EMBEDDED_CORPUS).split(ARTICLE_SEPARATOR)
        documents = [a.strip() for a in articles if a.strip()]
        return documents, f"{EMBEDDED_DESCRIPTION}, {len(documents)} articles"
    documents = [text for text in (read_file(f) for f in files) if text.strip()]
    root = Path(path).expanduser()
    if not documents:
        what = f"file {root} is" if root.is_file() else f"all {len(files)} text files under {root} are"
        raise DataError(f"data.path: {what} empty")
    if root.is_file():
        return documents, f"file {root}"
    return documents, f"directory {root} ({len(documents)} non-empty files)"
