"""The service's settings and the keys they name.

- :mod:`~registry.config.settings`: every ``MODELGATE_*`` variable, declared once (type,
  default, meaning), with the parsers of :mod:`~registry.config.parsers`;
- :mod:`~registry.config.loading`: building the settings from the environment and refusing
  to start on what cannot work (``config.load()``, ``config.setting(name)``);
- :mod:`~registry.config.secret_keys`: what the secret key keys, and the value it must never be;
- :mod:`~registry.config.keyfiles`: the embedded default's private key files.

Callers use the names below (``config.load``, ``config.ConfigError``...). This package imports
no Flask and no prometheus_client: the gunicorn configuration reads settings before the
metrics directory is fixed (:mod:`registry.serve.gunicorn_conf`).
"""

from registry.config.loading import (
    ASYMMETRIC,
    MIN_CHOSEN_TOKEN,
    ConfigError,
    embedded_database_url,
    is_sqlite,
    load,
    normalise_database_url,
    setting,
)
from registry.config.settings import PREFIX, SETTINGS, SETTINGS_BY_NAME, Setting

__all__ = [
    "ASYMMETRIC",
    "MIN_CHOSEN_TOKEN",
    "PREFIX",
    "SETTINGS",
    "SETTINGS_BY_NAME",
    "ConfigError",
    "Setting",
    "embedded_database_url",
    "is_sqlite",
    "load",
    "normalise_database_url",
    "setting",
]
