"""Service-account API tokens: mint, list, approve, revoke, and find one by its secret.

Tokens are random (``mgt_`` + 43 URL-safe characters, 256 bits) and stored only as their
SHA-256: a fast hash is right for secrets with that much entropy, and it lets a token be
found by an indexed equality. Every token has an owner, the person who answers for it (see
:mod:`registry.domain.identity`); a token that hands out a governed role, or is minted for
someone else, waits for a second admin (:mod:`registry.domain.identity.four_eyes`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from registry.domain import permissions, validation
from registry.domain.errors import (
    AlreadyExists,
    Conflict,
    InvalidArgument,
    NotFound,
    Unauthenticated,
)
from registry.domain.events import EventType, record
from registry.domain.identity.four_eyes import require_second_admin, second_admin_reasons
from registry.domain.identity.grants import (
    ACTIVE,
    PENDING,
    check_person,
    grant_to_dict,
    make_grants,
)
from registry.domain.ledger import lock_chain
from registry.domain.permissions import Action
from registry.domain.policy import TokenRules
from registry.domain.principal import Principal, Role, system
from registry.orm import ApiToken
from registry.orm.base import utcnow

TOKEN_PREFIX = "mgt_"  # noqa: S105 - marks Modelgate tokens (for secret scanners), no secret
# What is kept (and shown, and audited) of a token to recognise it: "mgt_" and four
# characters of a generated token, and never more than a quarter of a chosen one.
PREFIX_LENGTH = len(TOKEN_PREFIX) + 4
MIN_CHOSEN_SECRET = 32
_ACCOUNT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


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
    reasons = second_admin_reasons(
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
    require_second_admin(principal, f"token {token_id}", {row.created_by_person, row.owner})
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
