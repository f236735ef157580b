"""The governance lifecycle against a real database: quorum, self-approval, gates, freeze and
break-glass, expiry, supersession, and the events each step records."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from registry.domain import transitions, versions
from registry.domain.errors import (
    Conflict,
    InvalidArgument,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    PolicyViolation,
)
from registry.domain.principal import Grant, Principal, Role
from registry.orm import Approval, AuditEvent, TransitionRequest
from tests.integration.domain.conftest import (
    ADMIN,
    ALICE,
    BOB,
    CAROL,
    DAVE,
    ERIN,
    NOW,
    VIEWER,
    policies_from,
    stage_of,
)


def events(session, name=None):
    stmt = sa.select(AuditEvent.event).order_by(AuditEvent.seq)
    if name:
        stmt = stmt.where(AuditEvent.event == name)
    return list(session.execute(stmt).scalars())


def request(session, policies, who, version, stage, **kwargs):
    info = transitions.request_transition(
        session, who, policies, "fraud", version, to_stage=stage, **kwargs
    )
    session.commit()
    return info


def approve(session, policies, who, info, **kwargs):
    result = transitions.approve(session, who, policies, info.id, **kwargs)
    session.commit()
    return result


# --------------------------------------------------------------------------- quorum


def test_a_contributor_request_for_staging_waits_for_one_approval(session, defaults, fraud):
    info = request(session, defaults, ALICE, 3, "Staging", comment="shadow traffic please")
    assert (info.state, info.required_approvals, info.approvals) == ("pending", 1, [])
    assert info.policy == "staging"
    assert info.expires_at == info.requested_at + dt.timedelta(days=7)
    assert stage_of(session, "fraud", 3) == "None"
    done = approve(session, defaults, CAROL, info, comment="looks fine")
    assert done.state == "applied"
    assert [(a.by, a.comment) for a in done.approvals] == [("user:carol", "looks fine")]
    assert stage_of(session, "fraud", 3) == "Staging"


def test_an_eligible_requesters_own_approval_counts_when_allowed(session, defaults, fraud):
    info = request(session, defaults, BOB, 3, "Staging")
    assert info.state == "applied"
    assert [a.by for a in info.approvals] == ["user:bob"]


def test_production_needs_two_distinct_approvers_and_archives_the_incumbent(
    session, defaults, fraud
):
    first = request(session, defaults, ALICE, 1, "Production")
    approve(session, defaults, CAROL, first)
    approve(session, defaults, ERIN, first)
    assert stage_of(session, "fraud", 1) == "Production"

    second = request(session, defaults, ALICE, 2, "Production")
    assert second.archive_existing_versions is True  # the policy's default
    half = approve(session, defaults, CAROL, second)
    assert (half.state, len(half.approvals)) == ("pending", 1)
    with pytest.raises(PolicyViolation, match="already approved") as refused:
        approve(session, defaults, CAROL, second)
    assert refused.value.failed_checks[0]["check"] == "distinct_approvers"
    session.rollback()
    done = approve(session, defaults, ERIN, second)
    assert done.state == "applied"
    assert done.archived_versions == [1]
    assert (stage_of(session, "fraud", 1), stage_of(session, "fraud", 2)) == (
        "Archived",
        "Production",
    )


def test_the_requester_never_counts_when_self_approval_is_forbidden(session, defaults, fraud):
    info = request(session, defaults, BOB, 2, "Production")  # bob is an approver too
    assert info.state == "pending"
    assert info.approvals == []
    with pytest.raises(PolicyViolation, match="forbids approving your own"):
        approve(session, defaults, BOB, info)
    session.rollback()
    assert approve(session, defaults, CAROL, info).state == "pending"
    assert approve(session, defaults, ERIN, info).state == "applied"


def sock(name, owner, *grants):
    """A service token of ``owner``'s: a person with several tokens."""
    return Principal(subject=name, kind="service", grants=grants, owner=owner)


