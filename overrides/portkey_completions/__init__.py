"""portkey-completions: a spec-first server and client for POST /v1/completions.

What users import is named in `__all__` and reachable from here; every other module is internal
and may move between versions (CHANGELOG.md says what moved). The names are loaded on first use,
so `import portkey_completions` (and `portkey-stub --version`) stays cheap.

    from portkey_completions import Completions, create_app, ServerOptions
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

__version__ = "0.3.0"

# connexion imports starlette's test client at import time, which warns when `httpx2` is missing
# (a server never uses that client): without this, every start of a pip-installed server, and
# every user's pytest run, would print a warning that is neither theirs nor ours to act on.
warnings.filterwarnings(
    "ignore", message=r"Using `httpx` with `starlette\.testclient` is deprecated", category=UserWarning
)

# name -> the module that defines it.
_PUBLIC = {
    # The typed client (portkey_completions.client has its errors and streams too).
    "Completions": "portkey_completions.client",
    "AsyncCompletions": "portkey_completions.client",
    "PortkeyError": "portkey_completions.client",
    "APIError": "portkey_completions.client",
    "ParameterError": "portkey_completions.client",
    # The server, in-process.
    "create_app": "portkey_completions.app",
    "CompletionsApp": "portkey_completions.app",
    "ServerOptions": "portkey_completions.options",
    "Store": "portkey_completions.gateway.store",
    # Contract testing: the `portkey_stub` fixture is a pytest plugin; this is its admin client.
    "AdminClient": "portkey_completions.testing.admin_client",
}

# Names kept for one release after a rename, each with a DeprecationWarning (CHANGELOG.md).
_DEPRECATED = {"StubApp": "portkey_completions.app"}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name) or _DEPRECATED.get(name)
    if module is None:
        raise AttributeError(f"module 'portkey_completions' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
