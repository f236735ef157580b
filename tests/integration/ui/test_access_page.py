"""The console's Access page: tokens and role bindings, and a second admin's approval."""

from __future__ import annotations

from tests.conftest import DEFAULT_POLICIES
from tests.integration.ui.console import Browser


def test_a_second_admin_approves_a_pending_token_from_the_console(
    app, registry, tokens, use_policies
):
    use_policies(DEFAULT_POLICIES)
    pending = registry.post(
        "/api/v1/tokens", {"name": "lead-carol", "roles": ["approver"]}, expect=201
    ).get_json()
    binding = registry.post(
        "/api/v1/role-bindings", {"subject": "user:dan", "role": "admin"}, expect=201
    ).get_json()
    # The admin who minted it sees it waiting, and may not approve it.
    minter = Browser(app, registry.token)
    page = minter.page("/ui/access")
    assert "Awaiting a second admin" in page
    assert f"Token {pending['id']}: service:lead-carol" in page
    assert f"Binding {binding['id']}: user:dan as admin" in page
    refused = minter.submit("/ui/access", f"/ui/tokens/{pending['id']}/approve", expect=422)
    assert "second admin" in refused.get_data(as_text=True)

    other = Browser(app, tokens("admin", name="root"))
    other.submit("/ui/access", f"/ui/tokens/{pending['id']}/approve")
    other.submit("/ui/access", f"/ui/role-bindings/{binding['id']}/approve")
    page = other.page("/ui/access")
    assert "Nothing awaits approval" in page
    assert registry.get("/api/v1/tokens?state=pending").get_json()["tokens"] == []
    me = Browser(app, pending["token"])  # the token now signs in
    assert "Signed in as service:lead-carol (user:admin)" in me.page("/ui/inbox")


def test_only_admins_see_the_access_page(app, tokens):
    approver = Browser(app, tokens("approver"))
    assert ">Access</a>" not in approver.page("/ui/inbox")
    approver.get("/ui/access", expect=403)
    approver.submit("/ui/inbox", "/ui/tokens/1/approve", expect=403)
