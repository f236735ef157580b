"""The web console through Flask's test client: sign-in, every page, permissions, CSRF."""

from __future__ import annotations

import shutil
from typing import Any

import pytest

from registry.domain import identity
from registry.domain.principal import system
from registry.extensions import db
from tests.conftest import DEFAULT_POLICIES, make_app
from tests.helpers import RegistryClient
from tests.integration.ui.console import Browser, csrf_token

PAGES = ["/ui/", "/ui/inbox", "/ui/models", "/ui/models/fraud", "/ui/requests/1", "/ui/audit"]


@pytest.fixture
def governed(app: Any, use_policies: Any, registry: RegistryClient) -> dict[str, Any]:
    """The default policies, model fraud with version 1 in Staging and a pending request to
    promote it to Production (two approvers needed, not the requester)."""
    use_policies(DEFAULT_POLICIES)
    registry.create_model("fraud", description="Card fraud scoring", tags={"team": "risk"})
    registry.create_version("fraud", tags={"auc": "0.93"})
    registry.transition("fraud", 1, "Staging")
    request = registry.transition("fraud", 1, "Production", comment="AUC 0.93 on the holdout")
    assert request["state"] == "pending"
    return request


def test_the_sign_in_page_takes_an_api_token_and_sets_a_safe_cookie(app, tokens):
    browser = Browser(app)
    page = browser.page("/ui/login")
    assert 'label for="token"' in page
    response = browser.sign_in(tokens("approver", name="lead-alice"))
    assert response.headers["Location"].endswith("/ui/inbox")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Path=/ui" in cookie
    assert "mgt_" not in cookie  # the token travels encrypted
    assert "service:lead-alice" in browser.page("/ui/inbox")


def test_a_bad_token_is_refused_with_the_reason(app):
    browser = Browser(app)
    response = browser.sign_in("mgt_" + "x" * 43, expect=401)
    assert "not known to this registry" in response.get_data(as_text=True)
    browser.get("/ui/inbox", expect=303)


@pytest.mark.parametrize("path", PAGES)
def test_every_page_sends_a_stranger_to_sign_in_and_back(app, path):
    response = Browser(app).get(path, expect=303)
    location = response.headers["Location"]
    assert "/ui/login?next=" in location


def test_after_sign_in_the_browser_returns_where_it_was_going(app, tokens):
    browser = Browser(app)
    form = browser.page("/ui/login?next=/ui/models")
    response = browser.client.post(
        "/ui/login",
        data={
            "token": tokens("viewer"),
            "next": "/ui/models",
            "csrf_token": csrf_token(form),
        },
    )
    assert response.headers["Location"] == "/ui/models"


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil"])
def test_sign_in_never_redirects_off_site(app, tokens, target):
    browser = Browser(app)
    form = browser.page("/ui/login")
    response = browser.client.post(
        "/ui/login",
        data={"token": tokens("viewer"), "next": target, "csrf_token": csrf_token(form)},
    )
    assert response.headers["Location"] == "/ui/inbox"


def test_a_form_without_its_csrf_token_is_refused(app, tokens, governed):
    browser = Browser(app)
    assert browser.client.post("/ui/login", data={"token": tokens("admin")}).status_code == 400
    browser.sign_in(tokens("approver"))
    response = browser.client.post(
        f"/ui/requests/{governed['id']}/approve", data={"comment": "forged"}
    )
    assert response.status_code == 400
    assert "security token" in response.get_data(as_text=True)
    assert browser.page(f"/ui/requests/{governed['id']}").count("approve") >= 1


def test_the_json_api_needs_no_csrf_token(registry):
    registry.create_model("no-csrf-needed")  # a bearer-token POST, no cookie, no form token


def test_sign_out_ends_the_session(app, tokens):
    browser = Browser(app, tokens("viewer"))
    browser.submit("/ui/inbox", "/ui/logout")
    browser.get("/ui/inbox", expect=303)


def test_a_revoked_token_stops_working_at_the_next_page(app, registry):
    made = registry.post(
        "/api/v1/tokens", {"name": "lead-carol", "roles": ["approver"]}, expect=201
    ).get_json()
    browser = Browser(app, made["token"])
    browser.page("/ui/inbox")
    registry.delete(f"/api/v1/tokens/{made['id']}", expect=204)
    response = browser.get("/ui/inbox", expect=303)
    assert "/ui/login" in response.headers["Location"]
    assert "was revoked" in browser.page("/ui/login")


