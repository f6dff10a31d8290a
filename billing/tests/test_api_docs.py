"""The API documentation: every operation of the published schema described (billing/api/descriptions.py),
with a request and a response example its own schema accepts, and errors it really declares; and a
docs page that asks nothing of other servers. The browser side is tests/test_browser_api_docs.py."""

import json
import re
from copy import deepcopy

import pytest
from django.test import Client
from jsonschema import Draft202012Validator

from billing.api.descriptions import OPERATIONS, PENDING_OPERATIONS, TAGS, Doc, curl_command, describe_operations
from billing.api.errors import RATE_LIMITED_BODY, UNAVAILABLE_BODY

METHODS = ("get", "put", "post", "delete", "patch")


@pytest.fixture(scope="module")
def schema() -> dict:
    # The schema view reads no database.
    response = Client().get("/api/schema", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def operations(schema: dict) -> dict[str, dict]:
    return {
        f"{method.upper()} {path}": operation
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


def path_pattern(path: str) -> re.Pattern:
    """The schema path as a regex of the concrete paths it covers: `{external_id}` is one segment."""
    parts = re.split(r"(\{[^}]+\})", path)
    return re.compile("".join("[^/?#]+" if part.startswith("{") else re.escape(part) for part in parts) + r"(\?.*)?")


def json_schema(openapi_schema: dict, components: dict) -> dict:
    """An OpenAPI 3.0 schema as JSON Schema 2020-12: `nullable` becomes a null alternative and the
    components are reachable from the `$ref`s, so that jsonschema can check an example against it."""

    def convert(node):
        if isinstance(node, list):
            return [convert(item) for item in node]
        if not isinstance(node, dict):
            return node
        node = {key: convert(value) for key, value in node.items() if key != "example"}
        if "$ref" in node:
            node["$ref"] = node["$ref"].replace("#/components/schemas/", "#/$defs/")
        if node.pop("nullable", False):
            return {"anyOf": [node, {"type": "null"}]}
        return node

    return {**convert(openapi_schema), "$defs": convert(components)}


def check_example(value, openapi_schema: dict, components: dict, where: str) -> None:
    validator = Draft202012Validator(json_schema(openapi_schema, components))
    problems = [f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in validator.iter_errors(value)]
    assert not problems, f"{where}: the example does not fit its schema: {problems}"


# Coverage ------------------------------------------------------------------------------------


def test_every_operation_of_the_schema_has_an_entry(schema):
    published = set(operations(schema))
    undocumented = published - set(OPERATIONS)
    assert not undocumented, f"add an entry to billing/api/descriptions.py for: {sorted(undocumented)}"


def test_the_entries_name_operations_of_the_schema_bar_the_analytics_being_added(schema):
    # A removed route must lose its entry; only the analytics endpoints may be described ahead.
    stale = set(OPERATIONS) - set(operations(schema)) - PENDING_OPERATIONS
    assert not stale, f"these entries name no operation of the schema: {sorted(stale)}"
    assert PENDING_OPERATIONS == {
        f"GET /api/v1/analytics/{name}"
        for name in ("gross_revenue", "mrr", "invoiced_usage", "overdue_balance", "invoice_collection")
    }


# Descriptions --------------------------------------------------------------------------------


def test_each_operation_has_its_own_summary_and_description(schema):
    published = operations(schema)
    for key, operation in published.items():
        doc = OPERATIONS[key]
        assert operation["summary"] == doc.summary, key
        assert operation["description"].startswith(doc.description.strip()), key
        assert len(doc.description.strip()) >= 100, f"{key}: say what it does, its rules and errors"
    # No boilerplate: no two operations say the same thing.
    descriptions = [operation["description"] for operation in published.values()]
    summaries = [operation["summary"] for operation in published.values()]
    assert len(set(descriptions)) == len(descriptions)
    assert len(set(summaries)) == len(summaries)
    assert schema["info"]["description"].startswith("Lago's public v1 API")
    # Each section of the docs has its title, in the order of TAGS.
    used = {tag for operation in published.values() for tag in operation["tags"]}
    assert used <= set(TAGS), f"give these tags a title in TAGS: {sorted(used - set(TAGS))}"
    assert [tag["name"] for tag in schema["tags"]] == list(TAGS)


def test_each_documented_error_is_declared_and_each_declared_error_documented(schema):
    for key, operation in operations(schema).items():
        # 400, 401, 429 and 503 are every operation's (the introduction's); the others are its own.
        declared = {int(status) for status in operation["responses"]} - {200, 400, 401, 429, 503}
        documented = {refusal.status for refusal in OPERATIONS[key].errors}
        assert documented == declared, f"{key}: documents {sorted(documented)}, declares {sorted(declared)}"
        for refusal in OPERATIONS[key].errors:
            assert isinstance(refusal.code, dict) == (refusal.status == 422), f"{key}: {refusal}"
        if OPERATIONS[key].errors:
            assert "| Status | Code | When |" in operation["description"], key


# Examples ------------------------------------------------------------------------------------


def test_each_operation_shows_a_curl_request_of_its_own_method_and_path(schema):
    for key, operation in operations(schema).items():
        method, path = key.split(" ", 1)
        doc = OPERATIONS[key]
        assert path_pattern(path).fullmatch(doc.request), f"{key}: the example asks {doc.request}"
        [sample] = operation["x-codeSamples"]
        assert sample["label"] == "curl" and sample["source"] == curl_command(method, doc)
        assert ("-X" in sample["source"]) == (method != "GET"), key
        body = operation.get("requestBody")
        if body is not None and body.get("required"):
            assert doc.body is not None, f"{key} takes a body: show one"
        if doc.body is not None:
            assert body is not None, f"{key} takes no body"
            sent = re.search(r"-d '(.*)'$", sample["source"].replace("'\\''", "'"), re.S).group(1)
            assert json.loads(sent) == doc.body, key


def test_the_request_and_response_examples_fit_their_schemas(schema):
    components = schema["components"]["schemas"]
    for key, operation in operations(schema).items():
        doc = OPERATIONS[key]
        success = operation["responses"]["200"]["content"]
        if "application/json" in success:
            media = success["application/json"]
            assert media["examples"] == {"example": {"value": doc.response}}, key
            check_example(doc.response, media["schema"], components, f"{key} response")
        else:
            # A plain-text answer shows its example in the description.
            assert isinstance(doc.response, str) and doc.response in operation["description"], key
        if doc.body is not None:
            media = operation["requestBody"]["content"]["application/json"]
            assert media["examples"] == {"example": {"value": doc.body}}, key
            check_example(doc.body, media["schema"], components, f"{key} request")


def test_every_error_response_shows_lagos_body(schema):
    components = schema["components"]["schemas"]
    for key, operation in operations(schema).items():
        for status, response in operation["responses"].items():
            if status == "200":
                continue
            media = response["content"]["application/json"]
            assert media.get("examples"), f"{key} {status}: no example"
            for name, example in media["examples"].items():
                assert example["value"]["status"] == int(status), f"{key} {status} {name}"
                check_example(example["value"], media["schema"], components, f"{key} {status} {name}")
        if "401" in operation["responses"]:
            examples = operation["responses"]["401"]["content"]["application/json"]["examples"]
            assert examples["unauthorized"]["value"] == {"status": 401, "error": "Unauthorized"}


def test_every_operation_taking_a_key_shows_the_rate_limit_and_unavailable_answers_as_sent(schema):
    """The 429 and 503 bodies in the docs are the ones billing/api/errors.py sends, on every operation."""
    for key, operation in operations(schema).items():
        responses = operation["responses"]
        assert "401" in responses, f"{key} takes no key"
        shared = (("429", "rate_limited", RATE_LIMITED_BODY), ("503", "unavailable", UNAVAILABLE_BODY))
        for status, name, body in shared:
            examples = responses[status]["content"]["application/json"]["examples"]
            assert examples[name]["value"] == body, f"{key} {status}"


def test_a_422_example_is_lagos_validation_body():
    body = next(
        example["value"]
        for example in _described("PUT /api/v1/customers/{external_id}", "422").values()
        if "value_is_not_editable" in json.dumps(example)
    )
    assert body == {
        "status": 422,
        "error": "Unprocessable Entity",
        "code": "validation_errors",
        "error_details": {"external_id": ["value_is_not_editable"]},
    }
    not_found = _described("PUT /api/v1/customers/{external_id}", "404")["customer_not_found"]["value"]
    assert not_found == {"status": 404, "error": "Not Found", "code": "customer_not_found"}
    missing = _described("PUT /api/v1/customers/{external_id}", "400")["missing_root_key"]["value"]
    message = "BadRequest: param is missing or the value is empty or invalid: customer"
    assert missing == {"status": 400, "error": message}


def _described(key: str, status: str) -> dict:
    """The examples the hook gives one response of a minimal operation described by `key`."""
    method, path = key.split(" ", 1)
    error = {"content": {"application/json": {"schema": {}}}}
    operation = {"responses": {"200": {"content": {"application/json": {"schema": {}}}}, status: deepcopy(error)}}
    operation["requestBody"] = {"content": {"application/json": {"schema": {}}}}
    result = describe_operations({"paths": {path: {method.lower(): operation}}}, None, None, True)
    return result["paths"][path][method.lower()]["responses"][status]["content"]["application/json"]["examples"]


def test_curl_quotes_a_body_holding_an_apostrophe():
    doc = Doc(summary="s", description="d", request="/api/v1/customers", response={}, body={"name": "O'Brien"})
    command = curl_command("POST", doc)
    assert "'O'\\''Brien'" not in command and "O'\\''Brien" in command
    assert command.startswith('curl -X POST "$BILLING_URL/api/v1/customers"')


def test_an_operation_without_an_entry_keeps_its_description_and_is_reported(capsys):
    operation = {"description": "As declared", "responses": {}}
    result = describe_operations({"paths": {"/api/v1/not_described_yet": {"get": operation}}}, None, None, True)
    assert result["paths"]["/api/v1/not_described_yet"]["get"] == {"description": "As declared", "responses": {}}
    assert "GET /api/v1/not_described_yet has no entry" in capsys.readouterr().err


# The page ------------------------------------------------------------------------------------


def test_the_docs_page_loads_everything_from_this_server(client):
    response = client.get("/api/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert not re.search(r"https?://", html), "the page names another server"
    assert "fonts.googleapis" not in html
    [script] = re.findall(r'<script src="([^"]+)"', html)
    assert script == "/static/drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js"
    assert 'Redoc.init("/api/schema"' in html
    assert '"fontFamily": "system-ui' in html  # Redoc's theme: no web font to fetch
    policy = response["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "connect-src 'self'" in policy and "img-src 'self' data:" in policy


def test_the_docs_page_errors_are_still_json(client):
    response = client.post("/api/docs")
    assert response.status_code == 405 and response.json()["code"] == "method_not_allowed"
