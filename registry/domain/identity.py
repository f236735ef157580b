"""Service-account API tokens and role bindings: who holds which role, where.

Tokens are random (``mgt_`` + 43 URL-safe characters, 256 bits) and stored only as their
SHA-256: a fast hash is right for secrets with that much entropy, and it lets a token be
found by an indexed equality. Creating, revoking and binding are admin actions, audited.
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
from registry.domain.errors import AlreadyExists, InvalidArgument, NotFound, Unauthenticated
from registry.domain.events import EventType, record
from registry.domain.permissions import Action
from registry.domain.principal import Grant, Principal, Role
from registry.domain.stages import Stage
from registry.orm import ApiToken, RoleBinding
from registry.orm.base import utcnow

TOKEN_PREFIX = "mgt_"  # noqa: S105 - marks Modelgate tokens (for secret scanners), no secret
_ACCOUNT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_SUBJECT = re.compile(r"^(user|group|service):(.+)$")


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
        secret,
    )


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
    now: dt.datetime | None = None,
) -> TokenInfo:
    """Mint a token for the service account ``name``. The answer holds the secret; nothing
    else ever will. ``secret`` is for the bootstrap token an operator chose in advance."""
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
    owner = validation.optional_text(owner, "owner", 256) or principal.id
    if secret is None:
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    elif len(secret) < 16:
        raise InvalidArgument("A chosen token must be at least 16 characters.", field="token")
    row = ApiToken(
        name=name,
        owner=owner,
        token_hash=hash_token(secret),
        prefix=secret[:12],
        grants=[grant_to_dict(g) for g in grants],
        created_at=now,
        created_by=principal.id,
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
        },
    )
    return _token_info(row, secret)


def list_tokens(
    session: Session,
    principal: Principal,
    *,
    name: str | None = None,
    include_revoked: bool = False,
) -> list[TokenInfo]:
    permissions.require(principal, Action.ADMIN)
    stmt = sa.select(ApiToken).order_by(ApiToken.id)
    if name is not None:
        stmt = stmt.where(ApiToken.name == name)
    if not include_revoked:
        stmt = stmt.where(ApiToken.revoked_at.is_(None))
    return [_token_info(row) for row in session.execute(stmt).scalars()]


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
    info = create_token(
        session,
        system(),
        name="bootstrap-admin",
        roles=[Role.ADMIN.value],
        owner="system:modelgate",
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


def _binding_info(row: RoleBinding) -> BindingInfo:
    return BindingInfo(
        row.id,
        row.subject,
        row.role,
        row.model_pattern,
        list(row.stages) if row.stages is not None else None,
        row.created_at,
        row.created_by,
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
    now: dt.datetime | None = None,
) -> BindingInfo:
    permissions.require(principal, Action.ADMIN)
    subject = check_subject(subject)
    [grant] = make_grants([role], model_pattern, stages)
    row = RoleBinding(
        subject=subject,
        role=grant.role.value,
        model_pattern=grant.model_pattern,
        stages=grant_to_dict(grant)["stages"],
        created_at=now or utcnow(),
        created_by=principal.id,
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
        },
    )
    return _binding_info(row)


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
        sa.select(RoleBinding).where(RoleBinding.subject.in_(subjects)).order_by(RoleBinding.id)
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
