"""One-off maintainer script: turn gensim's English Wikipedia test dump into the embedded plain-text corpus.

Not imported by the project and not needed at run time; the committed result is `enwiki_sample.txt.gz`.
It was run once as

    python orchestrator/data/corpus/extract_enwiki_sample.py \\
        gensim/test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2 \\
        orchestrator/data/corpus/enwiki_sample.txt.gz

where the .bz2 comes from the gensim 4.4.0 wheel. Standard library only.

Output format: one article per block, its title on the first line, then its prose with one paragraph (or list
item, "- " prefixed) per line and no blank lines inside an article; articles are separated by one blank line.
Redirects and pages outside the article namespace are skipped; the trailing reference sections (References,
External links, See also, ...) are dropped; MediaWiki markup is stripped by a small hand-written stripper.
The gzip stream is deterministic (mtime 0, no file name), so re-running gives identical bytes.
"""
from __future__ import annotations

import bz2
import gzip
import html
import re
import sys
import xml.etree.ElementTree as ET
from typing import Iterator

# Sections that hold citations and link lists rather than prose.
DROPPED_SECTIONS = {
    "references", "external links", "see also", "further reading", "notes", "bibliography", "sources",
    "footnotes", "citations", "notes and references", "references and notes", "works cited", "literature",
    "external link", "reference", "general references", "bibliography and further reading", "gallery",
    "selected works", "discography", "filmography",
}
# Link namespaces whose target is not prose (media, categories, interlanguage links).
DROPPED_LINK_PREFIXES = ("file:", "image:", "category:", "media:", ":category:")
INTERLANGUAGE = re.compile(r"^:?[a-z]{2,3}(-[a-z]+)?:")
# Tags whose content is not prose: dropped with their content.
DROPPED_TAGS = ("ref", "math", "gallery", "timeline", "imagemap", "score", "syntaxhighlight", "source",
                "chem", "ce", "hiero", "graph", "mapframe", "references", "table")

COMMENT = re.compile(r"<!--.*?(-->|\Z)", re.S)
SELF_CLOSING_TAG = re.compile(r"<(" + "|".join(DROPPED_TAGS) + r")\b[^>]*/>", re.I)
PAIRED_TAG = re.compile(r"<(" + "|".join(DROPPED_TAGS) + r")\b[^>]*(?<!/)>.*?</\1\s*>", re.I | re.S)
ANY_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9]*\b[^<>]*/?>")
BRACES = re.compile(r"\{\{|\}\}|\{\||\|\}(?!\})")
INNER_LINK = re.compile(r"\[\[((?:[^\[\]]|\[(?!\[)|\](?!\]))*)\]\]")  # may hold single brackets
EXTERNAL_LINK = re.compile(r"\[(?:https?:|ftp:)?//[^\s\]]+(?:\s+([^\]]*))?\]")
BARE_URL = re.compile(r"https?://\S+")
BOLD_ITALIC = re.compile(r"'{2,5}")
HEADING = re.compile(r"^(={1,6})\s*(.*?)\s*\1\s*$")
LIST_ITEM = re.compile(r"^[*#:;]+\s*")
MAGIC_WORD = re.compile(r"__[A-Z]+__")


def _at_line_start(text: str, i: int) -> bool:
    j = text.rfind("\n", 0, i) + 1
    return text[j:i].strip(" \t:") == ""


def _split_args(inner: str) -> list[str]:
    """Split a template's inside on the pipes that are not inside [[links]]."""
    args, depth, start = [], 0, 0
    for m in re.finditer(r"\[\[|\]\]|\|", inner):
        token = m.group()
        if token == "[[":
            depth += 1
        elif token == "]]":
            depth = max(0, depth - 1)
        elif depth == 0:
            args.append(inner[start:m.start()])
            start = m.end()
    args.append(inner[start:])
    return [a.strip() for a in args]


def _expand_template(inner: str) -> str:
    """The prose a template stands for: a few inline templates keep their text, every other one is dropped."""
    args = _split_args(inner)
    name = args[0].strip().lower().replace("_", " ")
    positional = [a for a in args[1:] if not re.match(r"^[\w ]+=", a)]
    if name in {"convert", "cvt"} and len(positional) >= 2:
        if len(positional) >= 4 and positional[1] in {"to", "-", "–", "and", "or"}:
            return f"{positional[0]} to {positional[2]} {positional[3]}"
        return f"{positional[0]} {positional[1]}"
    if name in {"lang", "lang-x"} and len(positional) >= 2:
        return positional[1]
    if name.startswith("lang-") and positional:
        return positional[0]
    if name == "transl" and positional:
        return positional[-1]
    if name in {"nowrap", "nobr", "small", "smaller", "big", "sic", "not a typo", "linktext", "em",
                "nobold", "noitalic", "math", "mvar", "var", "ill", "interlanguage link"} and positional:
        return positional[0]
    if name in {"'", "' \""}:
        return "'"
    if name in {"snd", "spaced ndash", "spnd", "dash"}:
        return " – "
    if name in {"ndash", "–"}:
        return "–"
    if name in {"mdash", "—"}:
        return "—"
    if name in {"circa", "c."} and positional:
        return f"c. {positional[0]}"
    if name == "frac" and len(positional) == 2:
        return f"{positional[0]}/{positional[1]}"
    if name == "frac" and len(positional) == 3:
        return f"{positional[0]} {positional[1]}/{positional[2]}"
    return ""


