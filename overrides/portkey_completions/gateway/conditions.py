"""Conditional routing: a config's `strategy.conditions`, queries over the request's metadata and params.

    {"strategy": {"mode": "conditional",
                  "conditions": [{"query": {"metadata.user_plan": {"$eq": "paid"}}, "then": "paid"}],
                  "default": "free"},
     "targets": [{"name": "paid", ...}, {"name": "free", ...}]}

A query maps `metadata.<key>` (the `x-portkey-metadata` header's JSON object) or `params.<key>`
(the request body's field) to a value (equal to it) or to operators: `$eq $ne $gt $gte $lt $lte
$in $nin $regex $length`, and combines queries with `$and` / `$or` (lists of queries). These are
Portkey's semantics (its `conditionalRouter`): the first condition whose query holds names the
target; none, and `default` does. Unlike Portkey, a query is checked when the config is read,
so an unknown operator or a regex that does not compile is a 400 then, not a failure mid-request.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from portkey_completions.core import names

COMPARISONS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$regex", "$length")
LOGICAL = ("$and", "$or")
ROOTS = ("metadata", "params")


class QueryError(ValueError):
    """A query that cannot be evaluated, said plainly."""


def check(query: Any, where: str) -> None:
    """Raise QueryError if `query` is not one this module can evaluate."""
    if not isinstance(query, Mapping):
        raise QueryError(f"{where} must be an object")
    for key, value in query.items():
        if key in LOGICAL:
            if not isinstance(value, list) or not value:
                raise QueryError(f"{where}.{key} must be a non-empty list of queries")
            for i, sub in enumerate(value):
                check(sub, f"{where}.{key}[{i}]")
            continue
        if key.startswith("$"):
            raise QueryError(f"{where}: " + names.unknown("operator", key, LOGICAL))
        root, dot, field = key.partition(".")
        if root not in ROOTS or not dot or not field:
            raise QueryError(f"{where}: {key!r} is not metadata.<key> or params.<key>")
        if isinstance(value, Mapping):
            _check_operators(value, f"{where}.{key}")


def _check_operators(operators: Mapping[str, Any], where: str) -> None:
    for op, operand in operators.items():
        if op not in COMPARISONS:
            raise QueryError(f"{where}: " + names.unknown("operator", op, COMPARISONS))
        if op in ("$in", "$nin") and not isinstance(operand, list):
            raise QueryError(f"{where}.{op} must be a list")
        if op == "$regex":
            if not isinstance(operand, str):
                raise QueryError(f"{where}.$regex must be a string")
            try:
                re.compile(operand)
            except re.error as exc:
                raise QueryError(f"{where}.$regex does not compile: {exc}") from None
        if op == "$length" and isinstance(operand, Mapping):
            _check_operators(operand, f"{where}.$length")


def holds(query: Mapping[str, Any], context: Mapping[str, Mapping[str, Any]]) -> bool:
    """Whether `query` (checked) holds for `context` ({"metadata": {...}, "params": {...}})."""
    for key, expected in query.items():
        if key == "$or":
            return any(holds(sub, context) for sub in expected)
        if key == "$and":
            return all(holds(sub, context) for sub in expected)
        root, _, field = key.partition(".")
        actual = context.get(root, {}).get(field)
        if isinstance(expected, Mapping):
            if not _compare(expected, actual):
                return False
        elif actual != expected:
            return False
    return True


def _compare(operators: Mapping[str, Any], actual: Any) -> bool:
    for op, operand in operators.items():
        if op == "$regex":
            # As Portkey: the regex decides alone, and a value that is not text does not match.
            return isinstance(actual, str) and re.search(operand, actual) is not None
        if op == "$eq" and actual != operand:
            return False
        if op == "$ne" and actual == operand:
            return False
        if op in ("$gt", "$gte", "$lt", "$lte") and not _ordered(op, actual, operand):
            return False
        if op == "$in" and actual not in operand:
            return False
        if op == "$nin" and actual in operand:
            return False
        if op == "$length":
            if not isinstance(actual, list):
                return False
            if isinstance(operand, Mapping):
                if not _compare(operand, len(actual)):
                    return False
            elif len(actual) != operand:
                return False
    return True


def _ordered(op: str, actual: Any, operand: Any) -> bool:
    # Numbers as Portkey reads them (parseFloat): "3" compares as 3; anything else never holds.
    a, b = _number(actual), _number(operand)
    if math.isnan(a) or math.isnan(b):
        return False
    return {"$gt": a > b, "$gte": a >= b, "$lt": a < b, "$lte": a <= b}[op]


def _number(value: Any) -> float:
    if isinstance(value, bool):
        return math.nan
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        match = re.match(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", value)
        return float(match.group(0)) if match else math.nan
    return math.nan
