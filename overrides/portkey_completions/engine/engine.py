"""The completion engine, below the HTTP layer: cl100k tokenizer, language model, model table.

The language model is trained at start-up (with the tokenizer: see docs/performance.md) on text this package ships:
`corpus.txt`, and every description in the spec. Nothing is downloaded.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
from collections.abc import Iterator, Mapping

from portkey_completions.core import spec

from . import catalog
from .lm import NGramModel
from .tokenizer import Tokenizer, cl100k

# Bump when the same request would give other text: it is part of system_fingerprint.
VERSION = "2"


def training_text() -> list[str]:
    """The documents the model learns from: corpus.txt's paragraphs, then the spec's descriptions."""
    corpus = importlib.resources.files(__package__).joinpath("corpus.txt").read_text(encoding="utf-8")
    documents = [p.strip() for p in corpus.split("\n\n") if p.strip()]
    documents += list(_descriptions(spec.load()))
    return documents


def _descriptions(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "description" and isinstance(v, str):
                yield v.strip()
            else:
                yield from _descriptions(v)
    elif isinstance(node, list):
        for v in node:
            yield from _descriptions(v)


@functools.cache
def _trained() -> tuple[NGramModel, str]:
    tokenizer = cl100k()
    documents = training_text()
    model = NGramModel((tokenizer.encode(d) for d in documents), tokenizer.valid, tokenizer.eot)
    digest = hashlib.sha256("\x00".join([VERSION, *documents]).encode()).hexdigest()
    return model, f"fp_{digest[:10]}"


class Engine:
    """What a request needs to be answered: the tokenizer, the model and the model table."""

    def __init__(self, models: Mapping[str, catalog.ModelCard] = catalog.DEFAULT_MODELS) -> None:
        self.tokenizer: Tokenizer = cl100k()
        self.model, self.fingerprint = _trained()
        self.models = dict(models)
