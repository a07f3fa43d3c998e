"""Contract coverage's items and the names of their counters: what the counting and the report share."""

from __future__ import annotations

from dataclasses import dataclass

DIMENSIONS = ("responses", "fields", "refused", "alternatives", "streaming", "faults", "gateway")
SEP = "\x1f"  # between a counter's parts: operation, dimension, item name


@dataclass(frozen=True, slots=True)
class Item:
    dimension: str
    name: str
    pointer: str  # where it is in the served spec (a JSON pointer), or "" for an item of the server's own


def key(operation: str, dimension: str, name: str) -> str:
    """The counter's name for an item: stable across processes and releases (the state keeps these)."""
    return f"{operation}{SEP}{dimension}{SEP}{name}"


def parts(counted: str) -> tuple[str, str, str]:
    operation, dimension, name = counted.split(SEP, 2)
    return operation, dimension, name
