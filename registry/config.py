"""Settings: every ``MODELGATE_*`` variable declared once, with its type, default and meaning.

The declarations are the single source for parsing the environment, for validating the result
at start-up and for the configuration reference in the README (a test keeps the two in step).
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from registry import keyfiles, secret_keys

PREFIX = "MODELGATE_"
# Signature algorithms an OIDC token may use: public-key ones only, so a token can never be
# checked with a secret an attacker could also know.
ASYMMETRIC = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
)


# A chosen token is guessed only as well as it was chosen; the generated ones have 256 bits.
MIN_CHOSEN_TOKEN = 32


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the service refuses to start."""


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected true or false, got {raw!r}")


def _int(raw: str) -> int:
    return int(raw.strip())


def _float(raw: str) -> float:
    return float(raw.strip())


def _str(raw: str) -> str:
    return raw


def _floats(raw: str) -> tuple[float, ...]:
    values = tuple(float(item) for item in raw.split(",") if item.strip())
    if not values or any(v < 0 for v in values):
        raise ValueError(f"expected comma-separated non-negative seconds, got {raw!r}")
    return values


def _rate_limit(raw: str) -> str:
    from limits import parse_many

    if raw.strip():
        parse_many(raw)  # raises ValueError naming what it could not read
    return raw.strip()


