import pytest

from registry.domain import permissions
from registry.domain.errors import NotFound, PermissionDenied
from registry.domain.permissions import Action, can
from registry.domain.principal import Grant, Principal, Role
from registry.domain.stages import Stage


def who(*grants: Grant) -> Principal:
    return Principal(subject="alice", kind="user", grants=grants)


def test_nothing_is_allowed_without_a_grant():
    nobody = who()
    assert not any(can(nobody, action, "m") for action in Action)


def test_a_viewer_reads_but_never_writes():
    viewer = who(Grant(Role.VIEWER))
    assert can(viewer, Action.READ, "m")
    assert not can(viewer, Action.WRITE, "m")
    assert not can(viewer, Action.REQUEST_TRANSITION, "m")


def test_grants_follow_the_model_glob():
    contributor = who(Grant(Role.CONTRIBUTOR, "fraud-*"))
    assert can(contributor, Action.WRITE, "fraud-eu")
    assert not can(contributor, Action.WRITE, "churn")
    assert permissions.readable_patterns(contributor) == ["fraud-*"]


def test_approve_is_a_role_question_here_and_stages_a_policy_question():
    approver = who(Grant(Role.APPROVER, stages=frozenset({Stage.STAGING})))
    assert can(approver, Action.APPROVE, "m")  # which moves: policy.is_eligible_approver
    assert not can(who(Grant(Role.CONTRIBUTOR)), Action.APPROVE, "m")


def test_global_actions_need_a_grant_on_every_model():
    scoped_admin = who(Grant(Role.ADMIN, "fraud-*"))
    assert can(scoped_admin, Action.MANAGE, "fraud-eu")
    assert not can(scoped_admin, Action.ADMIN)
    assert not can(scoped_admin, Action.READ_AUDIT)
    assert can(who(Grant(Role.AUDITOR)), Action.READ_AUDIT)


def test_an_invisible_model_is_not_found_and_a_visible_one_is_forbidden():
    contributor = who(Grant(Role.CONTRIBUTOR, "fraud-*"))
    with pytest.raises(NotFound):
        permissions.require(contributor, Action.MANAGE, "churn")
    with pytest.raises(PermissionDenied):
        permissions.require(contributor, Action.MANAGE, "fraud-eu")
