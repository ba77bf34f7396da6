"""The ``record_load_report`` fixture: load reports printed in pytest's terminal summary (with or
without ``-s``), and written as Markdown to the file named by LOAD_REPORT_MARKDOWN if it is set."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.load.driver import BurstReport

_REPORTS: list[tuple[str, BurstReport]] = []


@pytest.fixture
def record_load_report(request: pytest.FixtureRequest) -> Callable[[BurstReport], None]:
    def record(report: BurstReport) -> None:
        _REPORTS.append((request.node.nodeid, report))

    return record


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _REPORTS:
        return
    terminalreporter.section("load test reports (virtual seconds)")
    for nodeid, report in _REPORTS:
        terminalreporter.write_line(nodeid)
        terminalreporter.write_line(report.format_report())
        terminalreporter.write_line("")
    target = os.environ.get("LOAD_REPORT_MARKDOWN")
    if target:
        text = "\n".join(f"### `{nodeid}`\n\n{report.to_markdown()}" for nodeid, report in _REPORTS)
        Path(target).write_text(text)
