"""The temporary access rule: with MODELGATE_BOOTSTRAP_TOKEN set, writes need it."""

import pytest

from tests.helpers import RegistryClient, error_code


@pytest.fixture
def guarded(app):
    app.config["BOOTSTRAP_TOKEN"] = "s3cret-token"
    yield app
    app.config["BOOTSTRAP_TOKEN"] = None


def test_reads_are_open_and_writes_need_the_token(guarded):
    anonymous = RegistryClient(guarded.test_client())
    admin = RegistryClient(guarded.test_client(), token="s3cret-token")
    response = anonymous.post("/api/v1/models", {"name": "m"}, expect=401)
    assert error_code(response) == "UNAUTHENTICATED"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    admin.create_model("m")
    assert anonymous.model("m")["created_by"] == "service:bootstrap"
    anonymous.get("/api/v1/resolve?uri=models:/m/latest", expect=404)


@pytest.mark.parametrize("header", ["Bearer wrong", "Basic czNjcmV0", "Bearer ", "s3cret-token"])
def test_a_wrong_token_is_refused_even_for_reads(guarded, header):
    client = guarded.test_client()
    response = client.get("/api/v1/models", headers={"Authorization": header})
    assert response.status_code == 401
    assert error_code(response) == "UNAUTHENTICATED"
