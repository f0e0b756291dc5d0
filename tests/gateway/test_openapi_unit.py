"""The OpenAPI document is one a partner can integrate from alone (gateway/openapi.py and the
schemas' descriptions and examples):

- every operation, parameter, schema and field is described, and has an example;
- every operation that needs credentials declares its bearer scheme, and only those: checked
  against the routes themselves (each is called without credentials: 401 exactly where declared);
- every problem response carries a real example of each problem type it names;
- every example validates against its own schema (JSON Schema 2020-12, by jsonschema-rs from
  .venv-schemathesis), and every request body example is accepted by its real route (posted
  through the app with a store and credentials; only the chain is missing);
- enums are declared; the webhooks section documents every event type, and real payloads, built
  by the gateway's own payload builders from stored rows, validate against it.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from gateway import enqueue
from gateway.problem_types import PROBLEMS
from gateway.problems import PROBLEM_JSON
from gateway.ratelimit import RateLimiter, get_client_rate_limiter
from gateway.routes.redemptions import get_enqueue, get_points_view
from gateway.routes.refunds import refund_deadlines
from gateway.schemas_webhooks import EVENT_MODELS
from gateway.services import account, partner_funds
from gateway.services import webhooks as webhook_service
from gateway.services.webhooks import EVENT_TYPES
from gateway.tasks import context
from gateway.tasks import webhooks as tasks
from network.outcomes import purchases_settled
from network.store import OutboxPurchase, PurchaseStatus, WebhookDelivery
from tests.gateway.partners import OPERATOR_TOKEN, PartnerKey
from tests.gateway.purchases import purchase_body
from tests.wallets import sign

ROOT = Path(__file__).resolve().parents[2]
ST_PYTHON = ROOT / ".venv-schemathesis" / "bin" / "python"
METHODS = ("get", "post", "put", "patch", "delete")
NO_CHAIN = "the unit tests have no chain"


class _Points:
    chain_id = 31337
    points_address = "0x5FbDB2315678afecb367f032d93F642f64180aa3"

    def balance_of(self, wallet: str) -> int:
        return 10_000

    def nonce_used(self, wallet: str, nonce: int) -> bool:
        return False

    def balance_and_nonce_used(self, wallet: str, nonce: int) -> tuple[int, bool]:
        return 10_000, False

    def chain_time(self) -> int:
        return int(time.time())


@pytest.fixture
def docs_app(app: FastAPI) -> FastAPI:
    app.dependency_overrides[get_points_view] = lambda: _Points()
    app.dependency_overrides[get_enqueue] = lambda: lambda pk: True
    app.dependency_overrides[refund_deadlines] = lambda: lambda batch_id: 2**40
    # many calls without credentials from one address: the sign-in and operator buckets stay open
    limiter = RateLimiter(rate=1_000, burst=1_000, client=None)
    app.dependency_overrides[get_client_rate_limiter] = lambda: limiter
    return app


@pytest.fixture
def client(docs_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(docs_app) as c:
        yield c


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    from gateway.main import create_app

    return create_app().openapi()


def _operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _fields(where: str, schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every property of ``schema``, and of the objects inline in it, with its path."""
    for name, prop in schema.get("properties", {}).items():
        yield f"{where}.{name}", prop
        for branch in [prop, *prop.get("anyOf", [])]:
            if "properties" in branch:
                yield from _fields(f"{where}.{name}", branch)
            if "properties" in branch.get("items", {}):
                yield from _fields(f"{where}.{name}[]", branch["items"])


# ---------------------------------------------------------------------------------- descriptions


def test_every_operation_has_a_summary_and_a_description(spec):
    missing = [
        f"{m.upper()} {p}" for p, m, op in _operations(spec) if not (op.get("summary") and op.get("description"))
    ]
    assert not missing, f"operations without a description (a docstring): {missing}"


