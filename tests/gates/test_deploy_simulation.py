"""Gate: AWS would let CloudFormation deploy every stack, as each account's execution role.

Every create, update and delete of every synthesized resource is simulated against the policies
the bootstrap tool applies (tools/preflight: the resource provider schemas' handler permissions,
IAM's service authorization reference, CDK's asset bucket, generated names, dynamic references,
dead-letter queues, retained names, policy size). What the simulation cannot judge is printed
with the test's output, never passed silently.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from config import parse_config
from config.model import EVENT_KINDS, PlatformConfig
from config.policies import execution_policies
from tests.platform_synth import SynthesizedPlatform, synth_platform
from tools import bootstrap
from tools.preflight.__main__ import main as preflight
from tools.preflight.simulate import NOT_CALLED, UNKNOWN_ACTION, UNPLACED, Report, simulate
from tools.preflight.template import Assembly
from tools.scale_config import scaled_config, shared_network

CERTIFICATE = "arn:aws:acm:eu-west-1:333333333333:certificate/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"


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


def varied_config() -> PlatformConfig:
    """Larger and different: 9 services, three environments (one in the tooling account), a new VPC and
    an existing one, HTTPS, an organization, custom deployment configs, a release branch, a service
    without pull-request validation, a channel whose secret exists already, an Amazon Q Developer
    channel, and a lambda channel that receives every kind (one queue fed by 20 rules)."""
    data: dict[str, Any] = copy.deepcopy(scaled_config(9))
    data["organization_id"] = "o-a1b2c3d4e5"
    dev, prod = data["environments"]
    dev.pop("network")  # a new VPC per service stack
    prod["certificate_arn"] = CERTIFICATE
    data["environments"] = [
        dev,
        {"name": "staging", "account": data["tooling"]["account"], "network": shared_network(7)},
        prod,
    ]
    services = data["services"]
    services[0]["deployment_config"] = {"type": "minimum_healthy_hosts", "percent": 50}
    services[1]["deployment_config"] = {"type": "linear", "percentage": 25, "interval_minutes": 3}
    services[2]["branch"] = "release/1.x"
    services[3]["pull_request_validation"] = False
    services[4]["environments"] = ["staging", "prod"]
    data["notifications"]["channels"].append(
        {"name": "oncall", "delivery": "api_destination", "secret_name": "shared/teams/oncall"}
    )
    data["notifications"]["routes"].append({"events": ["deployment_failed"], "channels": ["oncall"]})
    # The third delivery, and a lambda channel posting slower than Microsoft's 4 per second.
    data["notifications"]["channels"] += [
        {
            "name": "ops",
            "delivery": "amazon_q",
            "amazon_q": {
                "team_id": "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
                "channel_id": "19:b6ef35dc342d56ba5654e6fc6d25a071@thread.tacv2",
                "tenant_id": "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
            },
        },
        {"name": "audit", "rate_limit_per_second": 2},
    ]
    data["notifications"]["routes"] += [
        {"events": ["pipeline_failed", "deployment_failed", "approval_waiting"], "channels": ["ops"]},
        {"events": list(EVENT_KINDS), "channels": ["audit"]},
    ]
    return parse_config(data)


@pytest.fixture(scope="module")
def varied_platform(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedPlatform:
    return synth_platform(varied_config(), tmp_path_factory.mktemp("varied"))


def test_a_larger_and_varied_platform_would_deploy(
    varied_platform: SynthesizedPlatform, capsys: pytest.CaptureFixture[str]
) -> None:
    report = run(varied_platform)
    show("9 services, 3 environments, one in the tooling account", report, capsys)
    assert report.failures == [], "\n".join(report.failures)
    # service stacks, pipelines, cross-account, foundations, shared
    assert len(varied_platform.stack_names) == 9 * 3 - 1 + 9 + 3 + 3 + 4


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
