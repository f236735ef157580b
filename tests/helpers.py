"""Helpers shared by the integration tests: terse calls that assert the expected status."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa

MODELGATE = str(Path(sys.executable).parent / "modelgate")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(base: str, process: subprocess.Popen, timeout: float = 30) -> None:
    """Poll /readyz until it answers 200; fail early with the server's output if it died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"server exited: {process.stdout.read()}")
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=1) as response:  # noqa: S310
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("server did not become ready")


@contextlib.contextmanager
def served(port: int, env: dict[str, str], cwd: Path, log: Path, *args: str) -> Iterator[str]:
    """`modelgate serve` on ``port`` (extra ``args`` such as --workers), its output in ``log``;
    yields its base URL once it is ready, and stops it afterwards."""
    with (
        log.open("w") as out,
        subprocess.Popen(
            [MODELGATE, "serve", "--port", str(port), *args],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        ) as process,
    ):
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(base, process)
            yield base
        finally:
            process.terminate()
            process.communicate(timeout=30)


@contextlib.contextmanager
def postgres_database(server_url: str, name: str) -> Iterator[str]:
    """An empty database ``name`` on the server, as a plain postgresql:// URL (as an operator
    would write it); dropped afterwards."""
    admin = sa.create_engine(
        sa.engine.make_url(server_url).set(drivername="postgresql+psycopg2"),
        isolation_level="AUTOCOMMIT",
        poolclass=sa.pool.NullPool,
    )
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield (
            sa.engine.make_url(server_url)
            .set(drivername="postgresql", database=name)
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without any MODELGATE_ or MLFLOW_ setting, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELGATE_", "MLFLOW_"))}
    env.update(settings)
    return env


class RegistryClient:
    """A thin layer over Flask's test client for the native API."""

    def __init__(self, client: Any, token: str | None = None) -> None:
        self.client = client
        self.token = token

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = dict(extra or {})
        if self.token:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        return headers

    def call(
        self,
        method: str,
        path: str,
        expect: int | None = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> Any:
        response = self.client.open(path, method=method, headers=self._headers(headers), **kwargs)
        if expect is not None:
            assert response.status_code == expect, (
                f"{method} {path}: expected {expect}, got {response.status_code}: "
                f"{response.get_data(as_text=True)}"
            )
        return response

    def get(self, path: str, expect: int | None = 200, **kwargs: Any) -> Any:
        return self.call("GET", path, expect, **kwargs)

    def post(self, path: str, json: Any = None, expect: int | None = None, **kwargs: Any) -> Any:
        return self.call("POST", path, expect, json=json, **kwargs)

    def put(self, path: str, json: Any = None, expect: int | None = 200, **kwargs: Any) -> Any:
        return self.call("PUT", path, expect, json=json, **kwargs)

    def patch(self, path: str, json: Any = None, expect: int | None = 200, **kwargs: Any) -> Any:
        return self.call("PATCH", path, expect, json=json, **kwargs)

    def delete(self, path: str, expect: int | None = None, **kwargs: Any) -> Any:
        return self.call("DELETE", path, expect, **kwargs)

    # -- shortcuts ------------------------------------------------------------------------

    def create_model(self, name: str, **body: Any) -> dict[str, Any]:
        return self.post("/api/v1/models", {"name": name, **body}, expect=201).get_json()

    def create_version(self, name: str, source: str | None = None, **body: Any) -> dict[str, Any]:
        body.setdefault("source", source or f"s3://models/{name}/artifacts")
        return self.post(f"/api/v1/models/{name}/versions", body, expect=201).get_json()

    def transition(
        self, name: str, version: int, to_stage: str, expect: int = 201, **body: Any
    ) -> Any:
        return self.post(
            f"/api/v1/models/{name}/versions/{version}/transitions",
            {"to_stage": to_stage, **body},
            expect=expect,
        ).get_json()

    def version(self, name: str, version: int) -> dict[str, Any]:
        return self.get(f"/api/v1/models/{name}/versions/{version}").get_json()

    def model(self, name: str) -> dict[str, Any]:
        return self.get(f"/api/v1/models/{name}").get_json()


def error_code(response: Any) -> str:
    body = response.get_json()
    assert isinstance(body, dict), response.get_data(as_text=True)
    assert "error_code" in body, body
    return body["error_code"]


class Receiver:
    """A real HTTP server on loopback that webhooks are delivered to.

    It records every request (headers, body) and answers from ``script``, a list of
    ``(status, headers, delay_seconds)`` used in order, then ``default`` for the rest.
    """

    def __init__(self, script: list[tuple[int, dict[str, str], float]] | None = None) -> None:
        import http.server
        import threading

        self.script = list(script or [])
        self.default: tuple[int, dict[str, str], float] = (204, {}, 0.0)
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Condition()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with receiver._lock:
                    receiver.requests.append(
                        {
                            "path": self.path,
                            "headers": {k.lower(): v for k, v in self.headers.items()},
                            "body": body.decode(),
                        }
                    )
                    status, headers, delay = (
                        receiver.script.pop(0) if receiver.script else receiver.default
                    )
                    receiver._lock.notify_all()
                time.sleep(delay)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        """The first ``count`` requests, once they have arrived (AssertionError if not)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.requests) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"{len(self.requests)} of {count} deliveries arrived in {timeout}s"
                self._lock.wait(left)
            return list(self.requests[:count])

    def events(self) -> list[str]:
        import json

        return [json.loads(r["body"])["type"] for r in self.requests]


class LocalTSA:
    """A real RFC 3161 time-stamping authority on loopback: OpenSSL's own (`openssl ts
    -reply`) behind a small HTTP server, with a root and a TSA certificate made here (the
    TSA's carries the critical timeStamping key usage RFC 3161 requires)."""

    def __init__(self, workdir: Path) -> None:
        import datetime as dt
        import http.server
        import threading

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        def name(cn: str) -> x509.Name:
            return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

        def usage(**set_: bool) -> x509.KeyUsage:
            flags = dict.fromkeys(
                (
                    "digital_signature",
                    "content_commitment",
                    "key_encipherment",
                    "data_encipherment",
                    "key_agreement",
                    "key_cert_sign",
                    "crl_sign",
                    "encipher_only",
                    "decipher_only",
                ),
                False,
            )
            return x509.KeyUsage(**{**flags, **set_})

        now = dt.datetime.now(dt.UTC)
        root_key = ec.generate_private_key(ec.SECP256R1())
        self.root = (
            x509.CertificateBuilder()
            .subject_name(name("Modelgate test TSA root"))
            .issuer_name(name("Modelgate test TSA root"))
            .public_key(root_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=7))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(usage(key_cert_sign=True, crl_sign=True), critical=True)
            .sign(root_key, hashes.SHA256())
        )
        tsa_key = ec.generate_private_key(ec.SECP256R1())
        tsa = (
            x509.CertificateBuilder()
            .subject_name(name("Modelgate test TSA"))
            .issuer_name(self.root.subject)
            .public_key(tsa_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=7))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
            )
            .add_extension(usage(digital_signature=True), critical=True)
            .sign(root_key, hashes.SHA256())
        )
        self.root_pem = self.root.public_bytes(serialization.Encoding.PEM).decode()
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "tsa.pem").write_bytes(tsa.public_bytes(serialization.Encoding.PEM))
        key = workdir / "tsa.key"
        key.write_bytes(
            tsa_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        key.chmod(0o600)
        (workdir / "serial").write_text("01\n")
        (workdir / "tsa.cnf").write_text(
            "[tsa]\ndefault_tsa = tsa_config\n[tsa_config]\n"
            f"serial = {workdir / 'serial'}\nsigner_cert = {workdir / 'tsa.pem'}\n"
            f"signer_key = {key}\nsigner_digest = sha256\n"
            "default_policy = 1.3.6.1.4.1.57264.2\ndigests = sha256, sha384, sha512\n"
            "accuracy = secs:1\nordering = no\ntsa_name = yes\ness_cert_id_chain = no\n"
            "ess_cert_id_alg = sha256\ncrypto_device = builtin\n"
        )
        self.requests = 0
        tsa_ = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                query = self.rfile.read(int(self.headers.get("content-length", 0)))
                with tsa_._lock:
                    tsa_.requests += 1
                    (workdir / "query.tsq").write_bytes(query)
                    made = subprocess.run(  # noqa: S603 - the system's openssl
                        [
                            "openssl",
                            "ts",
                            "-reply",
                            "-config",
                            str(workdir / "tsa.cnf"),
                            "-queryfile",
                            str(workdir / "query.tsq"),
                            "-out",
                            str(workdir / "reply.tsr"),
                        ],
                        capture_output=True,
                        timeout=30,
                    )
                    reply = (workdir / "reply.tsr").read_bytes() if made.returncode == 0 else b""
                self.send_response(200 if reply else 500)
                self.send_header("content-type", "application/timestamp-reply")
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: Any) -> None:
                pass

        self._lock = threading.Lock()
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/tsa"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> LocalTSA:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
