"""Bearer tokens to principals: Modelgate API tokens and OIDC access tokens (JWT).

OIDC tokens are verified with joserfc against the issuer's JWKS, found through its discovery
document (or a configured URL), cached, and fetched again when a token names a key id the
cache does not know (at most every ``JWKS_MIN_REFRESH`` seconds, so random key ids cannot
make us hammer the provider). Only the configured asymmetric algorithms are accepted: a
token saying ``none`` or ``HS256`` (the "public key as HMAC secret" confusion) is refused
before any key is touched. ``iss``, ``aud``, ``exp`` and ``nbf`` are checked with a small
leeway.

A verified caller is cached for a few seconds (``MODELGATE_AUTH_CACHE_SECONDS``), so deploy
pipelines resolving models do not pay a token lookup and a role-binding query per request.
The price, stated in SECURITY.md: a revoked token or a removed binding may still be honoured
for that long by other processes (the process that made the change forgets at once).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import requests
import sqlalchemy as sa
from authlib.integrations.flask_oauth2 import ResourceProtector
from authlib.oauth2.rfc6750 import BearerTokenValidator
from joserfc import errors as jose_errors
from joserfc import jwt
from joserfc.jwk import KeySet
from sqlalchemy.orm import Session

from registry.domain import identity, validation
from registry.domain.errors import InvalidArgument, Unauthenticated
from registry.domain.principal import Principal
from registry.orm import ApiToken
from registry.orm.base import utcnow

log = logging.getLogger("modelgate.auth")

JWKS_MIN_REFRESH = 30.0
JWKS_MAX_AGE = 3600.0
LAST_USED_EVERY = 60.0


def looks_like_jwt(token: str) -> bool:
    parts = token.split(".")
    if len(parts) != 3:
        return False
    try:
        header = _header(token)
    except (ValueError, binascii.Error, UnicodeDecodeError, InvalidArgument):
        return False
    return isinstance(header, dict) and "alg" in header


def _header(token: str) -> dict[str, Any]:
    segment = token.split(".", 1)[0]
    raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    return validation.json_document(raw, what="The token's header")


# --------------------------------------------------------------------------- OIDC


class JwksCache:
    """The issuer's signing keys, fetched lazily and again when they may have rotated."""

    def __init__(self, issuer: str, jwks_url: str | None, timeout: float = 5.0) -> None:
        self.issuer = issuer.rstrip("/")
        self.jwks_url = jwks_url
        self.timeout = timeout
        self._keys: KeySet | None = None
        self._fetched_at = 0.0
        self._lock = threading.Lock()

    def _discover(self) -> str:
        url = f"{self.issuer}/.well-known/openid-configuration"
        response = requests.get(url, timeout=self.timeout)
        response.raise_for_status()
        jwks_uri = response.json().get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise ValueError(f"{url} names no jwks_uri")
        return jwks_uri

    def _fetch(self) -> KeySet:
        if self.jwks_url is None:
            self.jwks_url = self._discover()
        response = requests.get(self.jwks_url, timeout=self.timeout)
        response.raise_for_status()
        return KeySet.import_key_set(response.json())

    def keys(self, *, refresh: bool = False) -> KeySet:
        with self._lock:
            age = time.monotonic() - self._fetched_at
            stale = self._keys is None or age > JWKS_MAX_AGE
            if stale or (refresh and age > JWKS_MIN_REFRESH):
                try:
                    self._keys = self._fetch()
                    self._fetched_at = time.monotonic()
                except (requests.RequestException, ValueError) as exc:
                    log.warning("cannot fetch the issuer's signing keys: %s", exc)
                    if self._keys is None:
                        raise Unauthenticated(
                            "The token cannot be verified: the identity provider's signing "
                            "keys are unavailable."
                        ) from None
            assert self._keys is not None
            return self._keys

    def has_kid(self, keys: KeySet, kid: str | None) -> bool:
        return kid is None or any(k.kid == kid for k in keys)


@dataclass(frozen=True)
class OidcSettings:
    issuer: str
    audience: str
    jwks_url: str | None
    algorithms: tuple[str, ...]
    leeway: int
    subject_claim: str
    groups_claim: str
    roles_claim: str