def test_approvals_count_people_not_tokens(session, defaults, fraud):
    first = sock("mal-1", "user:mal", Grant(Role.APPROVER))
    second = sock("mal-2", "user:mal", Grant(Role.APPROVER))
    info = request(session, defaults, ALICE, 2, "Production")
    assert approve(session, defaults, first, info).state == "pending"
    assert (
        "approve"
        not in transitions.get_request(session, second, defaults, info.id).available_actions
    )
    with pytest.raises(PolicyViolation, match="person behind service:mal-2 too") as refused:
        approve(session, defaults, second, info)
    session.rollback()
    assert refused.value.failed_checks[0]["earlier_approval"]["by"] == "service:mal-1"
    done = approve(session, defaults, CAROL, info)
    assert done.state == "applied"
    assert [(a.by, a.person) for a in done.approvals] == [
        ("service:mal-1", "user:mal"),
        ("user:carol", "user:carol"),
    ]


def test_a_token_of_the_requesters_owner_is_the_requester(session, defaults, fraud):
    files = sock("eve-ci", "user:eve", Grant(Role.CONTRIBUTOR))
    lead = sock("eve-lead", "user:eve", Grant(Role.APPROVER))
    info = request(session, defaults, files, 2, "Production")
    assert info.requested_by_person == "user:eve"
    with pytest.raises(PolicyViolation) as refused:
        approve(session, defaults, lead, info)
    session.rollback()
    assert refused.value.failed_checks[0]["check"] == "self_approval"
    with pytest.raises(PermissionDenied, match="Cancel your own"):
        transitions.reject(session, lead, defaults, info.id)
    session.rollback()
    # Where the policy lets requesters approve, another token of theirs adds nothing more.
    staging = request(
        session,
        defaults,
        sock("eve-both", "user:eve", Grant(Role.CONTRIBUTOR), Grant(Role.APPROVER)),
        3,
        "Staging",
    )
    assert staging.state == "applied"


def test_approvals_given_through_socks_before_people_counted_count_once(session, defaults, fraud):
    """A request pending from before the upgrade may hold two approvals of one person (the
    migration gives each the owner of its token): they count once."""
    info = request(session, defaults, ALICE, 2, "Production")
    req = session.get(TransitionRequest, info.id)
    for name in ("mal-1", "mal-2"):
        req.approvals.append(
            Approval(by=f"service:{name}", person="user:mal", at=NOW, comment=None)
        )
    session.commit()
    checks = transitions.request_checks(session, ADMIN, defaults, info.id)
    assert checks[-1].label.startswith("1 of 2 approval(s)")
    assert approve(session, defaults, CAROL, info).state == "applied"


def test_a_staging_approver_cannot_approve_production(session, defaults, fraud):
    info = request(session, defaults, ALICE, 2, "Production")
    with pytest.raises(PermissionDenied, match="may not approve"):
        approve(session, defaults, DAVE, info)
    session.rollback()
    with pytest.raises(PermissionDenied):
        approve(session, defaults, ADMIN, info)  # the production policy lists approvers only
    session.rollback()
    assert transitions.get_request(session, ADMIN, defaults, info.id).approvals == []


def test_viewers_cannot_request_and_strangers_cannot_see(session, defaults, fraud):
    with pytest.raises(PermissionDenied):
        request(session, defaults, VIEWER, 3, "Staging")
    session.rollback()
    outsider = CAROL.__class__(subject="zed", kind="user", grants=())
    info = request(session, defaults, ALICE, 3, "Staging")
    with pytest.raises(NotFound):
        transitions.get_request(session, outsider, defaults, info.id)
    with pytest.raises(NotFound):
        transitions.approve(session, outsider, defaults, info.id)


def test_each_step_records_its_event(session, defaults, fraud):
    info = request(session, defaults, ALICE, 2, "Production", comment="ship it")
    approve(session, defaults, CAROL, info)
    approve(session, defaults, ERIN, info)
    assert events(session)[-5:] == [
        "transition_request.created",
        "transition_request.approved",
        "transition_request.approved",
        "model_version.stage_changed",
        "transition_request.applied",
    ]


# --------------------------------------------------------------------------- decisions


def test_reject_ends_the_request_and_the_requester_cannot_reject(session, defaults, fraud):
    info = request(session, defaults, BOB, 2, "Production")
    with pytest.raises(PermissionDenied, match="Cancel your own"):
        transitions.reject(session, BOB, defaults, info.id)
    session.rollback()
    rejected = transitions.reject(session, CAROL, defaults, info.id, comment="not yet")
    session.commit()
    assert (rejected.state, rejected.decided_by, rejected.decision_comment) == (
        "rejected",
        "user:carol",
        "not yet",
    )
    with pytest.raises(Conflict, match="rejected, no longer pending"):
        approve(session, defaults, ERIN, info)
    session.rollback()
    assert stage_of(session, "fraud", 2) == "Staging"


