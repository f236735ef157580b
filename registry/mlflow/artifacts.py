"""MLflow's artifact endpoints, over Modelgate's own artifact store, and the server-info probe.

The client resolves ``mlflow-artifacts:/<path>`` sources against its *tracking* URI, so a team
with no tracking server points MLFLOW_TRACKING_URI at Modelgate: uploads (PUT), listings and
downloads then come here. Paths start with the model's name (see registry.domain.artifacts).
The store is write-once: an upload onto a file that holds other bytes is 409
RESOURCE_ALREADY_EXISTS and changes nothing; the same bytes again (the client retries) are
200. Multipart transfers are not offered; server-info says so, and the client then streams.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request, send_file

from registry.api.http import answer
from registry.domain.artifacts import ArtifactStore
from registry.domain.permissions import Action
from registry.extensions import db
from registry.mlflow import errors
from registry.web.auth import current_principal, public, requires

blp = Blueprint("mlflow_artifacts", __name__)

ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"


def _handle(error: Exception) -> Response:
    response = errors.handle(error)
    # MLflow's server answers a duplicate with 400, and the client retries nothing in the 4xx
    # range; an upload refused because the file exists says so with 409, as for any store.
    if response.status_code == 400 and response.get_json()["error_code"] == (
        "RESOURCE_ALREADY_EXISTS"
    ):
        response.status_code = 409
    return response


blp.register_error_handler(Exception, _handle)


def store() -> ArtifactStore:
    return current_app.extensions["modelgate.artifacts"]


@blp.get(ARTIFACTS)
@requires(Action.READ, basic_auth=True)
def list_artifacts() -> Response:
    entries = store().list(db.session, current_principal(), request.args.get("path", ""))
    files = [
        {"path": e.name, "is_dir": e.is_dir, **({} if e.size is None else {"file_size": e.size})}
        for e in entries
    ]
    return answer({"files": files} if files else {})


@blp.get(f"{ARTIFACTS}/<path:path>")
@requires(Action.READ, basic_auth=True)
def download_artifact(path: str) -> Response:
    found = store().open(db.session, current_principal(), path)
    return send_file(found, as_attachment=True, download_name=path.rsplit("/", 1)[-1])


@blp.put(f"{ARTIFACTS}/<path:path>")
@requires(Action.WRITE, basic_auth=True)
def upload_artifact(path: str) -> Response:
    # Model files are far larger than any API body: this route alone takes its own limit.
    request.max_content_length = current_app.config["ARTIFACT_MAX_UPLOAD_BYTES"]
    where = store().upload_target(db.session, current_principal(), path)
    # No transaction stays open while the body arrives (on SQLite it would hold the one
    # writer's lock for as long as the upload takes).
    db.session.rollback()
    received = store().receive(request.stream)
    try:
        store().record_upload(db.session, current_principal(), where, received)
        db.session.commit()
    finally:
        received.discard()
    return answer({})


@blp.get("/api/3.0/mlflow/server-info")
@public
def server_info() -> Response:
    """What the client probes before transfers; capability flags, nothing about the data."""
    return answer(
        {
            "workspaces_enabled": False,
            "multipart_uploads_enabled": False,
            "multipart_downloads_enabled": False,
        }
    )