class OidcVerifier:
    def __init__(self, settings: OidcSettings) -> None:
        self.settings = settings
        self.jwks = JwksCache(settings.issuer, settings.jwks_url)
        self._claims = jwt.JWTClaimsRegistry(
            leeway=settings.leeway,
            iss={"essential": True, "value": settings.issuer},
            exp={"essential": True},
        )

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, or Unauthenticated saying exactly what is wrong with it."""
        try:
            header = _header(token)
        except (ValueError, binascii.Error, UnicodeDecodeError, InvalidArgument):
            raise Unauthenticated("The bearer token is not a well-formed JWT.") from None
        alg = header.get("alg")
        if alg not in self.settings.algorithms:
            raise Unauthenticated(
                f"Tokens signed with {alg!r} are not accepted; expected one of "
                f"{', '.join(self.settings.algorithms)}."
            )
        keys = self.jwks.keys()
        if not self.jwks.has_kid(keys, header.get("kid")):
            keys = self.jwks.keys(refresh=True)  # the provider may have rotated its keys
            if not self.jwks.has_kid(keys, header.get("kid")):
                raise Unauthenticated(
                    f"The token is signed with key {header.get('kid')!r}, which the identity "
                    "provider does not publish."
                )
        try:
            decoded = jwt.decode(token, keys, algorithms=list(self.settings.algorithms))
        except jose_errors.BadSignatureError:
            raise Unauthenticated("The token's signature does not verify.") from None
        except jose_errors.JoseError as exc:
            raise Unauthenticated(f"The token cannot be verified: {exc.description}.") from None
        claims = decoded.claims
        try:
            self._claims.validate(claims)
        except jose_errors.ExpiredTokenError:
            # The signature verified, so the subject is the provider's word: say whose it was.
            subject = claims.get(self.settings.subject_claim)
            raise Unauthenticated(
                "The token has expired.",
                reason="expired_token",
                context={"holder": f"user:{subject}"} if isinstance(subject, str) else None,
            ) from None
        except jose_errors.MissingClaimError as exc:
            raise Unauthenticated(f"The token has no {exc.claim!r} claim.") from None
        except jose_errors.ClaimError as exc:
            raise Unauthenticated(self._claim_problem(exc.claim, claims)) from None
        audiences = claims.get("aud")
        if isinstance(audiences, str):
            audiences = [audiences]
        if not isinstance(audiences, list) or self.settings.audience not in audiences:
            raise Unauthenticated(
                f"The token is meant for {claims.get('aud')!r}, not for this registry "
                f"({self.settings.audience!r})."
            )
        if not isinstance(claims.get(self.settings.subject_claim), str):
            raise Unauthenticated(f"The token has no {self.settings.subject_claim!r} claim.")
        return claims

    def _claim_problem(self, claim: str, claims: dict[str, Any]) -> str:
        if claim == "nbf":
            return "The token is not valid yet (nbf is in the future)."
        if claim == "iss":
            return (
                f"The token was issued by {claims.get('iss')!r}, not by {self.settings.issuer!r}."
            )
        return f"The token's {claim!r} claim is not valid."

    def principal_facts(self, claims: dict[str, Any]) -> tuple[str, list[str], list[str]]:
        return (
            claims[self.settings.subject_claim],
            _strings(_claim(claims, self.settings.groups_claim)),
            _strings(_claim(claims, self.settings.roles_claim))
            if self.settings.roles_claim
            else [],
        )


def _claim(claims: dict[str, Any], path: str) -> Any:
    """A claim by dotted path, as some providers nest roles (``realm_access.roles``)."""
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


# --------------------------------------------------------------------------- authenticator


class Authenticator:
    """Turns a bearer token into a Principal, with a short cache in front."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.cache_seconds = float(config["AUTH_CACHE_SECONDS"])
        self.oidc: OidcVerifier | None = None
        if config.get("OIDC_ISSUER"):
            self.oidc = OidcVerifier(
                OidcSettings(
                    issuer=config["OIDC_ISSUER"],
                    audience=config["OIDC_AUDIENCE"],
                    jwks_url=config.get("OIDC_JWKS_URL"),
                    algorithms=tuple(config["OIDC_ALGORITHMS"]),
                    leeway=int(config["OIDC_LEEWAY_SECONDS"]),
                    subject_claim=config["OIDC_SUBJECT_CLAIM"],
                    groups_claim=config["OIDC_GROUPS_CLAIM"],
                    roles_claim=config["OIDC_ROLES_CLAIM"] or "",
                )
            )
        self._cache: dict[str, tuple[float, Principal]] = {}
        self._last_used: dict[int, float] = {}
        self._lock = threading.Lock()

    def forget(self) -> None:
        """Drop every cached caller (after a token is revoked or a binding changes)."""
        with self._lock:
            self._cache.clear()
            self._last_used.clear()

    def remembered(self, token: str) -> Principal | None:
        """The caller behind ``token`` if this process verified it moments ago, else None
        (nothing is looked up)."""
        cached = self._cache.get(hashlib.sha256(token.encode()).hexdigest())
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        return None

    def authenticate(self, session: Session, token: str, *, fresh: bool = False) -> Principal:
        """The caller behind ``token``. ``fresh`` skips the cache: the console asks so, as a
        sign-in lives for hours and a revoked token must end it at once (one indexed lookup
        per page is cheap beside a page)."""
        key = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        cached = None if fresh else self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        if looks_like_jwt(token):
            principal, lifetime = self._from_jwt(session, token)
        else:
            principal, lifetime = self._from_api_token(session, token)
        ttl = min(self.cache_seconds, lifetime)
        if ttl > 0:
            with self._lock:
                if len(self._cache) > 10_000:  # bounded: a flood of tokens cannot grow it
                    self._cache.clear()
                self._cache[key] = (now + ttl, principal)
        return principal

    def _from_api_token(self, session: Session, token: str) -> tuple[Principal, float]:
        row = identity.find_token(session, token)
        lifetime = (row.expires_at - utcnow()).total_seconds() if row.expires_at else 1e9
        return identity.service_principal(session, row), lifetime

    def _from_jwt(self, session: Session, token: str) -> tuple[Principal, float]:
        if self.oidc is None:
            raise Unauthenticated(
                "This registry accepts no OIDC tokens (MODELGATE_OIDC_ISSUER is not set); "
                "use a Modelgate API token.",
                reason="unknown_token",
            )
        claims = self.oidc.verify(token)
        subject, groups, roles = self.oidc.principal_facts(claims)
        lifetime = float(claims["exp"]) - time.time()
        return identity.user_principal(session, subject, groups, roles), lifetime

    def due_for_use_record(self, token_id: int) -> bool:
        """True at most once a minute per token: last_used_at is bookkeeping, not a log."""
        now = time.monotonic()
        with self._lock:
            if now - self._last_used.get(token_id, 0.0) < LAST_USED_EVERY:
                return False
            self._last_used[token_id] = now
            return True

    def record_use(self, bind: sa.Engine | sa.Connection, token_id: int) -> None:
        """Stamp last_used_at in a transaction of its own, after the request's has ended (on
        SQLite, earlier would wait on the request's own write lock)."""
        update = (
            ApiToken.__table__.update()
            .where(ApiToken.__table__.c.id == token_id)
            .values(last_used_at=utcnow())
        )
        try:
            if isinstance(bind, sa.Engine):
                with bind.begin() as conn:
                    conn.execute(update)
            else:  # one connection for everything (the test harness): a savepoint apart
                with bind.begin_nested():
                    bind.execute(update)
        except Exception:  # noqa: BLE001 - bookkeeping must never fail a request
            log.warning("could not record token use", exc_info=True)


class _Validator(BearerTokenValidator):  # type: ignore[misc]
    """Authlib's bearer-token hook, answering with our principal."""

    def __init__(self, authenticate: Any) -> None:
        super().__init__()
        self._authenticate = authenticate

    def authenticate_token(self, token_string: str) -> Principal:
        return self._authenticate(token_string)

    def validate_token(self, token: Any, scopes: Any, request: Any) -> None:
        return None  # authenticate_token already refused anything invalid


def resource_protector(authenticate: Any) -> ResourceProtector:
    protector = ResourceProtector()
    protector.register_token_validator(_Validator(authenticate))
    return protector
