"""Errors: the daemon's refusals carry the line protocol's error code."""
from __future__ import annotations

from typing import Optional

#: Codes after which the same request may succeed if sent again (docs/PROTOCOL.md).
RETRYABLE = frozenset({"unavailable"})


class RecoverydError(Exception):
    """A refusal from recoveryd: ``code`` is the protocol's error code
    (``budget_exceeded``, ``forbidden``, ...), ``detail`` its message for people,
    ``status`` the HTTP status when it came over HTTP."""

    def __init__(self, code: str, detail: str, status: Optional[int] = None) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.status = status

    @property
    def retryable(self) -> bool:
        return self.code in RETRYABLE


class ChainError(Exception):
    """The chain, a receipt or a signed head does not check out on this side."""
