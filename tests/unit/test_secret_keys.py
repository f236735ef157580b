"""The once-committed key is recognised and refused; the sealing box opens old keys'
values and seals with the current one."""

from __future__ import annotations

import base64
import hashlib
import importlib
import inspect
import pkgutil
import subprocess

import pytest
from cryptography.fernet import Fernet

from registry import config, schemas
from registry.config import secret_keys
from registry.domain import idempotency
from registry.domain.sealing import SecretBox
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def committed() -> str:
    """The key as it was committed (the repository's history keeps it; the code does not)."""
    shown = subprocess.run(
        ["git", "show", f"{secret_keys.COMMITTED_IN}:modelgate.secret"],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    if shown.returncode != 0:
        pytest.skip("this checkout has no history back to 544de06")
    return shown.stdout


def test_the_committed_key_is_recognised_by_its_hash_alone(committed):
    assert secret_keys.is_committed(committed)
    assert secret_keys.is_committed(committed.strip() + "\n")
    assert not secret_keys.is_committed(committed.strip() + "x")
    assert secret_keys.is_committed_webhook_key(SecretBox.derive(committed.strip()))
    source = inspect.getsource(secret_keys) + inspect.getsource(config)
    assert committed.strip() not in source


def test_a_secret_key_set_to_the_committed_value_is_refused_on_any_database(tmp_path, committed):
    for database in (None, "postgresql://h/db", f"sqlite:///{tmp_path / 'x.db'}"):
        environ = {"MODELGATE_SECRET_KEY": committed}
        if database:
            environ["MODELGATE_DATABASE_URL"] = database
        with pytest.raises(config.ConfigError, match="committed to Modelgate's repository"):
            config.load(environ, workdir=tmp_path)


def test_a_webhook_key_derived_from_the_committed_one_may_open_but_never_seal(tmp_path, committed):
    public = SecretBox.derive(committed.strip())
    fresh = Fernet.generate_key().decode()
    with pytest.raises(config.ConfigError, match="WEBHOOK_ENCRYPTION_KEY is derived"):
        config.load({"MODELGATE_WEBHOOK_ENCRYPTION_KEY": public}, workdir=tmp_path)
    loaded = config.load(
        {"MODELGATE_WEBHOOK_ENCRYPTION_KEY": f"{fresh},{public}"}, workdir=tmp_path
    )
    assert secret_keys.box_keys(loaded)[:2] == [fresh, public]


def test_an_embedded_key_file_holding_the_committed_key_is_being_replaced(tmp_path, committed):
    (tmp_path / "modelgate.secret").write_text(committed)
    (tmp_path / "modelgate.secret").chmod(0o600)
    first = config.load({}, workdir=tmp_path)
    second = config.load({}, workdir=tmp_path)
    assert not secret_keys.is_committed(first["SECRET_KEY"])
    assert first["SECRET_KEY"] == second["SECRET_KEY"]  # every process agrees on the new key
    pending = tmp_path / "modelgate.secret.next"
    assert pending.read_text() == first["SECRET_KEY"]
    assert pending.stat().st_mode & 0o777 == 0o600
    assert first["KEY_FILE_REPLACEMENT"] == (
        str(tmp_path / "modelgate.secret"),
        str(pending),
    )
    assert first["PREVIOUS_SECRET_KEYS"] == (committed.strip(),)
    # What the committed key sealed still opens; new values are sealed with the new key.
    old_box = SecretBox(SecretBox.derive(committed.strip()))
    box = secret_keys.box(first)
    sealed = old_box.seal("whsec_x")
    assert box.open(sealed) == "whsec_x"
    resealed = box.reseal(sealed)
    assert SecretBox(SecretBox.derive(first["SECRET_KEY"])).open(resealed) == "whsec_x"


def test_a_box_opens_with_any_of_its_keys_and_seals_with_the_first():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    sealed = SecretBox(old).seal("s")
    rotating = SecretBox([new, old])
    assert rotating.open(sealed) == "s"
    assert SecretBox(new).open(rotating.reseal(sealed)) == "s"
    with pytest.raises(RuntimeError, match="PREVIOUS_SECRET_KEYS"):
        SecretBox(new).open(sealed)


def test_previous_secret_keys_feed_the_box_only():
    loaded = {"SECRET_KEY": "now", "PREVIOUS_SECRET_KEYS": ("before",)}
    keys = secret_keys.box_keys(loaded)
    assert keys == [SecretBox.derive("now"), SecretBox.derive("before")]
    digest = hashlib.sha256(b"modelgate.webhook-secrets:now").digest()
    assert keys[0] == base64.urlsafe_b64encode(digest).decode()  # the derivation never changes


def test_every_field_shown_once_is_withheld_from_stored_answers():
    shown_once = set()
    for module in pkgutil.iter_modules(schemas.__path__):
        loaded = importlib.import_module(f"{schemas.__name__}.{module.name}")
        for _, cls in inspect.getmembers(loaded, inspect.isclass):
            shown_once.update(getattr(cls, "SHOWN_ONCE", ()))
    assert shown_once
    assert shown_once <= set(idempotency.SECRET_FIELDS)
    body, withheld = idempotency.withhold_secrets('{"id": 1, "token": "mgt_x", "name": "ci"}')
    assert (body, withheld) == ('{"id":1,"name":"ci"}', ["token"])
    assert idempotency.withhold_secrets('{"id": 1}') == ('{"id": 1}', [])
    assert idempotency.withhold_secrets("not json") == ("not json", [])
