"""Every CodeBuild project asks its image only for runtimes the image has.

A `runtime-versions` entry the image does not list is not an error at deploy time: CodeBuild
falls back to the image's `default` recipe (`pyenv install`, `n`...) and compiles or downloads
that version in every build, or fails the install phase when it cannot. The runtimes each
curated image offers are AWS's own data, the image's runtimes.yml in aws/aws-codebuild-docker-images
(tests/fixtures/codebuild-images/SOURCES.md). Inline buildspecs are read from the synthesized
templates; a project that names a buildspec file is held to the service template the service's
repository is seeded from (service_templates/<platform>/<file>).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from config.names import Names
from tests.platform_synth import REPO_ROOT, SynthesizedPlatform, resources_of_type

RUNTIMES: dict[str, dict[str, list[str]]] = json.loads(
    (REPO_ROOT / "tests" / "fixtures" / "codebuild-images" / "runtimes.json").read_text(encoding="utf-8")
)
TEMPLATES = REPO_ROOT / "service_templates"


def requested_runtimes(spec: dict[str, Any]) -> dict[str, str]:
    install = (spec.get("phases") or {}).get("install") or {}
    return {name: str(version) for name, version in (install.get("runtime-versions") or {}).items()}


def buildspec_text(value: Any) -> str | None:
    """The inline buildspec, or None when it is a token CloudFormation resolves at deploy time."""
    return value if isinstance(value, str) else None


def projects(platform: SynthesizedPlatform) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(stack, logical id, image, buildspec) of every CodeBuild project in the assembly."""
    names = Names(platform.config)
    platform_of = {names.pipeline_stack(s): s.platform for s in platform.config.services}
    found = []
    for stack in platform.stack_names:
        for logical_id, resource in resources_of_type(platform.template_json(stack), "AWS::CodeBuild::Project").items():
            props = resource["Properties"]
            text = buildspec_text(props["Source"].get("BuildSpec"))
            assert text is not None, f"{stack}/{logical_id}: a buildspec this test cannot read: {props['Source']}"
            if "\n" in text or text.lstrip().startswith("{"):
                spec = yaml.safe_load(text)
                where = "inline"
            else:
                assert stack in platform_of, f"{stack}/{logical_id} names {text!r} but belongs to no service"
                path = TEMPLATES / platform_of[stack] / text
                assert path.is_file(), f"{stack}/{logical_id}: {path.relative_to(REPO_ROOT)} does not exist"
                spec = yaml.safe_load(path.read_text(encoding="utf-8"))
                where = str(path.relative_to(REPO_ROOT))
            found.append((f"{stack}/{logical_id} ({where})", props["Environment"]["Image"], text, spec))
    return found


def misfits(platform: SynthesizedPlatform) -> list[str]:
    problems = []
    for where, image, _, spec in projects(platform):
        offered = RUNTIMES.get(image)
        if offered is None:
            problems.append(f"{where}: image {image} is not in tests/fixtures/codebuild-images/runtimes.json")
            continue
        for runtime, version in requested_runtimes(spec).items():
            if version not in offered.get(runtime, []):
                problems.append(f"{where}: {runtime} {version} is not one of {image}'s {offered.get(runtime, [])}")
    return problems


@pytest.mark.parametrize("which", ["default_platform", "varied_platform"])
def test_every_project_asks_only_for_runtimes_its_image_has(which: str, request: pytest.FixtureRequest) -> None:
    platform: SynthesizedPlatform = request.getfixturevalue(which)
    found = projects(platform)
    # Every service pipeline's projects and the platform pipeline's are among them.
    names = Names(platform.config)
    stacks = {where.split("/")[0] for where, _, _, _ in found}
    assert {names.pipeline_stack(s) for s in platform.config.services} | {names.platform_pipeline_stack} <= stacks
    assert all(requested_runtimes(spec) for _, _, _, spec in found), "a project pins no runtime"
    assert misfits(platform) == []


def test_the_check_catches_a_runtime_the_image_lacks(default_platform: SynthesizedPlatform) -> None:
    # The same projects held to an image whose python list lacks what they ask for.
    image = next(image for _, image, _, _ in projects(default_platform))
    saved = RUNTIMES[image]
    RUNTIMES[image] = {**saved, "python": ["3.9"]}
    try:
        problems = misfits(default_platform)
    finally:
        RUNTIMES[image] = saved
    assert problems and all("python" in p and "3.9" in p for p in problems)
    assert any("service_templates/" in p for p in problems) and any("(inline)" in p for p in problems)


def test_yaml_versions_are_read_as_written() -> None:
    # `python: 3.10` unquoted is the float 3.1 to YAML; the fixture keeps versions as strings.
    assert "3.10" in RUNTIMES["aws/codebuild/amazonlinux-aarch64-standard:3.0"]["python"]
    for platform in ("ec2", "ecs", "lambda"):
        for path in sorted((TEMPLATES / platform).glob("buildspec*.yml")):
            # BaseLoader builds only strings, lists and dicts (no objects): S506 does not apply.
            raw = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.BaseLoader)  # noqa: S506
            assert requested_runtimes(raw) == requested_runtimes(yaml.safe_load(path.read_text(encoding="utf-8"))), (
                f"{path.relative_to(REPO_ROOT)}: a runtime version YAML reads as a number other than written"
            )
