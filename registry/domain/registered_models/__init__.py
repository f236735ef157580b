"""Registered models and their aliases.

- :mod:`.models`: create, read, list, describe, rename and tag a model;
- :mod:`.aliases`: set, move and remove aliases, under the alias rules.

Every change to a model (or to its versions, elsewhere) starts by locking the model's row
(:mod:`registry.domain.locking`), so changes to one model are serialised and two writers
never both act on a stale view of it. The functions callers use are re-exported here:
``registered_models.create_model(...)``.
"""

from registry.domain.registered_models.aliases import (
    StrayAlias,
    aliases_outside_their_rules,
    delete_alias,
    release_stage_bound_aliases,
    set_alias,
)
from registry.domain.registered_models.models import (
    UNSET,
    Precondition,
    create_model,
    delete_model_tag,
    get_model,
    list_models,
    rename_model,
    set_model_tag,
    update_model,
)

__all__ = [
    "UNSET",
    "Precondition",
    "StrayAlias",
    "aliases_outside_their_rules",
    "create_model",
    "delete_alias",
    "delete_model_tag",
    "get_model",
    "list_models",
    "release_stage_bound_aliases",
    "rename_model",
    "set_alias",
    "set_model_tag",
    "update_model",
]
