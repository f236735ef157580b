"""Signed audit checkpoints: a head fixed under a key the database never holds catches a
ledger rewritten after it, which the hash chain alone cannot (its keeper recomputes every
hash), over the API and with `modelgate audit verify --checkpoint`."""

from __future__ import annotations

import base64
import datetime as dt
import json
import subprocess

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from registry.domain import checkpoints, identity, ledger
from registry.domain.principal import system
from registry.extensions import db
from registry.orm import AuditChainHead, AuditEvent
from tests.conftest import AUDIT_KEY, make_app
from tests.helpers import MODELGATE, LocalTSA, RegistryClient, clean_env, error_code

TABLE = AuditEvent.__table__


@pytest.fixture
def tagged(registry):
    """A model in Staging, then four tag changes: events whose loss no table would betray,
    so only the chain and the checkpoint stand between them and a rewrite."""
    registry.create_model("fraud")
    registry.create_version("fraud")
    registry.transition("fraud", 1, "Staging")
    for i in range(4):
        registry.put(f"/api/v1/models/fraud/tags/k{i}", {"value": str(i)})
    return registry


def _bypass_trigger(conn):
    if conn.dialect.name == "postgresql":  # as the table's owner or a superuser could
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")


def truncate_after(app, seq):
    """Drop every event after ``seq`` and move the head back, as a keeper of the tables can."""
    with app.app_context(), db.engine.begin() as conn:
        _bypass_trigger(conn)
        conn.execute(TABLE.delete().where(TABLE.c.seq > seq))
        head_hash = conn.execute(sa.select(TABLE.c.hash).where(TABLE.c.seq == seq)).scalar_one()
        conn.execute(sa.update(AuditChainHead).values(seq=seq, hash=head_hash))


def rewrite(app, seq, **changes):
    """Change the event at ``seq`` and recompute every hash after it and the head: the chain
    verifies again."""
    with app.app_context(), db.engine.begin() as conn:
        _bypass_trigger(conn)
        rows = conn.execute(sa.select(TABLE).where(TABLE.c.seq >= seq).order_by("seq")).all()
        previous = rows[0].prev_hash
        for row in rows:
            fields = {name: getattr(row, name) for name in ledger.HASHED_FIELDS}
            if row.seq == seq:
                fields.update(changes)
            fields["prev_hash"] = previous
            previous = ledger.event_hash(**fields)
            conn.execute(
                TABLE.update().where(TABLE.c.seq == row.seq).values(**fields, hash=previous)
            )
        conn.execute(sa.update(AuditChainHead).values(hash=previous))


def verify(client, checkpoint=None):
    if checkpoint is None:
        return client.get("/api/v1/audit/verify").get_json()
    return client.post("/api/v1/audit/verify", checkpoint, expect=200).get_json()


# --------------------------------------------------------------------------- issuing


def test_a_checkpoint_signs_the_head_and_anyone_can_check_it_with_the_public_key(
    client, tagged, as_role
):
    auditor = as_role("auditor")
    checkpoint = auditor.get("/api/v1/audit/checkpoint").get_json()
    head = auditor.get("/api/v1/audit/verify").get_json()
    assert (checkpoint["seq"], checkpoint["hash"]) == (head["head_seq"], head["head_hash"])
    assert {"seq", "hash", "at", "key_id", "signature"} <= set(checkpoint)

    # The keys are public: whoever holds a checkpoint needs no token to check it.
    jwks = client.get("/api/v1/audit/checkpoint-keys").get_json()
    [jwk] = [k for k in jwks["keys"] if k["kid"] == checkpoint["key_id"]]
    assert (jwk["kty"], jwk["crv"], jwk["alg"]) == ("OKP", "Ed25519", "EdDSA")
    public = Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(jwk["x"] + "=="))

    # A receiver's own few lines: DSSE's pre-authentication encoding over the payload.
    envelope = checkpoint["envelope"]
    payload = base64.b64decode(envelope["payload"])
    kind = envelope["payloadType"].encode()
    signed = b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)
    public.verify(base64.b64decode(checkpoint["signature"]), signed)  # raises if forged
    statement = json.loads(payload)
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["subject"][0]["digest"] == {"sha256": checkpoint["hash"]}
    assert statement["predicate"]["seq"] == checkpoint["seq"]
    assert statement["predicateType"] == checkpoints.PREDICATE_TYPE


def test_the_key_id_is_the_rfc7638_thumbprint(client):
    from joserfc.jwk import OKPKey

    [jwk] = client.get("/api/v1/audit/checkpoint-keys").get_json()["keys"]
    theirs = OKPKey.import_key({"kty": "OKP", "crv": "Ed25519", "x": jwk["x"]}).thumbprint()
    assert jwk["kid"] == theirs


