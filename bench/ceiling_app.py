"""The ceiling of the benchmarks: a bare Flask app answering fixed JSON, under the same
gunicorn settings as Modelgate (see bench/run.py). Nothing served by Flask on gunicorn can be
faster than this on the same machine.

    gunicorn -k gthread --workers 2 --threads 4 'bench.ceiling_app:app'
"""

from __future__ import annotations

from flask import Flask, jsonify

app = Flask(__name__)

# The shape and size of a resolved version, so the ceiling serialises as much as we do.
VERSION = {
    "name": "model-00042",
    "version": 5,
    "source": "s3://bench/model-00042/5",
    "run_id": None,
    "run_link": None,
    "description": None,
    "tags": {},
    "stage": "Production",
    "aliases": ["champion"],
    "status": "READY",
    "status_message": None,
    "created_at": "2026-11-29T22:00:00+00:00",
    "updated_at": "2026-11-29T22:00:00+00:00",
    "created_by": "system",
    "uri": "models:/model-00042/5",
}


@app.get("/", defaults={"path": ""})
@app.get("/<path:path>")
def fixed(path: str) -> object:
    return jsonify(VERSION)
