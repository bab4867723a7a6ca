"""The HTTP client against the real daemon."""
import socket
import threading
import urllib.parse

import pandas
import pytest

from recoveryd import (Budget, ChainError, Client, LineClient, Receipt, RecoverydError, check_receipts, verify_chain,
                       verify_head)
from conftest import complaint, compensation


@pytest.fixture
def front(url, tokens):
    with Client(url, tokens["frontline"]) as client:
        yield client


@pytest.fixture
def finance(url, tokens):
    with Client(url, tokens["finance"]) as client:
        yield client


@pytest.fixture
def auditor(url, tokens):
    with Client(url, tokens["auditor"]) as client:
        yield client


def test_hello_names_the_role_and_the_limits(front):
    hello = front.hello()
    assert hello["role"] == "frontline"
    assert hello["max_batch"] > 0 and len(hello["signing_key"]) == 64


def test_append_and_a_retry_is_the_same_receipt(front, new_id):
    event_id, case_id = new_id()
    receipt = front.append(complaint(event_id, case_id))
    assert isinstance(receipt, Receipt) and not receipt.duplicate and len(receipt.hash) == 64
    again = front.append(complaint(event_id, case_id))
    assert again.duplicate and (again.position, again.hash) == (receipt.position, receipt.hash)


def test_refusals_raise_with_the_protocol_code(front, finance, new_id):
    event_id, case_id = new_id()
    front.append(complaint(event_id, case_id))
    comp_id, _ = new_id()
    with pytest.raises(RecoverydError) as refused:
        front.append(compensation(comp_id, case_id, 10**9))
    assert refused.value.code == "budget_exceeded" and refused.value.status == 409 and "USD" in refused.value.detail
    with pytest.raises(RecoverydError) as forbidden:
        finance.append(complaint(*new_id()))
    assert forbidden.value.code == "forbidden" and forbidden.value.status == 403
    with pytest.raises(RecoverydError) as missing:
        front.case("NO-SUCH-CASE")
    assert missing.value.code == "not_found"


def test_append_many_answers_each_in_order(front, new_id):
    event_id, case_id = new_id()
    comp_id, _ = new_id()
    results = front.append_many([complaint(event_id, case_id), compensation(comp_id, case_id, 2500),
                                 {"event_id": new_id()[0], "type": "apology", "agent_id": "A-1", "case_id": "K-NOPE"}])
    assert [r.ok for r in results] == [True, True, False]
    assert results[1].receipt.remaining is not None
    assert results[2].error.code == "not_found"
    assert results[1].receipt.position == results[0].receipt.position + 1


