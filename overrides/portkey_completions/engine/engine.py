"""The completion engine, below the HTTP layer: cl100k tokenizer, language model, model table.

The language model is trained at start-up (with the tokenizer: see docs/performance.md) on text this
package ships, `corpus.json`, and only on that. Nothing is downloaded.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import json
from collections.abc import Mapping

from . import catalog
from .lm import NGramModel
from .tokenizer import Tokenizer, cl100k

# Bump when the same request would give other text: it is part of system_fingerprint.
# 4: a step at a temperature is prepared once per context, penalties then kept or refused by
# rejection; a context whose explicit tokens hold over half its mixture is built (sampler.Prepared);
# a positive logit_bias at temperature 1 is sampled by rejection (sampler._rejecting).
VERSION = "4"


def training_text() -> list[str]:
    """The documents the model learns from: the package's own corpus (corpus.json), nothing else.

    The corpus is paragraphs written for this package, then the spec's descriptions as they stood
    when it was frozen (2026-11-29). The engine never reads the spec itself: an edit to the spec's
    prose must not change a seeded completion (an import-linter contract keeps it so).
    """
    corpus = importlib.resources.files(__package__).joinpath("corpus.json").read_text(encoding="utf-8")
    documents: list[str] = json.loads(corpus)
    return documents


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
