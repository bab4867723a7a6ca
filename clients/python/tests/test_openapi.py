"""docs/openapi.yaml is a valid OpenAPI 3.1 document, and the daemon's real
answers match the schemas it gives."""
import json
import pathlib
import urllib.request

import pytest
import yaml
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate

from conftest import complaint

SPEC_PATH = pathlib.Path(__file__).resolve().parents[3] / "docs" / "openapi.yaml"


@pytest.fixture(scope="module")
def spec():
    return yaml.safe_load(SPEC_PATH.read_text())


def test_the_document_is_valid_openapi_3_1(spec):
    assert spec["openapi"].startswith("3.1")
    validate(spec)  # raises on any error


def schema_of(spec, path, method, status="200", content="application/json"):
    operation = spec["paths"][path][method]
    response = operation["responses"][status]
    if "$ref" in response:
        response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    schema = response["content"][content]["schema"]
    # Resolve "#/components/..." against the whole document.
    return {**schema, "components": spec["components"]}


def call(url, token, method, path, body=None):
    request = urllib.request.Request(url + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, response.headers.get("Content-Type"), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type"), json.loads(error.read())


def test_every_answer_matches_its_schema(spec, url, tokens, new_id):
    event_id, case_id = new_id()
    comp_id, _ = new_id()
    status, _, receipt = call(url, tokens["frontline"], "POST", "/v1/events", complaint(event_id, case_id))
    assert status == 200, receipt
    OAS31Validator(schema_of(spec, "/v1/events", "post")).validate(receipt)
    requests = [
        ("frontline", "post", "/v1/events", "/v1/events", [{"event_id": comp_id, "type": "compensation", "agent_id": "A-1",
                                                              "case_id": case_id, "amount": 500, "currency": "USD", "kind": "gift"},
                                                             {"event_id": comp_id}]),
        ("frontline", "get", "/v1/hello", "/v1/hello", None),
        ("frontline", "get", "/v1/cases/{case_id}", f"/v1/cases/{case_id}", None),
        ("auditor", "get", "/v1/cases/{case_id}", f"/v1/cases/{case_id}?at={receipt['position']}", None),
        ("frontline", "get", "/v1/cases", "/v1/cases?limit=2", None),
        ("frontline", "get", "/v1/due", "/v1/due", None),
        ("finance", "get", "/v1/people", "/v1/people", None),
        ("frontline", "get", "/v1/budgets/{agent_id}", "/v1/budgets/A-1", None),
        ("finance", "get", "/v1/budgets", "/v1/budgets", None),
        ("auditor", "get", "/v1/outcomes", "/v1/outcomes?by=agent", None),
        ("finance", "get", "/v1/outcomes", "/v1/outcomes?by=day&at=2", None),
        ("finance", "get", "/v1/spending", "/v1/spending?from=2026-01-01&to=2026-12-31&by=person,day", None),
        ("frontline", "get", "/v1/settings", "/v1/settings", None),
        ("frontline", "get", "/v1/head", "/v1/head", None),
        ("auditor", "get", "/v1/verify", "/v1/verify", None),
        ("admin", "get", "/v1/status", "/v1/status", None),
        ("auditor", "get", "/v1/events", "/v1/events?after=0&limit=3", None),
    ]
    for role, method, template, path, body in requests:
        status, content_type, answer = call(url, tokens[role], method.upper(), path, body)
        assert status == 200, (path, answer)
        assert content_type.startswith("application/json"), (path, content_type)
        OAS31Validator(schema_of(spec, template, method)).validate(answer)
    # Problems, too.
    for role, path in [("frontline", "/v1/people"), ("frontline", "/v1/cases/NO-SUCH-CASE"), ("auditor", "/v1/budgets/A-1?day=x")]:
        status, content_type, answer = call(url, tokens[role], "GET", path)
        assert status >= 400 and content_type.startswith("application/problem+json"), (path, status, content_type)
        OAS31Validator(schema_of(spec, "/v1/head", "get", "default", "application/problem+json")).validate(answer)
