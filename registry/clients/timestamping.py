"""RFC 3161 time-stamps for audit checkpoints: asking an authority, and checking its answer.

A checkpoint's own ``at`` is the registry's word; a time-stamp from an independent
authority (MODELGATE_AUDIT_TSA_URL) proves the checkpoint's signature existed by then,
which no later holder of the signing key can back-date. The message stamped is the
signature's bytes, as sigstore does. Requests and answers are built and checked with
``rfc3161-client``; the answer is kept whole (DER, base64) beside the checkpoint.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Sequence

import requests
from cryptography import x509
from rfc3161_client import (
    TimestampRequestBuilder,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)

TIMEOUT = 10.0
MAX_ANSWER = 64 * 1024


class TimestampError(RuntimeError):
    """The authority did not answer with a valid time-stamp, or a stamp does not verify."""


def load_certificates(pem: str | bytes) -> list[x509.Certificate]:
    """Certificates from concatenated PEM; ValueError names what is wrong."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise ValueError(f"not PEM certificates ({exc})") from None
    return certificates


class Timestamper:
    """Asks one authority to stamp messages; the answer is checked before it is kept."""

    def __init__(
        self, url: str, roots: Sequence[x509.Certificate] = (), timeout: float = TIMEOUT
    ) -> None:
        self.url = url
        self.roots = list(roots)
        self.timeout = timeout

    def __call__(self, message: bytes) -> str:
        """The authority's answer for ``message`` (base64 DER). Raises TimestampError."""
        request = (
            TimestampRequestBuilder()
            .data(message)
            .nonce(nonce=True)
            .cert_request(cert_request=True)
            .build()
        )
        try:
            answer = requests.post(
                self.url,
                data=request.as_bytes(),
                headers={"Content-Type": "application/timestamp-query"},
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise TimestampError(f"the time-stamping authority did not answer: {exc}") from None
        if answer.status_code != 200 or len(answer.content) > MAX_ANSWER:
            raise TimestampError(f"the time-stamping authority answered HTTP {answer.status_code}")
        try:
            response = decode_timestamp_response(answer.content)
        except ValueError as exc:
            raise TimestampError(f"the authority's answer is not a time-stamp: {exc}") from None
        # The nonce and the imprint tie the answer to this request; with roots, the chain too.
        builder = VerifierBuilder.from_request(request)
        for root in self.roots:
            builder = builder.add_root_certificate(root)
        if self.roots:
            check(response, message, builder)
        elif response.tst_info.nonce != request.nonce or (
            response.tst_info.message_imprint.message != request.message_imprint.message
        ):
            raise TimestampError("the authority stamped something other than what was asked")
        return base64.b64encode(answer.content).decode()


def check(response: object, message: bytes, builder: VerifierBuilder) -> None:
    try:
        builder.build().verify_message(response, message)
    except (VerificationError, ValueError) as exc:
        raise TimestampError(f"the time-stamp does not verify: {exc}") from None


def verify(stamp: str, message: bytes, roots: Sequence[x509.Certificate]) -> dt.datetime:
    """When the authority says ``message`` existed, once the stamp verifies against
    ``roots`` (the authority's certificate chain ends in one of them)."""
    try:
        response = decode_timestamp_response(base64.b64decode(stamp, validate=True))
    except ValueError as exc:
        raise TimestampError(f"the time-stamp cannot be read: {exc}") from None
    builder = VerifierBuilder()
    for root in roots:
        builder = builder.add_root_certificate(root)
    check(response, message, builder)
    return response.tst_info.gen_time