def test_cancel_by_requester_or_admin_only(session, defaults, fraud):
    info = request(session, defaults, ALICE, 2, "Production")
    with pytest.raises(PermissionDenied):
        transitions.cancel(session, BOB, info.id)
    session.rollback()
    cancelled = transitions.cancel(session, ALICE, info.id, comment="wrong version")
    session.commit()
    assert cancelled.state == "cancelled"
    other = request(session, defaults, ALICE, 2, "Production")
    assert transitions.cancel(session, ADMIN, other.id).state == "cancelled"


EVERY_MOVE_NEEDS_ONE = """
policies:
  - {name: s, stage: Staging, min_approvals: 1, approver_roles: [approver]}
  - {name: p, stage: Production, min_approvals: 1, approver_roles: [approver]}
  - {name: a, stage: Archived, min_approvals: 1, approver_roles: [approver]}
"""


def test_one_pending_request_per_version_and_stage(session, fraud):
    policies = policies_from(EVERY_MOVE_NEEDS_ONE)
    first = request(session, policies, ALICE, 2, "Production")
    with pytest.raises(Conflict, match="already pending") as err:
        request(session, policies, BOB, 2, "Production")
    assert err.value.details["request_id"] == first.id
    session.rollback()
    assert request(session, policies, ALICE, 2, "Archived").state == "pending"  # other stage


def test_moving_the_version_supersedes_its_other_pending_requests(session, fraud):
    policies = policies_from(EVERY_MOVE_NEEDS_ONE)
    archived = request(session, policies, ALICE, 2, "Archived")
    production = request(session, policies, ALICE, 2, "Production")
    approve(session, policies, CAROL, production)
    closed = transitions.get_request(session, ADMIN, policies, archived.id)
    assert closed.state == "cancelled"
    assert closed.decided_by == "system:modelgate"  # nobody withdrew it: the system closed it
    assert f"request {production.id}" in closed.decision_comment
    with pytest.raises(Conflict):  # and it can no longer be approved
        approve(session, policies, CAROL, archived)


def test_a_superseded_request_past_its_expiry_is_recorded_as_expired(session, fraud):
    policies = policies_from(
        EVERY_MOVE_NEEDS_ONE.replace(
            "{name: a, stage: Archived, min_approvals: 1, approver_roles: [approver]}",
            "{name: a, stage: Archived, min_approvals: 1, approver_roles: [approver], "
            "expire_after: 1h}",
        )
    )
    stale = request(
        session,
        policies,
        ALICE,
        2,
        "Archived",
        now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=2),
    )
    approve(session, policies, CAROL, request(session, policies, ALICE, 2, "Production"))
    assert transitions.get_request(session, ADMIN, policies, stale.id).state == "expired"
    assert "transition_request.expired" in events(session)


def test_no_policy_means_no_transition(session, fraud):
    only_staging = policies_from("policies:\n  - {name: s, stage: Staging}\n")
    with pytest.raises(PolicyViolation) as err:
        request(session, only_staging, ALICE, 1, "Production")
    assert err.value.failed_checks[0]["check"] == "no_policy"


def test_stage_table_still_applies(session, defaults, fraud):
    with pytest.raises(InvalidTransition, match="already in Staging"):
        request(session, defaults, BOB, 1, "Staging")


# --------------------------------------------------------------------------- gates

GATED = """
policies:
  - name: gated
    stage: Production
    min_approvals: 1
    approver_roles: [approver]
    gates:
      required_tags: {validation: [passed], owner: null}
      require_description: true
      metrics: ["metric.auc >= 0.9", "metric.latency_ms <= 50"]
      source_schemes: [s3]
"""


