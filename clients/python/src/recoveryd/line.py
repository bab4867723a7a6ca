"""The line protocol (docs/PROTOCOL.md): for back ends that keep one
connection open, and for auditors who want the stored bytes as they are."""
from __future__ import annotations

import json
import socket
import ssl
from typing import Any, Dict, Iterator, Optional, Tuple

from .errors import RecoverydError
from .records import Receipt, StoredEvent


class LineClient:
    """One connection, said HELLO on. Requests are answered in order."""

    def __init__(self, host: str, port: int, token: str, *, timeout: float = 30.0,
                 ssl_context: Optional[ssl.SSLContext] = None) -> None:
        sock = socket.create_connection((host, port), timeout=timeout)
        if ssl_context is not None:
            sock = ssl_context.wrap_socket(sock, server_hostname=host)
        self._socket = sock
        self._file = sock.makefile("rwb")
        self.hello_answer = self.request(f"HELLO {token}")

    def close(self) -> None:
        try:
            self._file.close()
        finally:
            self._socket.close()

    def __enter__(self) -> "LineClient":
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    def _send(self, line: str) -> None:
        if "\n" in line or "\r" in line:
            raise ValueError("a request is one line")
        self._file.write(line.encode("utf-8") + b"\n")
        self._file.flush()

    def _read(self) -> bytes:
        line = self._file.readline()
        if not line:
            raise RecoverydError("unavailable", "the server closed the connection")
        return line.rstrip(b"\n")

    @staticmethod
    def _answer(line: bytes) -> Dict[str, Any]:
        if line == b"OK":
            return {}
        if line.startswith(b"OK "):
            return json.loads(line[3:])
        if line.startswith(b"ERR "):
            parts = line.decode("utf-8", "replace").split(" ", 2)
            raise RecoverydError(parts[1], parts[2] if len(parts) > 2 else "")
        raise RecoverydError("internal", f"not an answer: {line[:80]!r}")

    def request(self, line: str) -> Dict[str, Any]:
        """Sends one request; its OK object, or RecoverydError."""
        self._send(line)
        return self._answer(self._read())

    def append(self, event: Dict[str, Any]) -> Receipt:
        return Receipt.from_json(self.request("APPEND " + json.dumps(event, ensure_ascii=False, separators=(",", ":"))))

    def replay(self, start: int = 1, end: Optional[int] = None) -> Tuple[list, Dict[str, Any]]:
        """REPLAY: the stored events (with their exact bytes) and the final answer
        (count, prev_hash, hash, last)."""
        self._send(f"REPLAY {start}" + (f" {end}" if end is not None else ""))
        events = []
        while True:
            line = self._read()
            if not line.startswith(b"EVENT "):
                return events, self._answer(line)
            raw = line[6:]
            payload = json.loads(raw)
            events.append(StoredEvent(position=payload["position"], payload=payload, raw=raw))

    def subscribe(self, start: int = 1) -> Iterator[StoredEvent]:
        """SUBSCRIBE: events from ``start``, then live; ends with the
        subscription's error (RecoverydError) or when the caller stops."""
        self._send(f"SUBSCRIBE {start}")
        while True:
            line = self._read()
            if not line.startswith(b"EVENT "):
                self._answer(line)
                return
            raw = line[6:]
            payload = json.loads(raw)
            yield StoredEvent(position=payload["position"], payload=payload, raw=raw)
