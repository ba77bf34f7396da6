"""What config tests share: a fresh copy of the example config, and the problems a config gets."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from config import ConfigError, parse_config
from config.loader import DEFAULT_CONFIG


def example_config() -> dict[str, Any]:
    """A fresh, mutable copy of the default config file."""
    return copy.deepcopy(yaml.safe_load(DEFAULT_CONFIG.read_text()))


def problems_of(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    return caught.value.problems


def only_problem(data: dict[str, Any]) -> str:
    problems = problems_of(data)
    assert len(problems) == 1, problems
    return problems[0]
