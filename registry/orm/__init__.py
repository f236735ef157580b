"""SQLAlchemy tables. Importing this package registers every table on ``Base.metadata``."""

from registry.orm.artifact import ArtifactFile
from registry.orm.audit import AuditChainHead, AuditEvent
from registry.orm.base import Base
from registry.orm.idempotency import IdempotencyKey
from registry.orm.identity import ApiToken, RoleBinding
from registry.orm.imports import ImportRecord
from registry.orm.model_version import ModelVersion, ModelVersionTag
from registry.orm.registered_model import ModelAlias, RegisteredModel, RegisteredModelTag
from registry.orm.transition import Approval, Comment, TransitionRequest
from registry.orm.webhook import DeliveryAttempt, Webhook, WebhookDelivery

__all__ = [
    "ApiToken",
    "ArtifactFile",
    "Approval",
    "AuditChainHead",
    "Comment",
    "DeliveryAttempt",
    "IdempotencyKey",
    "AuditEvent",
    "ImportRecord",
    "Base",
    "ModelAlias",
    "ModelVersion",
    "ModelVersionTag",
    "RegisteredModel",
    "RegisteredModelTag",
    "RoleBinding",
    "TransitionRequest",
    "Webhook",
    "WebhookDelivery",
]