def test_console_pages_carry_security_headers(app, tokens):
    browser = Browser(app, tokens("viewer"))
    for path in ("/ui/inbox", "/ui/login"):
        headers = browser.get(path).headers
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"
        assert headers["Cache-Control"] == "no-store"


def test_pages_have_no_inline_script_or_style(app, tokens, governed):
    browser = Browser(app, tokens("admin"))
    for path in ["/ui/inbox", "/ui/models", "/ui/models/fraud", "/ui/audit", "/ui/login"]:
        page = browser.page(path)
        assert "<script>" not in page
        assert "<style" not in page
        assert " style=" not in page
        assert " onclick=" not in page


def test_the_inbox_shows_the_request_its_checks_and_the_buttons(app, tokens, governed):
    browser = Browser(app, tokens("approver", name="lead-alice"))
    page = browser.page("/ui/inbox")
    assert "Awaiting your decision" in page
    assert f"Request {governed['id']}" in page
    assert "AUC 0.93 on the holdout" in page
    assert "0 of 2 approval(s) from: approver (not the requester)" in page
    assert "Production holds one version (the incumbent is archived)" in page
    assert ">Approve</button>" in page
    assert ">Reject</button>" in page


def test_two_approvers_promote_a_version_from_the_console(app, tokens, governed, registry):
    request_id = governed["id"]
    alice = Browser(app, tokens("approver", name="lead-alice"))
    response = alice.submit(
        "/ui/inbox",
        f"/ui/requests/{request_id}/approve",
        comment="checked the evaluation",
        back="inbox",
    )
    assert response.headers["Location"].endswith("/ui/inbox")
    inbox = alice.page("/ui/inbox")
    assert "Approved (1 of 2)" in inbox
    assert "You approved it" in inbox  # it moved to the other section for her

    bob = Browser(app, tokens("approver", name="lead-bob"))
    bob.submit(f"/ui/requests/{request_id}", f"/ui/requests/{request_id}/approve")
    page = bob.page(f"/ui/requests/{request_id}")
    assert "is now in Production" in page
    assert "Applied" in page
    assert registry.version("fraud", 1)["stage"] == "Production"

    model = bob.page("/ui/models/fraud")
    assert "Version 1 since" in model
    assert "approved by service:lead-alice, service:lead-bob" in model
    assert "requested by service:admin" in model

    audit = Browser(app, tokens("auditor")).page("/ui/audit?event=transition_request.applied")
    assert "transition_request.applied" in audit
    assert "fraud" in audit


def test_a_viewer_sees_no_approve_button_and_cannot_approve(app, tokens, governed, registry):
    viewer = Browser(app, tokens("viewer"))
    inbox = viewer.page("/ui/inbox")
    assert "Nothing awaits your approval" in inbox
    assert "Not an eligible approver" in inbox
    assert ">Approve</button>" not in inbox
    page = viewer.page(f"/ui/requests/{governed['id']}")
    assert ">Approve</button>" not in page
    response = viewer.submit(
        "/ui/inbox", f"/ui/requests/{governed['id']}/approve", expect=403, comment="sneaky"
    )
    assert "may not approve" in response.get_data(as_text=True)
    assert (
        registry.get(f"/api/v1/transition-requests/{governed['id']}").get_json()["state"]
        == "pending"
    )


def test_the_requester_cannot_approve_their_own_promotion(app, registry, governed):
    admin = Browser(app, registry.token)
    assert ">Approve</button>" not in admin.page(f"/ui/requests/{governed['id']}")
    response = admin.submit("/ui/inbox", f"/ui/requests/{governed['id']}/approve", expect=403)
    assert "may not approve" in response.get_data(as_text=True)


def test_a_token_of_the_requesters_owner_cannot_approve_from_the_console(
    app, tokens, governed, registry
):
    """The admin filed the request; an approver token of the same person is the admin."""
    sock = Browser(app, tokens("approver", name="sock-1", owner="user:admin"))
    inbox = sock.page("/ui/inbox")
    assert "Nothing awaits your approval" in inbox
    assert "Your own request" in inbox
    response = sock.submit("/ui/inbox", f"/ui/requests/{governed['id']}/approve", expect=422)
    assert "nobody approves their own request" in response.get_data(as_text=True)
    page = sock.page(f"/ui/requests/{governed['id']}")
    assert 'service:admin <span class="person">(user:admin)</span>' in page
    assert (
        registry.get(f"/api/v1/transition-requests/{governed['id']}").get_json()["approvals"] == []
    )