def test_only_auditors_get_checkpoints(tagged, as_role):
    for role in ("viewer", "contributor", "approver"):
        response = as_role(role).get("/api/v1/audit/checkpoint", expect=403)
        assert error_code(response) == "PERMISSION_DENIED"
    as_role("auditor").get("/api/v1/audit/checkpoint", expect=200)


# --------------------------------------------------------------------------- the proof


def test_a_truncated_ledger_passes_plain_verify_but_not_the_checkpoint(app, committed, tagged):
    checkpoint = tagged.get("/api/v1/audit/checkpoint").get_json()
    assert verify(tagged, checkpoint)["ok"] is True
    truncate_after(app, checkpoint["seq"] - 2)

    plain = verify(tagged)
    assert plain["ok"] is True, plain  # the chain alone cannot tell
    assert plain["head_seq"] == checkpoint["seq"] - 2
    result = verify(tagged, checkpoint)
    assert result["ok"] is False
    assert result["checkpoint"]["ok"] is False
    assert "truncated" in result["checkpoint"]["problem"]
    assert result["problem"] == result["checkpoint"]["problem"]


def test_a_truncated_ledger_grown_again_is_caught(app, committed, tagged):
    checkpoint = tagged.get("/api/v1/audit/checkpoint").get_json()
    truncate_after(app, checkpoint["seq"] - 2)
    for i in range(5):  # new events take the old seqs, with other hashes
        tagged.put(f"/api/v1/models/fraud/tags/n{i}", {"value": str(i)})

    assert verify(tagged)["ok"] is True
    result = verify(tagged, checkpoint)
    assert result["ok"] is False
    assert "rewritten" in result["checkpoint"]["problem"]


def test_a_rehashed_ledger_passes_plain_verify_but_not_the_checkpoint(app, committed, tagged):
    checkpoint = tagged.get("/api/v1/audit/checkpoint").get_json()
    tag_event = tagged.get("/api/v1/audit?event=model.tag_set").get_json()["events"][1]
    rewrite(app, tag_event["seq"], actor="user:somebody-else")

    assert verify(tagged)["ok"] is True
    result = verify(tagged, checkpoint)
    assert result["ok"] is False
    assert f"the event at seq {checkpoint['seq']} hashes to" in result["checkpoint"]["problem"]


def test_a_ledger_extended_after_the_checkpoint_still_holds_it(tagged):
    checkpoint = tagged.get("/api/v1/audit/checkpoint").get_json()
    tagged.create_version("fraud")
    result = verify(tagged, checkpoint)
    assert result["ok"] is True, result
    assert result["head_seq"] > checkpoint["seq"]
    assert result["checkpoint"] == {
        "seq": checkpoint["seq"],
        "hash": checkpoint["hash"],
        "key_id": checkpoint["key_id"],
        "ok": True,
        "problem": None,
        "timestamp": None,  # no authority configured: none asked for
        "timestamped_at": None,
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [("seq", 1), ("hash", "f" * 64), ("at", "2020-01-01T00:00:00.000000Z")],
)
def test_an_altered_checkpoint_does_not_verify(tagged, field, value):
    checkpoint = tagged.get("/api/v1/audit/checkpoint").get_json()
    checkpoint[field] = value
    result = verify(tagged, checkpoint)
    assert result["ok"] is False
    assert "signature does not verify" in result["checkpoint"]["problem"]


def test_a_checkpoint_by_an_unknown_key_is_refused_by_name(tagged):
    checkpoint = tagged.get("/api/v1/audit/checkpoint").get_json()
    stranger = checkpoints.Keyring.build(checkpoints.new_private_pem())
    forged = checkpoints.sign(stranger, checkpoint["seq"], checkpoint["hash"], ledger.utcnow())
    result = verify(tagged, forged.as_dict())
    assert result["ok"] is False
    assert forged.key_id in result["checkpoint"]["problem"]
    assert "not among the keys trusted here" in result["checkpoint"]["problem"]


@pytest.mark.parametrize(
    "body",
    [{}, {"seq": "x"}, {"seq": -1, "hash": "0" * 64, "at": "t", "key_id": "k", "signature": "s"}],
)
def test_a_malformed_checkpoint_is_a_4xx(tagged, body):
    response = tagged.post("/api/v1/audit/verify", body)
    assert response.status_code in (400, 422)
    assert error_code(response) == "INVALID_ARGUMENT"


# --------------------------------------------------------------------------- rotation


