"""The README's command samples are test outputs: the tests that produce them assert the README shows them."""

from __future__ import annotations

from collections.abc import Sequence

from tests.platform_synth import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def command_line(*words: str) -> str:
    """Words as the README writes a command: those with a space in double quotes."""
    return " ".join(f'"{word}"' if " " in word else word for word in words)


def assert_readme_shows(command: str, lines: Sequence[str]) -> None:
    """The README shows `$ COMMAND` followed by exactly these output lines."""
    block = "\n".join([f"$ {command}", *"\n".join(lines).splitlines()])
    assert f"{block}\n" in README, f"README.md should show this sample (the test's output):\n{block}"
