"""Webhook signing, secrets at rest, address rules and retry parsing: pure functions."""

from __future__ import annotations

import datetime as dt
import email.utils

import pytest
import standardwebhooks

from registry.delivery import Target, _retry_after
from registry.domain import webhooks
from registry.domain.webhooks import SecretBox


def test_secrets_have_the_standard_webhooks_form():
    secret = webhooks.new_secret()
    assert secret.startswith("whsec_")
    assert len(webhooks._key_bytes(secret)) == 32
    assert secret != webhooks.new_secret()


def test_signatures_verify_with_an_independent_implementation():
    secret = webhooks.new_secret()
    body = '{"data":{"model":"fraud"},"type":"model.created"}'
    timestamp = int(dt.datetime.now(dt.UTC).timestamp())
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(timestamp),
        "webhook-signature": webhooks.sign([secret], "msg_1", timestamp, body),
    }
    assert standardwebhooks.Webhook(secret).verify(body, headers) == {
        "data": {"model": "fraud"},
        "type": "model.created",
    }
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(secret).verify(body.replace("fraud", "churn"), headers)
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(webhooks.new_secret()).verify(body, headers)


def test_during_a_rotation_each_secret_verifies_on_its_own():
    old, new = webhooks.new_secret(), webhooks.new_secret()
    timestamp = int(dt.datetime.now(dt.UTC).timestamp())
    signature = webhooks.sign([new, old], "msg_2", timestamp, "{}")
    assert len(signature.split(" ")) == 2
    headers = {
        "webhook-id": "msg_2",
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }
    for secret in (old, new):
        standardwebhooks.Webhook(secret).verify("{}", headers, json_parse=False)


def test_secret_box_round_trips_and_names_the_setting_when_the_key_changed():
    box = SecretBox(SecretBox.derive("one key"))
    sealed = box.seal("whsec_abc")
    assert "whsec_abc" not in sealed
    assert box.open(sealed) == "whsec_abc"
    with pytest.raises(RuntimeError, match="MODELGATE_WEBHOOK_ENCRYPTION_KEY"):
        SecretBox(SecretBox.derive("another key")).open(sealed)


@pytest.mark.parametrize(
    ("address", "loopback", "private", "refused"),
    [
        ("127.0.0.1", False, False, "a loopback address"),
        ("127.0.0.1", True, False, None),
        ("::1", False, False, "a loopback address"),
        ("::ffff:127.0.0.1", False, False, "a loopback address"),
        ("10.1.2.3", False, False, "a private address"),
        ("10.1.2.3", False, True, None),
        ("192.168.0.10", False, False, "a private address"),
        ("169.254.169.254", True, True, "a cloud metadata address"),
        ("169.254.1.1", True, True, "a link-local address"),
        ("0.0.0.0", True, True, "a reserved address"),  # noqa: S104 - the address under test
        ("224.0.0.1", True, True, "a reserved address"),
        ("100.64.0.1", False, False, "a private address"),  # carrier-grade NAT
        ("93.184.215.14", False, False, None),
        ("2606:2800:220:1::1", False, False, None),
    ],
)
def test_address_rules(address, loopback, private, refused):
    assert Target(allow_loopback=loopback, allow_private=private).refuses(address) == refused


def test_retry_after_as_seconds_or_a_date():
    assert _retry_after("120") == 120.0
    assert _retry_after(None) is None
    assert _retry_after("soon") is None
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=600)
    assert 590 <= _retry_after(email.utils.format_datetime(later, usegmt=True)) <= 600


def test_identity_and_configuration_events_are_never_delivered():
    assert webhooks.deliverable("model_version.stage_changed")
    assert webhooks.deliverable("webhook.test")
    assert webhooks.deliverable("transition.refused")
    for event in (
        "token.created",
        "role_binding.deleted",
        "webhook.created",
        "policy.loaded",
        "access.denied",
    ):
        assert not webhooks.deliverable(event)


def test_databricks_signature_is_hex_hmac_of_the_body():
    import hashlib
    import hmac

    expected = hmac.new(b"whsec_x", b'{"a":1}', hashlib.sha256).hexdigest()
    assert webhooks.databricks_signature("whsec_x", '{"a":1}') == expected
