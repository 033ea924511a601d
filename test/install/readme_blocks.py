#!/usr/bin/env python3
"""Writes the fenced code blocks of a Markdown file that have a given language tag.

Usage: readme_blocks.py README.md LANG OUT_DIR
Block N (counting from 1, in document order, among blocks of LANG) goes to OUT_DIR/block-N.LANG,
byte for byte as it stands between its fences. Prints the number of blocks written.
Standard library only.
"""

import os
import sys


def blocks(text, lang):
    out, current, inside = [], None, False
    for line in text.splitlines(keepends=True):
        fence = line.rstrip("\n")
        if not inside and fence == "```" + lang:
            inside, current = True, []
        elif inside and fence == "```":
            inside = False
            out.append("".join(current))
        elif inside:
            current.append(line)
    if inside:
        sys.exit("unterminated ```%s block" % lang)
    return out


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    path, lang, out_dir = sys.argv[1:]
    with open(path, encoding="utf-8") as f:
        found = blocks(f.read(), lang)
    os.makedirs(out_dir, exist_ok=True)
    for i, body in enumerate(found, 1):
        with open(os.path.join(out_dir, "block-%d.%s" % (i, lang)), "w", encoding="utf-8") as f:
            f.write(body)
    print(len(found))


if __name__ == "__main__":
    main()
