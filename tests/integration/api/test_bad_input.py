"""Bad input gets a clear JSON error with a stable code and a 4xx, never a 500."""

import base64

import pytest

from tests.helpers import error_code


@pytest.fixture
def model(registry):
    registry.create_model("fraud")
    registry.create_version("fraud")
    return "fraud"


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/api/v1/models", {"name": 12}, 422),
        ("/api/v1/models", {"name": "ok", "unknown": 1}, 422),
        ("/api/v1/models", {"name": "ok", "tags": {"k": 1}}, 422),
        ("/api/v1/models", {"name": "ok", "tags": ["k"]}, 422),
        ("/api/v1/models", {}, 422),
        ("/api/v1/models", [], 422),
        ("/api/v1/models", "just a string", 422),
        ("/api/v1/models", {"name": "x" * 100_000}, 400),
        ("/api/v1/models", {"name": "x" * 257}, 400),  # 256 at most
        ("/api/v1/models", {"name": "ok", "tags": {"k" * 251: "v"}}, 400),  # keys: 250
        ("/api/v1/models", {"name": "ok", "tags": {f"k{i}": "v" for i in range(101)}}, 400),
        ("/api/v1/models", {"name": "bad\x00name"}, 400),
        ("/api/v1/models", {"name": "a/b"}, 400),
        ("/api/v1/models", {"name": "ok", "description": "x" * 70_000}, 400),
        ("/api/v1/models", {"name": "ok", "tags": {"bad key!": "v"}}, 400),
        ("/api/v1/models/fraud/versions", {"source": None}, 422),
        ("/api/v1/models/fraud/versions", {"source": "s3://b/k", "tags": {"k": "v" * 6000}}, 400),
        ("/api/v1/models/fraud/versions/1/transitions", {"to_stage": 3}, 422),
        ("/api/v1/models/fraud/versions/1/transitions", {"to_stage": "Prod"}, 400),
        (
            "/api/v1/models/fraud/versions/1/transitions",
            {"to_stage": "Staging", "archive_existing_versions": "maybe"},
            422,
        ),
    ],
)
def test_wrong_bodies(registry, model, path, body, status):
    response = registry.post(path, body, expect=status)
    assert error_code(response) == "INVALID_ARGUMENT"
    assert response.get_json()["message"]
    assert response.get_json()["request_id"] == response.headers["X-Request-ID"]


@pytest.mark.parametrize(
    "raw",
    [b'{"name": ', b'{"name": "\xff\xfe"}', b"\x00\x01", b'{"name": "a"} trailing'],
)
def test_unparseable_bodies(registry, model, raw):
    response = registry.call(
        "POST", "/api/v1/models", 400, data=raw, content_type="application/json"
    )
    assert error_code(response) == "INVALID_ARGUMENT"
    assert response.get_json()["message"] == "The request body is not valid JSON."


def test_an_empty_body_reports_the_missing_fields(registry, model):
    response = registry.call(
        "POST", "/api/v1/models", 422, data=b"", content_type="application/json"
    )
    assert response.get_json()["details"]["fields"] == {
        "name": ["Missing data for required field."]
    }


def test_a_body_that_is_not_json_is_refused(registry, model):
    response = registry.call(
        "POST", "/api/v1/models", data="name=x", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code in (400, 415, 422)
    assert error_code(response) == "INVALID_ARGUMENT"


@pytest.mark.parametrize(
    "query",
    [
        "max_results=abc",
        "max_results=0",
        "max_results=1001",
        "max_results=-5",
        "page_token=%%%",
        "page_token=eyJub3QiOiJ5b3VycyJ9",
        "filter=",
        "bogus=1",
    ],
)
def test_bad_query_strings(registry, model, query):
    response = registry.get(f"/api/v1/models?{query}", expect=None)
    assert response.status_code in (400, 422), response.get_data(as_text=True)
    assert error_code(response) == "INVALID_ARGUMENT"


def test_an_oversized_body_is_413(registry, model):
    response = registry.call(
        "POST",
        "/api/v1/models",
        data=b'{"name":"' + b"x" * 2_000_000 + b'"}',
        content_type="application/json",
    )
    assert response.status_code == 413
    assert error_code(response) == "PAYLOAD_TOO_LARGE"


def test_unknown_route_and_method(registry, model):
    assert error_code(registry.get("/api/v1/nowhere", expect=404)) == "NOT_FOUND"
    response = registry.call("PUT", "/api/v1/models", 405, json={})
    assert error_code(response) == "METHOD_NOT_ALLOWED"
    assert "GET" in response.headers["Allow"]


def test_nothing_is_half_written_after_an_error(registry, model):
    before = registry.model("fraud")
    registry.post(
        "/api/v1/models/fraud/versions",
        {"source": "s3://b/k", "tags": {"ok": "1", "bad key!": "2"}},
        expect=400,
    )
    assert registry.model("fraud") == before
    assert [
        v["version"] for v in registry.get("/api/v1/models/fraud/versions").get_json()["versions"]
    ] == [1]


def test_every_answer_carries_a_request_id_of_ours_whatever_the_caller_sent(registry, model):
    response = registry.get("/api/v1/models/ghost", expect=404, headers={"X-Request-ID": "abc-1"})
    assert response.headers["X-Request-ID"] != "abc-1"
    assert response.get_json()["request_id"] == response.headers["X-Request-ID"]
    odd = registry.get(
        "/api/v1/models/ghost", expect=404, headers={"X-Request-ID": "<script>" + "x" * 100}
    )
    assert "<" not in odd.headers["X-Request-ID"]
    assert odd.get_json()["request_id"] == odd.headers["X-Request-ID"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/models/a%00b",
        "/api/v1/models/a%00b/versions",
        "/api/v1/models/a%00b/versions/1",
        "/api/v1/transition-requests?model=%00",
        "/api/v1/models?tag=k%3Da%00",
        "/api/v1/models?filter=x%01",
        "/api/v1/role-bindings?subject=user:%00",
        "/api/v1/resolve?uri=models:/a%00/1",
    ],
)
def test_control_characters_in_urls_are_refused(registry, model, path):
    response = registry.get(path, expect=400)
    assert error_code(response) == "INVALID_ARGUMENT"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/transition-requests/99999999999999999999"),
        ("POST", "/api/v1/transition-requests/99999999999999999999/approve"),
        ("POST", "/api/v1/transition-requests/99999999999999999999/reject"),
        ("POST", "/api/v1/transition-requests/99999999999999999999/cancel"),
        ("POST", "/api/v1/transition-requests/0/approve"),
        ("DELETE", "/api/v1/tokens/99999999999999999999"),
        ("DELETE", "/api/v1/role-bindings/99999999999999999999"),
    ],
)
def test_ids_no_row_can_have_are_not_found(registry, model, method, path):
    response = registry.call(method, path, 404, json={} if method == "POST" else None)
    assert error_code(response) == "NOT_FOUND"


