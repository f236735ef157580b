"""Content digests of model versions, in the OpenSSF model-signing format.

A version registered from files in Modelgate's store records a *manifest*: one resource per
file (its path relative to the version's source, and the SHA-256 of its bytes) and one
*model digest* over them all. Both are exactly what the OpenSSF ``model-signing`` library
computes for the same files with its file serialization (``hashing.Config()``, SHA-256, no
symbolic links, nothing ignored), and the manifest is served as the in-toto Statement that
library signs. So a signature made with ``model-signing`` over the files a deployer
downloaded verifies against what Modelgate recorded, and anyone can recompute the digest
with that library instead of trusting ours.

The rules, from model-signing v1.0's payload:

- a resource is named by its POSIX path relative to the model directory; when the model is a
  single file, its one resource is named ``.``;
- resources are ordered as ``pathlib.PurePosixPath`` orders them: component by component,
  so ``a/b`` comes before ``a.txt`` (as strings it would not);
- the model digest is SHA-256 over the concatenated raw 32-byte digests of the resources in
  that order;
- the statement's subject is named after the model directory's last path component (only
  informative: verifiers compare the resources and the digest).

Pure functions: no database, no files.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Any

from registry.domain.errors import InvalidArgument

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://model_signing/signature/v1.0"
ALGORITHM = "sha256"
# How the files were serialized, in model-signing's own words: whole files, SHA-256, no
# symbolic links, nothing ignored (git files included: every byte Modelgate serves counts).
SERIALIZATION: dict[str, Any] = {"method": "files", "hash_type": ALGORITHM, "allow_symlinks": False}
# The version tag under which the MLflow layer shows a version's digest. Reserved: nobody may
# set it, so what a deployer reads there is always Modelgate's own record.
DIGEST_TAG = "modelgate.digest"

_DIGEST = re.compile(r"^sha256:[0-9a-fA-F]{64}$")
_HEX = re.compile(r"^[0-9a-f]{64}$")


def resource_order(name: str) -> tuple[str, ...]:
    """PurePosixPath's order: by path components, not by the string."""
    return tuple(name.split("/"))


def model_digest(resources: Iterable[tuple[str, str]]) -> str:
    """``sha256:<hex>`` over (name, sha256 hex) pairs, combined as model-signing combines them."""
    combined = hashlib.sha256()
    for _, hex_digest in sorted(resources, key=lambda r: resource_order(r[0])):
        combined.update(bytes.fromhex(hex_digest))
    return f"{ALGORITHM}:{combined.hexdigest()}"


def statement(subject: str, resources: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """The in-toto Statement model-signing would sign for these files."""
    ordered = sorted(resources, key=lambda r: resource_order(r[0]))
    for name, hex_digest in ordered:
        if not _HEX.match(hex_digest):
            raise ValueError(f"resource {name!r} has no SHA-256 hex digest")
    root = model_digest(ordered).removeprefix(f"{ALGORITHM}:")
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": subject, "digest": {ALGORITHM: root}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "serialization": dict(SERIALIZATION),
            "resources": [
                {"name": name, "algorithm": ALGORITHM, "digest": hex_digest}
                for name, hex_digest in ordered
            ],
        },
    }


def statement_digest(manifest: dict[str, Any]) -> str:
    """The model digest a stored statement declares."""
    return f"{ALGORITHM}:{manifest['subject'][0]['digest'][ALGORITHM]}"


def statement_resources(manifest: dict[str, Any]) -> dict[str, str]:
    """{resource name: sha256 hex} of a stored statement."""
    return {r["name"]: r["digest"] for r in manifest["predicate"]["resources"]}


def client_digest(value: object, field: str = "digest") -> str | None:
    """A digest a client supplies for files Modelgate does not hold: ``sha256:<64 hex>``,
    stored lower-case; None when absent."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _DIGEST.match(value):
        raise InvalidArgument(
            f"{field} must be 'sha256:' followed by 64 hexadecimal digits (the model digest "
            "model-signing computes over the files).",
            field=field,
        )
    return value.lower()
