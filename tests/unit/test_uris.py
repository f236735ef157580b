import pytest

from registry.domain.errors import InvalidArgument
from registry.domain.stages import Stage
from registry.domain.uris import ModelRef, parse_model_uri, version_uri


@pytest.mark.parametrize(
    ("uri", "ref"),
    [
        ("models:/fraud/Production", ModelRef("fraud", stage=Stage.PRODUCTION)),
        ("models:/fraud/production", ModelRef("fraud", stage=Stage.PRODUCTION)),
        ("models:/fraud/3", ModelRef("fraud", version=3)),
        ("models:/fraud/latest", ModelRef("fraud", latest=True)),
        ("models:/fraud/LATEST", ModelRef("fraud", latest=True)),
        ("models:/fraud@champion", ModelRef("fraud", alias="champion")),
        ("models:/fraud@champion/sub/dir", ModelRef("fraud", alias="champion", subpath="sub/dir")),
        ("models:/fraud/3/MLmodel", ModelRef("fraud", version=3, subpath="MLmodel")),
        ("models:/my model/None", ModelRef("my model", stage=Stage.NONE)),
    ],
)
def test_every_uri_form_parses(uri, ref):
    assert parse_model_uri(uri) == ref


@pytest.mark.parametrize(
    "uri",
    [
        "fraud/Production",
        "models:/fraud",
        "models:/fraud/",
        "models:/fraud/Prod",
        "models:/fraud/0",
        "models:/fraud/-1",
        "models:/fraud@",
        "models:/fraud@v2",
        "models:/@champion",
        "models:/fra\x00ud/1",
        "runs:/abc/model",
    ],
)
def test_malformed_uris_are_invalid_arguments(uri):
    with pytest.raises(InvalidArgument):
        parse_model_uri(uri)


def test_version_uri_pins_a_version():
    assert version_uri("fraud", 7) == "models:/fraud/7"
