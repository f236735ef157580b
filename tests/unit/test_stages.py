import pytest

from registry.domain.errors import InvalidArgument, InvalidTransition
from registry.domain.stages import ALLOWED_MOVES, Stage, require_move


@pytest.mark.parametrize(
    ("raw", "stage"),
    [
        ("production", Stage.PRODUCTION),
        ("STAGING", Stage.STAGING),
        (" None ", Stage.NONE),
        ("Archived", Stage.ARCHIVED),
    ],
)
def test_stage_names_parse_in_any_case(raw, stage):
    assert Stage.parse(raw) is stage


@pytest.mark.parametrize("raw", ["prod", "", "Live", None, 3])
def test_unknown_stages_are_invalid_arguments(raw):
    with pytest.raises(InvalidArgument, match="Unknown stage"):
        Stage.parse(raw)


def test_the_table_covers_every_stage_and_has_no_self_moves():
    assert set(ALLOWED_MOVES) == set(Stage)
    for stage, targets in ALLOWED_MOVES.items():
        assert stage not in targets


def test_rollback_from_archive_to_production_is_allowed():
    require_move(Stage.ARCHIVED, Stage.PRODUCTION)


def test_production_cannot_go_back_to_none():
    with pytest.raises(InvalidTransition) as err:
        require_move(Stage.PRODUCTION, Stage.NONE)
    assert err.value.details["allowed"] == ["Archived", "Staging"]


def test_moving_to_the_current_stage_is_refused_with_a_clear_message():
    with pytest.raises(InvalidTransition, match="already in Staging"):
        require_move(Stage.STAGING, Stage.STAGING)


def test_only_staging_and_production_are_active():
    assert {s for s in Stage if s.is_active} == {Stage.STAGING, Stage.PRODUCTION}
