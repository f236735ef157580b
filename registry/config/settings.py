"""Settings: every ``MODELGATE_*`` variable declared once, with its type, default and meaning.

The declarations are the single source for parsing the environment, for validating the result
at start-up (:mod:`registry.config.loading`) and for the configuration reference in the README
(a test keeps the two in step).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from registry.config import parsers

PREFIX = "MODELGATE_"


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
        parsers.text,
        None,
        "SQLAlchemy URL of the database. Unset: an embedded SQLite file `modelgate.db` in the "
        "working directory. `postgresql://` URLs are served by psycopg2.",
        secret=True,
        production="a PostgreSQL URL",
    ),
    Setting(
        "SECRET_KEY",
        parsers.text,
        None,
        "Signs page tokens and console sessions. Unset with the embedded database: generated "
        "once and kept in `modelgate.secret` beside it. Required with any other database.",
        secret=True,
        production="a long random string, shared by every replica",
    ),
    Setting(
        "BOOTSTRAP_TOKEN",
        parsers.text,
        None,
        "The first admin API token of an empty registry (at least 32 characters). Unset: one "
        "is generated and printed once by `modelgate db upgrade` or the embedded `serve`. "
        "Read by those two alone.",
        secret=True,
        production="from the chart's bootstrap Secret, given to the migration job only",
    ),
    Setting(
        "BOOTSTRAP_TOKEN_TTL",
        parsers.lifetime,
        dt.timedelta(hours=24),
        "How long the first admin API token stays valid (`12h`, `7d`, ... or `never`): long "
        "enough to mint the tokens people and pipelines keep, no longer.",
    ),
    Setting(
        "DATABASE_APP_ROLE",
        parsers.text,
        None,
        "PostgreSQL role the service runs as, when it is not the one that owns the schema: "
        "`modelgate db upgrade` (run as the owner) then grants it exactly what the service "
        "needs, with only INSERT and SELECT on the audit ledger. Unset: one role does both.",
        production="the application role, with the owner's URL for the migration job only",
    ),
    Setting(
        "AUDIT_SIGNING_KEY",
        parsers.text,
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
        parsers.text,
        None,
        "Path of a file holding the audit signing key instead (readable by its owner only, "
        "e.g. a Secret mounted with mode 0400).",
    ),
    Setting(
        "AUDIT_PUBLIC_KEYS",
        parsers.text,
        None,
        "PEM public keys of retired audit signing keys (concatenated): still listed at "
        "`/api/v1/audit/checkpoint-keys` and trusted by verify, so the checkpoints they "
        "signed keep verifying after a rotation.",
    ),
    Setting(
        "AUDIT_TSA_URL",
        parsers.text,
        None,
        "URL of an RFC 3161 time-stamping authority: each checkpoint's signature is stamped "
        "there, proving when it existed. Unset: no time-stamps.",
    ),
    Setting(
        "AUDIT_TSA_CERTIFICATES",
        parsers.text,
        None,
        "PEM certificates the time-stamping authority's chain must end in; stamps are checked "
        "against them when made and when verified (unset: they are kept but not checked).",
    ),
    Setting(
        "AUDIT_CHECKPOINT_SECONDS",
        parsers.number,
        3600.0,
        "How often a signed checkpoint of the audit chain is published as an "
        "`audit.checkpoint` event (skipped while nothing was recorded); 0 disables.",
    ),
    Setting(
        "OIDC_ISSUER",
        parsers.text,
        None,
        "Issuer URL of the identity provider; its discovery document "
        "(`{issuer}/.well-known/openid-configuration`) names the JWKS. Unset: no OIDC tokens.",
        production="your provider's issuer URL",
    ),
    Setting(
        "OIDC_AUDIENCE",
        parsers.text,
        None,
        "The `aud` OIDC access tokens must carry for this registry (required with an issuer).",
        production="set with the issuer",
    ),
    Setting("OIDC_JWKS_URL", parsers.text, None, "JWKS URL, overriding the discovery document's."),
    Setting(
        "OIDC_ALGORITHMS",
        parsers.comma_list,
        ("RS256", "ES256"),
        "Accepted signature algorithms (asymmetric only), comma-separated.",
    ),
    Setting("OIDC_LEEWAY_SECONDS", parsers.integer, 60, "Clock skew allowed on `exp` and `nbf`."),
    Setting("OIDC_SUBJECT_CLAIM", parsers.text, "sub", "Claim naming the user (e.g. `email`)."),
    Setting(
        "OIDC_GROUPS_CLAIM",
        parsers.text,
        "groups",
        "Claim listing the user's groups (dotted paths allowed); matched by `group:` role "
        "bindings.",
    ),
    Setting(
        "OIDC_ROLES_CLAIM",
        parsers.text,
        "roles",
        "Claim listing Modelgate role names the provider grants everywhere (dotted paths "
        "allowed, e.g. `realm_access.roles`); empty disables it.",
    ),
    Setting(
        "OIDC_CLIENT_ID",
        parsers.text,
        None,
        "Client id of the web console at the identity provider. Set with the issuer, the "
        "console signs people in with the authorization-code flow (PKCE); unset, its sign-in "
        "page asks for an API token.",
        production="the console's client registration",
    ),
    Setting(
        "OIDC_CLIENT_SECRET",
        parsers.text,
        None,
        "Client secret of the web console (unset for a public client, which PKCE still protects).",
        secret=True,
        production="from a Secret, when the client is confidential",
    ),
    Setting(
        "OIDC_SCOPES",
        parsers.text,
        "openid profile email",
        "Scopes the console asks the identity provider for, space-separated.",
    ),
    Setting(
        "CONSOLE_SECURE_COOKIES",
        parsers.boolean,
        False,
        "Mark the console's session cookie `Secure` (sent over HTTPS only).",
        production="`true` (serve the console over HTTPS)",
    ),
    Setting(
        "CONSOLE_SESSION_HOURS",
        parsers.positive_int,
        8,
        "How long a console sign-in lasts. Each page still checks the token behind it, so a "
        "revoked token ends the session at once.",
    ),
    Setting(
        "AUTH_CACHE_SECONDS",
        parsers.number,
        10.0,
        "How long a verified caller is remembered per process. Revocations reach other "
        "processes within this time.",
    ),
    Setting(
        "POLICY_PATH",
        parsers.text,
        None,
        "Policy file or directory (its *.yaml, not sub-directories). Unset: `./policies` if it "
        "exists, else the policies shipped with Modelgate.",
        production="a directory mounted from the policies ConfigMap",
    ),
    Setting(
        "REDIS_URL",
        parsers.text,
        None,
        "Redis for Celery: with it, webhooks are delivered by `modelgate worker` processes "
        "and the sweeps run from `modelgate beat`. Unset: a thread inside each API process "
        "delivers them (the embedded default).",
        secret=True,
        production="a Redis URL, with worker and beat deployments",
    ),
    Setting(
        "REDIS_KEY_PREFIX",
        parsers.text,
        "",
        "Prefix for every Celery key in Redis, so installations can share one Redis.",
    ),
    Setting(
        "WEBHOOK_ENCRYPTION_KEY",
        parsers.comma_list,
        None,
        "Fernet key sealing webhook signing secrets and stored idempotent answers at rest; "
        "during a rotation, `new,old`: the first seals, every one opens (then run `modelgate "
        "keys reseal`). Unset: derived from MODELGATE_SECRET_KEY.",
        secret=True,
        production="a Fernet key of its own (from a Secret), so SECRET_KEY can rotate alone",
    ),
    Setting(
        "PREVIOUS_SECRET_KEYS",
        parsers.comma_list,
        (),
        "During a rotation of MODELGATE_SECRET_KEY, the keys it replaces (comma-separated): "
        "what they sealed can still be opened until `modelgate keys reseal` seals it again "
        "with the current key. They never sign or accept sessions or page tokens.",
        secret=True,
        production="only while rotating the secret key (SECURITY.md), from a Secret",
    ),
    Setting(
        "WEBHOOK_ALLOW_LOOPBACK",
        parsers.boolean,
        False,
        "Deliver to loopback addresses (tests and local setups).",
    ),
    Setting(
        "WEBHOOK_ALLOW_PRIVATE",
        parsers.boolean,
        False,
        "Deliver to private-network addresses (receivers inside your own network).",
    ),
    Setting(
        "WEBHOOK_ALLOW_HTTP",
        parsers.boolean,
        False,
        "Deliver over plain http:// to receivers off this machine. Unset: https:// only "
        "(http:// to loopback when WEBHOOK_ALLOW_LOOPBACK is set).",
    ),
    Setting(
        "WEBHOOK_TIMEOUT_SECONDS", parsers.number, 10.0, "Read timeout of one delivery attempt."
    ),
    Setting(
        "WEBHOOK_RETRY_SCHEDULE",
        parsers.seconds_list,
        (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0),
        "Seconds before each retry (±20% jitter), comma-separated; a delivery still failing "
        "after the last one has failed (about a day by default).",
    ),
    Setting(
        "WEBHOOK_SWEEP_SECONDS",
        parsers.number,
        10.0,
        "How often deliveries never sent, or whose retry is due, are picked up.",
    ),
    Setting(
        "WEBHOOK_REDISPATCH_SECONDS",
        parsers.number,
        60.0,
        "A delivery handed to a worker but not claimed within this time is handed out again.",
    ),
    Setting(
        "DB_POOL_SIZE",
        parsers.integer,
        5,
        "Connections kept open per API process (PostgreSQL).",
        production="replicas x workers x (pool + overflow) within the server's max_connections",
    ),
    Setting(
        "DB_MAX_OVERFLOW", parsers.integer, 5, "Extra connections allowed above the pool size."
    ),
    Setting(
        "DB_STATEMENT_TIMEOUT_MS",
        parsers.integer,
        15000,
        "PostgreSQL statement timeout per query, in milliseconds (0 disables).",
    ),
    Setting(
        "MAX_CONTENT_LENGTH", parsers.integer, 1_048_576, "Largest request body accepted, in bytes."
    ),
    Setting(
        "RATE_LIMIT",
        parsers.rate_limit,
        "6000 per minute",
        "Requests each token (or, without one, each client address) may make, e.g. "
        "'6000 per minute' or '200/second;6000/hour'; empty disables. Counted in Redis when "
        "MODELGATE_REDIS_URL is set, else per process.",
        production="a limit sized to your heaviest pipeline's resolves",
        empty_disables=True,
    ),
    Setting(
        "REFUSALS_PER_CREDENTIAL",
        parsers.non_negative_int,
        10,
        "Refused writes (access.denied, transition.refused) recorded one by one per credential "
        "(without one: per client address) and minute, in each API process; the rest are "
        "counted into one event per credential and minute with a count.",
    ),
    Setting(
        "REFUSALS_PER_MINUTE",
        parsers.non_negative_int,
        300,
        "Refused writes recorded one by one per minute across all credentials, in each API "
        "process; past it they are counted as above, so a flood from many addresses cannot "
        "flood the ledger either.",
    ),
    Setting(
        "AUTH_FAILURE_LIMIT",
        parsers.rate_limit,
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
        parsers.non_negative_int,
        0,
        "How many proxies in front of Modelgate append to `X-Forwarded-For`; the client "
        "address (for the failed-authentication limit, the rate limit and the logs) is read "
        "that many entries from its end. 0: the connecting address. Never more than the "
        "proxies you run, or clients can choose their address.",
        production="1 behind one ingress or load balancer",
    ),
    Setting(
        "ARTIFACT_ROOT",
        parsers.text,
        None,
        "Directory the mlflow-artifacts endpoints keep model files in, write-once, stored by "
        "their SHA-256. Unset: `mlartifacts` in the working directory.",
        production="a volume shared by every replica",
    ),
    Setting(
        "ARTIFACT_MAX_UPLOAD_BYTES",
        parsers.integer,
        2 * 1024**3,
        "Largest file accepted by an mlflow-artifacts upload, in bytes.",
    ),
    Setting("LOG_LEVEL", parsers.text, "INFO", "Python log level of the service."),
    Setting(
        "LOG_FORMAT",
        parsers.choice("text", "json"),
        "text",
        "`text` (a line for people) or `json` (one JSON object per line, with `request_id`, "
        "for a log collector); applies to gunicorn's access and error logs too.",
        production="`json`",
    ),
    Setting(
        "METRICS_TOKEN",
        parsers.text,
        None,
        "Bearer token `GET /metrics` requires. Unset: `/metrics` is open to anyone who can "
        "reach the port (it shows counts and route templates, never names or secrets).",
        secret=True,
        production="a random token that Prometheus sends (the chart's ServiceMonitor does)",
    ),
    Setting(
        "WEB_WORKERS",
        parsers.positive_int,
        None,
        "gunicorn worker processes per API server. Unset: 2 x CPUs + 1, at most 8, where CPUs "
        "is the container's CPU limit when it has one.",
        production="unset, with a CPU limit on the pod; or set it with the pod's CPU request",
    ),
    Setting(
        "WEB_THREADS",
        parsers.positive_int,
        4,
        "Threads per gunicorn worker process; keep at most `DB_POOL_SIZE + DB_MAX_OVERFLOW`.",
    ),
)

SETTINGS_BY_NAME = {s.name: s for s in SETTINGS}
