"""cfn-lint over every synthesized template: zero errors, warnings only where explained."""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from cfnlint.api import ManualArgs, lint_file

# Warnings that CDK itself produces and that change nothing at deploy time.
ACCEPTED_WARNINGS = {
    "W3005": "CDK adds an explicit DependsOn on a role's policy that a GetAtt already implies; harmless.",
}


def _lint(path: str) -> list[str]:
    matches = lint_file(Path(path), ManualArgs(regions=["eu-west-1"]))
    return [
        f"{Path(path).name}: {m.rule.id} {m.message} ({'/'.join(map(str, m.path))})"
        for m in matches
        if m.rule.id not in ACCEPTED_WARNINGS
    ]


def lint_templates(paths: list[Path]) -> list[str]:
    with ProcessPoolExecutor(max_workers=2) as pool:
        return [line for lines in pool.map(_lint, [str(p) for p in paths]) for line in lines]


def test_every_template_passes_cfn_lint(default_platform) -> None:  # type: ignore[no-untyped-def]
    paths = list(default_platform.template_files())
    assert len(paths) == len(default_platform.stack_names)
    problems = lint_templates(paths)
    assert problems == [], "\n".join(problems)


def test_cfn_lint_gate_can_fail(tmp_path: Path) -> None:
    broken = tmp_path / "broken.template.json"
    broken.write_text('{"Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": "x"}}}}')
    problems = lint_templates([broken])
    assert any(" E" in p for p in problems), problems