def _list(raw: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in allowed:
            raise ValueError(f"expected one of {', '.join(allowed)}, got {raw!r}")
        return value

    return parse


def _lifetime(raw: str) -> dt.timedelta | None:
    """A duration such as 24h or 7d, or ``never``."""
    from registry.domain.policy import parse_duration

    if raw.strip().lower() == "never":
        return None
    return parse_duration(raw)


def _non_negative_int(raw: str) -> int:
    value = _int(raw)
    if value < 0:
        raise ValueError(f"expected a whole number of at least 0, got {raw!r}")
    return value


def _positive_int(raw: str) -> int:
    value = _int(raw)
    if value < 1:
        raise ValueError(f"expected a whole number of at least 1, got {raw!r}")
    return value


def _non_negative_int(raw: str) -> int:
    value = _int(raw)
    if value < 0:
        raise ValueError(f"expected a whole number of at least 0, got {raw!r}")
    return value


@dataclass(frozen=True)
class Setting:
    name: str  # without the prefix
    parse: Callable[[str], Any]
    default: Any
    help: str
    secret: bool = False
    production: str = ""  # what a production deployment should set, for the README
    # Set but empty means "off" rather than "the default" (an unset variable is the default).
    empty_disables: bool = False

    @property
    def env(self) -> str:
        return PREFIX + self.name


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "DATABASE_URL",
        _str,
        None,
        "SQLAlchemy URL of the database. Unset: an embedded SQLite file `modelgate.db` in the "
        "working directory. `postgresql://` URLs are served by psycopg2.",
        secret=True,
        production="a PostgreSQL URL",
    ),
    Setting(
        "SECRET_KEY",
        _str,
        None,
        "Signs page tokens and console sessions. Unset with the embedded database: generated "
        "once and kept in `modelgate.secret` beside it. Required with any other database.",
        secret=True,
        production="a long random string, shared by every replica",
    ),
    Setting(
        "BOOTSTRAP_TOKEN",
        _str,
        None,
        "The first admin API token of an empty registry (at least 32 characters). Unset: one "
        "is generated and printed once by `modelgate db upgrade` or the embedded `serve`. "
        "Read by those two alone.",
        secret=True,
        production="from the chart's bootstrap Secret, given to the migration job only",
    ),
    Setting(
        "BOOTSTRAP_TOKEN_TTL",
        _lifetime,
        dt.timedelta(hours=24),
        "How long the first admin API token stays valid (`12h`, `7d`, ... or `never`): long "
        "enough to mint the tokens people and pipelines keep, no longer.",
    ),
    Setting(
        "DATABASE_APP_ROLE",
        _str,
        None,
        "PostgreSQL role the service runs as, when it is not the one that owns the schema: "
        "`modelgate db upgrade` (run as the owner) then grants it exactly what the service "
        "needs, with only INSERT and SELECT on the audit ledger. Unset: one role does both.",
        production="the application role, with the owner's URL for the migration job only",
    ),
    Setting(
        "AUDIT_SIGNING_KEY",
        _str,
        None,
        "Ed25519 private key (PEM, PKCS#8) that signs audit checkpoints; keep it out of the "
        "database's reach. Unset with the embedded database: generated once and kept in "
        "`modelgate.audit.key` beside it. Unset with any other: checkpoints are unavailable "
        "(a warning at start-up). `modelgate audit keygen` makes one.",
        secret=True,
        production="a key of its own (from a Secret), never stored with the database",
    ),
    Setting(
        "AUDIT_SIGNING_KEY_FILE",
        _str,
        None,
        "Path of a file holding the audit signing key instead (readable by its owner only, "
        "e.g. a Secret mounted with mode 0400).",
    ),
    Setting(
        "AUDIT_PUBLIC_KEYS",
        _str,
        None,
        "PEM public keys of retired audit signing keys (concatenated): still listed at "
        "`/api/v1/audit/checkpoint-keys` and trusted by verify, so the checkpoints they "
        "signed keep verifying after a rotation.",
    ),
    Setting(
        "AUDIT_TSA_URL",
        _str,
        None,
        "URL of an RFC 3161 time-stamping authority: each checkpoint's signature is stamped "
        "there, proving when it existed. Unset: no time-stamps.",
    ),
    Setting(
        "AUDIT_TSA_CERTIFICATES",
        _str,
        None,
        "PEM certificates the time-stamping authority's chain must end in; stamps are checked "
        "against them when made and when verified (unset: they are kept but not checked).",
    ),
    Setting(
        "AUDIT_CHECKPOINT_SECONDS",
        _float,
        3600.0,
        "How often a signed checkpoint of the audit chain is published as an "
        "`audit.checkpoint` event (skipped while nothing was recorded); 0 disables.",
    ),
    Setting(
        "OIDC_ISSUER",
        _str,
        None,
        "Issuer URL of the identity provider; its discovery document "
        "(`{issuer}/.well-known/openid-configuration`) names the JWKS. Unset: no OIDC tokens.",
        production="your provider's issuer URL",
    ),
    Setting(
        "OIDC_AUDIENCE",
        _str,
        None,
        "The `aud` OIDC access tokens must carry for this registry (required with an issuer).",
        production="set with the issuer",
    ),
    Setting("OIDC_JWKS_URL", _str, None, "JWKS URL, overriding the discovery document's."),
    Setting(
        "OIDC_ALGORITHMS",
        _list,
        ("RS256", "ES256"),
        "Accepted signature algorithms (asymmetric only), comma-separated.",
    ),
    Setting("OIDC_LEEWAY_SECONDS", _int, 60, "Clock skew allowed on `exp` and `nbf`."),
    Setting("OIDC_SUBJECT_CLAIM", _str, "sub", "Claim naming the user (e.g. `email`)."),
    Setting(
        "OIDC_GROUPS_CLAIM",
        _str,
        "groups",
        "Claim listing the user's groups (dotted paths allowed); matched by `group:` role "
        "bindings.",
    ),
    Setting(
        "OIDC_ROLES_CLAIM",
        _str,
        "roles",
        "Claim listing Modelgate role names the provider grants everywhere (dotted paths "
        "allowed, e.g. `realm_access.roles`); empty disables it.",
    ),
    Setting(
        "OIDC_CLIENT_ID",
        _str,
        None,
        "Client id of the web console at the identity provider. Set with the issuer, the "
        "console signs people in with the authorization-code flow (PKCE); unset, its sign-in "
        "page asks for an API token.",
        production="the console's client registration",
    ),
    Setting(
        "OIDC_CLIENT_SECRET",
        _str,
        None,
        "Client secret of the web console (unset for a public client, which PKCE still protects).",
        secret=True,
        production="from a Secret, when the client is confidential",
    ),
    Setting(
        "OIDC_SCOPES",
        _str,
        "openid profile email",
        "Scopes the console asks the identity provider for, space-separated.",
    ),
    Setting(
        "CONSOLE_SECURE_COOKIES",
        _bool,
        False,
        "Mark the console's session cookie `Secure` (sent over HTTPS only).",
        production="`true` (serve the console over HTTPS)",
    ),
    Setting(
        "CONSOLE_SESSION_HOURS",
        _positive_int,
        8,
        "How long a console sign-in lasts. Each page still checks the token behind it, so a "
        "revoked token ends the session at once.",
    ),
    Setting(
        "AUTH_CACHE_SECONDS",
        _float,
        10.0,
        "How long a verified caller is remembered per process. Revocations reach other "
        "processes within this time.",
    ),
    Setting(
        "POLICY_PATH",
        _str,
        None,
        "Policy file or directory (its *.yaml, not sub-directories). Unset: `./policies` if it "
        "exists, else the policies shipped with Modelgate.",
        production="a directory mounted from the policies ConfigMap",
    ),
    Setting(
        "REDIS_URL",
        _str,
        None,
        "Redis for Celery: with it, webhooks are delivered by `modelgate worker` processes "
        "and the sweeps run from `modelgate beat`. Unset: a thread inside each API process "
        "delivers them (the embedded default).",
        secret=True,
        production="a Redis URL, with worker and beat deployments",
    ),
    Setting(
        "REDIS_KEY_PREFIX",
        _str,
        "",
        "Prefix for every Celery key in Redis, so installations can share one Redis.",
    ),
    Setting(
        "WEBHOOK_ENCRYPTION_KEY",
        _list,
        None,
        "Fernet key sealing webhook signing secrets and stored idempotent answers at rest; "
        "during a rotation, `new,old`: the first seals, every one opens (then run `modelgate "
        "keys reseal`). Unset: derived from MODELGATE_SECRET_KEY.",
        secret=True,
        production="a Fernet key of its own (from a Secret), so SECRET_KEY can rotate alone",
    ),
    Setting(
        "PREVIOUS_SECRET_KEYS",
        _list,
        (),
        "During a rotation of MODELGATE_SECRET_KEY, the keys it replaces (comma-separated): "
        "what they sealed can still be opened until `modelgate keys reseal` seals it again "
        "with the current key. They never sign or accept sessions or page tokens.",
        secret=True,
        production="only while rotating the secret key (SECURITY.md), from a Secret",
    ),
    Setting(
        "WEBHOOK_ALLOW_LOOPBACK",
        _bool,
        False,
        "Deliver to loopback addresses (tests and local setups).",
    ),
    Setting(
        "WEBHOOK_ALLOW_PRIVATE",
        _bool,
        False,
        "Deliver to private-network addresses (receivers inside your own network).",
    ),
    Setting(
        "WEBHOOK_ALLOW_HTTP",
        _bool,
        False,
        "Deliver over plain http:// to receivers off this machine. Unset: https:// only "
        "(http:// to loopback when WEBHOOK_ALLOW_LOOPBACK is set).",
    ),
    Setting("WEBHOOK_TIMEOUT_SECONDS", _float, 10.0, "Read timeout of one delivery attempt."),
    Setting(
        "WEBHOOK_RETRY_SCHEDULE",
        _floats,
        (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0),
        "Seconds before each retry (±20% jitter), comma-separated; a delivery still failing "
        "after the last one has failed (about a day by default).",
    ),
    Setting(
        "WEBHOOK_SWEEP_SECONDS",
        _float,
        10.0,
        "How often deliveries never sent, or whose retry is due, are picked up.",
    ),
    Setting(
        "WEBHOOK_REDISPATCH_SECONDS",
        _float,
        60.0,
        "A delivery handed to a worker but not claimed within this time is handed out again.",
    ),
    Setting(
        "DB_POOL_SIZE",
        _int,
        5,
        "Connections kept open per API process (PostgreSQL).",
        production="replicas x workers x (pool + overflow) within the server's max_connections",
    ),
    Setting("DB_MAX_OVERFLOW", _int, 5, "Extra connections allowed above the pool size."),
    Setting(
        "DB_STATEMENT_TIMEOUT_MS",
        _int,
        15000,
        "PostgreSQL statement timeout per query, in milliseconds (0 disables).",
    ),
    Setting("MAX_CONTENT_LENGTH", _int, 1_048_576, "Largest request body accepted, in bytes."),
    Setting(
        "RATE_LIMIT",
        _rate_limit,
        "6000 per minute",
        "Requests each token (or, without one, each client address) may make, e.g. "
        "'6000 per minute' or '200/second;6000/hour'; empty disables. Counted in Redis when "
        "MODELGATE_REDIS_URL is set, else per process.",
        production="a limit sized to your heaviest pipeline's resolves",
        empty_disables=True,
    ),
    Setting(
        "REFUSALS_PER_CREDENTIAL",
        _non_negative_int,
        10,
        "Refused writes (access.denied, transition.refused) recorded one by one per credential "
        "(without one: per client address) and minute, in each API process; the rest are "
        "counted into one event per credential and minute with a count.",
    ),
    Setting(
        "REFUSALS_PER_MINUTE",
        _non_negative_int,
        300,
        "Refused writes recorded one by one per minute across all credentials, in each API "
        "process; past it they are counted as above, so a flood from many addresses cannot "
        "flood the ledger either.",
    ),
    Setting(
        "AUTH_FAILURE_LIMIT",
        _rate_limit,
        "30 per minute",
        "Failed authentications one client address may make (a bad, revoked or expired "
        "token), e.g. '30 per minute' or '10/minute;100/hour'; empty disables. Over it, every "
        "request with a credential from that address is `429 RATE_LIMITED` before any token "
        "is looked up. IPv6 addresses count per /64. Counted in Redis when "
        "MODELGATE_REDIS_URL is set, else per process.",
        production="the default; set MODELGATE_TRUSTED_PROXY_HOPS behind a proxy",
    ),
    Setting(
        "TRUSTED_PROXY_HOPS",
        _non_negative_int,
        0,
        "How many proxies in front of Modelgate append to `X-Forwarded-For`; the client "
        "address (for the failed-authentication limit, the rate limit and the logs) is read "
        "that many entries from its end. 0: the connecting address. Never more than the "
        "proxies you run, or clients can choose their address.",
        production="1 behind one ingress or load balancer",
    ),
    Setting(
        "ARTIFACT_ROOT",
        _str,
        None,
        "Directory the mlflow-artifacts endpoints keep model files in, write-once, stored by "
        "their SHA-256. Unset: `mlartifacts` in the working directory.",
        production="a volume shared by every replica",
    ),
    Setting(
        "ARTIFACT_MAX_UPLOAD_BYTES",
        _int,
        2 * 1024**3,
        "Largest file accepted by an mlflow-artifacts upload, in bytes.",
    ),
    Setting("LOG_LEVEL", _str, "INFO", "Python log level of the service."),
    Setting(
        "LOG_FORMAT",
        _choice("text", "json"),
        "text",
        "`text` (a line for people) or `json` (one JSON object per line, with `request_id`, "
        "for a log collector); applies to gunicorn's access and error logs too.",
        production="`json`",
    ),
    Setting(
        "METRICS_TOKEN",
        _str,
        None,
        "Bearer token `GET /metrics` requires. Unset: `/metrics` is open to anyone who can "
        "reach the port (it shows counts and route templates, never names or secrets).",
        secret=True,
        production="a random token that Prometheus sends (the chart's ServiceMonitor does)",
    ),
    Setting(
        "WEB_WORKERS",
        _positive_int,
        None,
        "gunicorn worker processes per API server. Unset: 2 x CPUs + 1, at most 8, where CPUs "
        "is the container's CPU limit when it has one.",
        production="unset, with a CPU limit on the pod; or set it with the pod's CPU request",
    ),
    Setting(
        "WEB_THREADS",
        _positive_int,
        4,
        "Threads per gunicorn worker process; keep at most `DB_POOL_SIZE + DB_MAX_OVERFLOW`.",
    ),
)