def test_odd_values_in_bodies_are_4xx(registry, model):
    evaluated = registry.post(
        "/api/v1/policies/evaluate",
        {"name": "a\u0000b", "version": 1, "to_stage": "Staging"},
        expect=404,
    )
    assert error_code(evaluated) == "NOT_FOUND"
    comment = registry.post(
        "/api/v1/models/fraud/versions/1/comments",
        {"text": "x", "request_id": 99999999999999999999},
        expect=422,
    )
    assert error_code(comment) == "INVALID_ARGUMENT"
    too_long = registry.post(
        "/api/v1/policies/evaluate",
        {"name": "x" * 5000, "version": 1, "to_stage": "Staging"},
        expect=404,
    )
    assert error_code(too_long) == "NOT_FOUND"


# Deeper than any body of ours, and (the first) deeper than Python's recursion limit: parsing
# either must refuse the body, never exhaust the stack.
DEEP_BODIES = [
    pytest.param(b"[" * 100_000 + b"]" * 100_000, id="past-the-recursion-limit"),
    pytest.param(b'{"name": ' + b"[" * 5_000 + b"]" * 5_000 + b"}", id="in-a-field"),
    pytest.param(b'{"name": "ok", "tags": ' + b'{"k": ' * 40 + b"1" + b"}" * 41, id="objects"),
]


@pytest.mark.parametrize("raw", DEEP_BODIES)
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/models",
        "/api/v1/models/fraud/versions",
        "/api/v1/models/fraud/versions/1/transitions",
        "/api/v1/policies/evaluate",
        "/api/v1/webhooks",
        "/api/v1/tokens",
    ],
)
@pytest.mark.parametrize("idempotent", [False, True], ids=["plain", "idempotency-key"])
def test_deeply_nested_bodies_are_400_not_500(registry, model, path, raw, idempotent):
    headers = {"Idempotency-Key": "nested-body-1"} if idempotent else {}
    response = registry.call(
        "POST", path, 400, data=raw, content_type="application/json", headers=headers
    )
    assert error_code(response) == "INVALID_ARGUMENT"
    assert "nested" in response.get_json()["message"]


def test_a_deeply_nested_put_or_patch_is_400(registry, model):
    raw = b'{"version": ' + b"[" * 5_000 + b"]" * 5_000 + b"}"
    for method, path in (
        ("PUT", "/api/v1/models/fraud/aliases/champion"),
        ("PATCH", "/api/v1/models/fraud"),
    ):
        response = registry.call(method, path, 400, data=raw, content_type="application/json")
        assert error_code(response) == "INVALID_ARGUMENT"


def test_bodies_as_deep_as_ours_still_parse(registry, model):
    registry.post("/api/v1/models", {"name": "nested-ok", "tags": {"k": "v"}}, expect=201)


def test_a_bearer_token_of_deeply_nested_json_is_401_not_500(client, model):
    """Without an identity provider too: telling a JWT from an API token reads its header."""
    segment = base64.urlsafe_b64encode(b"[" * 3000 + b"]" * 3000).rstrip(b"=").decode()
    response = client.get("/api/v1/models", headers={"Authorization": f"Bearer {segment}.e30.x"})
    assert response.status_code == 401
    assert error_code(response) == "UNAUTHENTICATED"
