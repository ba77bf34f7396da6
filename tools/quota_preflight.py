"""Quota preflight: every AWS quota the synthesized platform uses, checked against Service Quotas.

    python -m tools.bootstrap --quotas --offline   # no AWS calls: AWS defaults assumed, prints what it would request
    python -m tools.bootstrap --quotas             # dry run: STS check, reads applied values and open requests
    python -m tools.bootstrap --quotas --execute   # also requests each increase needed, prints its Id and status
    python -m tools.bootstrap --quotas --assembly DIR -c my-platform.yaml   # another assembly and config

It counts an already synthesized cloud assembly (default cdk.out, `make synth`) with
`tools.quotas.usage_of_assembly`, per account and region; a per-load-balancer quota takes the
fullest load balancer of the account and region, since Service Quotas applies one value to every
Application Load Balancer there.

Headroom rule: the platform may use at most 80% of a quota's applied value. A quota used N times
therefore needs a value of at least ceil(N / 0.8); usage at or below 80% of the applied value
needs nothing. With --execute exactly that value is requested (RequestServiceQuotaIncrease),
unless an open request (PENDING or CASE_OPENED) already asks for at least as much.

Account-wide quotas (IAM, S3 buckets) are served by the Service Quotas endpoint of the
partition's home region (us-east-1). A quota without a Service Quotas code is reported as "not
checkable through Service Quotas", never skipped. A quota that is not adjustable and is exceeded
stops the preflight, as does an adjustable one whose increase is still to be approved when --execute
has requested it (the deploy would fail until then).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from config.model import PlatformConfig
from tools.bootstrap import Account, AwsAccess, BootstrapError, target_accounts, tooling_account
from tools.quotas import BY_KEY, PER_RESOURCE, QUOTAS, UNCOUNTED, Quota, QuotaUsage, usage_of_assembly

HEADROOM_PERCENT = 80
HEADROOM_RULE = (
    f"the platform may use at most {HEADROOM_PERCENT}% of a quota's applied value, so a quota used N times needs "
    f"at least ceil(N / {HEADROOM_PERCENT / 100:g}); usage at or below {HEADROOM_PERCENT}% of the applied value "
    "needs nothing"
)
GLOBAL = "global"  # QuotaUsage's place of account-wide quotas

# Service Quotas service code of each quota key with a quota code (tests fail on a missing one).
# Codes from the Service Quotas console and the `aws service-quotas list-service-quotas` listings:
# L-244521F2 events "Number of rules"; L-53DA6B97, L-B22855CB, L-B6DF7632, L-7EED9B64
# elasticloadbalancing; L-FE177D64, L-6E65F664 iam; L-0485CB21 cloudformation "Stack count";
# L-F678F1CE, L-E79EC296 vpc; L-0263D0A3 ec2 "EC2-VPC Elastic IPs"; L-DC2B2D3D s3 "General
# purpose buckets"; L-CDE20ADC autoscaling, L-81790602 codecommit, L-DD7208D3 codeartifact, L-FB1C3A6D events,
# L-F98FE922 dynamodb, L-21C621EB ecs, L-CFEB8E8D ecr, L-C7B9AAAB logs, L-407747CB, L-589F43AA, L-A4707A72 vpc
# (from each service's quotas page). Keys without a code yet keep their service's code for when one is added.
SERVICE_CODES: dict[str, str] = {
    "rules_per_default_bus": "events",
    "rules_per_custom_bus": "events",
    "event_buses": "events",
    "application_load_balancers": "elasticloadbalancing",
    "target_groups": "elasticloadbalancing",
    "listeners_per_alb": "elasticloadbalancing",
    "rules_per_alb": "elasticloadbalancing",
    "target_groups_per_alb": "elasticloadbalancing",
    "iam_roles": "iam",
    "iam_managed_policies": "iam",
    "instance_profiles": "iam",
    "build_projects": "codebuild",
    "codedeploy_applications": "codedeploy",
    "codedeploy_custom_configs": "codedeploy",
    "stacks": "cloudformation",
    "vpcs": "vpc",
    "elastic_ips": "ec2",
    "security_groups": "vpc",
    "s3_buckets": "s3",
    "autoscaling_groups": "autoscaling",
    "codecommit_repositories": "codecommit",
    "codeartifact_domains": "codeartifact",
    "api_destinations": "events",
    "dynamodb_tables": "dynamodb",
    "ecs_clusters": "ecs",
    "ecr_repositories": "ecr",
    "log_groups": "logs",
    "subnets": "vpc",
    "route_tables": "vpc",
    "internet_gateways": "vpc",
}

OPEN_STATUSES = frozenset({"PENDING", "CASE_OPENED"})  # a request still to be decided
ACCESS_DENIED = frozenset({"AccessDeniedException", "AccessDenied", "DependencyAccessDeniedException"})

Mode = Literal["offline", "dry-run", "execute"]


def needed_value(usage: int) -> int:
    """The smallest quota value that `usage` is at most 80% of: ceil(usage / 0.8), in integers."""
    return -(-usage * 100 // HEADROOM_PERCENT)


def service_quotas_region(place: str, home_region: str) -> str:
    """Where Service Quotas serves a quota: its region, or for account-wide ones the partition's home region."""
    if place != GLOBAL:
        return place
    if home_region.startswith("us-gov-"):
        return "us-gov-west-1"
    if home_region.startswith("cn-"):
        return "cn-north-1"
    return "us-east-1"


