"""tools/quota_preflight.py: the quota preflight, with Stubber on real service-quotas and STS clients.

botocore's Stubber validates every request and response against the service model, so the calls
below have the real API's shapes; a call without a queued response fails the test.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.stub import Stubber

from config import load_config
from config.model import PlatformConfig
from tests.platform_synth import SynthesizedPlatform
from tools import bootstrap as tool
from tools import quota_preflight as qp
from tools.quotas import BY_KEY, QUOTAS, UNCOUNTED, QuotaUsage

TOOLING, DEV, PROD = "111111111111", "222222222222", "333333333333"
REGION = "eu-west-1"
PROFILES = {"acme-tooling": TOOLING, "acme-dev": DEV, "acme-prod": PROD}
DEV_LABEL = "dev account 222222222222 (eu-west-1, profile acme-dev)"


@pytest.fixture()
def config() -> PlatformConfig:
    return load_config()


class StubbedAws(tool.AwsAccess):
    """Real botocore clients behind Stubbers, one per (profile, service, region); STS answers `identities`."""

    def __init__(self, identities: dict[str, str] | None = None) -> None:
        self.identities = {**PROFILES, **(identities or {})}
        self.clients: dict[tuple[str | None, str, str], Any] = {}
        self.stubbers: dict[tuple[str | None, str, str], Stubber] = {}
        self.asked: list[tuple[str | None, str, str]] = []

    def stub(self, profile: str | None, region: str, service: str = "service-quotas") -> Stubber:
        key = (profile, service, region)
        if key not in self.stubbers:
            client = botocore.session.get_session().create_client(
                service, region_name=region, aws_access_key_id="testing", aws_secret_access_key="testing"
            )
            self.clients[key], self.stubbers[key] = client, Stubber(client)
            self.stubbers[key].activate()
        return self.stubbers[key]

    def client(self, account: tool.Account, service: str, region: str | None = None) -> Any:
        region = region or account.region
        self.asked.append((account.profile, service, region))
        if service == "sts":
            actual = self.identities[str(account.profile)]
            self.stub(account.profile, region, "sts").add_response(
                "get_caller_identity",
                {"Account": actual, "Arn": f"arn:aws:sts::{actual}:assumed-role/admin/me", "UserId": "AROA1:me"},
                {},
            )
        self.stub(account.profile, region, service)
        return self.clients[(account.profile, service, region)]

    def done(self) -> None:
        for stubber in self.stubbers.values():
            stubber.assert_no_pending_responses()

    def quota_calls(self) -> list[tuple[str | None, str, str]]:
        return [a for a in self.asked if a[1] == "service-quotas"]


def applied(service: str, code: str, value: float, adjustable: bool = True, region: str = REGION) -> dict[str, Any]:
    """A GetServiceQuota / GetAWSDefaultServiceQuota response."""
    return {
        "Quota": {
            "ServiceCode": service,
            "ServiceName": service,
            "QuotaArn": f"arn:aws:servicequotas:{region}:{DEV}:{service}/{code}",
            "QuotaCode": code,
            "QuotaName": code,
            "Value": value,
            "Unit": "None",
            "Adjustable": adjustable,
            "GlobalQuota": False,
        }
    }


def change(request_id: str, status: str, desired: float, service: str = "vpc", code: str = "L-F678F1CE") -> dict:
    return {
        "Id": request_id,
        "ServiceCode": service,
        "QuotaCode": code,
        "QuotaName": code,
        "DesiredValue": desired,
        "Status": status,
        "Created": datetime(2025, 1, 2, tzinfo=UTC),
        "Requester": f"arn:aws:iam::{DEV}:role/admin",
        "GlobalQuota": False,
        "Unit": "None",
    }


VPC = {"ServiceCode": "vpc", "QuotaCode": "L-F678F1CE"}


def usage_of(counts: dict[tuple[str, str, str], int]) -> QuotaUsage:
    return QuotaUsage(Counter(counts))


def run(config: PlatformConfig, usage: QuotaUsage, mode: qp.Mode, aws: StubbedAws | None = None) -> list[str]:
    lines: list[str] = []
    qp.preflight(config, usage, mode=mode, aws=aws, out=lines.append)
    return lines


# ----- the rule and the mapping -----


def test_needed_value_is_ceil_of_usage_over_80_percent() -> None:
    assert [qp.needed_value(n) for n in (1, 4, 5, 8, 40, 41, 45, 900)] == [2, 5, 7, 10, 50, 52, 57, 1125]


def test_every_quota_with_a_code_has_a_service_code() -> None:
    missing = [q.key for q in QUOTAS if q.code is not None and q.key not in qp.SERVICE_CODES]
    assert missing == []
    assert set(qp.SERVICE_CODES) <= set(BY_KEY)
    assert all(re.fullmatch(r"[a-z][a-z0-9-]{1,62}", code) for code in qp.SERVICE_CODES.values())


def test_service_codes_of_the_researched_quota_codes() -> None:
    by_code = {q.code: qp.SERVICE_CODES[q.key] for q in QUOTAS if q.code}
    expected = {
        "L-244521F2": "events",
        "L-53DA6B97": "elasticloadbalancing",
        "L-B6DF7632": "elasticloadbalancing",
        "L-7EED9B64": "elasticloadbalancing",
        "L-B22855CB": "elasticloadbalancing",
        "L-FE177D64": "iam",
        "L-6E65F664": "iam",
        "L-0485CB21": "cloudformation",
        "L-F678F1CE": "vpc",
        "L-0263D0A3": "ec2",
        "L-E79EC296": "vpc",
        "L-DC2B2D3D": "s3",
    }
    assert {code: by_code[code] for code in expected if code in by_code} == {
        code: service for code, service in expected.items() if code in by_code
    }


def test_account_wide_quotas_are_served_from_the_partition_home_region() -> None:
    assert qp.service_quotas_region("global", "eu-west-1") == "us-east-1"
    assert qp.service_quotas_region("global", "us-gov-east-1") == "us-gov-west-1"
    assert qp.service_quotas_region("eu-central-1", "eu-west-1") == "eu-central-1"


def test_per_load_balancer_quotas_take_the_fullest_load_balancer_of_the_account_and_region() -> None:
    usage = usage_of(
        {
            (DEV, f"{REGION}/acme-service-a-dev/Alb", "listeners_per_alb"): 3,
            (DEV, f"{REGION}/acme-service-b-dev/Alb", "listeners_per_alb"): 45,
            (DEV, f"{REGION}/acme-service-c-dev/Alb", "listeners_per_alb"): 7,
            (PROD, f"{REGION}/acme-service-a-prod/Alb", "listeners_per_alb"): 4,
        }
    )
    needs = {(n.account, n.region, n.quota.key): n for n in qp.needs_of(usage)}
    assert set(needs) == {(DEV, REGION, "listeners_per_alb"), (PROD, REGION, "listeners_per_alb")}
    dev = needs[(DEV, REGION, "listeners_per_alb")]
    assert (dev.usage, dev.load_balancer, dev.load_balancers, dev.needed) == (45, "acme-service-b-dev/Alb", 3, 57)
    assert needs[(PROD, REGION, "listeners_per_alb")].usage == 4


# ----- offline -----

CROWDED = {
    (DEV, REGION, "vpcs"): 5,
    (DEV, REGION, "stacks"): 10,
    (DEV, f"{REGION}/acme-service-b-dev/Alb", "listeners_per_alb"): 45,
    (DEV, "global", "iam_roles"): 900,
    (DEV, "global", "iam_managed_policies"): 1300,
}


def test_offline_prints_every_quota_above_80_percent_of_its_default_and_what_it_would_request(
    config: PlatformConfig,
) -> None:
    lines = run(config, usage_of(CROWDED), "offline")
    assert lines[0] == (
        "Quota preflight: offline, no AWS calls: the applied values could not be read, the AWS defaults are assumed"
    )
    assert lines[1] == (
        "Headroom rule: the platform may use at most 80% of a quota's applied value, so a quota used N times "
        "needs at least ceil(N / 0.8); usage at or below 80% of the applied value needs nothing."
    )
    # What the counts cannot include is said, never passed silently.
    assert lines[2] == "Not counted from templates, check by hand:" + "".join(f"\n  - {line}" for line in UNCOUNTED)
    assert "NAT gateways per Availability Zone" in lines[2]
    assert lines[3:] == [
        f"\n{DEV_LABEL}, account-wide (Service Quotas in us-east-1):",
        "  increase needed: iam_roles (IAM roles; iam/L-FE177D64): usage 900 of 1000 "
        "(default assumed: applied value not read): needs 1125; would request 1125",
        "  not checkable through Service Quotas: iam_managed_policies (IAM customer managed policies; "
        "no quota code): usage 1300 of 1500 (AWS default; no Service Quotas code): above 80% of the default, "
        "make sure the account's value is at least 1625 (AWS Support case)",
        f"\n{DEV_LABEL}, eu-west-1:",
        "  increase needed: listeners_per_alb (listeners per Application Load Balancer; "
        "elasticloadbalancing/L-B6DF7632): usage 45 of 50 (default assumed: applied value not read), "
        "on acme-service-b-dev/Alb, the fullest of 1 load balancer(s): needs 57; would request 57",
        "  ok: stacks (CloudFormation stacks; cloudformation/L-0485CB21): usage 10 of 2000 "
        "(default assumed: applied value not read)",
        "  increase needed: vpcs (VPCs; vpc/L-F678F1CE): usage 5 of 5 (default assumed: applied value not read): "
        "needs 7; would request 7",
        "\nQuota preflight: 5 quota(s) checked, would request 3 increase(s), 1 not checkable through Service Quotas",
        "  add --execute to request: iam L-FE177D64 = 1125 in account 222222222222, account-wide (Service Quotas "
        "in us-east-1); elasticloadbalancing L-B6DF7632 = 57 in account 222222222222, eu-west-1; "
        "vpc L-F678F1CE = 7 in account 222222222222, eu-west-1",
    ]


def test_offline_stops_on_a_non_adjustable_quota_above_its_default(config: PlatformConfig) -> None:
    usage = usage_of({(PROD, REGION, "codedeploy_custom_configs"): 51, (PROD, REGION, "vpcs"): 5})
    with pytest.raises(tool.BootstrapError) as caught:
        run(config, usage, "offline")
    assert str(caught.value) == (
        "quota preflight: not adjustable and exceeded: codedeploy_custom_configs (CodeDeploy custom deployment "
        "configurations) in account 333333333333, eu-west-1: usage 51 above the limit 50. Change the config "
        "(fewer services or environments per account) before deploying"
    )


def test_a_quota_code_without_a_service_code_is_refused(
    config: PlatformConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(qp.SERVICE_CODES, "vpcs")
    with pytest.raises(tool.BootstrapError, match="vpcs has quota code L-F678F1CE but no service code"):
        run(config, usage_of({(DEV, REGION, "vpcs"): 1}), "offline")


def write_assembly(outdir: Path, stacks: dict[str, tuple[str, dict[str, Any]]]) -> Path:
    """A minimal cloud assembly: manifest.json and one template per stack, as `cdk synth` writes them."""
    outdir.mkdir(parents=True, exist_ok=True)
    artifacts: dict[str, Any] = {"Tree": {"type": "cdk:tree", "properties": {"file": "tree.json"}}}
    for name, (account, template) in stacks.items():
        (outdir / f"{name}.template.json").write_text(json.dumps(template))
        artifacts[name] = {
            "type": "aws:cloudformation:stack",
            "environment": f"aws://{account}/{REGION}",
            "properties": {"templateFile": f"{name}.template.json"},
        }
    (outdir / "manifest.json").write_text(json.dumps({"version": "48.0.0", "artifacts": artifacts}))
    return outdir


def test_main_offline_on_a_synthesized_assembly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    vpcs = {f"Vpc{i}": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.0.0.0/16"}} for i in range(5)}
    assembly = write_assembly(tmp_path / "cdk.out", {"acme-service-storefront-dev": (DEV, {"Resources": vpcs})})
    assert tool.main(["--quotas", "--offline", "--assembly", str(assembly)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith(f"Quota preflight of {assembly}: offline, no AWS calls")
    assert (
        "  increase needed: vpcs (VPCs; vpc/L-F678F1CE): usage 5 of 5 (default assumed: applied value not read): "
        "needs 7; would request 7\n"
    ) in out
    assert "  ok: stacks (CloudFormation stacks; cloudformation/L-0485CB21): usage 1 of 2000" in out
    assert "Quota preflight: 2 quota(s) checked, would request 1 increase(s)\n" in out


def test_default_platform_needs_no_increase(default_platform: SynthesizedPlatform) -> None:
    usage = qp.load_usage(default_platform.outdir)
    lines = run(load_config(), usage, "offline")
    assert not [line for line in lines if "increase needed" in line or "ERROR" in line or "WARNING" in line]
    needs = qp.needs_of(usage)
    checked = [line for line in lines if line.startswith("  ")]
    assert len(checked) == len(needs) > 20  # one line per account, region and quota used
    # Quotas without a Service Quotas code are listed as such, never skipped.
    codeless = [line for line in checked if line.startswith("  not checkable through Service Quotas: ")]
    assert {"iam_managed_policies", "pipelines", "build_projects", "codedeploy_applications"} <= {
        line.split(": ")[1].split(" (")[0] for line in codeless
    }
    assert len(codeless) == len([n for n in needs if n.quota.code is None])
    assert lines[-1].startswith(f"\nQuota preflight: {len(needs)} quota(s) checked, would request 0 increase(s)")


def test_main_without_an_assembly_says_to_synthesize(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert tool.main(["--quotas", "--offline", "--assembly", str(tmp_path / "cdk.out")]) == 2
    assert capsys.readouterr().err == (
        f"bootstrap stopped: no synthesized cloud assembly at {tmp_path / 'cdk.out'}: run `make synth` first "
        "(or pass --assembly DIR)\n"
    )


def test_an_assembly_of_other_accounts_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assembly = write_assembly(tmp_path / "cdk.out", {"other": ("444444444444", {"Resources": {}})})
    assert tool.main(["--quotas", "--offline", "--assembly", str(assembly)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"bootstrap stopped: the cloud assembly at {assembly} has stacks in account(s) 444444444444")


# ----- with Service Quotas (Stubber) -----


def test_applied_value_read_and_nothing_requested_when_it_is_enough(config: PlatformConfig) -> None:
    aws = StubbedAws()
    aws.stub("acme-dev", REGION).add_response("get_service_quota", applied("vpc", "L-F678F1CE", 10.0), VPC)
    lines = run(config, usage_of({(DEV, REGION, "vpcs"): 5}), "execute", aws)
    aws.done()
    assert "  ok: vpcs (VPCs; vpc/L-F678F1CE): usage 5 of 10 (applied value)" in lines
    assert lines[-1] == "\nQuota preflight: 1 quota(s) checked, requested 0 increase(s)"
    assert aws.quota_calls() == [("acme-dev", "service-quotas", REGION)]


def test_execute_requests_exactly_the_value_needed_and_reports_its_status(config: PlatformConfig) -> None:
    aws = StubbedAws()
    stub = aws.stub("acme-dev", REGION)
    stub.add_response("get_service_quota", applied("vpc", "L-F678F1CE", 5.0), VPC)
    # Closed requests do not count as open ones.
    stub.add_response(
        "list_requested_service_quota_change_history_by_quota",
        {"RequestedQuotas": [change("old-1", "APPROVED", 5.0), change("old-2", "DENIED", 20.0)]},
        VPC,
    )
    stub.add_response(
        "request_service_quota_increase",
        {"RequestedQuota": change("req-7", "PENDING", 7.0)},
        {**VPC, "DesiredValue": 7.0},
    )
    lines = run(config, usage_of({(DEV, REGION, "vpcs"): 5}), "execute", aws)
    aws.done()
    assert lines[-3:] == [
        "  increase needed: vpcs (VPCs; vpc/L-F678F1CE): usage 5 of 5 (applied value): needs 7; would request 7",
        "requested vpcs = 7 in account 222222222222, eu-west-1: request req-7, status PENDING",
        "\nQuota preflight: 1 quota(s) checked, requested 1 increase(s)",
    ]


def test_dry_run_reads_but_requests_nothing(config: PlatformConfig) -> None:
    aws = StubbedAws()
    stub = aws.stub("acme-dev", REGION)
    stub.add_response("get_service_quota", applied("vpc", "L-F678F1CE", 5.0), VPC)
    stub.add_response("list_requested_service_quota_change_history_by_quota", {"RequestedQuotas": []}, VPC)
    lines = run(config, usage_of({(DEV, REGION, "vpcs"): 5}), "dry-run", aws)
    aws.done()  # and no request_service_quota_increase: it has no queued response
    assert lines[0] == (
        "Quota preflight: dry run: reads applied values and open requests, requests nothing (add --execute)"
    )
    assert lines[2].startswith("Not counted from templates, check by hand:\n  - ")
    assert lines[3] == f"verified: {DEV_LABEL}"
    assert "  increase needed: vpcs (VPCs; vpc/L-F678F1CE): usage 5 of 5 (applied value): needs 7; would request 7" in (
        lines
    )


def test_an_open_request_is_reused_not_requested_twice(config: PlatformConfig) -> None:
    aws = StubbedAws()
    stub = aws.stub("acme-dev", REGION)
    stub.add_response("get_service_quota", applied("vpc", "L-F678F1CE", 5.0), VPC)
    stub.add_response(
        "list_requested_service_quota_change_history_by_quota",
        {"RequestedQuotas": [change("open-8", "CASE_OPENED", 8.0)], "NextToken": "page2"},
        VPC,
    )
    stub.add_response(
        "list_requested_service_quota_change_history_by_quota",
        {"RequestedQuotas": [change("old", "APPROVED", 5.0)]},
        {**VPC, "NextToken": "page2"},
    )
    lines = run(config, usage_of({(DEV, REGION, "vpcs"): 5}), "execute", aws)
    aws.done()
    assert (
        "  increase needed: vpcs (VPCs; vpc/L-F678F1CE): usage 5 of 5 (applied value): needs 7; open request "
        "open-8 for 8 (CASE_OPENED), not requested again"
    ) in lines
    assert lines[-1] == "\nQuota preflight: 1 quota(s) checked, requested 0 increase(s), 1 covered by an open request"


def test_an_open_request_for_too_little_is_a_warning_not_a_second_request(config: PlatformConfig) -> None:
    aws = StubbedAws()
    stub = aws.stub("acme-dev", REGION)
    stub.add_response("get_service_quota", applied("vpc", "L-F678F1CE", 5.0), VPC)
    stub.add_response(
        "list_requested_service_quota_change_history_by_quota",
        {"RequestedQuotas": [change("open-6", "PENDING", 6.0)]},
        VPC,
    )
    lines = run(config, usage_of({(DEV, REGION, "vpcs"): 5}), "execute", aws)
    aws.done()
    assert lines[-2].startswith(
        "  WARNING, increase needed: vpcs (VPCs; vpc/L-F678F1CE): usage 5 of 5 (applied value): needs 7, but the "
        "open request open-6 asks for only 6 (PENDING)"
    )


def test_usage_above_the_applied_value_stops_after_requesting(config: PlatformConfig) -> None:
    aws = StubbedAws()
    stub = aws.stub("acme-dev", REGION)
    stub.add_response("get_service_quota", applied("vpc", "L-F678F1CE", 5.0), VPC)
    stub.add_response("list_requested_service_quota_change_history_by_quota", {"RequestedQuotas": []}, VPC)
    stub.add_response(
        "request_service_quota_increase",
        {"RequestedQuota": change("req-8", "CASE_OPENED", 8.0)},
        {**VPC, "DesiredValue": 8.0},
    )
    lines: list[str] = []
    with pytest.raises(tool.BootstrapError) as caught:
        qp.preflight(config, usage_of({(DEV, REGION, "vpcs"): 6}), mode="execute", aws=aws, out=lines.append)
    aws.done()
    assert "requested vpcs = 8 in account 222222222222, eu-west-1: request req-8, status CASE_OPENED" in lines
    assert str(caught.value).startswith(
        "quota preflight: the deploy would exceed vpcs in account 222222222222, eu-west-1 (usage 6 of 5) until AWS "
        "approves the increase"
    )


def test_no_applied_value_falls_back_to_the_aws_default(config: PlatformConfig) -> None:
    aws = StubbedAws()
    stub = aws.stub("acme-dev", "us-east-1")
    roles = {"ServiceCode": "iam", "QuotaCode": "L-FE177D64"}
    stub.add_client_error(
        "get_service_quota", service_error_code="NoSuchResourceException", service_message="no applied value"
    )
    stub.add_response("get_aws_default_service_quota", applied("iam", "L-FE177D64", 1000.0, region="us-east-1"), roles)
    lines = run(config, usage_of({(DEV, "global", "iam_roles"): 800}), "execute", aws)
    aws.done()
    assert "  ok: iam_roles (IAM roles; iam/L-FE177D64): usage 800 of 1000 (AWS default: no applied value)" in lines
    assert aws.quota_calls() == [("acme-dev", "service-quotas", "us-east-1")]  # global: the us-east-1 endpoint


def test_not_adjustable_and_exceeded_stops_before_any_request(config: PlatformConfig) -> None:
    aws = StubbedAws()
    stub = aws.stub("acme-dev", REGION)
    # In QUOTAS order: the load balancers (adjustable, an increase needed) first, then the VPCs.
    stub.add_response(
        "get_service_quota",
        applied("elasticloadbalancing", "L-53DA6B97", 50.0),
        {"ServiceCode": "elasticloadbalancing", "QuotaCode": "L-53DA6B97"},
    )
    stub.add_response(
        "list_requested_service_quota_change_history_by_quota",
        {"RequestedQuotas": []},
        {"ServiceCode": "elasticloadbalancing", "QuotaCode": "L-53DA6B97"},
    )
    stub.add_response("get_service_quota", applied("vpc", "L-F678F1CE", 5.0, adjustable=False), VPC)
    usage = usage_of({(DEV, REGION, "vpcs"): 6, (DEV, REGION, "application_load_balancers"): 45})
    lines: list[str] = []
    with pytest.raises(tool.BootstrapError) as caught:
        qp.preflight(config, usage, mode="execute", aws=aws, out=lines.append)
    aws.done()  # no request_service_quota_increase was queued, so none was made
    assert str(caught.value) == (
        "quota preflight: not adjustable and exceeded: vpcs (VPCs) in account 222222222222, eu-west-1: usage 6 "
        "above the limit 5. Change the config (fewer services or environments per account) before deploying"
    )
    assert "  ERROR, not adjustable and exceeded: vpcs (VPCs; vpc/L-F678F1CE): usage 6 of 5 (applied value)" in lines


def test_access_denied_stops_with_a_clear_message(config: PlatformConfig) -> None:
    aws = StubbedAws()
    aws.stub("acme-dev", REGION).add_client_error(
        "get_service_quota",
        service_error_code="AccessDeniedException",
        service_message="User is not authorized to perform: servicequotas:GetServiceQuota",
        http_status_code=400,
    )
    with pytest.raises(tool.BootstrapError) as caught:
        run(config, usage_of({(DEV, REGION, "vpcs"): 5}), "dry-run", aws)
    assert str(caught.value).startswith(
        f"access denied to Service Quotas (GetServiceQuota, AccessDeniedException) for the {DEV_LABEL} in eu-west-1: "
        "User is not authorized to perform: servicequotas:GetServiceQuota. The profile needs "
        "servicequotas:GetServiceQuota"
    )


def test_main_reports_access_denied_with_exit_code_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vpcs = {"Vpc": {"Type": "AWS::EC2::VPC", "Properties": {}}}
    assembly = write_assembly(tmp_path / "cdk.out", {"acme-service-storefront-dev": (DEV, {"Resources": vpcs})})
    aws = StubbedAws()
    aws.stub("acme-dev", REGION).add_client_error(
        "get_service_quota", service_error_code="AccessDeniedException", service_message="denied"
    )
    monkeypatch.setattr(tool, "AwsAccess", lambda: aws)
    assert tool.main(["--quotas", "--execute", "--assembly", str(assembly)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bootstrap stopped: access denied to Service Quotas (GetServiceQuota")
    assert "Traceback" not in err


def test_a_profile_of_the_wrong_account_is_refused_before_service_quotas(config: PlatformConfig) -> None:
    aws = StubbedAws({"acme-dev": "999999999999"})
    with pytest.raises(tool.BootstrapError) as caught:
        run(config, usage_of({(DEV, REGION, "vpcs"): 5}), "execute", aws)
    assert str(caught.value) == (
        "profile acme-dev is account 999999999999 (arn:aws:sts::999999999999:assumed-role/admin/me), "
        "but the config expects dev account 222222222222: refusing to touch it"
    )
    assert aws.quota_calls() == []


def test_main_without_credentials_stops_with_exit_code_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assembly = write_assembly(tmp_path / "cdk.out", {"acme-service-storefront-dev": (DEV, {"Resources": {}})})
    (tmp_path / "config").write_text("".join(f"[profile {p}]\nregion = eu-west-1\n" for p in PROFILES))
    for key in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    assert tool.main(["--quotas", "--assembly", str(assembly)]) == 2
    assert capsys.readouterr().err == (
        f"bootstrap stopped: no AWS credentials for the {DEV_LABEL}: log in (aws sso login --profile acme-dev) "
        "or set credentials\n"
    )


def test_offline_warns_on_a_full_non_adjustable_quota_and_names_what_would_block_the_deploy(
    config: PlatformConfig,
) -> None:
    usage = usage_of({(PROD, REGION, "codedeploy_custom_configs"): 45, (PROD, REGION, "vpcs"): 6})
    lines = run(config, usage, "offline")
    assert lines[4] == (
        "  WARNING, not adjustable and above 80% of its value: codedeploy_custom_configs (CodeDeploy custom "
        "deployment configurations; no quota code): usage 45 of 50 (AWS default; no Service Quotas code): "
        "no increase can be requested"
    )
    assert lines[-1] == "  until approved, the deploy would exceed: vpcs in account 333333333333, eu-west-1"
    assert lines[-3] == "\nQuota preflight: 2 quota(s) checked, would request 1 increase(s), 1 warning(s)"