SETTINGS_BY_NAME = {s.name: s for s in SETTINGS}


def setting(name: str, environ: Mapping[str, str] | None = None) -> Any:
    """One setting's value from the environment, without building (and checking) the rest.

    For processes that need a single value before any app exists (the gunicorn config
    module). Raises ConfigError naming the variable when the value does not parse.
    """
    environ = os.environ if environ is None else environ
    declared = SETTINGS_BY_NAME[name]
    raw = environ.get(declared.env, "")
    if raw == "":
        if declared.empty_disables and declared.env in environ:
            return ""
        return declared.default
    try:
        return declared.parse(raw)
    except ValueError as exc:
        raise ConfigError(f"{declared.env}: {exc}") from None


def embedded_database_url(workdir: Path) -> str:
    return f"sqlite:///{workdir / 'modelgate.db'}"


def normalise_database_url(url: str) -> str:
    """Pin PostgreSQL URLs to psycopg2, the driver we ship.

    SQLAlchemy 2.1 maps a bare ``postgresql://`` to psycopg 3, which is not installed; the
    ``postgres://`` spelling that Heroku-style providers hand out is not known to it at all.
    """
    parsed = sa.engine.make_url(url.replace("postgres://", "postgresql://", 1))
    if parsed.drivername in {"postgresql", "postgres"}:
        parsed = parsed.set(drivername="postgresql+psycopg2")
    return parsed.render_as_string(hide_password=False)


