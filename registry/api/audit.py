"""/api/v1/audit: the ledger for auditors, and a model's stage history at a moment."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, stream_with_context
from flask.views import MethodView

from registry.api.http import Blueprint, answer, page_tokens
from registry.domain import audit, checkpoints
from registry.domain.audit.export import export_body
from registry.domain.permissions import Action
from registry.extensions import db
from registry.schemas.audit import (
    AuditArgs,
    AuditPage,
    CheckpointIn,
    CheckpointOut,
    ExportArgs,
    JwksOut,
    StageHistoryArgs,
    StageHistoryOut,
    VerificationOut,
)
from registry.web.auth import current_principal, public, requires

blp = Blueprint(
    "audit",
    __name__,
    url_prefix="/api/v1",
    description="The append-only, hash-chained audit ledger.",
)

LISTING = "audit"


def _filters(args: dict[str, Any]) -> audit.Filters:
    return audit.make_filters(
        **{
            k: args[k]
            for k in ("model", "version", "actor", "event", "since", "until")
            if k in args
        }
    )


@blp.route("/audit")
class Audit(MethodView):
    @requires(Action.READ_AUDIT)
    @blp.arguments(AuditArgs, location="query")
    @blp.response(200, AuditPage)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Page through audit events, oldest first

        Filter by model, version, actor, event (or a family such as
        `transition_request.*`) and a time range. Needs the auditor (or admin) role.
        """
        filters = _filters(args)
        tokens = page_tokens()
        page = audit.query(
            db.session,
            current_principal(),
            filters,
            max_results=args.get("max_results"),
            after=tokens.decode(LISTING, args.get("page_token"), filters.as_dict()),
        )
        return {
            "events": [e.as_dict() for e in page.items],
            "next_page_token": tokens.encode(LISTING, page.next_cursor, filters.as_dict()),
        }


@blp.route("/audit/export")
class Export(MethodView):
    @requires(Action.READ_AUDIT)
    @blp.arguments(ExportArgs, location="query")
    @blp.response(
        200,
        description="A stream of events: NDJSON (one JSON object per line) "
        "or CSV (data as a JSON column).",
    )
    def get(self, args: dict[str, Any]) -> Response:
        """Export audit events as a stream (NDJSON or CSV)

        Streams in chunks, in constant memory, whatever the number of events.
        """
        filters = _filters(args)
        events = audit.iterate(db.session, current_principal(), filters)
        suffix = args["format"]
        body, mimetype = export_body(events, suffix)
        return Response(
            stream_with_context(body),
            mimetype=mimetype,
            headers={"Content-Disposition": f'attachment; filename="modelgate-audit.{suffix}"'},
        )


def keyring() -> checkpoints.Keyring:
    return current_app.extensions[checkpoints.EXTENSION]


@blp.route("/audit/verify")
class Verify(MethodView):
    @requires(Action.READ_AUDIT)
    @blp.response(200, VerificationOut)
    def get(self) -> dict[str, Any]:
        """Recompute the hash chain and cross-check it with the registry

        Reports the chain head (`head_seq`, `head_hash`), the first bad seq if any, and in
        `problems` every applied request, approval or stage the ledger does not account for.
        """
        return audit.verify(db.session, current_principal(), keys=keyring().public).as_dict()

    @requires(Action.READ_AUDIT)
    @blp.arguments(CheckpointIn)
    @blp.response(200, VerificationOut)
    def post(self, args: dict[str, Any]) -> dict[str, Any]:
        """Verify the ledger against a checkpoint saved earlier

        The body is a checkpoint as `GET /audit/checkpoint` answered it. Its signature must
        verify with one of this server's checkpoint keys, and the ledger must still hold
        that head: `ok` is false, with `checkpoint.problem` saying why, when the ledger was
        truncated or re-hashed since, even if the chain alone verifies.
        """
        checkpoint = checkpoints.parse(args)
        keys = keyring()
        return audit.verify(
            db.session,
            current_principal(),
            checkpoint=checkpoint,
            keys=keys.public,
            tsa_roots=keys.tsa_roots,
        ).as_dict()


@blp.route("/audit/checkpoint")
class Checkpoint(MethodView):
    @requires(Action.READ_AUDIT)
    @blp.response(200, CheckpointOut)
    def get(self) -> dict[str, Any]:
        """A signed checkpoint of the chain's head

        Save it somewhere the database's operators cannot write; `modelgate audit verify
        --checkpoint FILE` (or `POST /audit/verify`) later proves the ledger still holds and
        extends this head. Signed with Ed25519 (keys at `/audit/checkpoint-keys`).
        """
        return checkpoints.issue(db.session, current_principal(), keyring()).as_dict()


@blp.route("/audit/checkpoint-keys")
class CheckpointKeys(MethodView):
    @public
    @blp.response(200, JwksOut)
    def get(self) -> dict[str, Any]:
        """The public keys that verify audit checkpoints (a JWKS)

        Public, so anyone holding a checkpoint can check it. Retired keys stay listed
        (`status: retired`) while MODELGATE_AUDIT_PUBLIC_KEYS names them.
        """
        return keyring().jwks()


@blp.route("/models/<string:name>/stage-history")
class StageHistory(MethodView):
    @requires(Action.READ)
    @blp.arguments(StageHistoryArgs, location="query")
    @blp.response(200, StageHistoryOut)
    def get(self, args: dict[str, Any], name: str) -> Response:
        """Who held Staging and Production at a moment

        For each stage, the versions in it at `at` (default: now), since when, through which
        transition request, requested and approved by whom, replayed from the audit ledger.
        """
        history = audit.stage_history(db.session, current_principal(), name, args.get("at"))
        return answer(StageHistoryOut().dump(history))
