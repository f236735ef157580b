"""What is kept of a token to recognise it never helps to guess it."""

import secrets

import pytest

from registry.domain import identity
from registry.domain.errors import InvalidArgument


def test_a_generated_token_keeps_mgt_and_four_characters():
    secret = identity.TOKEN_PREFIX + secrets.token_urlsafe(32)
    assert identity.token_prefix(secret) == secret[:8]


@pytest.mark.parametrize("length", [32, 33, 40, 47, 200])
def test_a_chosen_token_keeps_at_most_a_quarter(length):
    secret = "c" * length
    prefix = identity.token_prefix(secret)
    assert len(prefix) <= length // 4
    assert len(prefix) <= 8


@pytest.mark.parametrize(
    ("owner", "ok"),
    [
        ("user:alice@example.com", True),
        ("system:ops", True),
        ("service:ci", False),  # a service account is nobody: chains end at a person
        ("group:leads", False),
        ("alice", False),
        ("user:", False),
        ("user: alice", False),
    ],
)
def test_owners_are_people(owner, ok):
    if ok:
        assert identity.check_person(owner) == owner
    else:
        with pytest.raises(InvalidArgument):
            identity.check_person(owner)