def test_checkpoints_of_a_retired_key_verify_while_it_is_listed(app, tagged):
    old = tagged.get("/api/v1/audit/checkpoint").get_json()
    old_public = checkpoints.public_pem(checkpoints.load_private(AUDIT_KEY).public_key())
    url = app.config["DATABASE_URL"]
    # The same database, served with a new signing key and the old one retired.
    rotated = make_app(
        url, AUDIT_SIGNING_KEY=checkpoints.new_private_pem(), AUDIT_PUBLIC_KEYS=old_public
    )
    keys = rotated.extensions[checkpoints.EXTENSION]
    listed = {k["kid"]: k["status"] for k in keys.jwks()["keys"]}
    assert listed == {keys.signing_key_id: "current", old["key_id"]: "retired"}
    assert checkpoints.signature_problem(checkpoints.parse(old), keys.public) is None
    forgotten = make_app(url, AUDIT_SIGNING_KEY=checkpoints.new_private_pem())
    problem = checkpoints.signature_problem(
        checkpoints.parse(old), forgotten.extensions[checkpoints.EXTENSION].public
    )
    assert "MODELGATE_AUDIT_PUBLIC_KEYS" in problem


@pytest.mark.postgres
def test_without_a_key_checkpoints_are_unavailable_and_say_why(postgres_url, tokens):
    """(The embedded default always has a key: it makes one beside its database.)"""
    keyless = make_app(postgres_url, AUDIT_SIGNING_KEY=None)
    assert keyless.extensions[checkpoints.EXTENSION].signer is None
    with keyless.app_context():
        token = identity.create_token(db.session, system(), name="aud", roles=["auditor"])
        db.session.commit()
    try:
        response = RegistryClient(keyless.test_client(), token.token).get(
            "/api/v1/audit/checkpoint", expect=503
        )
    finally:
        with keyless.app_context():
            identity.revoke_token(db.session, system(), token.id)
            db.session.commit()
            db.engine.dispose()
    assert error_code(response) == "UNAVAILABLE"
    assert "MODELGATE_AUDIT_SIGNING_KEY" in response.get_json()["message"]


# --------------------------------------------------------------------------- the CLI