def is_sqlite(url: str) -> bool:
    return sa.engine.make_url(url).get_backend_name() == "sqlite"


def load(
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    workdir: Path | None = None,
) -> dict[str, Any]:
    """Build the settings from defaults, the environment and explicit overrides, then check them.

    ``overrides`` use the names without the prefix (``{"DATABASE_URL": ...}``) and win over the
    environment; tests and the CLI use them. Raises ConfigError naming the variable at fault.
    """
    environ = os.environ if environ is None else environ
    overrides = dict(overrides or {})
    workdir = workdir or Path.cwd()
    values: dict[str, Any] = {}
    for declared in SETTINGS:
        if declared.name in overrides:
            values[declared.name] = overrides.pop(declared.name)
        else:
            values[declared.name] = setting(declared.name, environ)
    values.update(overrides)  # extra keys (Flask's own, TESTING, ...) pass through untouched

    embedded = values["DATABASE_URL"] is None
    if embedded:
        values["DATABASE_URL"] = embedded_database_url(workdir)
    try:
        values["DATABASE_URL"] = normalise_database_url(values["DATABASE_URL"])
    except sa.exc.ArgumentError as exc:
        raise ConfigError(f"{PREFIX}DATABASE_URL is not a database URL: {exc}") from None
    values["EMBEDDED"] = embedded
    # Relative to the working directory, like the embedded database.
    values["ARTIFACT_ROOT"] = str(workdir / (values["ARTIFACT_ROOT"] or "mlartifacts"))

    _check_oidc(values)
    _refuse_public_keys(values)
    values["KEY_FILE_REPLACEMENT"] = None
    if not values["SECRET_KEY"]:
        if not is_sqlite(values["DATABASE_URL"]):
            raise ConfigError(
                f"{PREFIX}SECRET_KEY must be set when the database is not the embedded SQLite "
                "file: every replica needs the same key to accept each other's page tokens."
            )
        values["SECRET_KEY"] = _embedded_secret(values)
    _check_audit_keys(values)
    return values