class DropFirstAnswer:
    """A proxy that passes the first request through to the daemon and then
    hangs up without passing the answer back — the append was recorded, the
    client never heard — and passes everything after it both ways."""

    def __init__(self, url):
        parsed = urllib.parse.urlsplit(url)
        self.target = (parsed.hostname, parsed.port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.dropped = 0
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            if self.dropped == 0:
                self.dropped += 1
                request = self.read_request(client)
                upstream.sendall(request)
                upstream.recv(65536)  # the answer, thrown away
                client.close()
                upstream.close()
                continue
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self.pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def read_request(connection):
        data = b""
        while b"\r\n\r\n" not in data:
            data += connection.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0)
        while len(body) < length:
            body += connection.recv(65536)
        return head + b"\r\n\r\n" + body

    @staticmethod
    def pipe(source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            sink.close()


def test_a_retry_after_a_lost_answer_charges_nothing_twice(url, tokens, front, new_id):
    event_id, case_id = new_id()
    front.append(complaint(event_id, case_id))
    before = front.budget("A-1")
    proxy = DropFirstAnswer(url)
    with Client(f"http://127.0.0.1:{proxy.port}", tokens["frontline"], retries=2) as client:
        comp_id, _ = new_id()
        receipt = client.append(compensation(comp_id, case_id, 1234))
    assert proxy.dropped == 1
    assert receipt.duplicate, "the first attempt was recorded; the retry answers its receipt"
    after = front.budget("A-1")
    assert after.spent - before.spent == 1234, "charged once"


def test_reads_page_and_load_into_pandas(front, finance, auditor, new_id):
    customer = "C-" + new_id()[1]
    cases = []
    for n in range(5):
        event_id, case_id = new_id()
        front.append(complaint(event_id, case_id, customer=customer))
        cases.append(case_id)
    listed = list(front.cases(customer_id=customer, page_size=2))
    assert sorted(c["case_id"] for c in listed) == sorted(cases)
    assert front.case(cases[0])["customer_id"] == customer
    assert all(c["owner"] == "A-1" for c in front.due("A-1"))
    assert any(p["agent_id"] == "A-1" for p in finance.people())

    budget = front.budget("A-1")
    assert isinstance(budget, Budget) and budget.currency == "USD"
    budgets = finance.budgets()
    frame = pandas.DataFrame(budgets.agents)
    assert {"agent_id", "allowance", "spent", "remaining"} <= set(frame.columns)
    assert int(frame["spent"].sum()) == budgets.total_spent

    outcomes = auditor.outcomes(by="agent")
    groups = pandas.DataFrame(outcomes.groups)
    assert int(groups["cases"].sum()) == outcomes.total.cases
    day = budget.day
    spending = finance.spending(day, day, by=["person"])
    rows = pandas.DataFrame(spending.rows)
    assert int(rows["net"].sum()) == spending.total_net
    assert finance.settings()["currency"] == "USD"
    assert auditor.verify()["verified"] >= 1
    assert auditor.status()["mode"] == "writer"


def test_the_chain_checks_on_this_side(auditor, front, env, tokens, new_id):
    receipts = [front.append(complaint(*new_id())) for _ in range(3)]
    chain = auditor.verify_log()
    check_receipts(chain, receipts)
    head = auditor.head()
    verify_head(head, auditor.hello()["signing_key"], chain)
    # The same bytes over the line protocol's REPLAY.
    with LineClient(env["RECOVERYD_LINE_HOST"], int(env["RECOVERYD_LINE_PORT"]), tokens["auditor"]) as line:
        events, final = line.replay(1)
    assert verify_chain(events, expected_hash=final["hash"]).hash.hex() == chain.hash_at(final["last"])
    # A receipt or a head that is not the chain's is caught.
    with pytest.raises(ChainError):
        check_receipts(chain, [Receipt(position=receipts[0].position, hash="0" * 64, duplicate=False)])
    forged = head.__class__(**{**head.__dict__, "hash": "1" * 64})
    with pytest.raises(ChainError):
        verify_head(forged, auditor.hello()["signing_key"])


def test_the_stream_follows_the_log_live(auditor, front, new_id):
    start = auditor.head().position
    stream = auditor.stream(after=start)
    appended = [front.append(complaint(*new_id())) for _ in range(4)]
    got = [next(stream) for _ in appended]
    assert [e.position for e in got] == [r.position for r in appended]
    chain = auditor.verify_log()
    for event, receipt in zip(got, appended):
        assert event.raw is not None and event.payload["position"] == receipt.position
        assert chain.hash_at(event.position) == receipt.hash
    stream.close()


def test_the_line_client(env, tokens, new_id):
    with LineClient(env["RECOVERYD_LINE_HOST"], int(env["RECOVERYD_LINE_PORT"]), tokens["frontline"]) as line:
        assert line.hello_answer["role"] == "frontline"
        event_id, case_id = new_id()
        receipt = line.append(complaint(event_id, case_id))
        assert line.request(f"CASE {case_id}")["last_position"] == receipt.position
        with pytest.raises(RecoverydError) as refused:
            line.request("PEOPLE")
        assert refused.value.code == "forbidden"