def test_the_cli_catches_a_rewrite_after_a_saved_checkpoint(tmp_path):
    """The auditor's flow: save a checkpoint and the public key away from the database;
    later `modelgate audit verify --checkpoint` exits 1 on a rewritten ledger, naming why,
    though plain verify still passes."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    env = clean_env(MODELGATE_DATABASE_URL=url, MODELGATE_SECRET_KEY="x")

    def modelgate(*args):
        return subprocess.run(  # noqa: S603 - our own CLI
            [MODELGATE, *args], env=env, capture_output=True, text=True, timeout=120
        )

    assert modelgate("db", "upgrade").returncode == 0
    app = make_app(url, AUDIT_SIGNING_KEY=None)  # the embedded key, as the CLI has it
    client = app.test_client()
    with app.app_context():
        token = identity.create_token(db.session, system(), name="a", roles=["admin"]).token
        db.session.commit()
    registry = RegistryClient(client, token)
    registry.create_model("fraud")
    for i in range(3):
        registry.put(f"/api/v1/models/fraud/tags/k{i}", {"value": str(i)})

    saved = tmp_path / "checkpoint.json"
    made = modelgate("audit", "checkpoint", "-o", str(saved))
    assert made.returncode == 0, made.stderr
    public = tmp_path / "audit-key.jwks"
    public.write_text(client.get("/api/v1/audit/checkpoint-keys").get_data(as_text=True))
    checked = modelgate("audit", "verify", "--checkpoint", str(saved), "--public-key", str(public))
    assert checked.returncode == 0, checked.stderr
    seq = json.loads(saved.read_text())["seq"]
    assert f"Checkpoint seq {seq}" in checked.stdout
    assert f"head seq {seq}" in checked.stdout

    rewrite(app, seq - 1, actor="user:somebody-else")
    plain = modelgate("audit", "verify")
    assert plain.returncode == 0, plain.stderr
    caught = modelgate("audit", "verify", "--checkpoint", str(saved), "--public-key", str(public))
    assert caught.returncode == 1
    assert f"CHECKPOINT FAILED at seq {seq}" in caught.stderr
    assert "rewritten" in caught.stderr

    truncate_after(app, seq - 2)
    caught = modelgate("audit", "verify", "--checkpoint", str(saved), "--public-key", str(public))
    assert caught.returncode == 1
    assert "truncated" in caught.stderr

    # The signature is checked against the auditor's key, not whatever the host trusts.
    other = tmp_path / "other.key"
    assert modelgate("audit", "keygen", "-o", str(other)).returncode == 0
    stranger = modelgate("audit", "verify", "--checkpoint", str(saved), "--public-key", str(other))
    assert stranger.returncode == 1
    assert "not among the keys trusted here" in stranger.stderr


def test_keygen_writes_a_private_file_and_never_replaces_one(tmp_path):
    target = tmp_path / "audit.key"
    made = subprocess.run(  # noqa: S603 - our own CLI
        [MODELGATE, "audit", "keygen", "-o", str(target)],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stderr
    assert target.stat().st_mode & 0o777 == 0o600
    public = checkpoints.load_public_keys(made.stdout)[0]
    assert checkpoints.key_id(public) in made.stderr
    assert "PRIVATE" not in made.stdout
    again = subprocess.run(  # noqa: S603 - our own CLI
        [MODELGATE, "audit", "keygen", "-o", str(target)],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 1
    assert "never replaces" in again.stderr


# --------------------------------------------------------------------------- RFC 3161


@pytest.fixture
def tsa(tmp_path):
    import shutil

    from tests.conftest import require_service

    require_service(shutil.which("openssl"), "the openssl command (Debian's openssl)", "PATH")
    with LocalTSA(tmp_path / "tsa") as authority:
        yield authority


@pytest.fixture
def stamped(app, committed, tsa, tokens):
    """The same registry served with a time-stamping authority configured."""
    stamping = make_app(
        app.config["DATABASE_URL"], AUDIT_TSA_URL=tsa.url, AUDIT_TSA_CERTIFICATES=tsa.root_pem
    )
    client = RegistryClient(stamping.test_client(), tokens("admin", name="stamper"))
    client.create_model("fraud")
    yield client
    with stamping.app_context():
        db.engine.dispose()


def test_a_checkpoint_is_time_stamped_by_the_authority_and_verified(stamped, tsa):
    checkpoint = stamped.get("/api/v1/audit/checkpoint").get_json()
    assert tsa.requests == 1
    assert checkpoint["rfc3161_timestamp"]
    result = verify(stamped, checkpoint)
    assert result["ok"] is True, result
    assert result["checkpoint"]["timestamp"] == "verified"
    stamped_at = dt.datetime.fromisoformat(result["checkpoint"]["timestamped_at"])
    issued = dt.datetime.fromisoformat(checkpoint["at"])
    assert abs(stamped_at - issued) < dt.timedelta(minutes=5)


def test_a_time_stamp_of_another_checkpoint_does_not_verify(stamped):
    first = stamped.get("/api/v1/audit/checkpoint").get_json()
    stamped.create_version("fraud")
    second = stamped.get("/api/v1/audit/checkpoint").get_json()
    second["rfc3161_timestamp"] = first["rfc3161_timestamp"]
    result = verify(stamped, second)
    assert result["ok"] is False
    assert "RFC 3161 time-stamp fails" in result["checkpoint"]["problem"]


def test_a_time_stamp_from_an_authority_not_trusted_does_not_verify(stamped, tmp_path):
    checkpoint = stamped.get("/api/v1/audit/checkpoint").get_json()
    from registry.clients.timestamping import load_certificates

    with LocalTSA(tmp_path / "other") as other:
        problem, _ = checkpoints.timestamp_problem(
            checkpoints.parse(checkpoint), load_certificates(other.root_pem)
        )
    assert "RFC 3161 time-stamp fails" in problem


def test_an_authority_that_fails_leaves_the_checkpoint_unstamped(app):
    down = make_app(app.config["DATABASE_URL"], AUDIT_TSA_URL="http://127.0.0.1:9/tsa")
    keyring = down.extensions[checkpoints.EXTENSION]
    signed = checkpoints.sign(keyring, 1, "a" * 64, ledger.utcnow())
    assert signed.rfc3161_timestamp is None
    assert checkpoints.signature_problem(signed, keyring.public) is None


def test_the_cli_checks_the_time_stamp_against_the_auditors_authority_certificate(tmp_path, tsa):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    env = clean_env(
        MODELGATE_DATABASE_URL=url, MODELGATE_SECRET_KEY="x", MODELGATE_AUDIT_TSA_URL=tsa.url
    )

    def modelgate(*args):
        return subprocess.run(  # noqa: S603 - our own CLI
            [MODELGATE, *args], env=env, capture_output=True, text=True, timeout=120
        )

    assert modelgate("db", "upgrade").returncode == 0
    saved, root = tmp_path / "checkpoint.json", tmp_path / "tsa-root.pem"
    root.write_text(tsa.root_pem)
    assert modelgate("audit", "checkpoint", "-o", str(saved)).returncode == 0
    assert "rfc3161_timestamp" in json.loads(saved.read_text())
    checked = modelgate(
        "audit", "verify", "--checkpoint", str(saved), "--tsa-certificate", str(root)
    )
    assert checked.returncode == 0, checked.stderr
    assert "RFC 3161 time-stamp verifies" in checked.stdout
    unchecked = modelgate("audit", "verify", "--checkpoint", str(saved))
    assert unchecked.returncode == 0
    assert "not checked: pass --tsa-certificate" in unchecked.stderr