@dataclass(frozen=True)
class Need:
    """What the platform uses of one quota in one account and region ("global" for account-wide ones)."""

    account: str
    region: str
    quota: Quota
    usage: int
    load_balancer: str = ""  # per-resource quotas: the fullest load balancer ("<stack>/<logical id>") or bus
    load_balancers: int = 0  # ... of how many

    @property
    def needed(self) -> int:
        return needed_value(self.usage)

    @property
    def service_code(self) -> str | None:
        return SERVICE_CODES.get(self.quota.key) if self.quota.code else None

    def where(self) -> str:
        """For per-resource quotas, which load balancer or event bus the usage is of."""
        if not self.load_balancers:
            return ""
        kinds = {"load_balancer": "load balancer(s)", "event_bus": "event bus(es)"}
        return f"on {self.load_balancer}, the fullest of {self.load_balancers} {kinds[self.quota.scope]}"


def needs_of(usage: QuotaUsage) -> list[Need]:
    """One Need per (account, region, quota) with a non-zero count, in account, region and QUOTAS order."""
    plain: dict[tuple[str, str, str], int] = {}
    fullest: dict[tuple[str, str, str], tuple[int, str, int]] = {}
    for account, place, quota, value in usage.rows():
        if value <= 0:
            continue
        if quota.scope in PER_RESOURCE:
            region, _, balancer = place.partition("/")
            best, where, count = fullest.get((account, region, quota.key), (-1, "", 0))
            if value > best or (value == best and balancer < where):
                best, where = value, balancer
            fullest[(account, region, quota.key)] = (best, where, count + 1)
        else:
            plain[(account, place, quota.key)] = value
    needs = [Need(a, r, BY_KEY[k], v) for (a, r, k), v in plain.items()]
    needs += [Need(a, r, BY_KEY[k], v, where, n) for (a, r, k), (v, where, n) in fullest.items()]
    order = {quota.key: index for index, quota in enumerate(QUOTAS)}
    return sorted(needs, key=lambda n: (n.account, n.region != GLOBAL, n.region, order.get(n.quota.key, len(order))))


def load_usage(assembly: Path) -> QuotaUsage:
    """The assembly's counts; a clear BootstrapError when it is missing or unreadable."""
    if not (assembly / "manifest.json").is_file():
        raise BootstrapError(
            f"no synthesized cloud assembly at {assembly}: run `make synth` first (or pass --assembly DIR)"
        )
    try:
        return usage_of_assembly(assembly)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise BootstrapError(f"cannot read the cloud assembly at {assembly}: {error!r}") from error


# ----- verdicts -----

Verdict = Literal["ok", "request", "open", "short-open", "unchecked", "tight", "exceeded"]


