"""Gate: AWS would let CloudFormation deploy every stack, as each account's execution role.

Every create, update and delete of every synthesized resource is simulated against the policies
the bootstrap tool applies (tools/preflight: the resource provider schemas' handler permissions,
IAM's service authorization reference, CDK's asset bucket, generated names, dynamic references,
dead-letter queues, retained names, policy size). What the simulation cannot judge is printed
with the test's output, never passed silently.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from config.policies import execution_policies
from tests.platform_synth import SynthesizedPlatform
from tools import bootstrap
from tools.preflight.__main__ import main as preflight
from tools.preflight.simulate import NOT_CALLED, UNKNOWN_ACTION, UNPLACED, Report, simulate
from tools.preflight.template import Assembly


def run(platform: SynthesizedPlatform, policies: dict[str, dict[str, Any]] | None = None) -> Report:
    documents = policies if policies is not None else execution_policies(platform.config)
    return simulate(Assembly(platform.outdir), {account: [d] for account, d in documents.items()})


def show(title: str, report: Report, capsys: pytest.CaptureFixture[str]) -> None:
    """The report, in the test run's output whether the test passes or not."""
    with capsys.disabled():
        print(f"\n----- deploy simulation: {title} -----\n{report.render()}\n")


def test_the_default_platform_would_deploy(
    default_platform: SynthesizedPlatform, capsys: pytest.CaptureFixture[str]
) -> None:
    report = run(default_platform)
    show("default config", report, capsys)
    assert report.failures == [], "\n".join(report.failures)
    # It simulated the whole platform, and says what it could not judge.
    assert {c.stack for c in report.checks} == set(default_platform.stack_names)
    assert len(report.checks) > 5000
    for verdict in (UNPLACED, NOT_CALLED, UNKNOWN_ACTION):
        assert report.listed(verdict), verdict


def test_a_larger_and_varied_platform_would_deploy(
    varied_platform: SynthesizedPlatform, capsys: pytest.CaptureFixture[str]
) -> None:
    report = run(varied_platform)
    show("9 services, 3 environments, one in the tooling account", report, capsys)
    assert report.failures == [], "\n".join(report.failures)
    # service stacks, pipelines, cross-account, foundations, shared (with the platform pipeline's)
    assert len(varied_platform.stack_names) == 9 * 3 - 1 + 9 + 3 + 3 + 5


def test_the_gate_fails_without_the_asset_reads(default_platform: SynthesizedPlatform) -> None:
    """The first defect it was written for: CDK's asset bucket outside the execution policy."""
    policies = execution_policies(default_platform.config)
    for document in policies.values():
        document["Statement"] = [s for s in document["Statement"] if s["Sid"] != "ReadCdkAssets"]
    failures = run(default_platform, policies).failures
    reads = [f for f in failures if "s3:GetObject on arn:aws:s3:::cdk-hnb659fds-assets-" in f]
    # every function, layer and seeded repository of the platform reads its code from there
    assert {f.split(" (")[1].split(",")[0] for f in reads} == {
        "AWS::Lambda::Function",
        "AWS::Lambda::LayerVersion",
        "AWS::CodeCommit::Repository",
    }


def test_the_policies_bootstrap_writes_are_the_ones_simulated(
    default_platform: SynthesizedPlatform, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What a reviewer reads before anything runs (bootstrap --write-policies), checked by the CLI."""
    assert bootstrap.main(["--offline", "--write-policies", str(tmp_path)]) == 0
    written = {path.stem: json.loads(path.read_text()) for path in tmp_path.glob("*.json")}
    assert written == execution_policies(default_platform.config)
    capsys.readouterr()
    assert preflight(["--assembly", str(default_platform.outdir), "--policies", str(tmp_path), "--summary"]) == 0
    assert "No failures." in capsys.readouterr().out
