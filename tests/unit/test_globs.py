import re

import pytest

from registry.domain import globs


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("fraud-*", "fraud-eu", True),
        ("fraud-*", "fraud-", True),
        ("fraud-*", "Fraud-eu", False),
        ("*", "anything at all", True),
        ("team?-model", "team1-model", True),
        ("team?-model", "team12-model", False),
        ("a.b", "axb", False),
        ("100%", "100%", True),
        ("100%", "1000", False),
        ("a_b", "axb", False),
    ],
)
def test_matches(pattern, name, expected):
    assert globs.matches(pattern, name) is expected


@pytest.mark.parametrize(
    ("pattern", "like"),
    [
        ("fraud-*", "fraud-%"),
        ("a?c", "a_c"),
        ("100%", "100\\%"),
        ("a_b", "a\\_b"),
        ("back\\slash", "back\\\\slash"),
    ],
)
def test_to_like_escapes_sql_wildcards(pattern, like):
    assert globs.to_like(pattern) == like


@pytest.mark.parametrize("name", ["fraud-eu", "a_b", "100%", "x", "fraud%-x"])
@pytest.mark.parametrize("pattern", ["fraud-*", "a_b", "100%", "?", "*%*"])
def test_like_translation_agrees_with_the_python_matcher(pattern, name):
    like = globs.to_like(pattern)
    regex = ""
    i = 0
    while i < len(like):
        c = like[i]
        if c == "\\":
            regex += re.escape(like[i + 1])
            i += 2
            continue
        regex += ".*" if c == "%" else "." if c == "_" else re.escape(c)
        i += 1
    assert (re.fullmatch(regex, name, re.DOTALL) is not None) is globs.matches(pattern, name)


def test_exact_names_are_more_specific_than_globs():
    ordered = sorted(["*", "fraud-*", "fraud-eu", "f*"], key=globs.specificity, reverse=True)
    assert ordered == ["fraud-eu", "fraud-*", "f*", "*"]


@pytest.mark.parametrize(
    ("a", "b", "overlap"),
    [
        ("*-eu", "pa-*", True),  # pa-eu
        ("fraud-*", "churn-*", False),
        ("a?c", "ab*", True),
        ("a?c", "abd", False),
        ("*", "x", True),
        ("x*y", "*z", False),
        ("*a*", "*b*", True),  # "ab"
        ("abc", "abc", True),
        ("abc", "abd", False),
        ("??", "???", False),
    ],
)
def test_may_overlap(a, b, overlap):
    assert globs.may_overlap(a, b) is overlap
    assert globs.may_overlap(b, a) is overlap


def test_may_overlap_agrees_with_brute_force():
    import itertools

    patterns = ["".join(p) for n in range(1, 4) for p in itertools.product("ab*?", repeat=n)]
    names = ["".join(p) for n in range(0, 6) for p in itertools.product("ab", repeat=n)]
    for a, b in itertools.combinations(patterns, 2):
        brute = any(globs.matches(a, name) and globs.matches(b, name) for name in names)
        assert globs.may_overlap(a, b) is brute, (a, b)
