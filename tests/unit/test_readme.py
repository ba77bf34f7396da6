"""The README matches the tools: every `python -m tools.<tool> ...` command it shows parses with that
tool's own argument parser, and the facts it states about the example platform and the pinned
versions are the ones the repository has.

A command is parsed, not run: argparse's parse_args is wrapped so that the tool's main() stops right
after parsing, before it reads a config or calls AWS. A command the parser refuses exits 2 with
argparse's message, which the test reports with the README line.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import shlex
from collections.abc import Iterator
from typing import Any

import pytest

from tests.platform_synth import REPO_ROOT, SynthesizedPlatform
from tests.readme_samples import README

COMMAND = re.compile(r"(?:\.venv/bin/)?python -m (tools\.[a-z_]+(?:\.[a-z_]+)?)((?:[ \t]+[^\s`#|][^\s`|]*)*)")


def readme_commands() -> Iterator[tuple[int, str, list[str]]]:
    """(line, module, arguments) of every command with arguments, continuation lines joined."""
    lines = README.splitlines()
    index = 0
    while index < len(lines):
        number, text = index + 1, lines[index]
        while text.rstrip().endswith("\\") and index + 1 < len(lines):
            index += 1
            text = text.rstrip()[:-1] + " " + lines[index].strip()
        for match in COMMAND.finditer(text):
            arguments = match.group(2).strip()
            if arguments:
                yield number, match.group(1), shlex.split(arguments)
        index += 1


class ParsedError(Exception):
    """Raised in place of returning parse_args' namespace, so that main() goes no further."""

    def __init__(self, namespace: argparse.Namespace) -> None:
        super().__init__("parsed")
        self.namespace = namespace


COMMANDS = list(readme_commands())


def test_the_readme_shows_commands_of_every_operations_tool() -> None:
    shown = {module for _, module, _ in COMMANDS}
    assert {
        "tools.bootstrap",
        "tools.ops",
        "tools.notifications",
        "tools.teams_webhook",
        "tools.change_report",
    } <= shown
    assert len(COMMANDS) >= 15


def parse(
    module: str, arguments: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> str:
    """ "" when the tool's parser accepts the arguments, else argparse's message."""
    original = argparse.ArgumentParser.parse_args

    def parse_then_stop(self: argparse.ArgumentParser, args: Any = None, namespace: Any = None) -> Any:
        raise ParsedError(original(self, args, namespace))

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_then_stop)
    tool = importlib.import_module(module)
    if not hasattr(tool, "main"):
        tool = importlib.import_module(f"{module}.__main__")
    with pytest.raises((ParsedError, SystemExit)) as outcome:
        tool.main(arguments)
    return capsys.readouterr().err.strip() if isinstance(outcome.value, SystemExit) else ""


@pytest.mark.parametrize(("line", "module", "arguments"), COMMANDS, ids=[f"README:{c[0]}" for c in COMMANDS])
def test_a_readme_command_parses_with_its_tool(
    line: int, module: str, arguments: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    error = parse(module, arguments, monkeypatch, capsys)
    assert not error, f"README line {line}: python -m {module} {shlex.join(arguments)}: {error}"


def test_a_command_a_tool_does_not_take_is_caught(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # What a README typo would look like: an option tools.ops does not have, a missing required option.
    assert "unrecognized arguments: --environments" in parse(
        "tools.ops", ["status", "--environments", "dev"], monkeypatch, capsys
    )
    assert "--reason" in parse("tools.ops", ["override", "orders", "prod"], monkeypatch, capsys)
    assert parse("tools.ops", ["override", "orders", "prod", "--reason", "x"], monkeypatch, capsys) == ""


def test_the_example_platform_and_the_pins_are_what_the_readme_says(default_platform: SynthesizedPlatform) -> None:
    stacks = re.search(r"(\d+) stacks for the example\s+platform", README)
    assert stacks, "the README no longer says how many stacks the example platform has"
    assert int(stacks.group(1)) == len(default_platform.stack_names)
    cli = json.loads((REPO_ROOT / "package.json").read_text(encoding="utf-8"))["devDependencies"]["aws-cdk"]
    assert f"`aws-cdk@{cli}`" in README
    lib = re.search(r"^aws-cdk-lib==(\d+\.\d+)\.\d+$", (REPO_ROOT / "requirements.txt").read_text(), re.M)
    assert lib and f"aws-cdk-lib {lib.group(1)}'s" in README


def test_every_make_target_the_readme_names_exists() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.M))
    named = set(re.findall(r"`?make ([a-z][a-z-]*)", README))
    assert {"synth", "test"} <= named
    assert named <= targets, f"README names make targets the Makefile lacks: {sorted(named - targets)}"