def test_every_parameter_has_a_description_and_an_example(spec):
    missing = [
        f"{m.upper()} {p} {param['in']}.{param['name']}"
        for p, m, op in _operations(spec)
        for param in op.get("parameters", [])
        if not param.get("description")
        or not ("example" in param or "examples" in param or param["schema"].get("examples"))
    ]
    assert not missing, missing


def test_every_schema_and_every_field_has_a_description(spec):
    missing = []
    for name, schema in spec["components"]["schemas"].items():
        if not schema.get("description"):
            missing.append(name)
        missing += [where for where, prop in _fields(name, schema) if not prop.get("description")]
    assert not missing, f"{len(missing)} schemas or fields without a description: {missing}"


def test_no_credential_is_a_free_text_header_parameter(spec):
    for path, method, op in _operations(spec):
        names = [p["name"].lower() for p in op.get("parameters", [])]
        assert "authorization" not in names, f"{method} {path}"
    schemes = spec["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} == {"http"} and {s["scheme"] for s in schemes.values()} == {"bearer"}


# ---------------------------------------------------------------------------------- examples


def test_every_schema_has_an_example_of_every_field(spec):
    problems = []
    for name, schema in spec["components"]["schemas"].items():
        examples = schema.get("examples") or []
        if not examples:
            problems.append(f"{name}: no example")
            continue
        shown = set().union(*(set(e) for e in examples if isinstance(e, dict)))
        problems += [f"{name}.{field}: in no example" for field in schema.get("properties", {}) if field not in shown]
    assert not problems, problems


def test_every_successful_answer_with_a_body_has_an_example(spec):
    """A 2xx body shows an example: its own, or its schema's (a list: its items' schema's)."""
    missing = []
    for path, method, op in _operations(spec):
        for status, response in op["responses"].items():
            for media, content in response.get("content", {}).items():
                if not status.startswith("2") or "example" in content or "examples" in content:
                    continue
                schema = content.get("schema", {})
                schema = _resolve(spec, schema.get("items", schema) if schema.get("type") == "array" else schema)
                if not (schema.get("examples") or "example" in schema):
                    missing.append(f"{method} {path} {status} {media}")
    assert not missing, missing


def _examples(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any], Any]]:
    """(where, schema, example) of every example in the document."""
    found: list[tuple[str, dict[str, Any], Any]] = []
    for name, schema in spec["components"]["schemas"].items():
        found += [(f"schema {name}", {"$ref": f"#/components/schemas/{name}"}, e) for e in schema.get("examples", [])]
    for path, method, op in _operations(spec):
        for param in op.get("parameters", []):
            if "example" in param:
                found.append((f"{method} {path} {param['name']}", param["schema"], param["example"]))
        for status, response in op["responses"].items():
            for media, content in response.get("content", {}).items():
                for key, example in content.get("examples", {}).items():
                    found.append((f"{method} {path} {status} {media} {key}", content["schema"], example["value"]))
    return found


