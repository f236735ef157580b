"""Extension objects, created unbound; :func:`registry.app.create_app` binds them to an app.

The smorest ``Api`` is the exception: it keeps one OpenAPI document per instance, so each app
gets its own (tests build one app per database).
"""

from __future__ import annotations

from flask_migrate import Migrate
from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy

from registry.orm.base import Base
from registry.schemas.common import ErrorOut


class ModelgateApi(Api):  # type: ignore[misc]
    """smorest's Api, minus its error handler: ours (registry.web.errors) answers every error."""

    ERROR_SCHEMA = ErrorOut

    def _register_error_handlers(self) -> None:
        return None


# Our tables derive from registry.orm.Base, not db.Model; sharing the metadata is all
# Flask-SQLAlchemy needs. create_savepoint lets the tests run each case inside an outer
# transaction that is rolled back afterwards, even when the code under test commits.
db = SQLAlchemy(
    metadata=Base.metadata, session_options={"join_transaction_mode": "create_savepoint"}
)
migrate = Migrate()