def _refuse_public_keys(values: dict[str, Any]) -> None:
    """The key once committed to the repository is public: nothing may sign or seal with it.
    (It may still be named among the previous keys, to open what it sealed.)"""
    if values["SECRET_KEY"] and secret_keys.is_committed(values["SECRET_KEY"]):
        raise ConfigError(
            f"{PREFIX}SECRET_KEY is the key that was committed to Modelgate's repository "
            f"({secret_keys.COMMITTED_IN}): it is public, and anyone could forge sessions and "
            "open the secrets it sealed. Set a new key (python3 -c 'import secrets; "
            "print(secrets.token_urlsafe(32))'), put this one in "
            f"{PREFIX}PREVIOUS_SECRET_KEYS and run `modelgate keys reseal` (SECURITY.md, "
            "Rotating keys)."
        )
    sealing = values["WEBHOOK_ENCRYPTION_KEY"]
    if sealing and secret_keys.is_committed_webhook_key(sealing[0]):
        raise ConfigError(
            f"{PREFIX}WEBHOOK_ENCRYPTION_KEY is derived from the key that was committed to "
            f"Modelgate's repository ({secret_keys.COMMITTED_IN}): it is public. Put a new "
            "Fernet key first (new,old) and run `modelgate keys reseal` (SECURITY.md)."
        )


def _check_audit_keys(values: dict[str, Any]) -> None:
    """Resolve the audit signing key to its PEM text (from the setting, its file, or the
    embedded default's key file) and refuse keys that cannot be read."""
    from registry.domain import checkpoints

    if values["AUDIT_SIGNING_KEY"] and values["AUDIT_SIGNING_KEY_FILE"]:
        raise ConfigError(
            f"{PREFIX}AUDIT_SIGNING_KEY and {PREFIX}AUDIT_SIGNING_KEY_FILE are both set; keep one."
        )
    name = "AUDIT_SIGNING_KEY"
    try:
        if values["AUDIT_SIGNING_KEY_FILE"]:
            name = "AUDIT_SIGNING_KEY_FILE"
            path = Path(values["AUDIT_SIGNING_KEY_FILE"])
            values["AUDIT_SIGNING_KEY"] = keyfiles.read_private(path).decode()
        elif not values["AUDIT_SIGNING_KEY"] and is_sqlite(values["DATABASE_URL"]):
            values["AUDIT_SIGNING_KEY"] = _embedded_audit_key(values["DATABASE_URL"])
        if values["AUDIT_SIGNING_KEY"]:
            checkpoints.load_private(values["AUDIT_SIGNING_KEY"])
        name = "AUDIT_PUBLIC_KEYS"
        if values["AUDIT_PUBLIC_KEYS"]:
            checkpoints.load_public_keys(values["AUDIT_PUBLIC_KEYS"])
        name = "AUDIT_TSA_CERTIFICATES"
        if values["AUDIT_TSA_CERTIFICATES"]:
            from registry.timestamping import load_certificates

            load_certificates(values["AUDIT_TSA_CERTIFICATES"])
    except (ValueError, keyfiles.KeyFileError) as exc:
        raise ConfigError(f"{PREFIX}{name}: {exc}") from None
    if values["AUDIT_CHECKPOINT_SECONDS"] < 0:
        raise ConfigError(f"{PREFIX}AUDIT_CHECKPOINT_SECONDS must not be negative.")