def test_a_second_token_of_an_approver_counts_once_in_the_console(app, tokens, governed):
    first = Browser(app, tokens("approver", name="mal-1", owner="user:mal"))
    first.submit("/ui/inbox", f"/ui/requests/{governed['id']}/approve")
    second = Browser(app, tokens("approver", name="mal-2", owner="user:mal"))
    assert "You approved it" in second.page("/ui/inbox")
    checks = second.page(f"/ui/requests/{governed['id']}")
    assert "1 of 2 approval(s)" in checks
    response = second.submit("/ui/inbox", f"/ui/requests/{governed['id']}/approve", expect=422)
    assert "each approval must come from a different person" in response.get_data(as_text=True)


def test_a_decision_on_a_closed_request_is_a_conflict_shown_on_the_page(app, tokens, governed):
    alice = Browser(app, tokens("approver"))
    alice.submit("/ui/inbox", f"/ui/requests/{governed['id']}/reject", comment="not yet")
    response = alice.submit("/ui/inbox", f"/ui/requests/{governed['id']}/reject", expect=409)
    assert "no longer pending" in response.get_data(as_text=True)
    assert "Rejected" in alice.page(f"/ui/requests/{governed['id']}")


def test_a_contributor_requests_a_move_from_the_model_page(app, tokens, registry, use_policies):
    use_policies(DEFAULT_POLICIES)
    registry.create_model("churn")
    registry.create_version("churn")
    contributor = Browser(app, tokens("contributor"))
    response = contributor.submit(
        "/ui/models/churn",
        "/ui/models/churn/versions/1/transitions",
        to_stage="Staging",
        comment="ready for a look",
    )
    assert "/ui/requests/" in response.headers["Location"]
    refused = contributor.submit(
        "/ui/models/churn", "/ui/models/churn/versions/1/transitions", to_stage="Nowhere"
    )
    assert refused.headers["Location"].endswith("/ui/models/churn")
    assert "Nowhere" in contributor.page("/ui/models/churn")  # the reason, flashed


def test_the_models_list_shows_serving_versions_and_pending_counts(app, tokens, governed):
    browser = Browser(app, tokens("viewer"))
    page = browser.page("/ui/models")
    assert 'href="/ui/models/fraud"' in page
    assert "version 1" in page  # in Staging
    assert 'class="count pending">1<' in page
    assert "fraud" not in browser.page("/ui/models?q=zzz").split("<main")[1]
    partial = browser.get("/ui/models?q=fra", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert partial.lstrip().startswith('<div id="models"')
    assert "fraud" in partial


def test_the_model_page_lists_versions_aliases_tags_and_timeline(app, tokens, governed, registry):
    registry.put("/api/v1/models/fraud/aliases/dev-champion", {"version": 1})
    page = Browser(app, tokens("viewer")).page("/ui/models/fraud")
    assert "@dev-champion" in page
    assert "team" in page
    assert "auc=0.93" in page
    assert "Stage changes" in page
    assert f"request {governed['id']}" in page


def test_a_model_the_caller_may_not_see_is_not_found(app, tokens, governed):
    browser = Browser(app, tokens("viewer", model_pattern="other-*"))
    assert browser.get("/ui/models/fraud", expect=404).status_code == 404
    assert browser.get(f"/ui/requests/{governed['id']}", expect=404)
    assert browser.get("/ui/requests/999999", expect=404)


def test_the_audit_log_filters_pages_and_exports(app, tokens, governed):
    auditor = Browser(app, tokens("auditor"))
    page = auditor.page("/ui/audit?model=fraud&event=transition_request.*")
    assert "<code>transition_request.created</code>" in page
    assert "<code>model.created</code>" not in page
    export = auditor.get("/ui/audit/export.csv?model=fraud&event=transition_request.*")
    assert export.mimetype == "text/csv"
    body = export.get_data(as_text=True)
    assert body.startswith("seq,")
    assert "transition_request.created" in body
    assert "model.created" not in body
    ndjson = auditor.get("/ui/audit/export.ndjson?model=fraud")
    assert ndjson.mimetype == "application/x-ndjson"
    assert 'href="/ui/audit/export.csv?model=fraud' in page


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("since=yesterday", "since must be a date"),
        ("version=abc", "version must be a whole number"),
        ("since=2026-03-02T00:00&until=2026-03-01T00:00", "until must not be before since"),
        ("page=forged", "page_token"),
    ],
)
def test_bad_audit_filters_are_a_clear_400(app, tokens, query, message):
    response = Browser(app, tokens("auditor")).get(f"/ui/audit?{query}", expect=400)
    assert message in response.get_data(as_text=True)


