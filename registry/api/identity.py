"""/api/v1/me, /tokens and /role-bindings: who is calling, and who may do what."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView

from registry.api.http import Blueprint, answer, empty, policies, single
from registry.domain import identity
from registry.domain.permissions import Action
from registry.extensions import db
from registry.schemas.identity import (
    BindingIn,
    BindingList,
    BindingListArgs,
    BindingOut,
    MeOut,
    TokenIn,
    TokenList,
    TokenListArgs,
    TokenOut,
)
from registry.web.auth import current_principal, forget_callers, requires

blp = Blueprint(
    "identity",
    __name__,
    url_prefix="/api/v1",
    description="The caller, service-account tokens and role bindings.",
)


@blp.route("/me")
class Me(MethodView):
    @requires(Action.READ)
    @blp.response(200, MeOut)
    def get(self) -> Response:
        """Who the bearer token says you are, and what you may do"""
        principal = current_principal()
        return answer(
            MeOut().dump(
                {
                    "subject": principal.subject,
                    "kind": principal.kind,
                    "person": principal.person,
                    "roles": principal.roles,
                    "groups": list(principal.groups),
                    "grants": [identity.grant_to_dict(g) for g in principal.grants],
                }
            )
        )


@blp.route("/tokens")
class Tokens(MethodView):
    @requires(Action.ADMIN)
    @blp.arguments(TokenListArgs, location="query")
    @blp.response(200, TokenList)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List API tokens (never their secrets)"""
        return {"tokens": identity.list_tokens(db.session, current_principal(), **args)}

    @requires(Action.ADMIN)
    @blp.arguments(TokenIn)
    @blp.response(201, TokenOut)
    def post(self, body: dict[str, Any]) -> Response:
        """Create a service-account token

        The answer holds the secret (`token`); it is shown this once and stored only as a
        hash. Give `stages` to narrow an approver token to some stages. The token is yours
        (`owner`: the person behind your own token). One carrying a role the policy file's
        `tokens.second_admin_for_roles` lists, or naming another owner, is created
        `pending`: it works once another admin approves it (`POST /tokens/{id}/approve`).
        """
        info = identity.create_token(
            db.session, current_principal(), rules=policies().tokens, **body
        )
        db.session.commit()
        return single(TokenOut(), info, 201)


@blp.route("/tokens/<id:token_id>")
class Token(MethodView):
    @requires(Action.ADMIN)
    @blp.response(204)
    def delete(self, token_id: int) -> Response:
        """Revoke a token"""
        identity.revoke_token(db.session, current_principal(), token_id)
        db.session.commit()
        forget_callers()
        return empty()


@blp.route("/tokens/<id:token_id>/approve")
class TokenApproval(MethodView):
    @requires(Action.ADMIN)
    @blp.response(200, TokenOut)
    def post(self, token_id: int) -> Response:
        """Approve a pending token, as a second admin

        Refused (`POLICY_VIOLATION`, check `second_admin`) to the person who minted it and
        to its owner, whichever of their tokens they use.
        """
        info = identity.approve_token(db.session, current_principal(), token_id)
        db.session.commit()
        return single(TokenOut(), info)


@blp.route("/role-bindings")
class RoleBindings(MethodView):
    @requires(Action.ADMIN)
    @blp.arguments(BindingListArgs, location="query")
    @blp.response(200, BindingList)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List role bindings, by subject or by the models they cover"""
        return {"role_bindings": identity.list_bindings(db.session, current_principal(), **args)}

    @requires(Action.ADMIN)
    @blp.arguments(BindingIn)
    @blp.response(201, BindingOut)
    def post(self, body: dict[str, Any]) -> Response:
        """Grant a role to a user, a group or a service account

        On every model (`model_pattern` `*`, the default) or those matching a glob; an
        approver binding may be narrowed to some `stages`. A role the policy file's
        `tokens.second_admin_for_roles` lists is granted `pending`, once another admin
        approves it (`POST /role-bindings/{id}/approve`).
        """
        info = identity.create_binding(
            db.session, current_principal(), rules=policies().tokens, **body
        )
        db.session.commit()
        forget_callers()
        return single(BindingOut(), info, 201)


@blp.route("/role-bindings/<id:binding_id>")
class RoleBinding(MethodView):
    @requires(Action.ADMIN)
    @blp.response(204)
    def delete(self, binding_id: int) -> Response:
        """Remove a role binding"""
        identity.delete_binding(db.session, current_principal(), binding_id)
        db.session.commit()
        forget_callers()
        return empty()


@blp.route("/role-bindings/<id:binding_id>/approve")
class RoleBindingApproval(MethodView):
    @requires(Action.ADMIN)
    @blp.response(200, BindingOut)
    def post(self, binding_id: int) -> Response:
        """Approve a pending role binding, as a second admin

        Refused (`POLICY_VIOLATION`, check `second_admin`) to the person who made it and to
        the person it empowers.
        """
        info = identity.approve_binding(db.session, current_principal(), binding_id)
        db.session.commit()
        forget_callers()
        return single(BindingOut(), info)
