"""Naming an unknown name: the closest known one first, then all of them, so a typo is one glance to fix."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(name: str, known: Iterable[str]) -> str | None:
    """The known name `name` is most likely a typo of, if any is close."""
    found = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return found[0] if found else None


def unknown(what: str, name: str, known: Iterable[str]) -> str:
    """`unknown key 'retyr' (did you mean 'retry'?); the keys are: ...`, for any kind of name."""
    names = sorted(known)
    near = closest(name, names)
    hint = f" (did you mean {near!r}?)" if near else ""
    return f"unknown {what} {name!r}{hint}; known: {', '.join(names)}"
