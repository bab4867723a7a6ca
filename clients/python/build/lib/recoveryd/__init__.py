"""A client for recoveryd, the service-recovery ledger.

- ``Client``: the HTTP API (docs/HTTP.md) — appends with safe retries, every
  read, the log paged and streamed live.
- ``LineClient``: the line protocol (docs/PROTOCOL.md).
- ``verify_chain``, ``check_receipts``, ``verify_head``: the hash chain,
  receipts and Ed25519-signed heads checked on this side.
- Budgets, outcomes and spending come back as dataclasses that
  ``pandas.DataFrame`` loads as they are.
"""
from .chain import GENESIS, Chain, canonical, check_receipts, verify_chain, verify_head
from .errors import ChainError, RecoverydError
from .http import Client
from .line import LineClient
from .records import (BatchResult, Budget, Budgets, OutcomeFigures, Outcomes, Receipt, SignedHead, Spending, SpendingRow,
                      StoredEvent)

__all__ = [
    "Client", "LineClient", "RecoverydError", "ChainError", "Chain", "GENESIS", "canonical", "verify_chain",
    "check_receipts", "verify_head", "Receipt", "StoredEvent", "Budget", "Budgets", "OutcomeFigures", "Outcomes",
    "Spending", "SpendingRow", "SignedHead", "BatchResult",
]
__version__ = "0.1.0"
