"""Calls to the MLflow routes through Flask's test client, with MLflow's encodings: fields in
the query string for GET, a JSON body for POST, PATCH and DELETE."""

from __future__ import annotations

from typing import Any

import pytest

PREFIX = "/api/2.0/mlflow"


class MlflowApi:
    def __init__(self, client: Any, token: str | None) -> None:
        self.client = client
        self.token = token

    def call(
        self, method: str, endpoint: str, expect: int | None = 200, **fields: Any
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        path = endpoint if endpoint.startswith("/") else f"{PREFIX}/{endpoint}"
        if method == "GET":
            response = self.client.get(path, query_string=fields, headers=headers)
        else:
            response = self.client.open(path, method=method, json=fields, headers=headers)
        body = response.get_json()
        assert isinstance(body, dict), response.get_data(as_text=True)
        if expect is not None:
            assert response.status_code == expect, f"{method} {path}: {response.status_code} {body}"
        return body

    def get(self, endpoint: str, expect: int | None = 200, **fields: Any) -> dict[str, Any]:
        return self.call("GET", endpoint, expect, **fields)

    def post(self, endpoint: str, expect: int | None = 200, **fields: Any) -> dict[str, Any]:
        return self.call("POST", endpoint, expect, **fields)

    def patch(self, endpoint: str, expect: int | None = 200, **fields: Any) -> dict[str, Any]:
        return self.call("PATCH", endpoint, expect, **fields)

    def delete(self, endpoint: str, expect: int | None = 200, **fields: Any) -> dict[str, Any]:
        return self.call("DELETE", endpoint, expect, **fields)

    def error(self, method: str, endpoint: str, status: int, **fields: Any) -> str:
        """The MLflow error code of a call that must fail with ``status``."""
        body = self.call(method, endpoint, status, **fields)
        assert set(body) >= {"error_code", "message"}, body
        return body["error_code"]

    # -- shortcuts ------------------------------------------------------------------------

    def model_with_versions(self, name: str, count: int) -> None:
        self.model(name)
        for _ in range(count):
            self.version(name)

    def model(self, name: str, **fields: Any) -> dict[str, Any]:
        return self.post("registered-models/create", name=name, **fields)["registered_model"]

    def version(self, name: str, source: str = "s3://bucket/model", **fields: Any) -> dict:
        body = self.post("model-versions/create", name=name, source=source, **fields)
        return body["model_version"]

    def stage(self, name: str, version: str, stage: str, archive: bool = False) -> dict:
        return self.post(
            "model-versions/transition-stage",
            name=name,
            version=version,
            stage=stage,
            archive_existing_versions=archive,
        )["model_version"]


@pytest.fixture
def mlflow_api(client: Any, tokens: Any) -> MlflowApi:
    """The MLflow routes as an admin (service account "admin")."""
    return MlflowApi(client, tokens("admin", name="admin"))


@pytest.fixture
def mlflow_as(client: Any, tokens: Any) -> Any:
    def make(*roles: str, **kwargs: Any) -> MlflowApi:
        return MlflowApi(client, tokens(*roles, **kwargs))

    return make
