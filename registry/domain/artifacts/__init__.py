"""Model files Modelgate keeps itself: a write-once store, keyed by the model's identity.

A team without a tracking server uploads a model's files to ``mlflow-artifacts:/<model
name>/<path>`` and registers a version from there; MLflow clients then download them from
us. The first segment of an artifact path names the registered model the files belong to *now*,
and access follows that model's permissions: reading it to list and download, writing to it
to upload.

Write-once. Every file is a row of ``artifact_files`` (model id, path, size, SHA-256, who,
when), unique per model and path, and its bytes are kept on disk under their own SHA-256
(``<root>/@blobs/sha256/ab/ab12...``). Nothing ever replaces a file: an upload to a path that
holds other bytes is refused (AlreadyExists) and the stored bytes stay; the same bytes again
(a client retrying) succeed without a second record. Every new file is an
``artifact.uploaded`` event. Because bytes are addressed by their digest, a blob can only
ever hold the bytes its name promises, and no path a client sends ever becomes a path on
disk (no traversal, symbolic links, file-versus-directory or name-length surprises).

Identity, not name. Rows are keyed by the model's id: a rename keeps the files with the model
(versions registered from them get their source rewritten to the new name in the same
transaction), deleting the model tombstones its rows (kept, unreachable), and a new model
under an old name starts empty, so an old URI fails closed instead of serving a stranger's
files.

Versions (:func:`place_of_source`). A version registered from its own model's files records
their manifest (registry.domain.manifests: the OpenSSF model-signing format) and model
digest, built from the rows, not by reading the files again. A version of model A may not be
registered from another model's files. The place any ``mlflow-artifacts:/<name>/<path>``
source points at is sealed: nothing may be uploaded under it while the version exists,
whichever model holds that name then. Every move into Staging or Production re-hashes the
blobs of a version that has a manifest (:func:`recheck`) and refuses on any difference.

Order of file and row on upload: the body is streamed to a scratch file and hashed with no
transaction open; then, under the model's row lock, the row is checked, the blob put in place
(never replacing one), and the row inserted with its event. A crash before the commit leaves
at most an unreferenced blob; a committed row always has its blob.

- :mod:`.paths`: places in the store and the store's own directories;
- :mod:`.store`: :class:`ArtifactStore`, the bytes on disk and their rows;
- :mod:`.sources`: versions' sources in the store, rename and deletion;
- :mod:`.recheck`: a version's files against its digest, before it serves;
- :mod:`.upgrade`: digests for versions registered before Modelgate recorded them.

The names callers use are re-exported here: ``artifacts.ArtifactStore``.
"""

from registry.domain.artifacts.paths import (
    BLOBS,
    INCOMING,
    ORPHANED,
    SCHEME,
    Entry,
    Location,
    parse_path,
    source_uri,
    store_location,
)
from registry.domain.artifacts.recheck import recheck, store_of, use_store
from registry.domain.artifacts.sources import (
    SourcePlace,
    files_at,
    follow_rename,
    manifest_of,
    place_of_source,
    tombstone,
)
from registry.domain.artifacts.store import ArtifactStore, Received
from registry.domain.artifacts.upgrade import record_missing_digests

__all__ = [
    "BLOBS",
    "INCOMING",
    "ORPHANED",
    "SCHEME",
    "ArtifactStore",
    "Entry",
    "Location",
    "Received",
    "SourcePlace",
    "files_at",
    "follow_rename",
    "manifest_of",
    "parse_path",
    "place_of_source",
    "record_missing_digests",
    "recheck",
    "source_uri",
    "store_location",
    "store_of",
    "tombstone",
    "use_store",
]