@dataclass
class Check:
    """One Need against the value it is checked against, and what the preflight does about it."""

    need: Need
    owner: Account  # whose profile reads and requests it
    endpoint: str  # Service Quotas region
    limit: float  # the applied value, or the default where it could not be read
    source: str  # where `limit` comes from
    adjustable: bool
    verdict: Verdict = "ok"
    open_request: dict[str, Any] | None = None
    requested: dict[str, Any] | None = None

    @property
    def blocking(self) -> bool:
        """The deploy would exceed the value in force."""
        return self.need.usage > self.limit

    def header(self) -> str:
        code = f"{self.need.service_code}/{self.need.quota.code}" if self.need.quota.code else "no quota code"
        where = f", {self.need.where()}" if self.need.load_balancers else ""
        return (
            f"{self.need.quota.key} ({self.need.quota.description}; {code}): usage {self.need.usage} "
            f"of {_number(self.limit)} ({self.source}){where}"
        )

    def render(self) -> str:
        need, quota = self.need, self.need.quota
        if self.verdict == "ok":
            return f"ok: {self.header()}"
        if self.verdict == "unchecked":
            advice = (
                f": above {HEADROOM_PERCENT}% of the default, make sure the account's value is at least "
                f"{need.needed} (AWS Support case)"
                if need.needed > quota.default and quota.adjustable
                else ""
            )
            return f"not checkable through Service Quotas: {self.header()}{advice}"
        if self.verdict == "exceeded":
            return f"ERROR, not adjustable and exceeded: {self.header()}"
        if self.verdict == "tight":
            return (
                f"WARNING, not adjustable and above {HEADROOM_PERCENT}% of its value: {self.header()}: "
                "no increase can be requested"
            )
        if self.verdict == "open":
            request = self.open_request or {}
            return (
                f"increase needed: {self.header()}: needs {need.needed}; open request {request.get('Id')} for "
                f"{_number(request.get('DesiredValue', 0))} ({request.get('Status')}), not requested again"
            )
        if self.verdict == "short-open":
            request = self.open_request or {}
            return (
                f"WARNING, increase needed: {self.header()}: needs {need.needed}, but the open request "
                f"{request.get('Id')} asks for only {_number(request.get('DesiredValue', 0))} "
                f"({request.get('Status')}); Service Quotas allows one open request per quota: once it is "
                f"decided, run the preflight again"
            )
        # "request"
        if self.requested is not None:
            return (
                f"increase needed: {self.header()}: needs {need.needed}; requested {need.needed}: request "
                f"{self.requested.get('Id')} ({self.requested.get('Status')})"
            )
        return f"increase needed: {self.header()}: needs {need.needed}; would request {need.needed}"


def _number(value: Any) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def judge(check: Check, checkable: bool) -> Check:
    """Set the verdict from usage, value, adjustability and an open request."""
    need = check.need
    within = need.usage * 100 <= check.limit * HEADROOM_PERCENT
    if not check.adjustable and not within:
        check.verdict = "exceeded" if check.blocking else "tight"
    elif not checkable:
        check.verdict = "unchecked"
    elif within:
        check.verdict = "ok"
    elif check.open_request is not None:
        enough = float(check.open_request.get("DesiredValue", 0)) >= need.needed
        check.verdict = "open" if enough else "short-open"
    else:
        check.verdict = "request"
    return check


# ----- Service Quotas -----


@contextlib.contextmanager
def _aws_errors(account: Account, region: str) -> Iterator[None]:
    """Service Quotas errors as BootstrapErrors that name the account, region and call."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        yield
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        message = error.response.get("Error", {}).get("Message", "")
        if code in ACCESS_DENIED:
            raise BootstrapError(
                f"access denied to Service Quotas ({error.operation_name}, {code}) for the {account.label} in "
                f"{region}: {message}. The profile needs servicequotas:GetServiceQuota, "
                "servicequotas:GetAWSDefaultServiceQuota, servicequotas:ListRequestedServiceQuotaChangeHistoryByQuota "
                "and, for --execute, servicequotas:RequestServiceQuotaIncrease"
            ) from error
        raise BootstrapError(
            f"Service Quotas {error.operation_name} failed for the {account.label} in {region}: {code}: {message}"
        ) from error
    except NoCredentialsError as error:
        raise BootstrapError(f"no AWS credentials for the {account.label}: log in or set credentials") from error
    except BotoCoreError as error:
        raise BootstrapError(f"Service Quotas call failed for the {account.label} in {region}: {error}") from error


def read_value(client: Any, service_code: str, quota_code: str) -> tuple[float | None, bool | None, str]:
    """(value, adjustable, source): the applied value, else AWS's default for the quota."""
    try:
        quota = client.get_service_quota(ServiceCode=service_code, QuotaCode=quota_code)["Quota"]
        source = "applied value"
    except client.exceptions.NoSuchResourceException:
        quota = client.get_aws_default_service_quota(ServiceCode=service_code, QuotaCode=quota_code)["Quota"]
        source = "AWS default: no applied value"
    value = quota.get("Value")
    return (None if value is None else float(value)), quota.get("Adjustable"), source


