"""The models the server answers for: name, context window, and whether `suffix` is supported."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml


@dataclass(frozen=True)
class ModelCard:
    name: str
    context_window: int
    suffix: bool = False


# OpenAI's figures for the spec's three models. Only gpt-3.5-turbo-instruct takes a suffix.
DEFAULT_MODELS: Mapping[str, ModelCard] = {
    card.name: card
    for card in (
        ModelCard("gpt-3.5-turbo-instruct", 4096, suffix=True),
        ModelCard("davinci-002", 16384),
        ModelCard("babbage-002", 16384),
    )
}


def load(path: str | Path) -> dict[str, ModelCard]:
    """A model table from YAML or JSON: `{name: {context_window: int, suffix: bool}}`.

    Raises:
        ValueError: the file is not such a table.
    """
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not data:
        raise ValueError(f"{path}: expected a mapping of model names to {{context_window, suffix}}")
    table = {}
    for name, entry in data.items():
        if not isinstance(entry, dict) or set(entry) - {"context_window", "suffix"}:
            raise ValueError(f"{path}: {name}: expected keys context_window and (optional) suffix")
        window, suffix = entry.get("context_window"), entry.get("suffix", False)
        if not isinstance(window, int) or isinstance(window, bool) or window < 1:
            raise ValueError(f"{path}: {name}: context_window must be a positive integer")
        if not isinstance(suffix, bool):
            raise ValueError(f"{path}: {name}: suffix must be true or false")
        table[str(name)] = ModelCard(str(name), window, suffix)
    return table
