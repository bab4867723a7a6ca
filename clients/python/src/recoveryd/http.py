"""The HTTP API (docs/HTTP.md): one keep-alive connection per client."""
from __future__ import annotations

import http.client
import json
import ssl
import time
import urllib.parse
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Union

from .chain import Chain, verify_chain
from .errors import RecoverydError
from .records import (BatchResult, Budget, Budgets, Outcomes, Receipt, SignedHead, Spending, StoredEvent)

Event = Mapping[str, Any]


class Client:
    """A client of recoveryd's HTTP API.

    >>> client = Client("http://127.0.0.1:7412", token)
    >>> client.append({"event_id": "…", "type": "complaint", ...})
    Receipt(position=2, hash='…', duplicate=False)

    Appends are retried (``retries`` times, with backoff) when the daemon is
    unavailable or the connection drops: safe, because an append is
    idempotent by ``event_id`` — a retry of a recorded event answers its
    original receipt with ``duplicate=True``. Reads are retried the same way.
    """

    def __init__(self, base_url: str, token: str, *, timeout: float = 30.0, retries: int = 3,
                 ssl_context: Optional[ssl.SSLContext] = None) -> None:
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"not an http(s) URL: {base_url}")
        self._scheme = parsed.scheme
        self._host = parsed.hostname
        self._port = parsed.port or (443 if parsed.scheme == "https" else 80)
        self._ssl = ssl_context
        self._token = token
        self.timeout = timeout
        self.retries = retries
        self._connection: Optional[http.client.HTTPConnection] = None
        self._hello: Optional[Dict[str, Any]] = None

    # -- plumbing ----------------------------------------------------------

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            if self._scheme == "https":
                self._connection = http.client.HTTPSConnection(self._host, self._port, timeout=self.timeout,
                                                               context=self._ssl or ssl.create_default_context())
            else:
                self._connection = http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    def _request(self, method: str, path: str, query: Optional[Mapping[str, Any]] = None,
                 body: Optional[Any] = None) -> Any:
        if query:
            items = {k: v for k, v in query.items() if v is not None}
            if items:
                path += "?" + urllib.parse.urlencode(items, safe=",")
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            headers["Content-Type"] = "application/json"
        attempt = 0
        while True:
            try:
                connection = self._connect()
                connection.request(method, path, body=data, headers=headers)
                response = connection.getresponse()
                text = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    self.close()
            except (OSError, http.client.HTTPException) as error:
                self.close()
                if attempt >= self.retries:
                    raise RecoverydError("unavailable", f"{method} {path}: {error}") from error
                attempt += 1
                time.sleep(min(0.1 * 2 ** attempt, 2.0))
                continue
            answer = json.loads(text) if text else None
            if response.status == 200:
                return answer
            problem = answer if isinstance(answer, dict) else {}
            error = RecoverydError(problem.get("code", "internal"), problem.get("detail", text.decode(errors="replace")),
                                   response.status)
            if error.retryable and attempt < self.retries:
                attempt += 1
                time.sleep(min(0.1 * 2 ** attempt, 2.0))
                continue
            raise error

    # -- the session -------------------------------------------------------

    def hello(self) -> Dict[str, Any]:
        """HELLO's answer for this token: role, settings, limits, signing key."""
        self._hello = self._request("GET", "/v1/hello")
        return self._hello

    @property
    def limits(self) -> Dict[str, Any]:
        return self._hello if self._hello is not None else self.hello()

    # -- appends -----------------------------------------------------------

    def append(self, event: Event) -> Receipt:
        """Records one event; raises RecoverydError when it is refused."""
        return Receipt.from_json(self._request("POST", "/v1/events", body=dict(event)))

    def append_many(self, events: Sequence[Event]) -> List[BatchResult]:
        """Records events in order, in batches of at most ``max_batch``; one
        result per event, a receipt or the error that refused it."""
        size = int(self.limits.get("max_batch", 1000))
        results: List[BatchResult] = []
        for start in range(0, len(events), size):
            answer = self._request("POST", "/v1/events", body=[dict(e) for e in events[start:start + size]])
            for item in answer["results"]:
                if "receipt" in item:
                    results.append(BatchResult(receipt=Receipt.from_json(item["receipt"])))
                else:
                    results.append(BatchResult(error=RecoverydError(item["error"]["code"], item["error"]["detail"])))
        return results

    # -- reads -------------------------------------------------------------

    def case(self, case_id: str, *, at: Optional[int] = None) -> Dict[str, Any]:
        return self._request("GET", f"/v1/cases/{urllib.parse.quote(case_id, safe='')}", {"at": at})

    def cases(self, *, customer_id: Optional[str] = None, owner: Optional[str] = None, status: Optional[str] = None,
              from_day: Optional[str] = None, to_day: Optional[str] = None, page_size: int = 50) -> Iterator[Dict[str, Any]]:
        """Every matching case, newest first, fetched a page at a time."""
        after: Optional[str] = None
        while True:
            page = self._request("GET", "/v1/cases", {"customer_id": customer_id, "owner": owner, "status": status,
                                                       "from": from_day, "to": to_day, "after": after, "limit": page_size})
            yield from page["cases"]
            after = page["next"]
            if after is None:
                return

    def due(self, agent_id: Optional[str] = None) -> List[Dict[str, Any]]:
        return self._request("GET", "/v1/due", {"agent_id": agent_id})["cases"]

    def people(self) -> List[Dict[str, Any]]:
        return self._request("GET", "/v1/people")["people"]

    def budget(self, agent_id: str, *, day: Optional[str] = None, at: Optional[int] = None) -> Budget:
        return Budget.from_json(self._request("GET", f"/v1/budgets/{urllib.parse.quote(agent_id, safe='')}", {"day": day, "at": at}))

    def budgets(self, *, day: Optional[str] = None, at: Optional[int] = None) -> Budgets:
        return Budgets.from_json(self._request("GET", "/v1/budgets", {"day": day, "at": at}))

    def outcomes(self, *, by: Optional[str] = None, from_day: Optional[str] = None, to_day: Optional[str] = None,
                 at: Optional[int] = None) -> Outcomes:
        return Outcomes.from_json(self._request("GET", "/v1/outcomes", {"by": by, "from": from_day, "to": to_day, "at": at}))

    def spending(self, from_day: str, to_day: str, *, by: Sequence[str] = (), at: Optional[int] = None) -> Spending:
        return Spending.from_json(self._request("GET", "/v1/spending", {"from": from_day, "to": to_day,
                                                                         "by": ",".join(by) or None, "at": at}))

    def settings(self, *, at: Optional[int] = None) -> Dict[str, Any]:
        return self._request("GET", "/v1/settings", {"at": at})

    def head(self) -> SignedHead:
        return SignedHead.from_json(self._request("GET", "/v1/head"))

    def verify(self, *, from_position: Optional[int] = None, to_position: Optional[int] = None) -> Dict[str, Any]:
        """The daemon's own VERIFY (see verify_log for the check on this side)."""
        return self._request("GET", "/v1/verify", {"from": from_position, "to": to_position})

    def status(self) -> Dict[str, Any]:
        return self._request("GET", "/v1/status")

    # -- the log -----------------------------------------------------------

    def events(self, after: int = 0, *, page_size: int = 1000) -> Iterator[StoredEvent]:
        """The log from ``after + 1`` to the head, a page at a time."""
        while True:
            page = self._request("GET", "/v1/events", {"after": after, "limit": page_size})
            for payload in page["events"]:
                yield StoredEvent(position=payload["position"], payload=payload)
            if page["next"] is None:
                return
            after = page["next"]

    def verify_log(self) -> Chain:
        """Pages the whole log and recomputes its chain here; raises ChainError
        if any position's hash differs from the daemon's word for the head."""
        chain = verify_chain(self.events())
        head = self.head()
        if head.position <= chain.position and chain.hash_at(head.position) != head.hash:
            from .errors import ChainError
            raise ChainError(f"the head says {head.hash} at {head.position}, the chain has {chain.hash_at(head.position)}")
        return chain

    def stream(self, after: int = 0, *, reconnect: bool = True) -> Iterator[StoredEvent]:
        """The log from ``after + 1``, then live, as it commits (Server-Sent
        Events). On a dropped connection or a slow-consumer cut it resumes
        from the last event received (``Last-Event-ID``): nothing is skipped
        or repeated. Ends only when the caller stops iterating, or when a
        refusal is not worth retrying."""
        last = after
        while True:
            connection = (http.client.HTTPSConnection(self._host, self._port, timeout=None,
                                                      context=self._ssl or ssl.create_default_context())
                          if self._scheme == "https" else http.client.HTTPConnection(self._host, self._port, timeout=None))
            try:
                connection.request("GET", "/v1/events/stream", headers={
                    "Authorization": f"Bearer {self._token}", "Accept": "text/event-stream", "Last-Event-ID": str(last)})
                response = connection.getresponse()
                if response.status != 200:
                    problem = json.loads(response.read() or b"{}")
                    raise RecoverydError(problem.get("code", "internal"), problem.get("detail", ""), response.status)
                event_type, data, position = "message", b"", None
                for raw_line in response:
                    line = raw_line.rstrip(b"\n").rstrip(b"\r")
                    if line == b"":
                        if event_type == "event" and position is not None:
                            last = position
                            yield StoredEvent(position=position, payload=json.loads(data), raw=data)
                        elif event_type == "error":
                            error = json.loads(data)
                            last = max(last, int(error.get("last", last)))
                            if not reconnect:
                                raise RecoverydError(error["code"], error["detail"])
                        event_type, data, position = "message", b"", None
                    elif line.startswith(b"id: "):
                        position = int(line[4:])
                    elif line.startswith(b"event: "):
                        event_type = line[7:].decode()
                    elif line.startswith(b"data: "):
                        data = line[6:]
            except (OSError, http.client.HTTPException):
                if not reconnect:
                    raise
            finally:
                connection.close()
            if not reconnect:
                return
            time.sleep(0.2)
