"""Serving errors: part of mindinfer's one hierarchy, each mapped to a status by every protocol."""

from __future__ import annotations

from ..errors import InvalidInputError, MindInferError

__all__ = [
    "ModelNotFoundError",
    "ModelNotReadyError",
    "RequestError",
    "RequestTooLargeError",
    "ServeConfigError",
    "too_big",
]


class ServeConfigError(MindInferError):
    """A model repository, a model's ``config.json`` or a server option is wrong."""


class RequestError(InvalidInputError):
    """A request is malformed: bad JSON, an unknown datatype, data that does not fill its shape."""


class RequestTooLargeError(RequestError):
    """A request body is over the server's size limit (``--max-request-mb``)."""


def too_big(size: int, limit: int, at_least: bool = False) -> str:
    """What a request over the size limit is told, by every protocol."""
    more = "at least " if at_least else ""
    return (
        f"request body of {more}{size} bytes is bigger than the server's limit of {limit} bytes "
        "(mindinfer serve --max-request-mb)"
    )


class ModelNotFoundError(MindInferError):
    """No model of that name, or no such version of it, is in the repository."""


class ModelNotReadyError(MindInferError):
    """The model exists but did not load (its error says why), or the server is shutting down.

    ``reason`` is the load error itself, for an ingress that learns it from a Ray replica."""

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason or message

    def __reduce__(self) -> tuple[type, tuple[str, str]]:  # pickled by Ray with its reason
        return (type(self), (str(self), self.reason))
