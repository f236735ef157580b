"""Helpers for the console's tests: a browser-like session over Flask's test client."""

from __future__ import annotations

import re
from typing import Any

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


class Browser:
    """One person's cookie jar (a test client of its own), signed in with a token."""

    def __init__(self, app: Any, token: str | None = None) -> None:
        self.client = app.test_client()
        if token is not None:
            self.sign_in(token)

    def sign_in(self, token: str, expect: int = 303) -> Any:
        form = self.get("/ui/login").get_data(as_text=True)
        response = self.client.post(
            "/ui/login", data={"token": token, "csrf_token": csrf_token(form)}
        )
        assert response.status_code == expect, response.get_data(as_text=True)
        return response

    def get(self, path: str, expect: int | None = 200, **kwargs: Any) -> Any:
        response = self.client.get(path, **kwargs)
        if expect is not None:
            assert response.status_code == expect, (
                f"GET {path}: {response.status_code} {response.get_data(as_text=True)[:2000]}"
            )
        return response

    def page(self, path: str) -> str:
        return self.get(path).get_data(as_text=True)

    def submit(self, page: str, action: str, expect: int | None = 303, **fields: str) -> Any:
        """POST a form of the page at ``page`` to ``action``, with the page's CSRF token."""
        token = csrf_token(self.page(page))
        response = self.client.post(action, data={"csrf_token": token, **fields})
        if expect is not None:
            assert response.status_code == expect, (
                f"POST {action}: {response.status_code} {response.get_data(as_text=True)[:2000]}"
            )
        return response
