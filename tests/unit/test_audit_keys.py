"""The audit checkpoint key: where it comes from, what is refused, and how keys are named."""

from __future__ import annotations

import json
import logging

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from joserfc.jwk import OKPKey

from registry import config
from registry.domain import checkpoints
from registry.orm.base import utcnow
from registry.serve.startup import warn_without_checkpoint_key

SERVER = {"MODELGATE_DATABASE_URL": "postgresql://h/db", "MODELGATE_SECRET_KEY": "k"}


def test_the_embedded_default_makes_a_private_key_once_beside_its_database(tmp_path):
    first = config.load({}, workdir=tmp_path)
    second = config.load({}, workdir=tmp_path)
    assert first["AUDIT_SIGNING_KEY"] == second["AUDIT_SIGNING_KEY"]
    key_file = tmp_path / "modelgate.audit.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    checkpoints.load_private(key_file.read_text())


def test_a_readable_key_file_is_refused(tmp_path):
    config.load({}, workdir=tmp_path)
    (tmp_path / "modelgate.audit.key").chmod(0o644)
    with pytest.raises(config.ConfigError, match="may be read by others"):
        config.load({}, workdir=tmp_path)


def test_a_server_database_has_no_key_unless_given_and_says_so(tmp_path, caplog):
    loaded = config.load(SERVER, workdir=tmp_path)
    assert loaded["AUDIT_SIGNING_KEY"] is None
    assert list(tmp_path.iterdir()) == []  # nothing written beside anything
    with caplog.at_level(logging.WARNING, logger="modelgate.startup"):
        assert warn_without_checkpoint_key(loaded) is True
    assert "MODELGATE_AUDIT_SIGNING_KEY" in caplog.text
    given = config.load({**SERVER, "MODELGATE_AUDIT_SIGNING_KEY": checkpoints.new_private_pem()})
    assert warn_without_checkpoint_key(given) is False


def test_the_key_may_come_from_a_private_file(tmp_path):
    key_file = tmp_path / "audit.key"
    key_file.write_text(checkpoints.new_private_pem())
    key_file.chmod(0o600)
    loaded = config.load({**SERVER, "MODELGATE_AUDIT_SIGNING_KEY_FILE": str(key_file)})
    assert loaded["AUDIT_SIGNING_KEY"] == key_file.read_text()
    key_file.chmod(0o640)
    with pytest.raises(config.ConfigError, match="MODELGATE_AUDIT_SIGNING_KEY_FILE"):
        config.load({**SERVER, "MODELGATE_AUDIT_SIGNING_KEY_FILE": str(key_file)})


def test_keys_that_are_not_ed25519_are_refused():
    ec = (
        generate_private_key(SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    for bad in (ec, "not a key"):
        with pytest.raises(config.ConfigError, match="MODELGATE_AUDIT_SIGNING_KEY"):
            config.load({**SERVER, "MODELGATE_AUDIT_SIGNING_KEY": bad})
    with pytest.raises(config.ConfigError, match="MODELGATE_AUDIT_PUBLIC_KEYS"):
        config.load({**SERVER, "MODELGATE_AUDIT_PUBLIC_KEYS": "-----BEGIN PUBLIC KEY-----"})


def test_key_ids_are_rfc7638_thumbprints_and_public_keys_read_as_pem_or_jwks():
    keyring = checkpoints.Keyring.build(checkpoints.new_private_pem())
    public = keyring.signer.public_key()
    jwk = keyring.jwks()["keys"][0]
    assert keyring.signing_key_id == OKPKey.import_key(checkpoints.public_pem(public)).thumbprint()
    assert jwk["kid"] == keyring.signing_key_id
    other = checkpoints.load_private(checkpoints.new_private_pem()).public_key()
    bundle = checkpoints.public_pem(public) + checkpoints.public_pem(other)
    assert [checkpoints.key_id(k) for k in checkpoints.load_public_keys(bundle)] == [
        checkpoints.key_id(public),
        checkpoints.key_id(other),
    ]
    [from_jwks] = checkpoints.load_public_keys(json.dumps(keyring.jwks()))
    assert checkpoints.key_id(from_jwks) == keyring.signing_key_id


def test_a_signature_binds_every_field_and_the_statement_type():
    keyring = checkpoints.Keyring.build(checkpoints.new_private_pem())
    signed = checkpoints.sign(keyring, 7, "a" * 64, utcnow())
    assert checkpoints.signature_problem(signed, keyring.public) is None
    for change in ({"seq": 8}, {"hash": "b" * 64}, {"at": "2020-01-01T00:00:00.000000Z"}):
        altered = checkpoints.parse({**signed.as_dict(), **change})
        assert "does not verify" in checkpoints.signature_problem(altered, keyring.public)
    # The same key's signature over another kind of message is no checkpoint signature.
    import base64

    foreign = keyring.signer.sign(signed.payload)  # without DSSE's typed encoding
    forged = checkpoints.parse(
        {**signed.as_dict(), "signature": base64.b64encode(foreign).decode()}
    )
    assert "does not verify" in checkpoints.signature_problem(forged, keyring.public)