def strip_braces(text: str) -> str:
    """Remove templates {{…}} (nested) and tables {|…|}; keep the text of a few inline templates."""
    out: list[str] = []
    pos = 0
    while True:
        stack: list[tuple[str, int]] = []
        for m in BRACES.finditer(text, pos):
            token, i = m.group(), m.start()
            if token == "{{":
                stack.append(("t", i))
            elif token == "{|" and _at_line_start(text, i):
                stack.append(("b", i))
            elif token == "}}" and stack and stack[-1][0] == "t":
                _, begin = stack.pop()
                if not stack:
                    out.append(text[pos:begin])
                    out.append(_expand_template(strip_braces(text[begin + 2:i])))
                    pos = m.end()
                    break
            elif token == "|}" and stack and stack[-1][0] == "b" and _at_line_start(text, i):
                _, begin = stack.pop()
                if not stack:
                    out.append(text[pos:begin])
                    pos = m.end()
                    break
        else:
            if stack:  # an opening that never closes: drop the two characters and go on after them
                begin = stack[0][1]
                out.append(text[pos:begin])
                pos = begin + 2
                continue
            out.append(text[pos:])
            return "".join(out)


def _replace_link(m: re.Match) -> str:
    inner = m.group(1)
    target, _, label = inner.partition("|")
    lowered = target.strip().lower()
    if lowered.startswith(DROPPED_LINK_PREFIXES) or INTERLANGUAGE.match(lowered):
        return ""
    if label:
        return label.split("|")[-1]
    return target.lstrip(":").split("#")[0] if not target.startswith("#") else target[1:]


def strip_links(text: str) -> str:
    """[[a|b]] → b, [[a]] → a, media/category/interlanguage links dropped; innermost links first."""
    while True:
        new = INNER_LINK.sub(_replace_link, text)
        if new == text:
            return new
        text = new


def drop_sections(text: str) -> str:
    """Drop reference-like sections (a heading in DROPPED_SECTIONS up to the next heading of its level or above)."""
    kept, skip_level = [], 0
    for line in text.split("\n"):
        m = HEADING.match(line.strip())
        if m:
            level = len(m.group(1))
            if skip_level and level > skip_level:
                continue
            skip_level = 0
            title = re.sub(r"[^a-z ]", "", BOLD_ITALIC.sub("", m.group(2)).lower()).strip()
            if title in DROPPED_SECTIONS:
                skip_level = level
                continue
        if not skip_level:
            kept.append(line)
    return "\n".join(kept)


def clean_line(line: str) -> str:
    line = re.sub(r"[ \t\u00a0\u2009\u200b]+", " ", line).strip()
    line = re.sub(r"\(\s*[,;:\s]*\)", "", line)  # "(; , )" left by removed templates
    line = re.sub(r"\(\s*[,;:]\s*", "(", line)
    line = re.sub(r"\s*[,;]\s*\)", ")", line)
    line = re.sub(r" +([,.;:!?)])", r"\1", line)
    line = re.sub(r"\( +", "(", line)
    line = re.sub(r"([,;])(?:\s*[,;])+", r"\1", line)
    return re.sub(r" {2,}", " ", line).strip()


def wikitext_to_prose(text: str) -> str:
    """Plain prose from one article's wikitext: one paragraph, heading or list item per line."""
    text = COMMENT.sub("", text)
    text = SELF_CLOSING_TAG.sub("", text)
    text = PAIRED_TAG.sub("", text)
    text = strip_braces(text)
    text = drop_sections(text)
    text = strip_links(text)
    text = EXTERNAL_LINK.sub(lambda m: m.group(1) or "", text)
    text = BARE_URL.sub("", text)
    text = re.sub(r"<br\s*/?>", " ", text, flags=re.I)
    text = ANY_TAG.sub("", text)
    text = MAGIC_WORD.sub("", text)
    text = BOLD_ITALIC.sub("", text)
    text = html.unescape(html.unescape(text))  # entities, some of them written escaped twice
    lines = []
    for raw in text.split("\n"):
        raw = raw.strip()
        if not raw or raw[0] in "|!{}" or raw.startswith("----"):
            continue  # table debris, horizontal rules
        heading = HEADING.match(raw)
        if heading:
            line = clean_line(heading.group(2))
        elif LIST_ITEM.match(raw):
            body = clean_line(LIST_ITEM.sub("", raw))
            has_words = re.search(r"\w", re.sub(r"\([^)]*\)", "", body))  # not just "(UK)" left of a flag
            line = f"- {body}" if has_words else ""
        else:
            line = clean_line(raw)
        if re.search(r"\w", line):
            lines.append(line)
    return "\n".join(lines)


def iter_pages(path: str) -> Iterator[tuple[str, str]]:
    """(title, wikitext) of every non-redirect article (namespace 0) page in a MediaWiki XML dump."""
    with bz2.open(path, "rb") as f:
        for _, elem in ET.iterparse(f, events=("end",)):
            if elem.tag.rsplit("}", 1)[-1] != "page":
                continue
            children = {child.tag.rsplit("}", 1)[-1]: child for child in elem}
            ns = children["ns"].text if "ns" in children else "0"
            if ns == "0" and "redirect" not in children:
                text_elem = next((e for e in elem.iter() if e.tag.rsplit("}", 1)[-1] == "text"), None)
                text = (text_elem.text or "") if text_elem is not None else ""
                if not text.lstrip().lower().startswith("#redirect"):
                    yield children["title"].text or "", text
            elem.clear()


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    source, target = argv
    articles = []
    for title, wikitext in iter_pages(source):
        prose = wikitext_to_prose(wikitext)
        if prose:
            articles.append(f"{title.strip()}\n{prose}")
    corpus = "\n\n".join(articles) + "\n"
    raw = corpus.encode("utf-8")
    with open(target, "wb") as out, gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0,
                                                  compresslevel=9) as gz:
        gz.write(raw)
    print(f"{len(articles)} articles, {len(raw)} bytes of text -> {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
