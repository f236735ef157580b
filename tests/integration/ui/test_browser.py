"""The console in a real browser: Debian's Chromium, driven by Playwright, against a real
`modelgate serve` on PostgreSQL. Two tech leads sign in with their tokens and approve a
promotion from the inbox; the model page then shows the version in Production and the
audit log shows the event.

Screenshots of the main pages are kept in build/screenshots/ (the README's picture of the
inbox is build/screenshots/inbox.png, copied to docs/console-inbox.png).

Playwright's own browser download is never used: CI installs Debian's chromium (.ci/run)
and a missing /usr/bin/chromium fails the run there, as a missing database does.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import DEFAULT_POLICIES, ROOT, require_service
from tests.helpers import MODELGATE, clean_env, free_port, served

CHROMIUM = "/usr/bin/chromium"
# Headless, and nothing that reaches out: this machine's network is closed, and Chromium's
# background services would retry their connections throughout the test.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = ROOT / "build" / "screenshots"
SECRET = "browser-test-secret-key"
WEBHOOK = "https://hooks.example.com/deploys"

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    require_service(
        CHROMIUM if os.path.exists(CHROMIUM) else None,
        "Debian's Chromium (apt-get install -y chromium)",
        CHROMIUM,
    )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def server(scratch_postgres_url: str, tmp_path: Path) -> Iterator[dict[str, Any]]:
    env = clean_env(
        MODELGATE_DATABASE_URL=scratch_postgres_url,
        MODELGATE_SECRET_KEY=SECRET,
        MODELGATE_POLICY_PATH=DEFAULT_POLICIES,
    )

    def token(name: str, role: str) -> str:
        # Each token for a person of its own: four eyes count owners.
        made = subprocess.run(
            [MODELGATE, "token", "create", "--name", name, "--role", role]
            + ["--owner", f"user:{name}"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=True,
        )
        return made.stdout.strip()

    tokens = {
        "admin": token("release-bot", "admin"),
        "alice": token("lead-alice", "approver"),
        "bob": token("lead-bob", "approver"),
        "auditor": token("audit-team", "auditor"),
    }
    with served(free_port(), env, tmp_path, tmp_path / "server.log", "--workers", "1") as base:
        yield {"base": base, "tokens": tokens}


def api(server: dict[str, Any], method: str, path: str, body: Any = None) -> Any:
    request = urllib.request.Request(  # noqa: S310 - our own server on loopback
        server["base"] + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={
            "Authorization": f"Bearer {server['tokens']['admin']}",
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.loads(response.read() or b"null")


def pending_promotion(server: dict[str, Any]) -> int:
    api(server, "POST", "/api/v1/models", {"name": "fraud", "description": "Card fraud scoring"})
    api(server, "POST", "/api/v1/models", {"name": "churn", "description": "Churn propensity"})
    for _ in range(2):
        api(
            server,
            "POST",
            "/api/v1/models/fraud/versions",
            {"source": "s3://models/fraud/v", "tags": {"auc": "0.93", "owner": "risk"}},
        )
    api(server, "POST", "/api/v1/models/fraud/versions/1/transitions", {"to_stage": "Staging"})
    api(server, "PUT", "/api/v1/models/fraud/aliases/dev-candidate", {"version": 1})
    request = api(
        server,
        "POST",
        "/api/v1/models/fraud/versions/1/transitions",
        {"to_stage": "Production", "comment": "AUC 0.93 on the holdout; shadowed for a week"},
    )
    assert request["state"] == "pending"
    return request["id"]


class Console:
    """One person's browser window, with a check that no page reports an error (a CSP
    violation, a script that failed)."""

    def __init__(self, chromium: Any, base: str, width: int = 1280, height: int = 800) -> None:
        self.context = chromium.new_context(viewport={"width": width, "height": height})
        self.page = self.context.new_page()
        self.base = base
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def sign_in(self, token: str) -> None:
        self.page.goto(f"{self.base}/ui/inbox")  # a stranger is sent to sign in, then back
        self.page.get_by_label("API token").fill(token)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_url("**/ui/inbox")

    def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()
        assert self.errors == []


def test_two_leads_approve_a_promotion_in_the_browser(chromium, server):
    # Its deliveries cannot arrive (the machine's network is closed): the page shows that.
    api(server, "POST", "/api/v1/webhooks", {"url": WEBHOOK, "events": ["model_version.*"]})
    request_id = pending_promotion(server)
    tokens = server["tokens"]

    alice = Console(chromium, server["base"])
    alice.page.goto(f"{server['base']}/ui/login")
    alice.shot("login")
    alice.sign_in(tokens["alice"])
    card = alice.page.locator(f"#request-{request_id}")
    assert "AUC 0.93 on the holdout" in card.inner_text()
    assert "0 of 2 approval(s)" in card.inner_text()
    alice.shot("inbox")
    card.get_by_label("Comment").fill("Checked the evaluation report")
    card.get_by_role("button", name="Approve").click()
    alice.page.wait_for_url("**/ui/inbox")
    assert "Approved (1 of 2)" in alice.page.get_by_role("status").first.inner_text()
    alice.close()

    bob = Console(chromium, server["base"])
    bob.sign_in(tokens["bob"])
    bob.page.get_by_role("link", name=f"Request {request_id}").click()
    bob.page.wait_for_url(f"**/ui/requests/{request_id}")
    assert "1 of 2 approval(s)" in bob.page.inner_text("main")
    bob.shot("request")
    bob.page.get_by_role("button", name="Approve").click()
    bob.page.wait_for_url(f"**/ui/requests/{request_id}")
    assert "is now in Production" in bob.page.get_by_role("status").first.inner_text()

    bob.page.get_by_role("link", name="fraud").first.click()
    bob.page.wait_for_url("**/ui/models/fraud")
    serving = bob.page.locator("section[aria-labelledby=serving]").inner_text()
    assert "Version 1 since" in serving
    assert "approved by service:lead-alice, service:lead-bob" in serving
    assert bob.page.locator("#version-1").get_by_text("Production").count() == 1
    bob.shot("model")

    bob.page.get_by_role("navigation").get_by_role("link", name="Models").click()
    bob.page.get_by_label("Search by name").fill("chu")  # htmx, under the CSP
    expect(bob.page.locator("#models")).not_to_contain_text("fraud")
    expect(bob.page.locator("#models")).to_contain_text("churn")
    bob.page.get_by_label("Search by name").fill("")
    expect(bob.page.locator("#models")).to_contain_text("fraud")
    bob.shot("models")
    bob.close()

    auditor = Console(chromium, server["base"])
    auditor.sign_in(tokens["auditor"])
    auditor.page.get_by_role("navigation").get_by_role("link", name="Audit log").click()
    auditor.page.get_by_label("Event").fill("transition_request.*")
    auditor.page.get_by_role("button", name="Filter").click()
    auditor.page.wait_for_url("**/ui/audit?**")
    log = auditor.page.locator("table.audit").inner_text()
    assert "transition_request.applied" in log
    assert "service:lead-bob" in log
    auditor.shot("audit")
    with auditor.page.expect_download() as download:
        auditor.page.get_by_role("link", name="CSV").click()
    assert "transition_request.applied" in Path(download.value.path()).read_text()
    auditor.close()

    admin = Console(chromium, server["base"])
    admin.sign_in(tokens["admin"])
    admin.page.get_by_role("navigation").get_by_role("link", name="Webhooks").click()
    admin.page.get_by_role("link", name=WEBHOOK).click()
    assert "Recent deliveries" in admin.page.inner_text("main")
    admin.shot("webhook")
    admin.close()


def test_the_inbox_works_by_keyboard_and_on_a_phone(chromium, server):
    pending_promotion(server)
    phone = Console(chromium, server["base"], width=390, height=844)
    phone.sign_in(server["tokens"]["alice"])
    phone.page.keyboard.press("Tab")
    assert phone.page.evaluate("document.activeElement.textContent") == "Skip to content"
    phone.page.keyboard.press("Enter")
    assert phone.page.evaluate("document.activeElement.id") == "main"
    # Nothing wider than the screen but the tables, which scroll inside their own box.
    assert phone.page.evaluate("document.documentElement.scrollWidth") <= 390
    phone.shot("inbox-phone")
    phone.close()
