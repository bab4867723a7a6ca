"""Client-side checks of the hash chain, receipts and signed heads
(docs/EVENTS.md, "Canonical form and hash chain" and "Signed heads"):
the daemon's word is not taken for any of them."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Dict, Iterable, Mapping, Optional, Union

from .errors import ChainError
from .records import Receipt, SignedHead, StoredEvent

#: hash(0): 32 zero bytes.
GENESIS = bytes(32)


def canonical(payload: Mapping[str, Any]) -> bytes:
    """The canonical JSON bytes of a payload: keys sorted, no whitespace,
    strings raw UTF-8 escaping only ``"``, ``\\`` and control characters
    (lowercase ``\\u00XX``) — what Python's json writes with these options."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def payload_bytes(event: Union[StoredEvent, bytes, Mapping[str, Any]]) -> bytes:
    if isinstance(event, bytes):
        return event
    if isinstance(event, StoredEvent):
        return event.raw if event.raw is not None else canonical(event.payload)
    return canonical(event)


@dataclass
class Chain:
    """A running chain: feed it events in position order."""
    position: int = 0
    hash: bytes = GENESIS

    def __post_init__(self) -> None:
        self.hashes: Dict[int, str] = {self.position: self.hash.hex()}

    def add(self, event: Union[StoredEvent, bytes, Mapping[str, Any]]) -> str:
        data = payload_bytes(event)
        position = event.position if isinstance(event, StoredEvent) else json.loads(data)["position"]
        if position != self.position + 1:
            raise ChainError(f"position {position} follows {self.position}: the log has a gap or is out of order")
        self.hash = hashlib.sha256(self.hash + data).digest()
        self.position = position
        self.hashes[position] = self.hash.hex()
        return self.hash.hex()

    def hash_at(self, position: int) -> Optional[str]:
        return self.hashes.get(position)


def verify_chain(events: Iterable[Union[StoredEvent, bytes, Mapping[str, Any]]], expected_hash: Optional[str] = None,
                 start: Optional[Chain] = None) -> Chain:
    """Recomputes the chain over ``events`` (from position 1 unless ``start``
    says where); raises ChainError if ``expected_hash`` (the daemon's claim for
    the last position) differs. Returns the chain, with every position's hash."""
    chain = start or Chain()
    for event in events:
        chain.add(event)
    if expected_hash is not None and chain.hash.hex() != expected_hash:
        raise ChainError(f"the recomputed hash at {chain.position} is {chain.hash.hex()}, the daemon says {expected_hash}")
    return chain


def check_receipts(chain: Chain, receipts: Iterable[Receipt]) -> None:
    """Every receipt's hash is the recomputed chain's at its position."""
    for receipt in receipts:
        held = chain.hash_at(receipt.position)
        if held != receipt.hash:
            raise ChainError(f"receipt for position {receipt.position} says {receipt.hash}, the chain has {held}")


def head_text(head: SignedHead) -> bytes:
    return f"recoveryd-head:v1:{head.ledger}:{head.position}:{head.hash}:{head.signed_at}".encode("ascii")


def verify_head(head: SignedHead, signing_key: str, chain: Optional[Chain] = None) -> None:
    """Checks the Ed25519 signature of a signed head by ``signing_key`` (64
    hex, HELLO's), and, with a chain, that the chain holds that hash there."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(signing_key)).verify(bytes.fromhex(head.signature), head_text(head))
    except (InvalidSignature, ValueError) as error:
        raise ChainError(f"the head at {head.position} is not signed by {signing_key[:16]}…") from error
    if chain is not None:
        held = chain.hash_at(head.position)
        if held != head.hash:
            raise ChainError(f"the signed head says {head.hash} at {head.position}, the chain has {held}: history was rewritten")
