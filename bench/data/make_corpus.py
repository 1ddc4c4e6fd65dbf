"""Builds bench/data/corpus.txt: English prose from the docstrings of CPython's standard library.

The benchmark needs realistic text of many lengths that can be committed and redistributed: CPython's
documentation strings are technical English under the PSF licence. One paragraph per line; the benchmark
cuts sentences and chunks out of them by token count. Run with any Python 3.9+:

    python3 bench/data/make_corpus.py /usr/lib/python3.11 > bench/data/corpus.txt
"""

import ast
import os
import re
import sys
from typing import Iterator


def docstrings(root: str) -> Iterator[str]:
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in ("test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__"))
        for name in sorted(files):
            if not name.endswith(".py"):
                continue
            try:
                with open(os.path.join(folder, name), encoding="utf-8") as f:
                    tree = ast.parse(f.read())
            except (SyntaxError, UnicodeDecodeError, ValueError):
                continue
            for node in ast.walk(tree):
                if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                    text = ast.get_docstring(node)
                    if text:
                        yield text


def paragraphs(text: str) -> Iterator[str]:
    for block in re.split(r"\n\s*\n", text):
        lines = [l.strip() for l in block.splitlines()]
        # Prose only: skip code samples, tables and parameter lists.
        if any(l.startswith((">>>", "...", "|", "-", "*", ":")) for l in lines):
            continue
        paragraph = " ".join(l for l in lines if l)
        words = paragraph.split()
        if len(words) >= 6 and sum(w.isalpha() for w in words) / len(words) > 0.6:
            yield paragraph


def main() -> None:
    seen = set()
    for text in docstrings(sys.argv[1]):
        for p in paragraphs(text):
            if p not in seen:
                seen.add(p)
                print(p)


if __name__ == "__main__":
    main()
