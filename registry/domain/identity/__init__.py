"""Who may act: service-account API tokens, role bindings, and the principals they make.

- :mod:`.tokens`: minting, listing, approving, revoking tokens; finding one by its secret;
- :mod:`.bindings`: role bindings on users, groups and service accounts;
- :mod:`.grants`: grants as stored, and what names a person or a subject;
- :mod:`.four_eyes`: the second-admin rule for governed roles and tokens minted for others;
- :mod:`.principals`: the Principal a token or a sign-in stands for.

Every token has an owner, the person who answers for it: over the API, the person minting it
(a token minted with a token inherits that token's owner, so every chain ends at a person);
only the operator's CLI names someone else outright, and an admin minting for someone else
needs a second admin. Four-eyes rules compare owners, so one person's many tokens count as
one person. Tokens and role bindings that hand out a role the policy file governs
(``tokens.second_admin_for_roles``) wait, ``pending`` and powerless, for an admin other than
the person who made them. Creating, revoking and binding are admin actions, audited.

The functions callers use are re-exported here: ``identity.create_token(...)``.
"""

from registry.domain.identity.bindings import (
    BindingInfo,
    approve_binding,
    create_binding,
    delete_binding,
    list_bindings,
)
from registry.domain.identity.grants import (
    ACTIVE,
    PENDING,
    check_person,
    check_subject,
    grant_from_dict,
    grant_to_dict,
    make_grants,
)
from registry.domain.identity.principals import bound_grants, service_principal, user_principal
from registry.domain.identity.tokens import (
    MIN_CHOSEN_SECRET,
    PREFIX_LENGTH,
    TOKEN_PREFIX,
    TokenInfo,
    approve_token,
    create_token,
    ensure_bootstrap_token,
    find_token,
    hash_token,
    list_tokens,
    revoke_token,
    token_prefix,
)

__all__ = [
    "ACTIVE",
    "MIN_CHOSEN_SECRET",
    "PENDING",
    "PREFIX_LENGTH",
    "TOKEN_PREFIX",
    "BindingInfo",
    "TokenInfo",
    "approve_binding",
    "approve_token",
    "bound_grants",
    "check_person",
    "check_subject",
    "create_binding",
    "create_token",
    "delete_binding",
    "ensure_bootstrap_token",
    "find_token",
    "grant_from_dict",
    "grant_to_dict",
    "hash_token",
    "list_bindings",
    "list_tokens",
    "make_grants",
    "revoke_token",
    "service_principal",
    "token_prefix",
    "user_principal",
]
