import json
import unicodedata

import pytest

from registry.domain import validation
from registry.domain.errors import InvalidArgument


def test_names_are_nfc_normalised():
    decomposed = unicodedata.normalize("NFD", "modèle")
    assert decomposed != "modèle"
    assert validation.model_name(decomposed) == "modèle"


def test_name_keys_ignore_case_and_compatibility_forms():
    assert validation.name_key("Fraud") == validation.name_key("fraud")
    assert validation.name_key("STRASSE") == validation.name_key("straße")
    assert validation.name_key("ﬁle") == validation.name_key("file")  # ligature


@pytest.mark.parametrize(
    "name",
    [
        "",
        " fraud",
        "fraud ",
        "a/b",
        "a:b",
        "a@b",
        "a*",
        "a?",
        "..",
        "a\x00b",
        "a\nb",
        "a\u202eb",
        "x" * 257,
    ],
)
def test_bad_names_are_refused(name):
    with pytest.raises(InvalidArgument):
        validation.model_name(name)


@pytest.mark.parametrize("name", ["fraud", "fraud-detector_v2", "Détecteur de fraude", "x" * 256])
def test_good_names_pass(name):
    assert validation.model_name(name) == name


@pytest.mark.parametrize("alias", ["latest", "LATEST", "v1", "V42"])
def test_reserved_aliases_are_refused(alias):
    with pytest.raises(InvalidArgument, match="reserved"):
        validation.alias(alias)


@pytest.mark.parametrize("alias", ["champion", "challenger-2", "v1a", "prod_eu"])
def test_ordinary_aliases_pass(alias):
    assert validation.alias(alias) == alias


@pytest.mark.parametrize(
    "source",
    [
        "s3://bucket/key",
        "runs:/abc123/model",
        "mlflow-artifacts:/1/x",
        "file:///tmp/model",
        "/mnt/models/fraud",
        "gs://b/k",
        "wasbs://c@a.blob.core.windows.net/p",
    ],
)
def test_sources_with_a_scheme_or_absolute_path_pass(source):
    assert validation.source(source) == source


@pytest.mark.parametrize("source", ["", "relative/path", "s3://b/../etc", "/a/../b", "s3://b\x00"])
def test_other_sources_are_refused(source):
    with pytest.raises(InvalidArgument):
        validation.source(source)


def test_source_schemes():
    assert validation.source_scheme("S3://b/k") == "s3"
    assert validation.source_scheme("/abs/path") == "file"
    assert validation.source_scheme("runs:/x/y") == "runs"


def test_tag_limits():
    validation.tags({f"k{i}": "v" for i in range(validation.MAX_TAGS)})
    with pytest.raises(InvalidArgument, match="At most"):
        validation.tags({f"k{i}": "v" for i in range(validation.MAX_TAGS + 1)})
    with pytest.raises(InvalidArgument):
        validation.tag_value("x" * (validation.MAX_TAG_VALUE + 1))
    assert validation.tag_value("line one\nline two") == "line one\nline two"
    with pytest.raises(InvalidArgument):
        validation.tag_key("bad key!")


def test_descriptions_keep_line_breaks_but_refuse_nul():
    assert validation.description("a\n\tb") == "a\n\tb"
    with pytest.raises(InvalidArgument):
        validation.description("a\x00b")


@pytest.mark.parametrize(("raw", "number"), [(3, 3), ("3", 3), ("12", 12)])
def test_version_numbers_accept_ints_and_digit_strings(raw, number):
    assert validation.version_number(raw) == number


@pytest.mark.parametrize("raw", [0, -1, "0", "3.0", "x", True, 2**31, "٣"])
def test_version_numbers_refuse_the_rest(raw):
    with pytest.raises(InvalidArgument):
        validation.version_number(raw)


def test_json_documents_nested_deeper_than_any_of_ours_are_refused():
    from registry.domain.validation import MAX_JSON_DEPTH, json_document

    at_limit = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert json_document(at_limit) == eval(at_limit)  # noqa: S307 - a literal we built
    for deep in (
        "[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1),
        '{"a": ' * (MAX_JSON_DEPTH + 1) + "1" + "}" * (MAX_JSON_DEPTH + 1),
        "[" * 100_000 + "]" * 100_000,  # past the interpreter's recursion limit
    ):
        with pytest.raises(InvalidArgument, match="nested more than"):
            json_document(deep)
    with pytest.raises(json.JSONDecodeError):  # malformed JSON is the decoder's to report
        json_document("[1,")