def find_open_request(client: Any, service_code: str, quota_code: str) -> dict[str, Any] | None:
    """The open (PENDING or CASE_OPENED) increase request of the quota asking for the most, if any."""
    paginator = client.get_paginator("list_requested_service_quota_change_history_by_quota")
    open_requests = [
        request
        for page in paginator.paginate(ServiceCode=service_code, QuotaCode=quota_code)
        for request in page.get("RequestedQuotas", [])
        if request.get("Status") in OPEN_STATUSES
    ]
    return max(open_requests, key=lambda r: float(r.get("DesiredValue", 0)), default=None)


# ----- the preflight -----


@dataclass
class Report:
    checks: list[Check]

    def of(self, verdict: Verdict) -> list[Check]:
        return [c for c in self.checks if c.verdict == verdict]


def owners(config: PlatformConfig, needs: Sequence[Need], assembly: Path | None = None) -> dict[str, Account]:
    """The config's account (with its profile) of every account the assembly uses; refuses unknown ones."""
    by_id: dict[str, Account] = {}
    for account in [*target_accounts(config), tooling_account(config)]:
        by_id.setdefault(account.account, account)
    unknown = sorted({n.account for n in needs} - set(by_id))
    if unknown:
        raise BootstrapError(
            f"the cloud assembly{f' at {assembly}' if assembly else ''} has stacks in account(s) "
            f"{', '.join(unknown)}, which the config does not name: synthesize it from the same config "
            "(make synth CONFIG=...)"
        )
    return by_id


def preflight(
    config: PlatformConfig,
    usage: QuotaUsage,
    *,
    mode: Mode,
    aws: AwsAccess | None = None,
    out: Callable[[str], None] = print,
    assembly: Path | None = None,
) -> Report:
    """Check every Need, print one line each per account and region; with mode "execute" request increases."""
    needs = needs_of(usage)
    by_id = owners(config, needs, assembly)
    online = mode != "offline"
    if online and aws is None:
        raise ValueError("a dry run or --execute needs AwsAccess")
    out(
        f"Quota preflight{f' of {assembly}' if assembly else ''}: "
        + {
            "offline": "offline, no AWS calls: the applied values could not be read, the AWS defaults are assumed",
            "dry-run": "dry run: reads applied values and open requests, requests nothing (add --execute)",
            "execute": "requesting every increase needed",
        }[mode]
    )
    out(f"Headroom rule: {HEADROOM_RULE}.")
    out(not_counted())
    if online and aws is not None:
        for account_id in sorted({n.account for n in needs}):
            aws.verify(by_id[account_id])
            out(f"verified: {by_id[account_id].label}")
    clients: dict[tuple[str, str], Any] = {}
    checks: list[Check] = []
    for need in needs:
        owner = by_id[need.account]
        endpoint = service_quotas_region(need.region, owner.region)
        quota = need.quota
        checkable = quota.code is not None
        check = Check(need, owner, endpoint, float(quota.default), "AWS default", quota.adjustable)
        if checkable and need.service_code is None:
            raise BootstrapError(f"{quota.key} has quota code {quota.code} but no service code in SERVICE_CODES")
        if not checkable:
            check.source = "AWS default; no Service Quotas code"
        elif not online:
            check.source = "default assumed: applied value not read"
        else:
            assert aws is not None and quota.code is not None and need.service_code is not None
            key = (owner.account, endpoint)
            with _aws_errors(owner, endpoint):
                if key not in clients:
                    clients[key] = aws.client(owner, "service-quotas", region=endpoint)
                value, adjustable, source = read_value(clients[key], need.service_code, quota.code)
                if value is not None:
                    check.limit, check.source = value, source
                else:
                    check.source = f"{source} without a value: default assumed"
                if adjustable is not None:
                    check.adjustable = quota.adjustable and adjustable
                if check.adjustable and need.usage * 100 > check.limit * HEADROOM_PERCENT:
                    check.open_request = find_open_request(clients[key], need.service_code, quota.code)
        checks.append(judge(check, checkable))
    report = Report(checks)
    _print(report, out)
    exceeded = report.of("exceeded")
    if exceeded:
        raise BootstrapError(
            "quota preflight: not adjustable and exceeded: "
            + "; ".join(
                f"{c.need.quota.key} ({c.need.quota.description}) in account {c.need.account}, "
                f"{_place(c)}: usage {c.need.usage} above the limit {_number(c.limit)}"
                + (f" ({c.need.where()})" if c.need.load_balancers else "")
                for c in exceeded
            )
            + ". Change the config (fewer services or environments per account) before deploying"
        )
    to_request = report.of("request")
    if mode == "execute":
        for check in to_request:
            assert aws is not None and check.need.quota.code is not None and check.need.service_code is not None
            with _aws_errors(check.owner, check.endpoint):
                check.requested = clients[(check.owner.account, check.endpoint)].request_service_quota_increase(
                    ServiceCode=check.need.service_code,
                    QuotaCode=check.need.quota.code,
                    DesiredValue=float(check.need.needed),
                )["RequestedQuota"]
            out(
                f"requested {check.need.quota.key} = {check.need.needed} in account {check.need.account}, "
                f"{_place(check)}: request {check.requested.get('Id')}, status {check.requested.get('Status')}"
            )
    _summary(report, mode, out)
    blocking = [c for c in report.checks if c.verdict in ("request", "open", "short-open") and c.blocking]
    if mode == "execute" and blocking:
        raise BootstrapError(
            "quota preflight: the deploy would exceed "
            + "; ".join(
                f"{c.need.quota.key} in account {c.need.account}, {_place(c)} (usage {c.need.usage} of "
                f"{_number(c.limit)})"
                for c in blocking
            )
            + " until AWS approves the increase: run `python -m tools.bootstrap --quotas` for the status, "
            "and the bootstrap again once approved"
        )
    return report


