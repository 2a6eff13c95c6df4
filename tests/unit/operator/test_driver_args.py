"""An entry function's arguments are parsed from the command line as ADS's PythonRuntime parses them."""

from __future__ import annotations

from typing import Any

import pytest
from ocids_operator.driver.args import parse_arguments

CASES = [
    ([], [], {}),
    (["a", "b"], ["a", "b"], {}),
    (["--lr", "0.1"], [], {"lr": "0.1"}),
    (["data.csv", "--epochs", "3", "out"], ["data.csv", "out"], {"epochs": "3"}),
    (["--verbose"], [], {"verbose": None}),
    (["--verbose", "--lr", "0.5"], [], {"verbose": None, "lr": "0.5"}),
    (["--lr", "0.1", "--lr", "0.2"], [], {"lr": "0.2"}),
    (["--", "x"], ["--", "x"], {}),
    (["-v", "1"], ["-v", "1"], {}),
    (["--name", "--"], [], {"name": "--"}),
]


@pytest.mark.parametrize(("words", "positional", "keywords"), CASES)
def test_arguments_split_like_ads(words: list[str], positional: list[str], keywords: dict[str, Any]) -> None:
    assert parse_arguments(words) == (positional, keywords)
