"""The three buildspecs of every service template, against the platform's contract.

The build projects set CODEARTIFACT_DOMAIN, CODEARTIFACT_DOMAIN_OWNER and
CODEARTIFACT_REPOSITORY; every package must come through CodeArtifact, so pip logs in
before anything is installed. The platform pre-creates the "<project>-junit" report group.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

TEMPLATES = Path(__file__).resolve().parents[2] / "service_templates"
PLATFORMS = ("ec2", "ecs", "lambda")
BUILDSPECS = ("buildspec.yml", "buildspec-test.yml", "buildspec-pr.yml")
PHASES = ("install", "pre_build", "build", "post_build")
PIP_LOGIN = (
    'aws codeartifact login --tool pip --domain "$CODEARTIFACT_DOMAIN" '
    '--domain-owner "$CODEARTIFACT_DOMAIN_OWNER" --repository "$CODEARTIFACT_REPOSITORY"'
)
PIP_INSTALL = re.compile(r"\bpip3?\s+install\b")
CASES = [(platform, name) for platform in PLATFORMS for name in BUILDSPECS]


def load(platform: str, name: str) -> dict[str, Any]:
    data = yaml.safe_load((TEMPLATES / platform / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{platform}/{name} is not a YAML mapping"
    return data


def commands(spec: dict[str, Any]) -> list[tuple[str, str]]:
    """(phase, command) in the order CodeBuild runs them."""
    return [(phase, cmd) for phase in PHASES for cmd in (spec["phases"][phase] or {}).get("commands") or []]


@pytest.mark.parametrize(("platform", "name"), CASES)
def test_structure(platform: str, name: str) -> None:
    spec = load(platform, name)
    assert str(spec["version"]) == "0.2"
    assert list(spec["phases"]) == list(PHASES)
    assert str(spec["phases"]["install"]["runtime-versions"]["python"]) == "3.13"
    for phase, command in commands(spec):
        # An unquoted ": " inside a command turns it into a YAML mapping, which CodeBuild rejects.
        assert isinstance(command, str), f"{platform}/{name} {phase}: not a string command: {command!r}"
    assert "/root/.cache/pip/**/*" in spec["cache"]["paths"]


@pytest.mark.parametrize(("platform", "name"), CASES)
def test_codeartifact_login_comes_before_any_install(platform: str, name: str) -> None:
    ordered = commands(load(platform, name))
    logins = [i for i, (_, cmd) in enumerate(ordered) if PIP_LOGIN in cmd]
    assert logins, f"{platform}/{name}: no `{PIP_LOGIN}`"
    first_login = logins[0]
    assert ordered[first_login][0] in ("install", "pre_build")
    installs = [i for i, (_, cmd) in enumerate(ordered) if PIP_INSTALL.search(cmd) or "docker build" in cmd]
    assert installs, f"{platform}/{name} installs nothing"
    assert min(installs) > first_login, f"{platform}/{name}: an install runs before the CodeArtifact login"
    for _, cmd in ordered:
        if "--tool npm" in cmd:
            assert "package.json" in cmd, "npm logs in only when the repository has a package.json"
            assert "$CODEARTIFACT_REPOSITORY" in cmd


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("name", ["buildspec-test.yml", "buildspec-pr.yml"])
def test_junit_report(platform: str, name: str) -> None:
    spec = load(platform, name)
    assert spec["reports"] == {
        "junit": {"files": ["junit.xml"], "base-directory": "reports", "file-format": "JUNITXML"}
    }
    assert any("python -m pytest --junitxml=reports/junit.xml" in cmd for _, cmd in commands(spec))


@pytest.mark.parametrize("platform", PLATFORMS)
def test_pull_request_build_publishes_nothing(platform: str) -> None:
    spec = load(platform, "buildspec-pr.yml")
    assert "artifacts" not in spec
    text = " ".join(cmd for _, cmd in commands(spec))
    assert "docker push" not in text
    assert "ecr get-login-password" not in text
    assert "python -m pytest" in text


def test_ec2_build_outputs_the_revision_at_the_artifact_root() -> None:
    spec = load("ec2", "buildspec.yml")
    assert spec["artifacts"] == {
        "files": ["appspec.yml", "scripts/**/*", "app/**/*", "deploy/**/*", "requirements.txt"]
    }
    build = " ".join(cmd for phase, cmd in commands(spec) if phase == "build")
    assert "pytest" in build, "the build stage runs the unit tests (fail fast)"
    for path in ("appspec.yml", "scripts", "app", "deploy", "requirements.txt"):
        assert (TEMPLATES / "ec2" / path).exists(), path


def test_ecs_build_pushes_an_immutable_tag_and_outputs_the_deploy_files() -> None:
    spec = load("ecs", "buildspec.yml")
    ordered = commands(spec)
    text = "\n".join(cmd for _, cmd in ordered)
    assert "${CODEBUILD_RESOLVED_SOURCE_VERSION" in text
    assert "${SOURCE_VERSION:0:12}-${CODEBUILD_BUILD_NUMBER" in text
    assert "latest" not in text, "the repository's tags are immutable"
    phase_of = {cmd: phase for phase, cmd in ordered}
    login = next(cmd for _, cmd in ordered if "ecr get-login-password" in cmd)
    assert phase_of[login] == "pre_build"
    assert "docker login --username AWS --password-stdin" in login
    assert "${ECR_REPOSITORY_URI%%/*}" in text, "docker logs in to the registry host of ECR_REPOSITORY_URI"
    push = next(cmd for _, cmd in ordered if "docker push" in cmd)
    assert phase_of[push] == "post_build"
    # post_build runs even when build failed: the first post_build command must stop a push.
    first_post = next(cmd for phase, cmd in ordered if phase == "post_build")
    assert "CODEBUILD_BUILD_SUCCEEDING" in first_post
    assert any("imageDetail.json" in cmd and "ImageURI" in cmd for _, cmd in ordered)
    assert any("ci/render_deploy_files.py dist" in cmd for _, cmd in ordered)
    assert any("docker build" in cmd and "linux/arm64" in cmd for _, cmd in ordered)
    assert spec["artifacts"] == {
        "base-directory": "dist",
        "files": ["imageDetail.json", "appspec.yaml", "taskdef-*.json"],
    }


def test_lambda_build_packages_dist_with_app_py_at_the_root() -> None:
    spec = load("lambda", "buildspec.yml")
    text = "\n".join(cmd for _, cmd in commands(spec))
    assert "pip install -r requirements.txt --target dist" in text
    assert "cp -R src/. dist/" in text
    assert spec["artifacts"] == {"base-directory": "dist", "files": ["**/*"]}
    assert (TEMPLATES / "lambda" / "src" / "app.py").is_file()


@pytest.mark.parametrize("platform", PLATFORMS)
def test_template_is_a_self_contained_repository(platform: str) -> None:
    root = TEMPLATES / platform
    for name in ("README.md", ".gitignore", "requirements.txt", "requirements-dev.txt", "pytest.ini", *BUILDSPECS):
        assert (root / name).is_file(), name
    assert list((root / "tests").glob("test_*.py"))
    assert "pytest" in (root / "requirements-dev.txt").read_text(encoding="utf-8")
    ignored = (root / ".gitignore").read_text(encoding="utf-8").split()
    assert {"__pycache__/", "dist/", "reports/"} <= set(ignored)