def _place(check: Check) -> str:
    if check.need.region == GLOBAL:
        return f"account-wide (Service Quotas in {check.endpoint})"
    return check.need.region


def _print(report: Report, out: Callable[[str], None]) -> None:
    current: tuple[str, str] | None = None
    for check in report.checks:
        if (check.need.account, check.need.region) != current:
            current = (check.need.account, check.need.region)
            out(f"\n{check.owner.label}, {_place(check)}:")
        out(f"  {check.render()}")


def _summary(report: Report, mode: Mode, out: Callable[[str], None]) -> None:
    requests = report.of("request")
    unchecked = report.of("unchecked")
    verb = {"offline": "would request", "dry-run": "would request", "execute": "requested"}[mode]
    parts = [f"{len(report.checks)} quota(s) checked", f"{verb} {len(requests)} increase(s)"]
    if report.of("open"):
        parts.append(f"{len(report.of('open'))} covered by an open request")
    if unchecked:
        parts.append(f"{len(unchecked)} not checkable through Service Quotas")
    warnings = report.of("tight") + report.of("short-open")
    if warnings:
        parts.append(f"{len(warnings)} warning(s)")
    out("\nQuota preflight: " + ", ".join(parts))
    if mode != "execute" and requests:
        out("  add --execute to request: " + "; ".join(_request_text(c) for c in requests))
    blocking = [c for c in report.checks if c.verdict in ("request", "open", "short-open") and c.blocking]
    if mode != "execute" and blocking:
        out(
            "  until approved, the deploy would exceed: "
            + "; ".join(f"{c.need.quota.key} in account {c.need.account}, {_place(c)}" for c in blocking)
        )


def not_counted() -> str:
    """What the counts from templates cannot include (tools/quotas.py UNCOUNTED): said, never passed silently."""
    return "Not counted from templates, check by hand:" + "".join(f"\n  - {line}" for line in UNCOUNTED)


def _request_text(check: Check) -> str:
    return (
        f"{check.need.service_code} {check.need.quota.code} = {check.need.needed} in account {check.need.account}, "
        f"{_place(check)}"
    )


def run(
    config: PlatformConfig,
    assembly: Path,
    *,
    mode: Mode,
    aws: AwsAccess | None,
    out: Callable[[str], None] = print,
) -> Report:
    """`python -m tools.bootstrap --quotas`: count the assembly, then `preflight`."""
    return preflight(config, load_usage(assembly), mode=mode, aws=aws, out=out, assembly=assembly)