def test_only_auditors_and_admins_see_the_audit_log(app, tokens):
    approver = Browser(app, tokens("approver"))
    assert "Audit log" not in approver.page("/ui/inbox")
    approver.get("/ui/audit", expect=403)
    approver.get("/ui/audit/export.csv", expect=403)
    assert "Audit log" in Browser(app, tokens("auditor")).page("/ui/inbox")


def test_an_unknown_console_page_is_an_html_404(app, tokens):
    response = Browser(app, tokens("viewer")).get("/ui/nothing-here", expect=404)
    assert response.mimetype == "text/html"


def test_the_cookie_is_marked_secure_when_configured(sqlite_template, tmp_path):
    path = tmp_path / "registry.db"
    shutil.copy(sqlite_template, path)
    app = make_app(f"sqlite:///{path}", CONSOLE_SECURE_COOKIES=True)
    with app.app_context():
        token = identity.create_token(db.session, system(), name="lead", roles=["viewer"]).token
        db.session.commit()
    response = Browser(app).sign_in(token)
    assert "; Secure" in response.headers["Set-Cookie"]
    with app.app_context():
        db.engine.dispose()


def test_error_pages_keep_the_navigation_for_a_signed_in_person(app, tokens):
    page = Browser(app, tokens("viewer")).get("/ui/models/nothing", expect=404)
    assert 'aria-label="Main"' in page.get_data(as_text=True)


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/ui/models/" + "x" * 5000, 404),
        ("/ui/models/%00", 400),
        ("/ui/models?page=forged", 400),
        ("/ui/models?q=" + "%25" * 50, 200),
        ("/ui/audit?version=99999999999999999999999", 400),
        ("/ui/audit?version=-1", 400),
        ("/ui/audit?since=2026-13-01", 400),
        ("/ui/audit?event=" + "e" * 100, 400),
        ("/ui/requests/99999999999999999999999", 404),
        ("/ui/audit/export.xml", 404),
    ],
)
def test_bad_input_gets_a_clear_page_never_a_500(app, tokens, path, status):
    response = Browser(app, tokens("admin")).get(path, expect=status)
    assert response.mimetype == "text/html"


def test_a_request_for_a_missing_model_is_not_found(app, tokens):
    browser = Browser(app, tokens("admin"))
    browser.submit("/ui/inbox", "/ui/models/ghost/versions/1/transitions", 404, to_stage="Staging")


def test_approvers_discuss_a_request_on_its_page(app, tokens, governed):
    alice = Browser(app, tokens("approver", name="lead-alice"))
    page = f"/ui/requests/{governed['id']}"
    alice.submit(page, f"{page}/comments", text="Can we see the drift report first?")
    shown = alice.page(page)
    assert "Can we see the drift report first?" in shown
    assert "service:lead-alice" in shown
    alice.submit(page, f"{page}/comments", expect=400, text="   ")
    viewer = Browser(app, tokens("viewer"))
    assert 'name="text"' not in viewer.page(page)  # viewers read, and may not comment
    viewer.submit(page, f"{page}/comments", expect=403, text="me too")


def test_a_request_page_shows_the_digest_the_approvers_approve(app, tokens, registry, use_policies):
    use_policies(DEFAULT_POLICIES)
    registry.create_model("fraud")
    digest = "sha256:" + "ab" * 32
    registry.create_version("fraud", "s3://models/fraud/1", digest=digest)
    registry.create_version("fraud", "s3://models/fraud/2")
    with_digest = registry.transition("fraud", 1, "Staging")
    without = registry.transition("fraud", 2, "Staging")
    alice = Browser(app, tokens("approver"))
    assert f"<code>{digest}</code>" in alice.page(f"/ui/requests/{with_digest['id']}")
    assert "none recorded" in alice.page(f"/ui/requests/{without['id']}")
