"""Service-account API tokens and role bindings: who holds which role, where.

Tokens are random (``mgt_`` + 43 URL-safe characters, 256 bits) and stored only as their
SHA-256: a fast hash is right for secrets with that much entropy, and it lets a token be
found by an indexed equality. Creating, revoking and binding are admin actions, audited.

Every token has an owner, the person who answers for it: over the API, the person minting it
(a token minted with a token inherits that token's owner, so every chain ends at a person);
only the operator's CLI names someone else outright, and an admin minting for someone else
needs a second admin. Four-eyes rules compare owners, so one person's many tokens count as
one person. Tokens and role bindings that hand out a role the policy file governs
(``tokens.second_admin_for_roles``) wait, ``pending`` and powerless, for an admin other than
the person who made them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from registry.domain import globs, permissions, validation
from registry.domain.errors import (
    AlreadyExists,
    Conflict,
    InvalidArgument,
    NotFound,
    PolicyViolation,
    Unauthenticated,
)
from registry.domain.events import EventType, record
from registry.domain.permissions import Action
from registry.domain.policy import TokenRules
from registry.domain.principal import Grant, Principal, Role
from registry.domain.stages import Stage
from registry.orm import ApiToken, RoleBinding
from registry.orm.base import utcnow

TOKEN_PREFIX = "mgt_"  # noqa: S105 - marks Modelgate tokens (for secret scanners), no secret
# What is kept (and shown, and audited) of a token to recognise it: "mgt_" and four
# characters of a generated token, and never more than a quarter of a chosen one.
PREFIX_LENGTH = len(TOKEN_PREFIX) + 4
MIN_CHOSEN_SECRET = 32
ACTIVE, PENDING = "active", "pending"
_ACCOUNT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_SUBJECT = re.compile(r"^(user|group|service):(.+)$")
# A person: someone your identity provider names (user:<sub>), or an operator (system:<name>).
_PERSON = re.compile(r"^(user|system):\S(?:.*\S)?$")


# --------------------------------------------------------------------------- grants


def make_grants(
    roles: Iterable[object], model_pattern: object = "*", stages: Iterable[object] | None = None
) -> list[Grant]:
    """Grants from the API's (roles, model_pattern, stages) triple, validated."""
    role_list = list(roles) if not isinstance(roles, str | bytes) else None
    if not role_list:
        raise InvalidArgument("roles must be a non-empty list of role names.", field="roles")
    try:
        parsed = sorted({Role(r) for r in role_list}, key=lambda r: r.value)
    except ValueError:
        raise InvalidArgument(
            f"roles must be among {', '.join(r.value for r in Role)}.", field="roles"
        ) from None
    pattern = globs.validate(model_pattern, "model_pattern")
    stage_set = None
    if stages is not None:
        stage_set = frozenset(Stage.parse(s) for s in stages)
        if not stage_set:
            raise InvalidArgument(
                "stages, when given, must name at least one stage.", field="stages"
            )
        if Role.APPROVER not in parsed:
            raise InvalidArgument(
                "stages narrow an approver grant; add the approver role.", field="stages"
            )
    return [Grant(role, pattern, stage_set if role is Role.APPROVER else None) for role in parsed]


def grant_to_dict(grant: Grant) -> dict[str, Any]:
    return {
        "role": grant.role.value,
        "model_pattern": grant.model_pattern,
        "stages": sorted(s.value for s in grant.stages) if grant.stages is not None else None,
    }


def grant_from_dict(data: dict[str, Any]) -> Grant:
    stages = data.get("stages")
    return Grant(
        Role(data["role"]),
        data.get("model_pattern", "*"),
        frozenset(Stage(s) for s in stages) if stages is not None else None,
    )


# --------------------------------------------------------------------------- tokens


