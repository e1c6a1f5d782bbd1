"""The sparkline beside each figure of ``harvestctl stats``: lowest to highest in eight steps, gaps left blank."""

from harvestctl.output import sparkline


def test_a_series_runs_from_the_lowest_block_to_the_highest() -> None:
    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7]) == "▁▂▃▄▅▆▇█"
    assert sparkline([10, 80, 10]) == "▁█▁"


def test_a_flat_series_is_flat_and_a_missing_value_is_a_gap() -> None:
    assert sparkline([4, 4, 4]) == "▁▁▁"
    assert sparkline([None, 2, None, 6]) == " ▁ █"
    assert sparkline([]) == ""
