"""Which errors are refusals, and how a flood is counted (no database: the ledger side is in
tests/integration/api/test_refusals.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from registry.domain import refusals
from registry.domain.errors import (
    AlreadyExists,
    Conflict,
    InvalidArgument,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    PolicyViolation,
    Unauthenticated,
)
from registry.domain.principal import Principal

AT = dt.datetime(2027, 1, 15, 8, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("error", "event"),
    [
        (Unauthenticated("no token", reason="missing_credentials"), "access.denied"),
        (PermissionDenied("no role", reason="role"), "access.denied"),
        (PermissionDenied("no"), "access.denied"),
        (NotFound("hidden", reason="outside_grants"), "access.denied"),
        (PermissionDenied("own", reason="self_approval"), "transition.refused"),
        (PermissionDenied("wait", reason="needs_approval"), "transition.refused"),
        (PermissionDenied("alias", reason="protected_alias"), "transition.refused"),
        (PolicyViolation("gate", failed_checks=[{"check": "metric"}]), "transition.refused"),
        (Conflict("pending", reason="already_pending"), "transition.refused"),
        (InvalidTransition("not in the table"), "transition.refused"),
        (NotFound("missing"), None),
        (InvalidArgument("bad"), None),
        (AlreadyExists("taken"), None),
        (Conflict("changed at the same moment; retry"), None),
    ],
)
def test_refusals_are_told_apart_from_other_errors(error, event):
    assert refusals.classify(error) == event


def test_a_refusals_reason_and_context_stay_out_of_the_callers_details():
    error = Unauthenticated("revoked", reason="revoked_token", context={"token_id": 3})
    assert error.details == {}
    assert (error.reason, error.context) == ("revoked_token", {"token_id": 3})


def test_targets_keep_only_what_is_valid():
    assert refusals.Target.parse("fraud", "3", 12, "production") == refusals.Target(
        "fraud", 3, 12, "Production"
    )
    assert refusals.Target.parse("bad/name", "x", -1, "Nowhere") == refusals.Target()
    assert refusals.Target.parse({"a": 1}, True, 2**70, 5) == refusals.Target()


def refusal(key: str = "service:v", model: str | None = "fraud", client="10.0.0.1"):
    caller = Principal(key.partition(":")[2], key.partition(":")[0])
    return refusals.refusal(
        PermissionDenied("no", reason="role"),
        refusals.ACCESS_DENIED,
        caller=caller,
        credential=None,
        target=refusals.Target(model=model),
        operation="POST /api/v1/models",
        action="create_model",
        client=client,
        request_id="r",
        at=AT,
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_the_gate_records_up_to_the_threshold_per_credential_then_counts():
    clock = Clock()
    gate = refusals.FloodGate(2, 100, clock=clock)
    assert [gate.admit(refusal()) for _ in range(5)] == [True, True, False, False, False]
    assert gate.admit(refusal("service:other"))  # another credential has its own budget
    assert gate.take() == []  # the minute is open
    clock.now += 60
    (summary,) = gate.take()
    assert (summary.count, summary.recorded_individually) == (3, 2)
    assert summary.target() == ("fraud", None)
    assert gate.admit(refusal())  # a new minute, a new budget


def test_the_cap_across_credentials_holds_and_the_counters_are_bounded():
    clock = Clock()
    gate = refusals.FloodGate(1, 3, max_counters=2, clock=clock)
    admitted = [gate.admit(refusal(f"service:s{i}", client=f"10.0.0.{i}")) for i in range(6)]
    assert admitted == [True, True, True, False, False, False]
    summaries = gate.take(everything=True)
    # s3 and s4 get a counter each; s5 finds no room and goes to the catch-all.
    assert [(s.credential_key, s.actor.id, s.count) for s in summaries] == [
        ("*", "various", 1),
        ("service:s3", "service:s3", 1),
        ("service:s4", "service:s4", 1),
    ]
    assert summaries[0].data()["actors"] == {"service:s5": 1}


def test_summaries_that_could_not_be_written_are_kept_and_merged():
    clock = Clock()
    gate = refusals.FloodGate(0, 0, clock=clock)
    for _ in range(3):
        gate.admit(refusal())
    taken = gate.take(everything=True)
    gate.admit(refusal(model="other"))
    gate.give_back(taken)
    (summary,) = gate.take(everything=True)
    assert summary.count == 4
    assert summary.target() == (None, None)  # two models now
    assert summary.data()["models"] == {"fraud": 3, "other": 1}
    assert gate.pending() == 0


def test_a_summary_lists_a_bounded_number_of_values():
    clock = Clock()
    gate = refusals.FloodGate(0, 0, clock=clock)
    for i in range(refusals.MAX_LISTED + 5):
        gate.admit(refusal(client=f"10.0.1.{i}"))
    (summary,) = gate.take(everything=True)
    clients = summary.data()["clients"]
    assert len(clients) == refusals.MAX_LISTED + 1
    assert clients["…"] == 5


def test_a_fingerprint_is_not_the_secret():
    secret = "mgt_abcdefghijklmnopqrstuvwxyz0123456789"
    found = refusals.fingerprint(secret)
    assert found.startswith("sha256:")
    assert len(found) == len("sha256:") + refusals.FINGERPRINT_HEX
    assert secret[4:12] not in found
