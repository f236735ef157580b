import pytest

from registry.domain.errors import InvalidArgument
from registry.domain.pagination import PageTokens, check_max_results, paginate


def test_a_token_round_trips_its_cursor():
    tokens = PageTokens("k")
    token = tokens.encode("models", {"name": "fraud"}, {"filter": "f*"})
    assert tokens.decode("models", token, {"filter": "f*"}) == {"name": "fraud"}


def test_no_cursor_means_no_token_and_no_token_means_first_page():
    tokens = PageTokens("k")
    assert tokens.encode("models", None, {}) is None
    assert tokens.decode("models", None, {}) is None
    assert tokens.decode("models", "", {}) is None


@pytest.mark.parametrize("mutate", [lambda t: t[:-2] + "xx", lambda t: "a" + t, lambda t: t[5:]])
def test_a_tampered_token_is_refused(mutate):
    tokens = PageTokens("k")
    token = tokens.encode("models", {"name": "fraud"}, {})
    with pytest.raises(InvalidArgument, match="not a token"):
        tokens.decode("models", mutate(token), {})


def test_a_token_signed_with_another_key_is_refused():
    token = PageTokens("other").encode("models", {"name": "fraud"}, {})
    with pytest.raises(InvalidArgument):
        PageTokens("k").decode("models", token, {})


def test_a_token_cannot_be_replayed_on_another_listing_or_other_filters():
    tokens = PageTokens("k")
    token = tokens.encode("models", {"name": "fraud"}, {"filter": "a*"})
    with pytest.raises(InvalidArgument):
        tokens.decode("versions", token, {"filter": "a*"})
    with pytest.raises(InvalidArgument, match="other filters"):
        tokens.decode("models", token, {"filter": "b*"})


@pytest.mark.parametrize("value", [0, -1, 1001, True, "10"])
def test_max_results_out_of_range_is_refused(value):
    with pytest.raises(InvalidArgument):
        check_max_results(value)


def test_paginate_uses_the_extra_row_only_to_know_there_is_more():
    page = paginate([1, 2, 3], 2, lambda x: {"after": x})
    assert page.items == [1, 2]
    assert page.next_cursor == {"after": 2}
    last = paginate([1, 2], 2, lambda x: {"after": x})
    assert last.items == [1, 2]
    assert last.next_cursor is None