def test_every_failed_gate_is_listed(session, fraud):
    policies = policies_from(GATED)
    versions.set_version_tag(session, ADMIN, "fraud", 1, "metric.auc", "0.85")
    versions.set_version_tag(session, ADMIN, "fraud", 1, "metric.latency_ms", "fast")
    versions.set_version_tag(session, ADMIN, "fraud", 1, "validation", "failed")
    session.commit()
    with pytest.raises(PolicyViolation) as err:
        request(session, policies, ALICE, 1, "Production")
    checks = {(c["check"], c.get("key")) for c in err.value.failed_checks}
    assert checks == {
        ("required_tag", "validation"),
        ("required_tag", "owner"),
        ("required_description", None),
        ("metric", "metric.auc"),
        ("metric", "metric.latency_ms"),
    }
    assert all(c["policy"] == "gated" and c["message"] for c in err.value.failed_checks)


def test_source_scheme_gate(session, fraud):
    policies = policies_from(GATED.replace("[s3]", "[gs]"))
    versions.set_version_tag(session, ADMIN, "fraud", 2, "metric.latency_ms", "12")
    session.commit()
    with pytest.raises(PolicyViolation) as err:
        request(session, policies, ALICE, 2, "Production")
    assert [c["check"] for c in err.value.failed_checks] == ["source_scheme"]
    assert err.value.failed_checks[0]["actual"] == "s3"


def test_gates_are_checked_again_when_the_request_is_applied(session, fraud):
    policies = policies_from(GATED)
    versions.set_version_tag(session, ADMIN, "fraud", 2, "metric.latency_ms", "12")
    session.commit()
    info = request(session, policies, ALICE, 2, "Production")
    assert info.state == "pending"
    versions.set_version_tag(session, ADMIN, "fraud", 2, "metric.auc", "0.5")  # regressed
    session.commit()
    with pytest.raises(PolicyViolation) as err:
        approve(session, policies, CAROL, info)
    session.rollback()
    assert err.value.failed_checks[0]["key"] == "metric.auc"
    after = transitions.get_request(session, ADMIN, policies, info.id)
    assert (after.state, after.approvals) == ("pending", [])  # nothing was recorded
    assert stage_of(session, "fraud", 2) == "Staging"


def test_exclusive_stage_without_archiving_is_refused(session, fraud):
    policies = policies_from("""
policies:
  - {name: p, stage: Production, exclusive: true}
""")
    request(session, policies, ALICE, 1, "Production")
    with pytest.raises(PolicyViolation) as err:
        request(session, policies, ALICE, 2, "Production")
    assert err.value.failed_checks[0]["check"] == "exclusive_stage"
    assert err.value.failed_checks[0]["holders"] == [1]
    session.rollback()
    assert request(
        session, policies, ALICE, 2, "Production", archive_existing_versions=True
    ).archived_versions == [1]


def test_archive_flag_is_refused_for_inactive_stages(session, defaults, fraud):
    with pytest.raises(InvalidArgument):
        request(session, defaults, ALICE, 1, "Archived", archive_existing_versions=True)


def promote(session, defaults, version):
    info = request(session, defaults, ALICE, version, "Production")
    approve(session, defaults, CAROL, info)
    approve(session, defaults, ERIN, info)


def test_retiring_the_production_version_takes_two_people(session, defaults, fraud):
    promote(session, defaults, 1)
    retire = request(session, defaults, BOB, 1, "Archived")  # bob is an approver too
    assert (retire.state, retire.policy) == ("pending", "retire-production")
    with pytest.raises(PolicyViolation, match="forbids approving your own"):
        approve(session, defaults, BOB, retire)
    session.rollback()
    assert approve(session, defaults, CAROL, retire).state == "applied"
    assert request(session, defaults, ALICE, 3, "Archived").state == "applied"  # not serving


def test_demoting_the_production_version_takes_two_people_with_production_authority(
    session, defaults, fraud
):
    promote(session, defaults, 1)
    demote = request(session, defaults, BOB, 1, "Staging")
    assert (demote.state, demote.policy) == ("pending", "demote-production")
    with pytest.raises(PermissionDenied):  # a Staging-only approver cannot touch Production
        approve(session, defaults, DAVE, demote)
    session.rollback()
    assert approve(session, defaults, CAROL, demote).state == "applied"
    assert stage_of(session, "fraud", 1) == "Staging"


