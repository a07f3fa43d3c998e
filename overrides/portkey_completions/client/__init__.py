"""A typed client for Portkey's POST /v1/completions, built on the generated one.

from portkey_completions.client import Completions

with Completions(api_key="pk-…", virtual_key="vk-…") as client:
    completion = client.create(model="gpt-3.5-turbo-instruct", prompt="Say this is a test")
"""

from .completions import DEFAULT_BASE_URL, AsyncCompletions, Completions
from .errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    NotFoundError,
    ParameterError,
    PayloadTooLargeError,
    PortkeyError,
    RateLimitError,
    RequestTimeoutError,
)
from .retries import Retries
from .streaming import AsyncStream, Stream

__all__ = [
    "DEFAULT_BASE_URL",
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AsyncCompletions",
    "AsyncStream",
    "AuthenticationError",
    "BadRequestError",
    "Completions",
    "InternalServerError",
    "NotFoundError",
    "ParameterError",
    "PayloadTooLargeError",
    "PortkeyError",
    "RateLimitError",
    "RequestTimeoutError",
    "Retries",
    "Stream",
]
