"""The tests run against a real recoveryd started by the Swift test
harness (Tests/RecoveryServerTests/PythonClientEndToEndTests.swift), which
says where it is in the environment. Run them with `swift test` (the README's
command), or by hand against a daemon of your own with these variables set."""
import itertools
import os
import uuid

import pytest

REQUIRED = ["RECOVERYD_HTTP_URL", "RECOVERYD_LINE_HOST", "RECOVERYD_LINE_PORT", "RECOVERYD_TOKEN_FRONTLINE",
            "RECOVERYD_TOKEN_AUDITOR", "RECOVERYD_TOKEN_FINANCE", "RECOVERYD_TOKEN_ADMIN"]


def pytest_configure(config):
    missing = [name for name in REQUIRED if not os.environ.get(name)]
    if missing:
        raise pytest.UsageError(
            "these tests need a running recoveryd with its HTTP API; missing " + ", ".join(missing)
            + " (swift test --filter PythonClientEndToEndTests starts one and sets them)")


@pytest.fixture(scope="session")
def env():
    return {name: os.environ[name] for name in REQUIRED}


@pytest.fixture(scope="session")
def url(env):
    return env["RECOVERYD_HTTP_URL"]


@pytest.fixture(scope="session")
def tokens(env):
    return {role: env[f"RECOVERYD_TOKEN_{role.upper()}"] for role in ("frontline", "auditor", "finance", "admin")}


_counter = itertools.count(1)


@pytest.fixture
def new_id():
    """Fresh event ids and case ids, unique across the session."""
    def make(prefix="K"):
        n = next(_counter)
        return str(uuid.uuid4()), f"{prefix}-py-{n}-{uuid.uuid4().hex[:6]}"
    return make


def complaint(event_id, case_id, agent="A-1", customer="C-py", baseline=6):
    return {"event_id": event_id, "type": "complaint", "agent_id": agent, "case_id": case_id, "customer_id": customer,
            "channel": "phone", "category": "late", "severity": 3, "baseline": baseline}


def compensation(event_id, case_id, amount, agent="A-1"):
    return {"event_id": event_id, "type": "compensation", "agent_id": agent, "case_id": case_id, "amount": amount,
            "currency": "USD", "kind": "refund"}