@pytest.mark.skipif(not ST_PYTHON.exists(), reason=f"{ST_PYTHON} is missing: run `make setup`")
def test_every_example_validates_against_its_own_schema(spec, tmp_path):
    examples = _examples(spec)
    assert len(examples) > 150
    checks = [{"where": w, "schema": {**s, "components": spec["components"]}, "example": e} for w, s, e in examples]
    (tmp_path / "checks.json").write_text(json.dumps(checks))
    script = (
        "import json, sys, jsonschema_rs\n"
        "bad = []\n"
        "for c in json.load(open(sys.argv[1])):\n"
        "    v = jsonschema_rs.Draft202012Validator(c['schema'])\n"
        "    bad += [f\"{c['where']}: {e.message} at {list(e.instance_path)}\" for e in v.iter_errors(c['example'])]\n"
        "print(json.dumps(bad))\n"
    )
    done = subprocess.run([str(ST_PYTHON), "-c", script, str(tmp_path / "checks.json")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def _request(spec: dict[str, Any], path: str, op: dict[str, Any]) -> tuple[str, dict[str, Any], Any]:
    """The URL, query and body an operation's examples make."""
    url, query = path, {}
    for param in op.get("parameters", []):
        value = param.get("example", param["schema"].get("examples", [None])[0])
        if param["in"] == "path":
            url = url.replace("{" + param["name"] + "}", str(value))
        elif param["in"] == "query":
            query[param["name"]] = value
    body = None
    if "requestBody" in op:
        content = op["requestBody"]["content"]
        if "application/json" not in content:  # a file (text/csv): its own example
            return url, query, next(iter(content.values()))["example"]
        schema = _resolve(spec, content["application/json"]["schema"])
        body = schema["examples"][0]
    return url, query, body


def _call(client: TestClient, method: str, url: str, query: dict[str, Any], body: Any, headers: dict[str, str]) -> int:
    try:
        if isinstance(body, str):  # a file, as it is
            response = client.request(method, url, params=query, content=body, headers=headers)
        else:
            response = client.request(method, url, params=query, json=body, headers=headers)
    except AssertionError as exc:  # the route used the chain: it accepted the request before that
        assert NO_CHAIN in str(exc), exc
        return 0
    if response.status_code == 422 or response.status_code >= 500:
        assert response.json()["type"] != "/problems/validation-error", f"{method} {url}: {response.text}"
    return response.status_code


def test_every_operation_declares_a_credential_exactly_when_it_needs_one(client, spec):
    """Called without credentials, with its own examples: an operation answers 401 if and only
    if the document says it needs a bearer token."""
    wrong = []
    for path, method, op in _operations(spec):
        url, query, body = _request(spec, path, op)
        status = _call(client, method, url, query, body, {})
        declared = bool(op.get("security"))
        if (status == 401) != declared:
            wrong.append(f"{method.upper()} {path}: answered {status}, security {op.get('security')}")
    assert not wrong, wrong


def _headers_for(op: dict[str, Any], partner: PartnerKey, customer: dict[str, str]) -> dict[str, str]:
    scheme = next(iter(op["security"][0])) if op.get("security") else None
    if scheme == "partnerKey":
        return partner.headers
    if scheme == "operatorToken":
        return {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    if scheme == "customerToken":
        return customer
    return {}


def _signed_in(client: TestClient) -> dict[str, str]:
    """A customer session of a new wallet (POST /v1/auth/challenge, signed, then /v1/auth/session)."""
    account = Account.create()
    message = client.post("/v1/auth/challenge", json={"address": account.address}).json()["message"]
    body = {"message": message, "signature": sign(account, message)}
    return {"Authorization": f"Bearer {client.post('/v1/auth/session', json=body).json()['token']}"}


def test_every_request_example_is_accepted_by_its_route(client, spec, partner):
    """Each operation's examples, with its credentials: past validation (2xx, or a problem of the
    route's own rules such as a 404 for an id this store has not seen), never a 422."""
    answered = {}
    customer = _signed_in(client)
    for path, method, op in _operations(spec):
        if "requestBody" in op:
            url, query, body = _request(spec, path, op)
            answered[f"{method.upper()} {path}"] = status = _call(
                client, method, url, query, body, _headers_for(op, partner, customer)
            )
            # 2xx, or a problem of the route's own rules (_call refused a validation-error), or the chain,
            # or a provider's route refusing the example for the signature an example cannot carry
            signed = status == 403 and "provider-signature-invalid" in json.dumps(op["responses"].get("403", {}))
            assert status < 300 or status in (0, 404, 409, 422) or signed, f"{method} {path}: {status}"
    # the examples a partner starts with do what they say
    assert answered["POST /v1/purchases"] == 202
    assert answered["POST /v1/purchases/batch"] == 200
    assert answered["POST /v1/rewards"] == 201
    assert answered["PATCH /v1/rewards/{sku}"] == 200
    assert answered["POST /v1/customers/{ref}/wallet-challenge"] == 201
    assert answered["POST /v1/auth/challenge"] == 201
    # onboarding, re-rating and funding (partner 1 exists) went on to the chain; nothing else reached it
    assert [k for k, status in answered.items() if status == 0] == [
        "POST /v1/operator/partners",
        "PATCH /v1/operator/partners/{partner_id}",
        "POST /v1/operator/partners/{partner_id}/deposits",
    ]


def test_the_purchase_examples_are_accepted_purchases(client, spec, partner):
    schema = spec["components"]["schemas"]["PurchaseCreate"]
    assert len(schema["examples"]) >= 2  # by wallet, and by the partner's own ref
    for example in schema["examples"]:
        assert ("wallet" in example["customer"]) != ("ref" in example["customer"])
    r = client.post("/v1/purchases", headers=partner.headers, json=schema["examples"][0])
    assert r.status_code == 202, r.text
    batch = spec["components"]["schemas"]["PurchaseBatchCreate"]["examples"][0]
    r = client.post("/v1/purchases/batch", headers=partner.headers, json=batch)
    assert r.status_code == 200 and r.json()["rejected"] == 0, r.text


# ---------------------------------------------------------------------------------- problems


def test_every_problem_response_has_a_real_example_of_each_type_it_names(spec):
    for path, method, op in _operations(spec):
        for status, response in op["responses"].items():
            if not status.startswith(("4", "5")):
                continue
            content = response.get("content", {})
            assert list(content) == [PROBLEM_JSON], f"{method} {path} {status}: {list(content)}"
            examples = content[PROBLEM_JSON]["examples"]
            for slug, example in examples.items():
                value = example["value"]
                assert PROBLEMS[slug] == (value["status"], value["title"]) and value["status"] == int(status)
                assert value["type"] == f"/problems/{slug}" and slug in response["description"]
                assert value["detail"] and value["detail"] != "string"


def test_the_problems_every_route_of_a_kind_can_answer_are_documented(spec):
    """The partner key's rate limit (429) is checked on every partner route, the wrong operator
    tokens' on every operator route, the body cap (413) on
    every request with a body: each such operation lists them."""
    missing = []
    for path, method, op in _operations(spec):
        if op.get("security") in ([{"partnerKey": []}], [{"operatorToken": []}]) and "429" not in op["responses"]:
            missing.append(f"{method.upper()} {path}: 429")
        if "requestBody" in op and "413" not in op["responses"]:
            missing.append(f"{method.upper()} {path}: 413")
    assert not missing, missing


# ---------------------------------------------------------------------------------- enums


def test_fields_with_a_fixed_set_of_values_declare_it(spec):
    closed = {"status", "kind", "outcome", "trigger", "event_type", "event_types", "rounding", "last_error", "type"}
    undeclared = []
    for name, schema in spec["components"]["schemas"].items():
        for where, prop in _fields(name, schema):
            leaves = [prop, prop.get("items", {}), *prop.get("anyOf", []), *prop.get("items", {}).get("anyOf", [])]
            if where.rsplit(".", 1)[1] not in closed or not any(leaf.get("type") == "string" for leaf in leaves):
                continue
            if where.startswith("Problem.errors"):  # kind: pydantic's error types, an open set
                continue
            if not any("enum" in leaf or "const" in leaf or "$ref" in leaf for leaf in leaves):
                undeclared.append(where)
    assert not undeclared, undeclared


# ---------------------------------------------------------------------------------- webhooks


def test_the_webhooks_section_documents_every_event_type(spec):
    assert set(spec["webhooks"]) == set(EVENT_TYPES)
    for event_type, item in spec["webhooks"].items():
        op = item["post"]
        assert op["summary"] and op["description"]
        body = _resolve(spec, op["requestBody"]["content"]["application/json"]["schema"])
        assert body["properties"]["type"]["const"] == event_type
        assert body["examples"][0]["type"] == event_type
        headers = {p["name"] for p in op["parameters"] if p["in"] == "header"}
        assert headers == {"Coalition-Signature", "Coalition-Event-Id", "Coalition-Event-Type"}


def test_real_event_payloads_are_what_the_webhooks_section_says(client, partner, sessions, settings, monkeypatch):
    """Events built by the gateway's own code from what the API stored (a confirmed and a failed
    purchase, a custodial release asked for, a test event asked for, a low headroom found by the
    earn task's check from the partner's money) are bodies the event models accept as they are:
    no field missing, none extra, the values of the declared types."""
    monkeypatch.setattr(context, "settings", lambda: settings)
    monkeypatch.setattr(context, "sessions", lambda: sessions)
    monkeypatch.setattr(enqueue, "deliver_webhook", lambda delivery_id, countdown=None: None)
    hook = {"url": "https://pos.example.com/hooks", "event_types": list(EVENT_TYPES)}
    created = client.post("/v1/webhooks", headers=partner.headers, json=hook)
    assert created.status_code == 201, created.text
    for purchase_id in ("p-1", "p-2"):
        r = client.post("/v1/purchases", headers=partner.headers, json=purchase_body(purchase_id))
        assert r.status_code == 202, r.text
    with sessions() as s:
        s.execute(
            update(OutboxPurchase).where(OutboxPurchase.seq == 1).values(status=PurchaseStatus.MINTED, batch_id=0)
        )
        s.execute(update(OutboxPurchase).where(OutboxPurchase.seq == 2).values(status=PurchaseStatus.FAILED, error="x"))
        assert purchases_settled(s, outbox_ids=list(s.scalars(select(OutboxPurchase.id)))) == 2  # as the sender does
        s.commit()
    tasks.publish()
    assert client.post("/v1/customers/c-1/custodial-wallet", headers=partner.headers).status_code == 201
    r = client.post("/v1/customers/c-1/custodial-wallet/release", headers=partner.headers, json={"password": "a" * 12})
    assert r.status_code == 202, r.text
    tasks.publish()  # the webhook consumer: the release request's event becomes its delivery
    r = client.post(f"/v1/webhooks/{created.json()['id']}/test", headers=partner.headers)
    assert r.status_code == 202, r.text
    money = account.Money(
        funds=10_000_000_000,
        free_funds=800_000_000,
        headroom=800_000_000,  # under 0.1 of min(funds, limit)
        exposure=9_200_000_000,
        pending_credit=0,
        issuance_limit=10**12,
        token_symbol="cUSD",
        token_decimals=6,
    )
    monkeypatch.setattr(account, "read_money", lambda chain, partner_id: money)  # no chain: the money is this
    monkeypatch.setattr(account, "read_headroom", lambda chain, partner_id: (money.headroom, money.bound))
    low = partner_funds.low_headroom(sessions, None, settings.headroom_warning_ratio)  # type: ignore[arg-type]
    with sessions() as s:
        webhook_service.emit(s, partner.id, "partner.headroom_low", low[partner.id])
        s.commit()
    with sessions() as s:
        payloads = [d.payload for d in s.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id))]
    assert [p["type"] for p in payloads] == [
        "purchase.confirmed",
        "purchase.failed",
        "customer.custodial_release_requested",
        "webhook.test",
        "partner.headroom_low",
    ]
    assert payloads[1]["data"]["failure"]["type"] == "/problems/transaction-refused"  # its reason "x": unknown
    for payload in payloads:
        model = EVENT_MODELS[payload["type"]]
        data_model = model.model_fields["data"].annotation
        assert isinstance(data_model, type) and set(payload["data"]) == set(data_model.model_fields)
        assert model.model_validate_json(json.dumps(payload)).model_dump(mode="json") == payload
