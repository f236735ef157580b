import pytest

from registry.domain.audit.export import spreadsheet_safe


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_a_cell_a_spreadsheet_would_run_is_made_text(start):
    assert spreadsheet_safe(f"{start}cmd|' /C calc'!A0") == f"'{start}cmd|' /C calc'!A0"


@pytest.mark.parametrize("value", ["fraud", "user:alice", '{"a": 1}', "", None, 3, "a=b"])
def test_other_cells_are_left_alone(value):
    assert spreadsheet_safe(value) == value