@dataclass(frozen=True, slots=True)
class TokenInfo:
    id: int
    name: str
    owner: str
    prefix: str
    grants: list[dict[str, Any]]
    created_at: dt.datetime
    created_by: str
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None
    last_used_at: dt.datetime | None
    state: str = ACTIVE  # active, pending (a second admin's approval), revoked, expired
    approved_by: str | None = None
    approved_at: dt.datetime | None = None
    token: str | None = None  # the secret: only in the answer to its creation

    @property
    def roles(self) -> list[str]:
        return sorted({g["role"] for g in self.grants})

    @property
    def model_pattern(self) -> str:
        return self.grants[0]["model_pattern"] if self.grants else "*"

    @property
    def stages(self) -> list[str] | None:
        return next((g["stages"] for g in self.grants if g["stages"] is not None), None)


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def token_prefix(secret: str) -> str:
    """The characters kept to recognise a token: ``mgt_`` and four of a generated one, at
    most a quarter of a chosen one, so what a list or the ledger shows never helps guess it."""
    return secret[: min(PREFIX_LENGTH, len(secret) // 4)]


def check_person(value: object, field: str = "owner") -> str:
    """A person's id, as four-eyes rules compare them."""
    text = validation.optional_text(value, field, 256)
    if text is None or not _PERSON.match(text):
        raise InvalidArgument(
            f"{field} must name a person: user:<subject> (as your identity provider names "
            "them, so their own sign-ins and their tokens count as one person) or "
            "system:<name> (an operator).",
            field=field,
        )
    return text


def _token_state(row: ApiToken, now: dt.datetime) -> str:
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at is not None and row.expires_at <= now:
        return "expired"
    return row.state


def _token_info(row: ApiToken, secret: str | None = None) -> TokenInfo:
    return TokenInfo(
        row.id,
        row.name,
        row.owner,
        row.prefix,
        list(row.grants),
        row.created_at,
        row.created_by,
        row.expires_at,
        row.revoked_at,
        row.last_used_at,
        _token_state(row, utcnow()),
        row.approved_by,
        row.approved_at,
        secret,
    )


def _second_admin_reasons(
    principal: Principal, roles: Iterable[Role], owner: str, rules: TokenRules
) -> list[str]:
    """Why a grant made by ``principal`` must wait for a second admin (none: it need not).

    The operator (the CLI, the root of trust) never waits."""
    if principal.kind == "system":
        return []
    reasons = [f"role:{role.value}" for role in rules.governs(roles)]
    if owner != principal.person:
        reasons.append("owner")
    return reasons


def create_token(
    session: Session,
    principal: Principal,
    *,
    name: str,
    roles: Sequence[str],
    model_pattern: str = "*",
    stages: Sequence[str] | None = None,
    expires_at: dt.datetime | None = None,
    owner: str | None = None,
    secret: str | None = None,
    rules: TokenRules | None = None,
    now: dt.datetime | None = None,
) -> TokenInfo:
    """Mint a token for the service account ``name``. The answer holds the secret; nothing
    else ever will. ``secret`` is for the bootstrap token an operator chose in advance.

    ``owner`` is the person who answers for the token; by default the minter's own person.
    A token that carries a role ``rules`` govern, or that names an owner other than its
    minter, is created ``pending``: it authenticates as nothing until an admin other than
    the minter and the owner approves it (:func:`approve_token`). The system principal (the
    operator's CLI) mints active tokens for anyone."""
    now = now or utcnow()
    permissions.require(principal, Action.ADMIN)
    if not isinstance(name, str) or not _ACCOUNT.match(name):
        raise InvalidArgument(
            "name must be a service account name: letters, digits, '.', '_', '-' "
            "(up to 128, starting with a letter or digit).",
            field="name",
        )
    grants = make_grants(roles, model_pattern, stages)
    if expires_at is not None and expires_at <= now:
        raise InvalidArgument("expires_at must be in the future.", field="expires_at")
    owner = principal.person if owner is None else check_person(owner)
    reasons = _second_admin_reasons(
        principal, (g.role for g in grants), owner, rules or TokenRules()
    )
    if secret is None:
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    elif not isinstance(secret, str) or len(secret) < MIN_CHOSEN_SECRET:
        raise InvalidArgument(
            f"A chosen token must be at least {MIN_CHOSEN_SECRET} characters.", field="token"
        )
    row = ApiToken(
        name=name,
        owner=owner,
        token_hash=hash_token(secret),
        prefix=token_prefix(secret),
        grants=[grant_to_dict(g) for g in grants],
        created_at=now,
        created_by=principal.id,
        created_by_person=principal.person,
        state=PENDING if reasons else ACTIVE,
        expires_at=expires_at,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        raise AlreadyExists("A token with that secret already exists.") from None
    record(
        session,
        EventType.TOKEN_CREATED,
        principal,
        data={
            "token_id": row.id,
            "name": name,
            "owner": owner,
            "prefix": row.prefix,
            "grants": row.grants,
            "expires_at": expires_at.isoformat() if expires_at else None,
            "state": row.state,
            "created_by_person": principal.person,
            "second_admin_needed_for": reasons,
        },
    )
    return _token_info(row, secret)


def list_tokens(
    session: Session,
    principal: Principal,
    *,
    name: str | None = None,
    include_revoked: bool = False,
    state: str | None = None,
) -> list[TokenInfo]:
    """Tokens, oldest first; ``state`` (active, pending, revoked, expired) narrows them."""
    permissions.require(principal, Action.ADMIN)
    states = (ACTIVE, PENDING, "revoked", "expired")
    if state is not None and state not in states:
        raise InvalidArgument(f"state must be one of {', '.join(states)}.", field="state")
    stmt = sa.select(ApiToken).order_by(ApiToken.id)
    if name is not None:
        stmt = stmt.where(ApiToken.name == name)
    if not include_revoked and state != "revoked":
        stmt = stmt.where(ApiToken.revoked_at.is_(None))
    infos = [_token_info(row) for row in session.execute(stmt).scalars()]
    return [i for i in infos if state is None or i.state == state]


def approve_token(
    session: Session, principal: Principal, token_id: int, now: dt.datetime | None = None
) -> TokenInfo:
    """A second admin lets a pending token work.

    The approver must be an admin and a person other than the token's minter and its owner
    (``POLICY_VIOLATION``, check ``second_admin``, otherwise); the operator (the CLI) may
    approve any. Raises NotFound (no such token, or revoked) and Conflict (not pending, or
    expired)."""
    now = now or utcnow()
    permissions.require(principal, Action.ADMIN)
    token_id = validation.row_id(token_id, f"Token {token_id} not found.")
    row = session.get(ApiToken, token_id, with_for_update=True)
    if row is None or row.revoked_at is not None:
        raise NotFound(f"Token {token_id} not found (or revoked).")
    state = _token_state(row, now)
    if state != PENDING:
        raise Conflict(f"Token {token_id} is {state}, not awaiting approval.", state=state)
    _require_second_admin(principal, f"token {token_id}", {row.created_by_person, row.owner})
    row.state, row.approved_by, row.approved_at = ACTIVE, principal.id, now
    session.flush()
    record(
        session,
        EventType.TOKEN_APPROVED,
        principal,
        data={
            "token_id": row.id,
            "name": row.name,
            "owner": row.owner,
            "prefix": row.prefix,
            "grants": row.grants,
            "created_by": row.created_by,
            "created_by_person": row.created_by_person,
            "approved_by_person": principal.person,
        },
    )
    return _token_info(row)


def _require_second_admin(principal: Principal, what: str, excluded: set[str]) -> None:
    if principal.kind == "system" or principal.person not in excluded:
        return
    check = {
        "check": "second_admin",
        "person": principal.person,
        "message": f"{what} needs an admin other than the person who made it or receives it "
        f"({', '.join(sorted(excluded))}); {principal.id} acts for {principal.person}.",
    }
    raise PolicyViolation(
        f"{what[0].upper()}{what[1:]} needs a second admin's approval: {check['message']}",
        failed_checks=[check],
    )


def revoke_token(
    session: Session, principal: Principal, token_id: int, now: dt.datetime | None = None
) -> TokenInfo:
    permissions.require(principal, Action.ADMIN)
    token_id = validation.row_id(token_id, f"Token {token_id} not found.")
    row = session.get(ApiToken, token_id, with_for_update=True)
    if row is None or row.revoked_at is not None:
        raise NotFound(f"Token {token_id} not found (or already revoked).")
    row.revoked_at, row.revoked_by = now or utcnow(), principal.id
    session.flush()
    record(
        session,
        EventType.TOKEN_REVOKED,
        principal,
        data={"token_id": row.id, "name": row.name, "prefix": row.prefix},
    )
    return _token_info(row)


def find_token(session: Session, secret: str, now: dt.datetime | None = None) -> ApiToken:
    """The live token with this secret, or Unauthenticated saying why not."""
    now = now or utcnow()
    row = session.execute(
        sa.select(ApiToken).where(ApiToken.token_hash == hash_token(secret))
    ).scalar_one_or_none()
    if row is None:
        raise Unauthenticated(
            "The API token is not known to this registry.", reason="unknown_token"
        )
    # A dead token still says whose it was: the refusal is recorded against its holder.
    whose = {"token_id": row.id, "holder": f"service:{row.name}"}
    if row.revoked_at is not None:
        raise Unauthenticated(
            f"The API token {row.prefix}... was revoked.", reason="revoked_token", context=whose
        )
    if row.expires_at is not None and row.expires_at <= now:
        raise Unauthenticated(
            f"The API token {row.prefix}... expired at {row.expires_at.isoformat()}.",
            reason="expired_token",
            context=whose,
        )
    if row.state != ACTIVE:
        raise Unauthenticated(
            f"The API token {row.prefix}... awaits a second admin's approval "
            f"(POST /api/v1/tokens/{row.id}/approve)."
        )
    return row


def ensure_bootstrap_token(
    session: Session,
    secret: str | None = None,
    lifetime: dt.timedelta | None = None,
    now: dt.datetime | None = None,
) -> str | None:
    """On an empty registry, create its first admin token, valid for ``lifetime`` (None:
    no expiry); return the secret if one was made.

    Checks and creates under the audit chain's lock, so two processes starting at once make
    one token between them. The first token is a way in, not a credential to keep: it
    expires, and the admin mints the tokens that stay.
    """
    from registry.domain.ledger import lock_chain
    from registry.domain.principal import system

    lock_chain(session)
    if session.execute(sa.select(sa.func.count()).select_from(ApiToken)).scalar_one():
        return None
    # The operator's own token: the root of trust, as the CLI is.
    info = create_token(
        session,
        system(),
        name="bootstrap-admin",
        roles=[Role.ADMIN.value],
        owner=system().person,
        secret=secret,
        expires_at=(now or utcnow()) + lifetime if lifetime else None,
    )
    return info.token


# --------------------------------------------------------------------------- role bindings


@dataclass(frozen=True, slots=True)
class BindingInfo:
    id: int
    subject: str
    role: str
    model_pattern: str
    stages: list[str] | None
    created_at: dt.datetime
    created_by: str
    state: str = ACTIVE  # active, or pending a second admin's approval
    approved_by: str | None = None
    approved_at: dt.datetime | None = None


def _binding_info(row: RoleBinding) -> BindingInfo:
    return BindingInfo(
        row.id,
        row.subject,
        row.role,
        row.model_pattern,
        list(row.stages) if row.stages is not None else None,
        row.created_at,
        row.created_by,
        row.state,
        row.approved_by,
        row.approved_at,
    )


def check_subject(subject: object) -> str:
    text = validation.optional_text(subject, "subject", 300)
    match = _SUBJECT.match(text or "")
    if not match or not match.group(2).strip():
        raise InvalidArgument(
            "subject must be user:<subject>, group:<name> or service:<name>.", field="subject"
        )
    return text  # type: ignore[return-value]


def create_binding(
    session: Session,
    principal: Principal,
    *,
    subject: str,
    role: str,
    model_pattern: str = "*",
    stages: Sequence[str] | None = None,
    rules: TokenRules | None = None,
    now: dt.datetime | None = None,
) -> BindingInfo:
    """Grant ``role`` to ``subject``. A role ``rules`` govern makes the binding ``pending``,
    granting nothing until a second admin approves it (:func:`approve_binding`), as for
    tokens; the operator's CLI binds at once."""
    permissions.require(principal, Action.ADMIN)
    subject = check_subject(subject)
    [grant] = make_grants([role], model_pattern, stages)
    reasons = [
        f"role:{r.value}"
        for r in (rules or TokenRules()).governs([grant.role])
        if principal.kind != "system"
    ]
    row = RoleBinding(
        subject=subject,
        role=grant.role.value,
        model_pattern=grant.model_pattern,
        stages=grant_to_dict(grant)["stages"],
        created_at=now or utcnow(),
        created_by=principal.id,
        created_by_person=principal.person,
        state=PENDING if reasons else ACTIVE,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        raise AlreadyExists(
            f"{subject} already holds {grant.role.value} on {grant.model_pattern!r}; delete "
            "that binding to change it."
        ) from None
    record(
        session,
        EventType.BINDING_CREATED,
        principal,
        data={
            "binding_id": row.id,
            "subject": subject,
            "role": row.role,
            "model_pattern": row.model_pattern,
            "stages": row.stages,
            "state": row.state,
            "created_by_person": principal.person,
            "second_admin_needed_for": reasons,
        },
    )
    return _binding_info(row)


def approve_binding(
    session: Session, principal: Principal, binding_id: int, now: dt.datetime | None = None
) -> BindingInfo:
    """A second admin lets a pending role binding grant its role.

    The approver must be an admin other than the person who made the binding and than the
    person it grants the role to (a user subject, the owners of a service account's tokens,
    a member of a group subject, as far as the approver's own sign-in says)."""
    permissions.require(principal, Action.ADMIN)
    binding_id = validation.row_id(binding_id, f"Role binding {binding_id} not found.")
    row = session.get(RoleBinding, binding_id, with_for_update=True)
    if row is None:
        raise NotFound(f"Role binding {binding_id} not found.")
    if row.state != PENDING:
        raise Conflict(
            f"Role binding {binding_id} is {row.state}, not awaiting approval.", state=row.state
        )
    _require_second_admin(
        principal,
        f"role binding {binding_id}",
        {row.created_by_person, *_persons_of(session, principal, row.subject)},
    )
    row.state, row.approved_by, row.approved_at = ACTIVE, principal.id, now or utcnow()
    session.flush()
    record(
        session,
        EventType.BINDING_APPROVED,
        principal,
        data={
            "binding_id": row.id,
            "subject": row.subject,
            "role": row.role,
            "model_pattern": row.model_pattern,
            "stages": row.stages,
            "created_by": row.created_by,
            "created_by_person": row.created_by_person,
            "approved_by_person": principal.person,
        },
    )
    return _binding_info(row)


def _persons_of(session: Session, approver: Principal, subject: str) -> set[str]:
    """The people a binding on ``subject`` empowers, as far as Modelgate can tell."""
    kind, _, name = subject.partition(":")
    if kind == "user":
        return {subject}
    if kind == "service":
        return set(
            session.execute(
                sa.select(ApiToken.owner).where(
                    ApiToken.name == name, ApiToken.revoked_at.is_(None)
                )
            ).scalars()
        )
    if kind == "group" and name in approver.groups:
        return {approver.person}
    return set()


def list_bindings(
    session: Session, principal: Principal, *, subject: str | None = None, model: str | None = None
) -> list[BindingInfo]:
    permissions.require(principal, Action.ADMIN)
    stmt = sa.select(RoleBinding).order_by(RoleBinding.id)
    if subject is not None:
        stmt = stmt.where(RoleBinding.subject == subject)
    rows = [_binding_info(r) for r in session.execute(stmt).scalars()]
    if model is not None:
        rows = [r for r in rows if globs.matches(r.model_pattern, model)]
    return rows


def delete_binding(session: Session, principal: Principal, binding_id: int) -> None:
    permissions.require(principal, Action.ADMIN)
    binding_id = validation.row_id(binding_id, f"Role binding {binding_id} not found.")
    row = session.get(RoleBinding, binding_id)
    if row is None:
        raise NotFound(f"Role binding {binding_id} not found.")
    info = _binding_info(row)
    session.delete(row)
    session.flush()
    record(
        session,
        EventType.BINDING_DELETED,
        principal,
        data={
            "binding_id": info.id,
            "subject": info.subject,
            "role": info.role,
            "model_pattern": info.model_pattern,
            "stages": info.stages,
        },
    )


def bound_grants(session: Session, subjects: Sequence[str]) -> tuple[Grant, ...]:
    """Every grant bound to any of ``subjects`` (a user and their groups, or a service)."""
    if not subjects:
        return ()
    rows = session.execute(
        sa.select(RoleBinding)
        .where(RoleBinding.subject.in_(subjects), RoleBinding.state == ACTIVE)
        .order_by(RoleBinding.id)
    ).scalars()
    return tuple(
        grant_from_dict({"role": r.role, "model_pattern": r.model_pattern, "stages": r.stages})
        for r in rows
    )


def service_principal(session: Session, token: ApiToken) -> Principal:
    own = tuple(grant_from_dict(g) for g in token.grants)
    return Principal(
        subject=token.name,
        kind="service",
        grants=own + bound_grants(session, [f"service:{token.name}"]),
        token_id=token.id,
        owner=token.owner,
    )


def user_principal(
    session: Session, subject: str, groups: Sequence[str], claimed_roles: Sequence[str]
) -> Principal:
    """A person from an identity provider: roles it vouches for apply everywhere; the rest
    comes from bindings on the user and on each of their groups."""
    direct = tuple(
        Grant(Role(r)) for r in sorted(set(claimed_roles)) if r in Role._value2member_map_
    )
    subjects = [f"user:{subject}", *(f"group:{g}" for g in groups)]
    return Principal(
        subject=subject,
        kind="user",
        groups=tuple(groups),
        grants=direct + bound_grants(session, subjects),
    )
