"""The rules of the registry: plain functions over a SQLAlchemy Session.

Nothing here imports Flask or marshmallow, and nothing here commits: the caller (an HTTP view,
the MLflow layer, the CLI or a worker) owns the transaction and commits it once.
"""
