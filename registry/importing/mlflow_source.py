"""An MLflow registry read through its REST API, as plain HTTP (no mlflow package needed).

Works against any server speaking MLflow's registry protocol (MLflow, Databricks, another
Modelgate). Lists models page by page (the memory held is one page), lists each model's
versions, and retries what is worth retrying: connection errors, 408, 429 and 5xx, with
exponential backoff, honouring Retry-After.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import threading
import urllib.parse
from collections.abc import Iterator
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from registry.domain import validation
from registry.domain.imports import SourceModel, SourceVersion

PREFIX = "/api/2.0/mlflow"
PROMPT_TAG = "mlflow.prompt.is_prompt"  # MLflow 3 keeps prompts as tagged registered models
RETRIED_STATUSES = (408, 429, 500, 502, 503, 504)


class SourceError(Exception):
    """The source could not be read. ``fatal``: no point going on (refused credentials, an
    unreachable server, a listing that keeps failing), as opposed to one model's trouble."""

    def __init__(self, message: str, *, fatal: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.fatal = fatal


def normalise_url(url: str) -> str:
    """The source's identity: scheme, host, port and path, without credentials or a trailing
    slash. Import records are kept under it, so spell the URL the same way on every run."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SourceError(f"{url!r} is not an http(s) URL of an MLflow server.", fatal=True)
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        raise SourceError(f"{url!r} has an invalid port.", fatal=True) from None
    netloc = f"{host}:{port}" if port else host
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def glob_to_filter(glob: str | None) -> str | None:
    """An MLflow search filter that finds at least the names matching ``glob`` (``*`` and
    ``?`` become LIKE's ``%`` and ``_``); None when LIKE cannot express it. Matching names
    are then picked exactly, by the glob itself."""
    if not glob or glob == "*" or "[" in glob or "'" in glob:
        return None
    return "name LIKE '" + glob.replace("*", "%").replace("?", "_") + "'"


def _millis(value: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromtimestamp(int(value) / 1000, tz=dt.UTC) if value else None
    except (TypeError, ValueError, OverflowError):
        return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value != "" else None


def _tags(items: Any) -> dict[str, str]:
    return {t["key"]: t.get("value", "") for t in items or () if isinstance(t, dict) and "key" in t}


def is_prompt(message: dict[str, Any]) -> bool:
    return _tags(message.get("tags")).get(PROMPT_TAG, "").lower() == "true"


class MlflowSource:
    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 60,
        retries: int = 5,
        backoff: float = 0.5,
        pool_size: int = 8,
    ) -> None:
        self.url = normalise_url(url)
        self.timeout = timeout
        self.pool_size = pool_size
        self.retry = Retry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            backoff_factor=backoff,
            status_forcelist=RETRIED_STATUSES,
            allowed_methods=frozenset({"GET"}),  # the importer only reads
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        self.auth: Any = None
        self.headers = {"User-Agent": "modelgate-import"}
        if username is not None:
            self.auth = (username, password or "")
        elif token:
            self.headers["Authorization"] = f"Bearer {token}"
        self._local = threading.local()  # one requests.Session per thread

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            adapter = HTTPAdapter(max_retries=self.retry, pool_maxsize=self.pool_size)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.headers.update(self.headers)
            session.auth = self.auth
            session.trust_env = False  # credentials come from the options, not ~/.netrc
            self._local.session = session
        return session

    def get(self, endpoint: str, params: dict[str, Any]) -> dict[str, Any]:
        """One GET of ``endpoint``; SourceError on anything but a JSON object with 200."""
        url = f"{self.url}{PREFIX}/{endpoint}"
        try:
            response = self._session().get(url, params=params, timeout=self.timeout)
        except requests.RequestException as exc:
            raise SourceError(f"Cannot reach {self.url}: {exc}", fatal=True) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code in (401, 403):
            raise SourceError(
                f"{self.url} refused the credentials ({response.status_code} "
                f"{_reason(body, response)}); pass --token, or --username and --password.",
                fatal=True,
            )
        if response.status_code == 404 and _code(body) in (None, "ENDPOINT_NOT_FOUND"):
            raise SourceError(
                f"{self.url} does not answer MLflow's registry API ({url}: 404).", fatal=True
            )
        if response.status_code != 200 or not isinstance(body, dict):
            raise SourceError(
                f"{endpoint} answered {response.status_code}: {_reason(body, response)}"
            )
        return body

    def models(self, glob: str | None = None, page_size: int = 200) -> Iterator[dict[str, Any]]:
        """Registered-model messages whose names match ``glob``, one page held at a time."""
        params: dict[str, Any] = {"max_results": page_size}
        pushed = glob_to_filter(glob)
        if pushed:
            params["filter"] = pushed
        while True:
            try:
                body = self.get("registered-models/search", params)
            except SourceError as exc:  # without the listing there is nothing to go on with
                if exc.fatal:
                    raise
                raise SourceError(f"Listing the models failed: {exc.message}", fatal=True) from None
            for message in body.get("registered_models") or ():
                if glob is None or fnmatch.fnmatchcase(str(message.get("name")), glob):
                    yield message
            token = body.get("next_page_token")
            if not token:
                return
            params["page_token"] = token

    def _search_versions(self, text: str, page_size: int = 1000) -> Iterator[dict[str, Any]]:
        params: dict[str, Any] = {"filter": text, "max_results": page_size}
        while True:
            body = self.get("model-versions/search", params)
            yield from body.get("model_versions") or ()
            token = body.get("next_page_token")
            if not token:
                return
            params["page_token"] = token

    def versions(self, name: str) -> list[dict[str, Any]]:
        """Every version of model ``name`` the source still has."""
        if "'" not in name:
            text = f"name = '{name}'"
        elif '"' not in name:
            text = f'name = "{name}"'
        else:
            raise SourceError(f"Cannot search the versions of {name!r}: it has both quotes.")
        return [m for m in self._search_versions(text) if m.get("name") == name]

    def versions_of(self, names: list[str]) -> dict[str, list[dict[str, Any]]]:
        """The versions of several models with one paged search (``name IN (...)``), for the
        names that can be quoted plainly; the others are left out of the answer."""
        plain = [n for n in names if "'" not in n and "\\" not in n]
        found: dict[str, list[dict[str, Any]]] = {n: [] for n in plain}
        if plain:
            text = "name IN (" + ", ".join(f"'{n}'" for n in plain) + ")"
            for message in self._search_versions(text):
                if message.get("name") in found:
                    found[message["name"]].append(message)
        return found

    def fetch(
        self, message: dict[str, Any], versions: list[dict[str, Any]] | None = None
    ) -> SourceModel:
        """The whole model: its registered-model message, plus its versions' (searched for
        unless given). InvalidArgument when the source holds what Modelgate could not."""
        name = str(message.get("name"))
        if versions is None:
            versions = self.versions(name)
        return SourceModel(
            name=name,
            description=_text(message.get("description")),
            tags=_tags(message.get("tags")),
            aliases={
                str(a.get("alias")): validation.version_number(a.get("version"), "alias version")
                for a in message.get("aliases") or ()
                if isinstance(a, dict)
            },
            versions=tuple(_version(v) for v in versions),
            created_at=_millis(message.get("creation_timestamp")),
            updated_at=_millis(message.get("last_updated_timestamp")),
            user_id=_text(message.get("user_id")),
        )


def _version(message: dict[str, Any]) -> SourceVersion:
    return SourceVersion(
        version=validation.version_number(message.get("version")),
        source=str(message.get("source") or ""),
        run_id=_text(message.get("run_id")),
        run_link=_text(message.get("run_link")),
        description=_text(message.get("description")),
        tags=_tags(message.get("tags")),
        stage=str(message.get("current_stage") or "None"),
        status=str(message.get("status") or "READY"),
        created_at=_millis(message.get("creation_timestamp")),
        updated_at=_millis(message.get("last_updated_timestamp")),
        user_id=_text(message.get("user_id")),
    )


def _code(body: Any) -> str | None:
    return body.get("error_code") if isinstance(body, dict) else None


def _reason(body: Any, response: requests.Response) -> str:
    if isinstance(body, dict) and "message" in body:
        return f"{body.get('error_code', '')}: {body['message']}".strip(": ")
    return (response.text or response.reason or "").strip()[:200]
