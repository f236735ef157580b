"""Loading the settings: defaults, then the environment, then explicit overrides, then checks.

What a value may be is declared in :mod:`registry.config.settings`; this module reads them
and refuses to start on what cannot work: a server database without a shared secret key,
OIDC half configured, a public (once committed) key, an unreadable audit or TSA key. On the
embedded default it also makes the keys that must survive a restart, in private key files
beside the database (:mod:`registry.config.keyfiles`).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from registry.config import keyfiles, secret_keys
from registry.config.settings import PREFIX, SETTINGS, SETTINGS_BY_NAME

# Signature algorithms an OIDC token may use: public-key ones only, so a token can never be
# checked with a secret an attacker could also know.
ASYMMETRIC = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
)


# A chosen token is guessed only as well as it was chosen; the generated ones have 256 bits.
MIN_CHOSEN_TOKEN = 32


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the service refuses to start."""


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
            from registry.clients.timestamping import load_certificates

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
    under the new key and moved it into place (:func:`registry.cli.keys.replace_committed_key`).
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
