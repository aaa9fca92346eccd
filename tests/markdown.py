"""Read Markdown the way people see it: rendered by a CommonMark parser with GFM tables.

markdown-it-py (the parser behind many documentation tools) renders what our renderers
write; a test then checks the words people read and which elements the text became,
not the escapes that got it there.
"""

from __future__ import annotations

import html
import re

from markdown_it import MarkdownIt

_PARSER = MarkdownIt("commonmark").enable(["table", "strikethrough"])
ZERO_WIDTH = "\u200b"


def rendered(markdown: str) -> str:
    """The HTML a CommonMark + GFM-tables renderer makes of ``markdown``."""
    return _PARSER.render(markdown)


def read(markdown: str) -> str:
    """The text people read once ``markdown`` is rendered (tags gone, entities decoded)."""
    return html.unescape(re.sub(r"<[^>]+>", "", rendered(markdown)))