def _embedded_audit_key(sqlite_url: str) -> str:
    """The embedded default's checkpoint key: made once, 0600, beside the database file (and
    named *.key, which .gitignore keeps out of commits)."""
    from registry.domain import checkpoints

    database = sa.engine.make_url(sqlite_url).database
    if not database or database == ":memory:":
        return checkpoints.new_private_pem()
    path = Path(database)
    path = path.with_name(f"{path.stem}.audit.key")
    if path.exists():
        return keyfiles.read_private(path).decode()
    return keyfiles.create_private(path, checkpoints.new_private_pem().encode()).decode()


def _check_oidc(values: dict[str, Any]) -> None:
    if values["OIDC_ISSUER"] and not values["OIDC_AUDIENCE"]:
        raise ConfigError(
            f"{PREFIX}OIDC_AUDIENCE must be set with {PREFIX}OIDC_ISSUER: a token "
            "minted for another service must not open this one."
        )
    refused = set(values["OIDC_ALGORITHMS"]) - ASYMMETRIC
    if refused or not values["OIDC_ALGORITHMS"]:
        raise ConfigError(
            f"{PREFIX}OIDC_ALGORITHMS: only asymmetric algorithms are accepted "
            f"({', '.join(sorted(ASYMMETRIC))}); refused: {sorted(refused)}"
        )
    if values["OIDC_CLIENT_ID"] and not values["OIDC_ISSUER"]:
        raise ConfigError(
            f"{PREFIX}OIDC_CLIENT_ID needs {PREFIX}OIDC_ISSUER: the console signs people in "
            "with that provider."
        )
    token = values["BOOTSTRAP_TOKEN"]
    if token is not None and len(token) < MIN_CHOSEN_TOKEN:
        raise ConfigError(
            f"{PREFIX}BOOTSTRAP_TOKEN must be at least {MIN_CHOSEN_TOKEN} characters (e.g. "
            "`python3 -c 'import secrets; print(\"mgt_\" + secrets.token_urlsafe(32))'`)."
        )


def _embedded_secret(values: dict[str, Any]) -> str:
    """A key generated once per embedded database, so tokens survive a restart.

    A key file holding the key once committed to the repository is being replaced: the new
    key waits in ``<name>.secret.next`` (made once, so every process agrees on it) and is the
    one used from now on, while the committed key only opens what it sealed, until
    ``modelgate serve`` (or ``db upgrade``, ``keys reseal``) has sealed everything again
    under the new key and moved it into place (:func:`registry.cli._replace_committed_key`).
    """
    database = sa.engine.make_url(values["DATABASE_URL"]).database
    if not database or database == ":memory:":
        return secrets.token_urlsafe(32)
    path = Path(database).with_suffix(".secret")
    try:
        if path.exists():
            key = keyfiles.read_private(path).decode().strip()
        else:
            key = keyfiles.create_private(path, secrets.token_urlsafe(32).encode()).decode()
        if not secret_keys.is_committed(key):
            return key.strip()
        pending = path.with_name(path.name + ".next")
        new_key = keyfiles.create_private(pending, secrets.token_urlsafe(32).encode()).decode()
    except keyfiles.KeyFileError as exc:
        raise ConfigError(f"{PREFIX}SECRET_KEY: {exc}") from None
    values["PREVIOUS_SECRET_KEYS"] = (*values["PREVIOUS_SECRET_KEYS"], key.strip())
    values["KEY_FILE_REPLACEMENT"] = (str(path), str(pending))
    return new_key.strip()
