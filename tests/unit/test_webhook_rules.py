"""Webhook signing, secrets at rest, address rules and retry parsing: pure functions."""

from __future__ import annotations

import datetime as dt
import email.utils

import pytest
import standardwebhooks

from registry.delivery.sender import Target, _retry_after
from registry.domain import webhooks
from registry.domain.destinations import Reach
from registry.domain.sealing import SecretBox
from registry.domain.webhooks.signing import _key_bytes


def test_secrets_have_the_standard_webhooks_form():
    secret = webhooks.new_secret()
    assert secret.startswith("whsec_")
    assert len(_key_bytes(secret)) == 32
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
        # Metadata services beyond AWS's, refused even where private networks are allowed.
        ("192.0.0.192", True, True, "a cloud metadata address"),  # Oracle Cloud
        ("100.100.100.200", True, True, "a cloud metadata address"),  # Alibaba Cloud
        ("168.63.129.16", True, True, "a cloud metadata address"),  # Azure WireServer
        ("fd00:ec2::254", True, True, "a cloud metadata address"),
        ("192.0.0.8", True, True, "a reserved address"),
        # IPv4 carried inside IPv6 is judged as the IPv4 address it reaches.
        ("2002:7f00:1::1", False, True, "an IPv6 address carrying 127.0.0.1, a loopback address"),
        (
            "2002:a9fe:a9fe::1",
            True,
            True,
            "an IPv6 address carrying 169.254.169.254, a cloud metadata address",
        ),
        ("2002:a00:1::1", False, False, "an IPv6 address carrying 10.0.0.1, a private address"),
        ("::127.0.0.1", False, True, "an IPv6 address carrying 127.0.0.1, a loopback address"),
        ("::ffff:169.254.169.254", True, True, "a cloud metadata address"),
        ("64:ff9b::7f00:1", False, True, "an IPv6 address carrying 127.0.0.1, a loopback address"),
        (
            "64:ff9b::a9fe:a9fe",
            True,
            True,
            "an IPv6 address carrying 169.254.169.254, a cloud metadata address",
        ),
        ("64:ff9b::5db8:d70e", False, False, None),  # NAT64 of a public address: allowed
        (  # Teredo, whose client address is stored inverted
            "2001:0:4136:e378:8000:63bf:80ff:fffe",
            False,
            True,
            "an IPv6 address carrying 127.0.0.1, a loopback address",
        ),
        (
            "2001:0:4136:e378:8000:63bf:5601:5601",
            True,
            True,
            "an IPv6 address carrying 169.254.169.254, a cloud metadata address",
        ),
    ],
)
def test_address_rules(address, loopback, private, refused):
    assert Target(allow_loopback=loopback, allow_private=private).refuses(address) == refused


@pytest.mark.parametrize(
    ("url", "reach", "refused"),
    [
        ("https://hooks.example.com/in", Reach(), None),
        ("http://hooks.example.com/in", Reach(), "plain http://"),
        ("http://hooks.example.com/in", Reach(allow_loopback=True), "plain http://"),
        ("http://hooks.example.com/in", Reach(allow_http=True), None),
        ("http://127.0.0.1:8080/in", Reach(), "127.0.0.1 is a loopback address"),
        ("http://127.0.0.1:8080/in", Reach(allow_loopback=True), None),
        ("http://localhost:8080/in", Reach(allow_loopback=True), None),
        ("http://localhost:8080/in", Reach(), "plain http://"),
        ("https://169.254.169.254/latest", Reach(allow_private=True), "cloud metadata"),
        ("https://[2002:a9fe:a9fe::1]/x", Reach(allow_private=True), "carrying 169.254.169.254"),
        ("https://[::ffff:127.0.0.1]/x", Reach(), "a loopback address"),
        ("https://10.0.0.5/x", Reach(), "a private address"),
        ("https://10.0.0.5/x", Reach(allow_private=True), None),
    ],
)
def test_what_a_subscription_url_says_is_checked_before_anything_is_resolved(url, reach, refused):
    reason = reach.refuses_url(url)
    if refused is None:
        assert reason is None
    else:
        assert refused in reason


def test_plain_http_reaches_only_this_machine_unless_allowed():
    local = Reach(allow_loopback=True)
    assert local.refuses_plain_http("http", ["127.0.0.1", "::1"]) is None
    assert "plain http://" in local.refuses_plain_http("http", ["127.0.0.1", "10.0.0.5"])
    assert "plain http://" in Reach(allow_private=True).refuses_plain_http("http", ["10.0.0.5"])
    assert Reach(allow_http=True).refuses_plain_http("http", ["93.184.215.14"]) is None
    assert Reach().refuses_plain_http("https", ["93.184.215.14"]) is None


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
