"""Undo Penn Treebank token escapes (TACRED ships `-LRB-` for `(`, `` `` `` for an opening quote, ...).

Why map them back: pretrained sub-word tokenizers have seen real brackets and quotes, not the escape
strings, so leaving them would feed the encoder odd words (and `-LRB-` would split into several
pieces, shifting entity positions for no benefit).
"""

from __future__ import annotations

from collections.abc import Iterable

# PTB's open/close quotes become plain ASCII quotes; a lone `'` is left alone because it is also the
# apostrophe of clitics such as `'s`.
_PTB = {
    "-LRB-": "(",
    "-RRB-": ")",
    "-LSB-": "[",
    "-RSB-": "]",
    "-LCB-": "{",
    "-RCB-": "}",
    "``": '"',
    "''": '"',
    "`": "'",
}
# Some corpora lowercase everything, escapes included.
_PTB.update({key.lower(): value for key, value in _PTB.items() if key.startswith("-")})


def unescape_token(token: str) -> str:
    return _PTB.get(token, token)


def unescape_tokens(tokens: Iterable[str]) -> tuple[str, ...]:
    return tuple(_PTB.get(tok, tok) for tok in tokens)
