"""app.py end to end: a bad config stops synth with its message and writes nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.platform_synth import SynthesizedPlatform, normalize_template

REPO_ROOT = Path(__file__).resolve().parents[2]
CDK_CLI = REPO_ROOT / "node_modules" / ".bin" / "cdk"

BAD_CONFIG = """\
name: acme
tooling: {account: "12345", region: eu-west-1}
environments:
  - name: dev
services:
  - name: Orders_API
    platform: ecs
"""


def run_app(config: Path, outdir: Path) -> subprocess.CompletedProcess[str]:
    """Run app.py as the CDK CLI does: context in CDK_CONTEXT_JSON, output dir in CDK_OUTDIR."""
    env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps({"config": str(config)}), "CDK_OUTDIR": str(outdir)}
    return subprocess.run(
        [sys.executable, "app.py"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_bad_config_stops_app_with_every_problem_and_writes_nothing(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(BAD_CONFIG)
    outdir = tmp_path / "cdk.out"
    result = run_app(config, outdir)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"Invalid platform config {config}:",
        '  - tooling.account: got "12345"; allowed: exactly 12 digits',
        "  - environments[0].account: missing; required: 12-digit AWS account id of this environment.",
        '  - services[0].name: got "Orders_API"; allowed: 2 to 24 characters, lowercase letters, digits and '
        "single hyphens, starting with a letter and not ending with a hyphen (a service name becomes part of "
        "CodeCommit, CodeBuild, IAM, S3, ECR and Lambda names)",
    ]
    assert not outdir.exists() or not any(outdir.iterdir())


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"name: acme\nname: other\n", "name: given twice, on lines 1 and 2"),
        ("name: acm\xe9\n".encode("latin-1"), "line 1: byte 0xe9 is not UTF-8"),
        (
            b'name: acme\ntooling: {account: "111111111111", region: eu-west-1}\nenvironments:\n'
            b'  - {name: dev, account: "222222222222", network: {cidr: 10.300.0.0/16}}\n',
            'environments[0].network.cidr: got "10.300.0.0/16"; allowed: an IPv4 network',
        ),
    ],
)
def test_what_used_to_end_in_a_traceback_is_one_line(tmp_path: Path, content: bytes, problem: str) -> None:
    config = tmp_path / "bad.yaml"
    config.write_bytes(content)
    result = run_app(config, tmp_path / "cdk.out")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines[0] == f"Invalid platform config {config}:" and lines[1].startswith(f"  - {problem}"), lines


def test_missing_config_file_stops_app(tmp_path: Path) -> None:
    outdir = tmp_path / "cdk.out"
    result = run_app(tmp_path / "missing.yaml", outdir)
    assert result.returncode == 1
    assert "config file not found" in result.stderr
    assert not outdir.exists() or not any(outdir.iterdir())


@pytest.mark.cli
@pytest.mark.skipif(not CDK_CLI.exists(), reason="run `make install` (npm ci) for the pinned CDK CLI")
def test_cdk_cli_synth_with_bad_config_fails_and_leaves_no_content(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(BAD_CONFIG)
    outdir = tmp_path / "cdk.out"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        [str(CDK_CLI), "synth", "-c", f"config={config}", "-o", str(outdir), "--no-notices"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert 'tooling.account: got "12345"; allowed: exactly 12 digits' in result.stderr
    assert not outdir.exists() or not any(outdir.iterdir()), list(outdir.iterdir())
    shutil.rmtree(outdir, ignore_errors=True)


def comparable(template: dict[str, object]) -> dict[str, object]:
    """A template without what only the CLI adds: resource metadata and the CDK version resource."""
    resources = template.get("Resources")
    assert isinstance(resources, dict)
    template = dict(template)
    template["Resources"] = {
        key: {k: v for k, v in resource.items() if k != "Metadata"}
        for key, resource in resources.items()
        if resource.get("Type") != "AWS::CDK::Metadata"
    }
    conditions = {k: v for k, v in dict(template.get("Conditions") or {}).items() if k != "CDKMetadataAvailable"}
    template.pop("Conditions", None)
    if conditions:
        template["Conditions"] = conditions
    return normalize_template(template)


@pytest.mark.cli
@pytest.mark.skipif(not CDK_CLI.exists(), reason="run `make install` (npm ci) for the pinned CDK CLI")
def test_cdk_synth_as_users_run_it_writes_what_the_tests_check(
    tmp_path: Path, default_platform: SynthesizedPlatform
) -> None:
    """`cdk synth` runs cdk.json's app command (python -O: no jsii type checks); same templates."""
    app_command = json.loads((REPO_ROOT / "cdk.json").read_text())["app"]
    assert app_command == "python3 -O app.py"
    outdir = tmp_path / "cdk.out"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        [str(CDK_CLI), "synth", "--quiet", "-o", str(outdir), "--no-notices"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for name in default_platform.stack_names:
        written = json.loads((outdir / f"{name}.template.json").read_text())
        assert comparable(written) == comparable(default_platform.template_json(name)), name
    # No stack trace and no jsii temporary path reaches the assembly's metadata.
    assert "jsii-kernel-" not in (outdir / "manifest.json").read_text()
