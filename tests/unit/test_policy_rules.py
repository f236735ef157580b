"""Pure policy rules: selection, eligibility, gates and freeze windows at fixed instants."""

import datetime as dt

import pytest

from registry.domain import policy
from registry.domain.policy import FreezeWindow, MetricGate, Policy, PolicySet
from registry.domain.principal import Grant, Principal, Role
from registry.domain.stages import Stage

UTC = dt.UTC


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_most_specific_glob_wins_then_a_from_stage():
    policies = PolicySet(
        (
            Policy("all", Stage.PRODUCTION, "*"),
            Policy("fraud", Stage.PRODUCTION, "fraud-*"),
            Policy("fraud-eu", Stage.PRODUCTION, "fraud-eu"),
            Policy("from-staging", Stage.PRODUCTION, "*", from_stages=frozenset({Stage.STAGING})),
        )
    )
    assert policies.for_transition("fraud-eu", Stage.NONE, Stage.PRODUCTION).name == "fraud-eu"
    assert policies.for_transition("fraud-us", Stage.NONE, Stage.PRODUCTION).name == "fraud"
    assert policies.for_transition("churn", Stage.NONE, Stage.PRODUCTION).name == "all"
    assert policies.for_transition("churn", Stage.STAGING, Stage.PRODUCTION).name == "from-staging"
    assert policies.for_transition("churn", Stage.NONE, Stage.STAGING) is None


def test_eligibility_by_role_model_and_stage():
    prod = Policy("p", Stage.PRODUCTION, approver_roles=frozenset({Role.APPROVER}))
    retire = Policy(
        "r",
        Stage.ARCHIVED,
        from_stages=frozenset({Stage.PRODUCTION}),
        approver_roles=frozenset({Role.APPROVER}),
    )
    staging = Policy("s", Stage.STAGING, approver_roles=frozenset({Role.APPROVER}))

    def who(*grants):
        return Principal("x", "user", grants)

    def eligible(principal, policy_, from_stage):
        return policy.is_eligible_approver(principal, policy_, "m", from_stage)

    assert eligible(who(Grant(Role.APPROVER)), prod, Stage.STAGING)
    assert not eligible(who(Grant(Role.ADMIN)), prod, Stage.STAGING)
    assert not policy.is_eligible_approver(
        who(Grant(Role.APPROVER, "fraud-*")), prod, "churn", Stage.STAGING
    )
    staging_only = who(Grant(Role.APPROVER, stages=frozenset({Stage.STAGING})))
    prod_only = who(Grant(Role.APPROVER, stages=frozenset({Stage.PRODUCTION})))
    assert eligible(staging_only, staging, Stage.NONE)
    assert not eligible(prod_only, staging, Stage.NONE)
    # into Production, from anywhere: Production's
    assert eligible(prod_only, prod, Stage.STAGING)
    assert eligible(prod_only, prod, Stage.ARCHIVED)
    assert not eligible(staging_only, prod, Stage.STAGING)
    # out of Production, to anywhere: Production's too, never Staging's
    assert eligible(prod_only, retire, Stage.PRODUCTION)
    assert eligible(prod_only, staging, Stage.PRODUCTION)
    assert not eligible(staging_only, staging, Stage.PRODUCTION)


@pytest.mark.parametrize(("value", "ok"), [("0.91", True), ("0.9", True), ("0.89", False)])
def test_metric_gate(value, ok):
    gate = Policy("p", Stage.PRODUCTION, metrics=(MetricGate.parse("metric.auc >= 0.9"),))
    facts = policy.Facts("m", 1, {"metric.auc": value}, None, "s3://b/k")
    assert (policy.check_gates(gate, facts) == []) is ok


def test_metric_keys_may_hold_spaces_and_operators_parse():
    gate = MetricGate.parse("  metric.p99 latency ms <= 50 ")
    assert (gate.key, gate.op, gate.threshold) == ("metric.p99 latency ms", "<=", 50.0)
    assert gate.holds(50)
    assert not gate.holds(50.1)


def test_weekly_freeze_in_a_time_zone():
    weekend = FreezeWindow("weekend", "Europe/Paris", days=frozenset({5, 6}))
    assert weekend.active(at("2026-11-21T10:00:00"))  # Saturday
    assert not weekend.active(at("2026-11-20T22:59:00"))  # Friday 23:59 in Paris
    assert weekend.active(at("2026-11-20T23:00:00"))  # Saturday 00:00 in Paris


def test_weekly_freeze_wrapping_past_midnight():
    friday_night = FreezeWindow(
        "fri", "UTC", days=frozenset({4}), from_time=dt.time(18), until_time=dt.time(8)
    )
    assert friday_night.active(at("2026-11-20T19:00:00"))  # Friday evening
    assert friday_night.active(at("2026-11-21T07:59:00"))  # small hours of Saturday
    assert not friday_night.active(at("2026-11-21T08:00:00"))
    assert not friday_night.active(at("2026-11-20T17:59:00"))
    assert not friday_night.active(at("2026-11-19T19:00:00"))  # Thursday evening


def test_date_range_freeze_is_half_open():
    window = FreezeWindow("xmas", start=at("2026-12-24T00:00:00"), end=at("2026-12-27T00:00:00"))
    assert window.active(at("2026-12-24T00:00:00"))
    assert window.active(at("2026-12-26T23:59:59"))
    assert not window.active(at("2026-12-27T00:00:00"))


@pytest.mark.parametrize(
    ("raw", "seconds"), [("30m", 1800), ("12h", 43200), ("7d", 604800), ("2w", 1209600), (90, 90)]
)
def test_durations(raw, seconds):
    assert policy.parse_duration(raw).total_seconds() == seconds


@pytest.mark.parametrize("raw", ["0d", "-1h", "7 days", "", True, 0])
def test_bad_durations(raw):
    with pytest.raises(ValueError, match="duration"):
        policy.parse_duration(raw)