def test_production_is_entered_from_staging_or_the_archive_only(session, defaults, fraud):
    with pytest.raises(PolicyViolation) as err:
        request(session, defaults, ALICE, 3, "Production")  # version 3 is in None
    assert err.value.failed_checks[0]["check"] == "no_policy"


# --------------------------------------------------------------------------- freeze


def frozen(now_inside: bool = True) -> str:
    start, end = ("2026-11-01", "2026-12-31") if now_inside else ("2027-01-01", "2027-01-31")
    return f"""
policies:
  - name: p
    stage: Production
    min_approvals: 1
    approver_roles: [approver]
    freeze:
      - {{name: quarter-end, from: "{start}", until: "{end}"}}
"""


def test_a_freeze_window_refuses_transitions(session, fraud):
    with pytest.raises(PolicyViolation) as err:
        request(session, policies_from(frozen()), ALICE, 2, "Production", now=NOW)
    check = err.value.failed_checks[0]
    assert (check["check"], check["window"]) == ("freeze", "quarter-end")
    assert "break_glass" in check["message"]
    session.rollback()
    assert (
        request(session, policies_from(frozen(False)), ALICE, 2, "Production", now=NOW).state
        == "pending"
    )


def test_break_glass_lets_an_admin_through_a_freeze_and_is_recorded(session, fraud):
    policies = policies_from(frozen())
    info = request(
        session,
        policies,
        ADMIN,
        2,
        "Production",
        now=NOW,
        break_glass="Rollback: v1 leaks card numbers into logs (INC-4411)",
    )
    assert info.break_glass.startswith("Rollback")
    assert info.state == "pending"  # break-glass overrides the freeze, not the approvals
    later = NOW + dt.timedelta(hours=1)
    assert approve(session, policies, CAROL, info, now=later).state == "applied"
    assert "transition_request.break_glass" in events(session)
    row = session.execute(
        sa.select(AuditEvent).where(AuditEvent.event == "transition_request.break_glass")
    ).scalar_one()
    assert row.data["overridden"] == ["quarter-end"]
    assert row.actor == "user:root"


def test_break_glass_needs_an_admin_a_justification_and_a_freeze(session, fraud):
    policies = policies_from(frozen())
    with pytest.raises(PermissionDenied):
        request(
            session,
            policies,
            ALICE,
            2,
            "Production",
            now=NOW,
            break_glass="because I say so, really",
        )
    session.rollback()
    with pytest.raises(InvalidArgument, match="justification"):
        request(session, policies, ADMIN, 2, "Production", now=NOW, break_glass="urgent")
    session.rollback()
    with pytest.raises(InvalidArgument, match="No freeze"):
        request(
            session,
            policies_from(frozen(False)),
            ADMIN,
            2,
            "Production",
            now=NOW,
            break_glass="a perfectly good justification",
        )


def test_break_glass_covers_only_its_windows_and_only_for_a_while(session, fraud):
    policies = policies_from("""
policies:
  - name: p
    stage: Production
    min_approvals: 1
    approver_roles: [approver]
    freeze:
      - {name: quarter-end, from: "2026-11-01", until: "2026-11-30"}
      - {name: year-end, from: "2026-12-20", until: "2027-01-03"}
""")
    info = request(
        session,
        policies,
        ADMIN,
        2,
        "Production",
        now=NOW,
        break_glass="Rollback of a leaking model, INC-4411",
    )
    assert info.break_glass
    # weeks later, in a freeze nobody overrode: the old break-glass does not carry over
    with pytest.raises(PolicyViolation) as err:
        approve(session, policies, CAROL, info, now=dt.datetime(2026, 12, 24, tzinfo=dt.UTC))
    assert err.value.failed_checks[0]["window"] == "year-end"
    session.rollback()
    # and within the window it overrode, it lapses after BREAK_GLASS_VALIDITY
    with pytest.raises(PolicyViolation):
        approve(
            session,
            policies,
            CAROL,
            info,
            now=NOW + transitions.BREAK_GLASS_VALIDITY + dt.timedelta(minutes=1),
        )
    session.rollback()
    done = approve(session, policies, CAROL, info, now=NOW + dt.timedelta(hours=2))
    assert done.state == "applied"


