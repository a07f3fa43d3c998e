"""The headers of the Portkey protocol, and the one way to read and write a bearer token."""

from __future__ import annotations

from collections.abc import Mapping

API_KEY = "x-portkey-api-key"
VIRTUAL_KEY = "x-portkey-virtual-key"
PROVIDER = "x-portkey-provider"
CONFIG = "x-portkey-config"
CUSTOM_HOST = "x-portkey-custom-host"
TRACE_ID = "x-portkey-trace-id"
AUTHORIZATION = "authorization"

STUB = "stub"  # the built-in provider: this server's own engine
# What the journal calls a plain OpenAI request that `--openai-compatible` let in: it sent none of
# the spec's alternatives, so it is labelled as what it is rather than as the one it stands for.
OPENAI_COMPATIBLE = "openai_compatible"


def bearer(value: str | None) -> str | None:
    """The token of `Bearer <token>`, or None when the value is no bearer credential."""
    kind, _, token = (value or "").strip().partition(" ")
    token = token.strip()
    return token if kind.lower() == "bearer" and token else None


def authorization(key: str) -> str:
    """A provider key as an Authorization value: `Bearer <key>`, unless it already says Bearer."""
    return key if key.lower().startswith("bearer ") else f"Bearer {key}"


def openai_compatible(headers: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """`--openai-compatible`: the Portkey headers a plain OpenAI request (bearer only) stands for.

    A gateway forwards only the body and `Authorization: Bearer …`, never Portkey's headers (and
    the spec requires the Portkey key). Such a request reads as the provider alternative naming
    the built-in stub, the bearer standing in as the Portkey key. Empty for any other request.
    """
    if API_KEY in headers:
        return ()
    token = bearer(headers.get(AUTHORIZATION))
    return () if token is None else ((API_KEY, token), (PROVIDER, STUB))