def test_an_approval_arriving_in_a_freeze_waits_unless_an_admin_breaks_the_glass(session, fraud):
    before = NOW - dt.timedelta(days=30)  # 2026-10-19: before the freeze starts
    policies = policies_from(
        frozen()
        .replace("min_approvals: 1", "min_approvals: 2")
        .replace("[approver]", "[approver, admin]")
    )
    info = request(session, policies, ALICE, 2, "Production", now=before)
    approve(session, policies, CAROL, info, now=before)
    with pytest.raises(PolicyViolation):
        approve(session, policies, ERIN, info, now=NOW)
    session.rollback()
    done = approve(
        session,
        policies,
        ADMIN,
        info,
        now=NOW,
        break_glass="Regulator deadline today; risk accepted by CISO",
    )
    assert done.state == "applied"


# --------------------------------------------------------------------------- expiry


def test_expired_requests_read_as_expired_and_cannot_be_approved(session, defaults, fraud):
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    info = request(session, defaults, ALICE, 2, "Production", now=long_ago)
    assert transitions.get_request(session, ADMIN, defaults, info.id).state == "expired"
    pending = transitions.list_requests(session, ADMIN, defaults, state="pending").items
    assert info.id not in [r.id for r in pending]
    with pytest.raises(Conflict, match="expired"):
        approve(session, defaults, CAROL, info)
    session.rollback()
    # a new request for the same move replaces it, recording the expiry
    again = request(session, defaults, ALICE, 2, "Production")
    assert again.state == "pending"
    assert "transition_request.expired" in events(session)


def test_the_sweep_records_expiry(session, defaults, fraud):
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    info = request(session, defaults, ALICE, 2, "Production", now=long_ago)
    fresh = request(session, defaults, ALICE, 1, "Production")
    assert transitions.expire_due(session) == [info.id]
    session.commit()
    assert transitions.expire_due(session) == []
    assert transitions.get_request(session, ADMIN, defaults, fresh.id).state == "pending"
    assert events(session, "transition_request.expired") == ["transition_request.expired"]


# --------------------------------------------------------------------------- reads


def test_available_actions_depend_on_the_caller(session, defaults, fraud):
    request(session, defaults, BOB, 2, "Production")

    def actions(who):
        return transitions.list_requests(session, who, defaults).items[0].available_actions

    assert actions(CAROL) == ["approve", "reject"]
    assert actions(BOB) == ["cancel"]  # own request, self-approval forbidden
    assert actions(DAVE) == []  # Staging-only approver
    assert actions(ADMIN) == ["cancel"]


def test_list_requests_filters_and_pages(session, defaults, fraud):
    ids = [
        request(session, defaults, ALICE, v, stage).id
        for v, stage in ((1, "Production"), (2, "Production"), (3, "Staging"))
    ]
    transitions.cancel(session, ALICE, ids[0])
    session.commit()
    pending = transitions.list_requests(session, ADMIN, defaults, state="pending")
    assert [r.id for r in pending.items] == [ids[2], ids[1]]
    page = transitions.list_requests(session, ADMIN, defaults, max_results=2)
    assert [r.id for r in page.items] == [ids[2], ids[1]]
    rest = transitions.list_requests(
        session, ADMIN, defaults, max_results=2, after=page.next_cursor
    )
    assert [r.id for r in rest.items][:1] == [ids[0]]  # then the fixture's own requests
    assert transitions.list_requests(session, ADMIN, defaults, model="nope").items == []
    with pytest.raises(InvalidArgument):
        transitions.list_requests(session, ADMIN, defaults, state="open")


def test_evaluate_lists_every_failed_check_without_changing_anything(session, defaults, fraud):
    result = transitions.evaluate(session, VIEWER, defaults, "fraud", 1, "Production")
    assert result.allowed is False
    assert [c["check"] for c in result.failed_checks] == ["permission"]
    ok = transitions.evaluate(session, BOB, defaults, "fraud", 3, "Staging")
    assert (ok.allowed, ok.required_approvals, ok.approvals_needed) == (True, 1, 0)
    prod = transitions.evaluate(session, BOB, defaults, "fraud", 2, "Production")
    assert (prod.required_approvals, prod.approvals_needed) == (2, 2)
    pending = transitions.list_requests(session, ADMIN, defaults, state="pending")
    assert pending.items == []  # a dry run files nothing
