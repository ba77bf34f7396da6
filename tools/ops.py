"""Day-2 operations on the service pipelines: status, approve/reject, stop, rollback, override, freeze/unfreeze.

    python -m tools.ops status [--service S] [--environment E] [--json]
    python -m tools.ops approve SERVICE ENV --comment TEXT
    python -m tools.ops reject SERVICE ENV --comment TEXT
    python -m tools.ops stop SERVICE [--execution-id ID] --reason TEXT
    python -m tools.ops rollback SERVICE ENV [--wait [--timeout SECONDS]]
    python -m tools.ops override SERVICE ENV [--condition entry|bake] --reason TEXT
    python -m tools.ops freeze [--service S ...] [--environment E ...] --reason TEXT [--until ISO]
    python -m tools.ops unfreeze [--service S ...] [--environment E ...] [--planned-too]

Names come from the config (config/names.py): pipeline <platform>-<service> with the stages Source,
Build, Test, Approve-<env> (environments with `approval: true`) and Deploy-<env>; deployment group
<platform>-<env>-<service> and its rollback alarms <platform>-<env>-<service>-<what>. Pipelines are
in the tooling account (its profile), deployments and alarms in each environment's account (the
environment's profile). Every profile is checked with STS against the config's account first.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from config import ConfigError, load_config
from config.model import Environment, PlatformConfig, Service
from config.names import (
    APPROVAL_ACTION,
    PLANNED_FREEZE_MARK,
    TRANSITION_REASON_DISALLOWED,
    Names,
    approval_stage,
    deploy_stage,
    transition_reason_text,
)
from tools.bootstrap import Account, AwsAccess, BootstrapError, tooling_account

# CodeDeploy DeploymentStatus values of a deployment that StopDeployment can still stop (botocore model).
RUNNING_DEPLOYMENT = ["Created", "Queued", "InProgress", "Baking", "Ready"]
FINISHED_DEPLOYMENT = frozenset({"Succeeded", "Failed", "Stopped"})
FREEZE_MARK = "ops freeze"
NO_ACCESS = "unknown (no access)"


class _HasName(Protocol):
    @property
    def name(self) -> str: ...


Named = TypeVar("Named", bound=_HasName)


class OpsError(Exception):
    """A problem the operator can fix; printed as one message, exit code 2."""


# ----- what we are talking about -----


@dataclass(frozen=True)
class Target:
    service: Service
    environment: Environment


def _pick(kind: str, items: Sequence[Named], wanted: Sequence[str]) -> list[Named]:
    """The ``wanted`` items by name, once each, in the order asked (all of them when none is named)."""
    by_name = {item.name: item for item in items}
    unknown = [w for w in wanted if w not in by_name]
    if unknown:
        raise OpsError(f"unknown {kind} {', '.join(unknown)}; allowed: {', '.join(by_name)}")
    return [by_name[w] for w in dict.fromkeys(wanted)] if wanted else list(items)


def pick_services(config: PlatformConfig, wanted: Sequence[str]) -> list[Service]:
    return _pick("service", config.services, wanted)


def pick_environments(config: PlatformConfig, wanted: Sequence[str]) -> list[Environment]:
    return _pick("environment", config.environments, wanted)


def targets(config: PlatformConfig, services: Sequence[str] = (), environments: Sequence[str] = ()) -> list[Target]:
    """Every selected service x environment the service deploys to, in config order."""
    chosen_envs = pick_environments(config, environments)
    result = [
        Target(s, e) for s in pick_services(config, services) for e in config.environments_of(s) if e in chosen_envs
    ]
    if not result:
        raise OpsError(
            f"no selected service deploys to {', '.join(e.name for e in chosen_envs)} "
            "(see services[].environments in the config)"
        )
    return result


def one_target(config: PlatformConfig, service: str, environment: str) -> Target:
    svc = pick_services(config, [service])[0]
    env = pick_environments(config, [environment])[0]
    if env not in config.environments_of(svc):
        allowed = ", ".join(e.name for e in config.environments_of(svc))
        raise OpsError(f"service {svc.name} does not deploy to {env.name}; allowed: {allowed}")
    return Target(svc, env)


def environment_account(config: PlatformConfig, env: Environment) -> Account:
    return Account(env.name, env.account, config.region_of(env), env.profile)


# ----- AWS access: the bootstrap's profile handling and STS check, errors made readable -----


def describe_client_error(error: Exception, what: str) -> str:
    code = getattr(error, "response", {}).get("Error", {}).get("Code", "")
    message = getattr(error, "response", {}).get("Error", {}).get("Message", str(error))
    if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"):
        return f"access denied to {what}: {message} (the profile's role needs that permission)"
    return f"{what}: {code or type(error).__name__}: {message}"


class Ops:
    """Clients per account, each account checked once with STS before its first use."""

    def __init__(self, config: PlatformConfig, aws: AwsAccess) -> None:
        self.config = config
        self.names = Names(config)
        self.aws = aws
        self.tooling = tooling_account(config)
        self._verified: set[tuple[str, str]] = set()
        self._clients: dict[tuple[str, str, str], Any] = {}

    def client(self, account: Account, service: str) -> Any:
        key = (account.account, account.region)
        if key not in self._verified:
            try:
                self.aws.verify(account)
            except BootstrapError as error:
                raise OpsError(str(error)) from None
            self._verified.add(key)
        ckey = (account.account, account.region, service)
        if ckey not in self._clients:
            try:
                self._clients[ckey] = self.aws.client(account, service)
            except BootstrapError as error:
                raise OpsError(str(error)) from None
        return self._clients[ckey]

    @property
    def pipelines(self) -> Any:
        return self.client(self.tooling, "codepipeline")

    def caller_arn(self) -> str:
        self.client(self.tooling, "codepipeline")  # verifies the tooling profile first
        return str(self.client(self.tooling, "sts").get_caller_identity()["Arn"])

    def pipeline_state(self, service: Service) -> dict[str, Any]:
        name = self.names.pipeline(service)
        try:
            return dict(self.pipelines.get_pipeline_state(name=name))
        except self.pipelines.exceptions.PipelineNotFoundException:
            raise OpsError(
                f"pipeline {name} not found in the tooling account {self.tooling.account} ({self.tooling.region}); "
                f"deploy its stack {self.names.pipeline_stack(service)} first (or check the profile)"
            ) from None


def stage(state: dict[str, Any], name: str) -> dict[str, Any] | None:
    return next((s for s in state.get("stageStates", []) if s.get("stageName") == name), None)


def when(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return str(value) if value else "-"


# ----- status -----


@dataclass
class Row:
    service: str
    environment: str
    pipeline: str
    last_execution: dict[str, str] | None
    deploy_status: str | None  # the Deploy-<env> stage's latest execution status
    deploy_execution: str | None
    live_execution: str | None  # the last execution that succeeded in Deploy-<env>
    live_revision: str | None
    live_summary: str | None
    approval: str | None  # None: no approval stage; "none", "pending (token)", "pending (no token)"
    freeze: list[dict[str, str]] = field(default_factory=list)
    # The config's freezes (DeploymentWindow rules) in force now: name, reason, until.
    planned_freeze: list[dict[str, str]] = field(default_factory=list)
    alarms: dict[str, str] | None = None  # alarm name -> state; None when unknown
    alarms_note: str | None = None


def _summary(revision: dict[str, Any]) -> str:
    text = str(revision.get("revisionSummary") or "")
    try:  # CodeStar connections give a JSON summary; CodeCommit the commit message
        parsed = json.loads(text)
        if isinstance(parsed, dict):
            text = str(parsed.get("CommitMessage") or parsed.get("ProviderType") or text)
    except ValueError:
        pass
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first[:60]


def _freezes(state: dict[str, Any], env: Environment) -> list[dict[str, str]]:
    found = []
    for name in (approval_stage(env), deploy_stage(env)):
        transition = (stage(state, name) or {}).get("inboundTransitionState") or {}
        if transition and not transition.get("enabled", True):
            found.append(
                {
                    "stage": name,
                    "reason": str(transition.get("disabledReason", "")),
                    "by": str(transition.get("lastChangedBy", "")),
                    "at": when(transition.get("lastChangedAt")),
                }
            )
    return found


def _freeze_clock() -> Any:
    """The notifier's freeze arithmetic (lambda/teams_notifier/notifier_freezes.py, standard library only):
    one implementation for the Teams card and this table."""
    if "notifier_freezes" in sys.modules:  # loaded already (the notifier's tests put its folder on the path)
        return sys.modules["notifier_freezes"]
    path = Path(__file__).resolve().parent.parent / "lambda" / "teams_notifier" / "notifier_freezes.py"
    spec = importlib.util.spec_from_file_location("notifier_freezes", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["notifier_freezes"] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def planned_freezes(config: PlatformConfig, now: datetime) -> dict[str, list[dict[str, str]]]:
    """Per environment, the config's freezes in force at ``now``, each with when it ends (in its zone)."""
    clock = _freeze_clock()
    freezes = clock.parse_freezes([f.notice() for f in config.freezes])
    return {
        env.name: [
            {
                "name": f.name,
                "reason": f.reason,
                "until": f"{until.strftime('%Y-%m-%d %H:%M')} {f.timezone}",
                "during": "wait" if f.waits else "fail",
            }
            for f, until in clock.active_freezes(freezes, env.name, now)
        ]
        for env in config.environments
    }


def approval_execution(state: dict[str, Any], env: Environment) -> dict[str, Any]:
    """The latest execution of the approval action before ``env`` in a GetPipelineState answer ({} if none)."""
    found = stage(state, approval_stage(env))
    action: dict[str, Any] = next(
        (a for a in (found or {}).get("actionStates", []) if a.get("actionName") == APPROVAL_ACTION), {}
    )
    latest: dict[str, Any] = action.get("latestExecution") or {}
    return latest


def _approval(state: dict[str, Any], env: Environment) -> str | None:
    if not env.approval:
        return None
    latest = approval_execution(state, env)
    if latest.get("status") == "InProgress":
        return "pending (token)" if latest.get("token") else "pending (no token)"
    return "none"


def alarm_states(ops: Ops, env: Environment, wanted: Sequence[str]) -> dict[str, str]:
    cloudwatch = ops.client(environment_account(ops.config, env), "cloudwatch")
    states = dict.fromkeys(wanted, "missing")
    for start in range(0, len(wanted), 100):  # DescribeAlarms takes at most 100 AlarmNames
        chunk = list(wanted[start : start + 100])
        for page in cloudwatch.get_paginator("describe_alarms").paginate(AlarmNames=chunk, AlarmTypes=["MetricAlarm"]):
            for alarm in page.get("MetricAlarms", []):
                states[alarm["AlarmName"]] = alarm["StateValue"]
    return states


PROGRESS_ABOVE = 10  # pipelines: a status of more says how far it got (2 + one call per environment each)
PROGRESS_EVERY = 25


def status(
    ops: Ops,
    selected: Sequence[Target],
    now: datetime | None = None,
    progress: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
) -> list[Row]:
    names = ops.names
    in_force = planned_freezes(ops.config, now or datetime.now(UTC))
    rows: list[Row] = []
    by_service: dict[str, list[Target]] = {}
    for target in selected:
        by_service.setdefault(target.service.name, []).append(target)
    total = len(by_service)
    for done, group in enumerate(by_service.values()):
        if total > PROGRESS_ABOVE and done % PROGRESS_EVERY == 0:
            progress(f"status: {done}/{total} pipelines read ({len(selected) + 2 * total} CodePipeline calls in all)")
        service = group[0].service
        pipeline = names.pipeline(service)
        state = ops.pipeline_state(service)
        recent = ops.pipelines.list_pipeline_executions(pipelineName=pipeline, maxResults=1)
        last = (recent.get("pipelineExecutionSummaries") or [None])[0]
        last_execution = (
            {"id": last["pipelineExecutionId"], "status": last["status"], "started": when(last.get("startTime"))}
            if last
            else None
        )
        for target in group:
            env = target.environment
            latest = (stage(state, deploy_stage(env)) or {}).get("latestExecution") or {}
            live = (
                ops.pipelines.list_pipeline_executions(
                    pipelineName=pipeline, maxResults=1, filter={"succeededInStage": {"stageName": deploy_stage(env)}}
                ).get("pipelineExecutionSummaries")
                or [None]
            )[0]
            revision = (live or {}).get("sourceRevisions", [{}])[0] if live else {}
            rows.append(
                Row(
                    service=service.name,
                    environment=env.name,
                    pipeline=pipeline,
                    last_execution=last_execution,
                    deploy_status=latest.get("status"),
                    deploy_execution=latest.get("pipelineExecutionId"),
                    live_execution=live["pipelineExecutionId"] if live else None,
                    live_revision=revision.get("revisionId"),
                    live_summary=_summary(revision) if revision else None,
                    approval=_approval(state, env),
                    # A `during: wait` freeze's own hold is the planned freeze, not an ad-hoc one.
                    freeze=[
                        f
                        for f in _freezes(state, env)
                        if not (
                            f["reason"].startswith(PLANNED_FREEZE_MARK)
                            and any(p["during"] == "wait" for p in in_force[env.name])
                        )
                    ],
                    planned_freeze=in_force[env.name],
                )
            )
    if total > PROGRESS_ABOVE:
        environments = len({t.environment.name for t in selected})
        progress(f"status: {total}/{total} pipelines read; reading alarms in {environments} environment account(s)")
    # Alarms: one account per environment; an environment we cannot read is "unknown", not a failure.
    from botocore.exceptions import BotoCoreError, ClientError

    for env_name in dict.fromkeys(t.environment.name for t in selected):
        environment = ops.config.environment(env_name)
        env_rows = [r for r in rows if r.environment == env_name]
        services = {s.name: s for s in ops.config.services}
        wanted = {r.service: list(names.rollback_alarms(services[r.service], environment).values()) for r in env_rows}
        try:
            states = alarm_states(ops, environment, [a for alarms in wanted.values() for a in alarms])
        except (OpsError, ClientError, BotoCoreError) as error:
            note = str(error) if isinstance(error, OpsError) else describe_client_error(error, f"alarms in {env_name}")
            for row in env_rows:
                row.alarms_note = note
            continue
        for row in env_rows:
            row.alarms = {a: states[a] for a in wanted[row.service]}
    return rows


def _alarm_cell(row: Row) -> str:
    if row.alarms is None:
        return NO_ACCESS
    values = list(row.alarms.values())
    bad = [name.rsplit(f"-{row.service}-", 1)[-1] for name, value in row.alarms.items() if value != "OK"]
    if not bad:
        return f"OK ({len(values)})"
    worst = "ALARM" if "ALARM" in values else "missing" if "missing" in values else "INSUFFICIENT_DATA"
    return f"{worst}: {', '.join(bad)}"


def render_table(rows: Sequence[Row]) -> str:
    header = ("SERVICE", "ENV", "LAST EXECUTION", "DEPLOY STAGE", "LIVE", "APPROVAL", "FREEZE", "ALARMS")
    table: list[tuple[str, ...]] = [header]
    shown: set[str] = set()
    for row in rows:
        last = "-"
        if row.service not in shown:
            shown.add(row.service)
            if row.last_execution:
                e = row.last_execution
                last = f"{e['id'][:8]} {e['status']} {e['started']}"
            else:
                last = "(never ran)"
        live = f"{row.live_revision[:7]} {row.live_summary or ''}".strip() if row.live_revision else "-"
        table.append(
            (
                row.service if last != "-" else "",
                row.environment,
                last if last != "-" else "",
                row.deploy_status or "-",
                live,
                row.approval or "-",
                "FROZEN" if row.freeze else "PLANNED" if row.planned_freeze else "-",
                _alarm_cell(row),
            )
        )
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in table]
    notes = []
    for row in rows:
        for freeze in row.freeze:
            notes.append(
                f"  {row.service}/{row.environment}: {freeze['stage']} frozen {freeze['at']} by {freeze['by']}: "
                f"{freeze['reason']}"
            )
        for freeze in row.planned_freeze:
            where = f"{row.service}/{row.environment}"
            if freeze.get("during") == "wait":
                notes.append(
                    f"  {where}: in freeze {freeze['name']} ({freeze['reason']}) until {freeze['until']}, executions "
                    f"wait before it; emergency: tools.ops unfreeze --service {row.service} --environment "
                    f"{row.environment} --planned-too, then tools.ops override {row.service} {row.environment} "
                    "--reason TEXT"
                )
                continue
            notes.append(
                f"  {where}: in freeze {freeze['name']} ({freeze['reason']}) until "
                f"{freeze['until']}; emergency: tools.ops override {row.service} {row.environment} --reason TEXT"
            )
    for env, note in dict.fromkeys((r.environment, r.alarms_note) for r in rows if r.alarms_note):
        notes.append(f"  alarms in {env}: {note}")
    if notes:
        lines += ["", "notes:", *notes]
    return "\n".join(lines)


# ----- approve / reject -----


def put_approval(ops: Ops, target: Target, approved: bool, comment: str, out: Callable[[str], None]) -> None:
    env, service = target.environment, target.service
    if not env.approval:
        allowed = ", ".join(e.name for e in ops.config.environments_of(service) if e.approval) or "(none)"
        raise OpsError(f"{env.name} has no approval stage; environments with approval: {allowed}")
    if len(comment) > 512:  # ApprovalSummary: max 512 (botocore model)
        raise OpsError(f"--comment is {len(comment)} characters; allowed: at most 512 (CodePipeline's limit)")
    pipeline = ops.names.pipeline(service)
    latest = approval_execution(ops.pipeline_state(service), env)
    token = latest.get("token")
    if latest.get("status") != "InProgress" or not token:
        raise OpsError(f"nothing is waiting for approval in {pipeline} {approval_stage(env)}")
    verdict = "Approved" if approved else "Rejected"
    pipelines = ops.pipelines
    try:
        pipelines.put_approval_result(
            pipelineName=pipeline,
            stageName=approval_stage(env),
            actionName=APPROVAL_ACTION,
            result={"summary": comment, "status": verdict},
            token=token,
        )
    except (pipelines.exceptions.ApprovalAlreadyCompletedException, pipelines.exceptions.InvalidApprovalTokenException):
        raise OpsError(
            f"the approval in {pipeline} {approval_stage(env)} was completed or replaced meanwhile; "
            "run status and try again"
        ) from None
    out(f"{pipeline} {approval_stage(env)}: {verdict.lower()} ({comment})")


# ----- stop -----


def stop(ops: Ops, service: Service, execution_id: str | None, reason: str, out: Callable[[str], None]) -> str:
    if len(reason) > 200:  # StopPipelineExecutionReason: max 200 (botocore model)
        raise OpsError(f"--reason is {len(reason)} characters; allowed: at most 200 (CodePipeline's limit)")
    pipeline = ops.names.pipeline(service)
    ops.pipeline_state(service)  # a clear error when the pipeline does not exist
    pipelines = ops.pipelines
    running = [
        e["pipelineExecutionId"]
        for page in pipelines.get_paginator("list_pipeline_executions").paginate(pipelineName=pipeline)
        for e in page.get("pipelineExecutionSummaries", [])
        if e.get("status") == "InProgress"
    ]
    if execution_id is None:
        if not running:
            raise OpsError(f"{pipeline} has no execution in progress")
        if len(running) > 1:
            raise OpsError(
                f"{pipeline} has {len(running)} executions in progress; choose one: --execution-id "
                + " or ".join(running)
            )
        execution_id = running[0]
    elif execution_id not in running:
        allowed = ", ".join(running) or "(none)"
        raise OpsError(f"execution {execution_id} of {pipeline} is not in progress; in progress: {allowed}")
    try:
        pipelines.stop_pipeline_execution(
            pipelineName=pipeline, pipelineExecutionId=execution_id, abandon=True, reason=reason
        )
    except pipelines.exceptions.DuplicatedStopRequestException:
        raise OpsError(f"execution {execution_id} of {pipeline} is already being stopped") from None
    except pipelines.exceptions.PipelineExecutionNotStoppableException:
        raise OpsError(f"execution {execution_id} of {pipeline} cannot be stopped any more (it has finished)") from None
    out(f"{pipeline}: stopping and abandoning execution {execution_id} ({reason})")
    return execution_id


# ----- rollback -----


def _wait(
    describe: Callable[[], tuple[str, bool]],
    out: Callable[[str], None],
    sleep: Callable[[float], None],
    poll_seconds: float,
    timeout_seconds: float,
) -> str:
    waited = 0.0
    while True:
        text, done = describe()
        out(f"  {int(waited)}s: {text}")
        if done:
            return text
        if waited >= timeout_seconds:
            raise OpsError(f"still not finished after {int(timeout_seconds)} s ({text}); it goes on without us")
        sleep(poll_seconds)
        waited += poll_seconds


def rollback(
    ops: Ops,
    target: Target,
    *,
    wait: bool,
    out: Callable[[str], None],
    sleep: Callable[[float], None] = time.sleep,
    poll_seconds: float = 15.0,
    timeout_seconds: float = 1800.0,
) -> str:
    """Stop a running CodeDeploy deployment with rollback, or roll Deploy-<env> back a release."""
    service, env, names = target.service, target.environment, ops.names
    pipeline = names.pipeline(service)
    state = ops.pipeline_state(service)
    codedeploy = ops.client(environment_account(ops.config, env), "codedeploy")
    application, group = names.deployment_application(service, env), names.deployment_group(service, env)
    try:
        running = codedeploy.list_deployments(
            applicationName=application, deploymentGroupName=group, includeOnlyStatuses=RUNNING_DEPLOYMENT
        ).get("deployments", [])
    except (
        codedeploy.exceptions.ApplicationDoesNotExistException,
        codedeploy.exceptions.DeploymentGroupDoesNotExistException,
    ):
        raise OpsError(
            f"deployment group {application}/{group} not found in {env.name} ({env.account}); "
            f"deploy {names.service_stack(service, env)} first"
        ) from None
    if running:
        deployment = running[0]
        result = codedeploy.stop_deployment(deploymentId=deployment, autoRollbackEnabled=True)
        out(
            f"{group}: stopping CodeDeploy deployment {deployment} with rollback "
            f"({result.get('status')}{': ' + result['statusMessage'] if result.get('statusMessage') else ''})"
        )
        if not wait:
            return deployment

        def deployment_state() -> tuple[str, bool]:
            info = codedeploy.get_deployment(deploymentId=deployment)["deploymentInfo"]
            rolled = (info.get("rollbackInfo") or {}).get("rollbackDeploymentId")
            text = f"{deployment} {info['status']}" + (f", rollback deployment {rolled}" if rolled else "")
            return text, info["status"] in FINISHED_DEPLOYMENT

        _wait(deployment_state, out, sleep, poll_seconds, timeout_seconds)
        return deployment

    stage_name = deploy_stage(env)
    latest = (stage(state, stage_name) or {}).get("latestExecution") or {}
    if latest.get("status") == "InProgress":
        raise OpsError(
            f"{pipeline} {stage_name} is running but no CodeDeploy deployment is: wait, or stop the execution "
            f"(python -m tools.ops stop {service.name} --reason ...)"
        )
    pipelines = ops.pipelines
    succeeded = [
        e
        for page in pipelines.get_paginator("list_pipeline_executions").paginate(
            pipelineName=pipeline, filter={"succeededInStage": {"stageName": stage_name}}
        )
        for e in page.get("pipelineExecutionSummaries", [])
    ]
    # What is live: the latest success, or what a rollback execution rolled back to.
    if not succeeded:
        raise OpsError(f"no execution of {pipeline} ever succeeded in {stage_name}: nothing to roll back to")
    live = succeeded[0]
    live_id = live["pipelineExecutionId"]
    if live.get("executionType") == "ROLLBACK":
        live_id = (live.get("rollbackMetadata") or {}).get("rollbackTargetPipelineExecution") or live_id
    if latest.get("status") not in (None, "Succeeded"):
        # The stage's last attempt failed or was stopped: the last success is still what runs.
        candidates = [e for e in succeeded if e.get("executionType") != "ROLLBACK"]
        target_execution = next((e for e in candidates if e["pipelineExecutionId"] == live_id), None)
    else:
        ids = [e["pipelineExecutionId"] for e in succeeded]
        after = ids.index(live_id) + 1 if live_id in ids else 1
        target_execution = next((e for e in succeeded[after:] if e.get("executionType") != "ROLLBACK"), None)
    if target_execution is None:
        raise OpsError(f"no earlier execution of {pipeline} succeeded in {stage_name}: nothing to roll back to")
    target_id = target_execution["pipelineExecutionId"]
    revision = (target_execution.get("sourceRevisions") or [{}])[0]
    try:
        new_id = pipelines.rollback_stage(
            pipelineName=pipeline, stageName=stage_name, targetPipelineExecutionId=target_id
        )["pipelineExecutionId"]
    except pipelines.exceptions.UnableToRollbackStageException as error:
        raise OpsError(f"CodePipeline cannot roll {pipeline} {stage_name} back: {error}") from None
    except pipelines.exceptions.ConflictException as error:
        raise OpsError(f"{pipeline} is busy, try again shortly: {error}") from None
    out(
        f"{pipeline} {stage_name}: rolling back to execution {target_id} "
        f"(revision {str(revision.get('revisionId', '?'))[:7]} {_summary(revision)}) as execution {new_id}".rstrip()
    )
    if wait:

        def execution_state() -> tuple[str, bool]:
            execution = pipelines.get_pipeline_execution(pipelineName=pipeline, pipelineExecutionId=new_id)
            current = execution["pipelineExecution"]["status"]
            return f"{new_id} {current}", current not in ("InProgress", "Stopping")

        _wait(execution_state, out, sleep, poll_seconds, timeout_seconds)
    return new_id


# ----- freeze / unfreeze -----


def reason_limits(pipelines: Any) -> tuple[int, re.Pattern[str]]:
    """DisabledReason's length and characters, from the botocore model the client was built with."""
    shape = pipelines.meta.service_model.operation_model("DisableStageTransition").input_shape.members["reason"]
    return int(shape.metadata["max"]), re.compile(shape.metadata["pattern"])


def freeze_reason(pipelines: Any, who: str, now: datetime, reason: str, until: datetime | None) -> str:
    limit, pattern = reason_limits(pipelines)
    bad = sorted(set("".join(TRANSITION_REASON_DISALLOWED.findall(reason))))
    if bad:
        raise OpsError(
            f"--reason contains {' '.join(repr(c) for c in bad)}; allowed: letters, digits, spaces and ! @ ( ) . * ? - "
            "(CodePipeline's rule for a disabled transition's reason)"
        )
    stamp = "%Y-%m-%d %H.%M UTC"
    text = f"{FREEZE_MARK} by {transition_reason_text(who)} at {now.astimezone(UTC).strftime(stamp)}"
    if until:
        text += f" until {until.astimezone(UTC).strftime(stamp)}"
    text += f" - {reason}"
    if len(text) > limit:
        room = limit - (len(text) - len(reason))
        raise OpsError(
            f"the freeze reason would be {len(text)} characters, CodePipeline allows {limit}: "
            f"shorten --reason to at most {max(room, 0)} characters (who, when and until take the rest)"
        )
    if not pattern.fullmatch(text):
        raise OpsError(f"cannot build a valid freeze reason from {text!r}")
    return text


def _stages_to_change(ops: Ops, selected: Sequence[Target]) -> list[tuple[str, str, dict[str, Any], str]]:
    """(pipeline, stage, inbound transition state, environment) for every Approve-/Deploy- stage selected."""
    found = []
    states: dict[str, dict[str, Any]] = {}
    for target in selected:  # every pipeline is read before anything changes
        if target.service.name not in states:
            states[target.service.name] = ops.pipeline_state(target.service)
        state = states[target.service.name]
        for name in (approval_stage(target.environment), deploy_stage(target.environment)):
            current = stage(state, name)
            if current is not None:
                transition = current.get("inboundTransitionState") or {}
                found.append((ops.names.pipeline(target.service), name, transition, target.environment.name))
    return found


# ----- the schedules of `during: wait` freezes, paused while an ad-hoc freeze holds their stages -----

SCHEDULE_GROUP = "default"  # where the pipeline stacks create them (the execution policy's schedule/default/<p>-*)


def _schedules(ops: Ops, selected: Sequence[Target]) -> list[str]:
    return [planned.name for t in selected for planned in ops.names.freeze_schedules(t.service, t.environment)]


def set_schedule_state(scheduler: Any, name: str, state: str) -> bool:
    """Set one schedule ENABLED or DISABLED, everything else as GetSchedule reads it (UpdateSchedule replaces the
    whole schedule: what it takes is the botocore model's input shape). False when it already was."""
    current = scheduler.get_schedule(Name=name, GroupName=SCHEDULE_GROUP)
    if current.get("State") == state:
        return False
    members = scheduler.meta.service_model.operation_model("UpdateSchedule").input_shape.members
    request = {key: value for key, value in current.items() if key in members and key != "ClientToken"}
    scheduler.update_schedule(**(request | {"State": state}))
    return True


SCHEDULE_PROGRESS_EVERY = 100  # two Scheduler calls each: a platform-wide freeze at 500 services is thousands


def _set_schedules(
    ops: Ops,
    names: Sequence[str],
    state: str,
    undo: Callable[[], str],
    out: Callable[[str], None] = lambda _: None,
) -> list[str]:
    """Set every schedule's state; on a failure put back the ones changed, call ``undo`` and raise. Above
    SCHEDULE_PROGRESS_EVERY schedules, says how far it got."""
    if not names:
        return []
    scheduler = ops.client(ops.tooling, "scheduler")
    changed: list[str] = []
    for index, name in enumerate(names):
        if len(names) > SCHEDULE_PROGRESS_EVERY and index % SCHEDULE_PROGRESS_EVERY == 0:
            out(f"{'pausing' if state == 'DISABLED' else 'resuming'} schedules: {index}/{len(names)}")
        try:
            if set_schedule_state(scheduler, name, state):
                changed.append(name)
        except Exception as error:
            back = "ENABLED" if state == "DISABLED" else "DISABLED"
            failed = []
            for done in reversed(changed):
                try:
                    set_schedule_state(scheduler, done, back)
                except Exception:  # report every schedule we could not put back, go on with the others
                    failed.append(done)
            schedules = f"schedules put back: {len(changed) - len(failed)} of {len(changed)}"
            if failed:
                schedules += f" (fix by hand: {', '.join(failed)})"
            verb = "pausing" if state == "DISABLED" else "resuming"
            raise OpsError(
                f"{describe_client_error(error, f'{verb} schedule {name}')}; {schedules}; {undo()}"
            ) from None
    return changed


def freeze(
    ops: Ops,
    selected: Sequence[Target],
    reason: str,
    until: datetime | None,
    out: Callable[[str], None],
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> list[tuple[str, str]]:
    """Disable the inbound transitions; first pause the waiting freezes' schedules of those stages, so that no
    planned edge enables (or re-labels) a stage the operator holds until `unfreeze`."""
    pipelines = ops.pipelines
    text = freeze_reason(pipelines, ops.caller_arn(), now(), reason, until)
    stages = _stages_to_change(ops, selected)  # every pipeline is read before anything changes
    paused = _set_schedules(ops, _schedules(ops, selected), "DISABLED", lambda: "no transition had been changed", out)
    if paused:
        out(f"paused {len(paused)} schedule(s) of waiting freezes: no planned edge changes these stages until unfreeze")
    done: list[tuple[str, str]] = []
    for pipeline, name, transition, _ in stages:
        if not transition.get("enabled", True):
            out(f"{pipeline} {name}: already frozen ({transition.get('disabledReason', '')}), left as it is")
            continue
        try:
            pipelines.disable_stage_transition(
                pipelineName=pipeline, stageName=name, transitionType="Inbound", reason=text
            )
        except Exception as error:
            undone = _undo(
                done,
                lambda p, s: pipelines.enable_stage_transition(pipelineName=p, stageName=s, transitionType="Inbound"),
            )
            resumed = _set_schedules(ops, paused, "ENABLED", lambda: "")
            if resumed:
                undone += f"; {len(resumed)} paused schedule(s) resumed"
            raise OpsError(f"{describe_client_error(error, f'freezing {pipeline} {name}')}; {undone}") from None
        done.append((pipeline, name))
        out(f"{pipeline} {name}: frozen")
    out(f"reason: {text}")
    return done


def unfreeze(
    ops: Ops,
    selected: Sequence[Target],
    out: Callable[[str], None],
    planned_too: bool = False,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> list[tuple[str, str]]:
    """Enable the inbound transitions and resume the waiting freezes' schedules. A stage whose environment is in
    a waiting freeze now stays held (that freeze's end enables it) unless ``planned_too``."""
    pipelines = ops.pipelines
    in_force = planned_freezes(ops.config, now())
    done: list[tuple[str, str]] = []
    held: list[str] = []
    reasons: dict[tuple[str, str], str] = {}

    def enable_back() -> str:
        return _undo(
            done,
            lambda p, s: pipelines.disable_stage_transition(
                pipelineName=p, stageName=s, transitionType="Inbound", reason=reasons[(p, s)]
            ),
        )

    for pipeline, name, transition, environment in _stages_to_change(ops, selected):
        if transition.get("enabled", True):
            continue
        previous = str(transition.get("disabledReason") or f"{FREEZE_MARK} (reason unknown)")
        waiting = [f for f in in_force[environment] if f["during"] == "wait"]
        if waiting and not planned_too:
            freeze_in_force = waiting[0]
            held.append(f"{pipeline} {name}")
            out(
                f"{pipeline} {name}: left held: freeze {freeze_in_force['name']} waits until "
                f"{freeze_in_force['until']} and its end enables it (--planned-too lifts it now)"
            )
            continue
        try:
            pipelines.enable_stage_transition(pipelineName=pipeline, stageName=name, transitionType="Inbound")
        except Exception as error:
            raise OpsError(
                f"{describe_client_error(error, f'unfreezing {pipeline} {name}')}; {enable_back()}"
            ) from None
        done.append((pipeline, name))
        reasons[(pipeline, name)] = previous
        out(f"{pipeline} {name}: unfrozen (was: {previous})")
    resumed = _set_schedules(ops, _schedules(ops, selected), "ENABLED", enable_back, out)
    if resumed:
        out(f"resumed {len(resumed)} paused schedule(s) of waiting freezes")
    if not done and not held and not resumed:
        out("nothing was frozen")
    return done


def _undo(done: Sequence[tuple[str, str]], revert: Callable[[str, str], Any]) -> str:
    if not done:
        return "nothing had been changed"
    failed = []
    for pipeline, name in reversed(done):
        try:
            revert(pipeline, name)
        except Exception:  # report every stage we could not put back, go on with the others
            failed.append(f"{pipeline} {name}")
    undone = ", ".join(f"{p} {s}" for p, s in done)
    if failed:
        return f"undone: {undone}, except {', '.join(failed)}: fix those by hand"
    return f"undone: {undone} (back as before)"


# ----- override (an emergency past a gate, a freeze or a bake) -----

# OverrideStageCondition's conditionType (botocore model), by what the operator calls it.
CONDITIONS = {"entry": ("BEFORE_ENTRY", "beforeEntryConditionState"), "bake": ("ON_SUCCESS", "onSuccessConditionState")}
OVERRIDE_TAG = "ops-override-{stage}"  # one tag per stage, rewritten each time: CloudTrail keeps every value


def override_record(pipelines: Any, who: str, now: datetime, execution_id: str, reason: str) -> str:
    """The audit tag's value: who, when, which execution and why, within TagValue's length (botocore model)."""
    limit = int(pipelines.meta.service_model.shape_for("TagValue").metadata["max"])
    text = f"by {who} at {now.astimezone(UTC).strftime('%Y-%m-%dT%H:%MZ')} on {execution_id} - {reason}"
    if len(text) > limit:
        room = limit - (len(text) - len(reason))
        raise OpsError(
            f"the audit record would be {len(text)} characters, CodePipeline allows {limit} in a tag: "
            f"shorten --reason to at most {max(room, 0)} characters (who, when and the execution take the rest)"
        )
    return text


def override(
    ops: Ops,
    target: Target,
    condition: str,
    reason: str,
    out: Callable[[str], None],
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> str:
    """Let the execution waiting at Deploy-ENV's entry (or bake) condition past it, once, recorded who/when/why.

    The record is a tag on the pipeline (TagResource is in CloudTrail with its values, beside the
    OverrideStageCondition call); it is written first and put back if the override fails.
    """
    if not reason.strip():
        raise OpsError("--reason is empty; say why the guardrail is overridden (it is recorded)")
    condition_type, state_key = CONDITIONS[condition]
    pipeline, name = ops.names.pipeline(target.service), deploy_stage(target.environment)
    current = stage(ops.pipeline_state(target.service), name)
    if current is None:
        raise OpsError(f"{pipeline} has no stage {name}")
    evaluation = (current.get(state_key) or {}).get("latestExecution") or {}
    status = evaluation.get("status")
    if status != "InProgress":
        raise OpsError(
            f"nothing to override in {pipeline} {name}: its {condition} condition is "
            f"{status or 'not being evaluated'}; CodePipeline overrides only a condition that is being evaluated "
            "(a gate or bake that waits), a finished one stays as it ended"
        )
    execution_id = str((current.get("latestExecution") or {}).get("pipelineExecutionId") or "")
    if not execution_id:
        raise OpsError(f"{pipeline} {name}: CodePipeline reports no execution at the stage; run status and try again")
    pipelines = ops.pipelines
    record = override_record(pipelines, ops.caller_arn(), now(), execution_id, reason)
    tooling = ops.tooling
    arn = f"arn:aws:codepipeline:{tooling.region}:{tooling.account}:{pipeline}"
    key = OVERRIDE_TAG.format(stage=name)
    before = {t["key"]: t.get("value", "") for t in pipelines.list_tags_for_resource(resourceArn=arn).get("tags", [])}
    pipelines.tag_resource(resourceArn=arn, tags=[{"key": key, "value": record}])
    try:
        pipelines.override_stage_condition(
            pipelineName=pipeline, stageName=name, pipelineExecutionId=execution_id, conditionType=condition_type
        )
    except Exception as error:
        try:
            if key in before:
                pipelines.tag_resource(resourceArn=arn, tags=[{"key": key, "value": before[key]}])
            else:
                pipelines.untag_resource(resourceArn=arn, tagKeys=[key])
            undone = "the audit tag was put back"
        except Exception:
            undone = f"the audit tag {key} on {pipeline} could not be put back: remove it by hand"
        raise OpsError(f"{describe_client_error(error, f'overriding {pipeline} {name}')}; {undone}") from None
    out(f"{pipeline} {name}: {condition} condition overridden for execution {execution_id}")
    out(f"recorded in tag {key}: {record}")
    return execution_id


# ----- command line -----


def _iso(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an ISO 8601 time, e.g. 2026-12-27T08:00Z") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m tools.ops", description=(__doc__ or "").split("\n\n")[0])
    root.add_argument("-c", "--config", help="platform config file (default: config/platform.yaml)")
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

    show = commands.add_parser("status", help="every service x environment: executions, live version, gates, alarms")
    show.add_argument("--service", action="append", default=[], help="only this service (repeatable)")
    show.add_argument("--environment", action="append", default=[], help="only this environment (repeatable)")
    show.add_argument("--json", action="store_true", help="machine-readable output")

    for verb, text in (("approve", "approve"), ("reject", "reject")):
        cmd = commands.add_parser(verb, help=f"{text} the pending manual approval of Approve-ENV")
        cmd.add_argument("service", metavar="SERVICE")
        cmd.add_argument("environment", metavar="ENV")
        cmd.add_argument("--comment", required=True, help="why (kept with the approval, at most 512 characters)")

    halt = commands.add_parser("stop", help="stop and abandon the execution in progress")
    halt.add_argument("service", metavar="SERVICE")
    halt.add_argument("--execution-id", help="which execution (default: the one in progress)")
    halt.add_argument("--reason", required=True, help="why (at most 200 characters)")

    back = commands.add_parser(
        "rollback", help="stop a running deployment with rollback, or roll Deploy-ENV back to the previous success"
    )
    back.add_argument("service", metavar="SERVICE")
    back.add_argument("environment", metavar="ENV")
    back.add_argument("--wait", action="store_true", help="wait for the rollback to finish, with progress")
    back.add_argument("--timeout", type=int, default=1800, help="give up waiting after this many seconds (1800)")

    past = commands.add_parser(
        "override", help="emergency: let the execution waiting at Deploy-ENV's gate, freeze or bake past it, once"
    )
    past.add_argument("service", metavar="SERVICE")
    past.add_argument("environment", metavar="ENV")
    past.add_argument(
        "--condition", choices=sorted(CONDITIONS), default="entry", help="entry (gate, freeze; default) or bake"
    )
    past.add_argument("--reason", required=True, help="why; recorded with who and when in a tag and CloudTrail")

    cold = commands.add_parser("freeze", help="disable the inbound transitions of Approve-ENV and Deploy-ENV")
    thaw = commands.add_parser("unfreeze", help="enable the inbound transitions of Approve-ENV and Deploy-ENV again")
    for cmd in (cold, thaw):
        cmd.add_argument("--service", action="append", default=[], help="only this service (repeatable; default all)")
        cmd.add_argument(
            "--environment", action="append", default=[], help="only this environment (repeatable; default all)"
        )
    thaw.add_argument(
        "--planned-too",
        action="store_true",
        help="also lift the hold of a `during: wait` freeze in force now (emergency; its next start holds again)",
    )
    cold.add_argument("--reason", required=True, help="why; recorded with who and when")
    cold.add_argument("--until", type=_iso, help="when the freeze is meant to end (ISO 8601, recorded in the reason)")
    return root


def main(
    argv: Sequence[str] | None = None,
    aws: AwsAccess | None = None,
    out: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    progress: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
) -> int:
    args = parser().parse_args(argv)
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        config = load_config(args.config)
        ops = Ops(config, aws or AwsAccess())
        if args.command == "status":
            rows = status(ops, targets(config, args.service, args.environment), now(), progress)
            out(json.dumps([asdict(r) for r in rows], indent=2) if args.json else render_table(rows))
        elif args.command in ("approve", "reject"):
            target = one_target(config, args.service, args.environment)
            put_approval(ops, target, args.command == "approve", args.comment, out)
        elif args.command == "stop":
            stop(ops, pick_services(config, [args.service])[0], args.execution_id, args.reason, out)
        elif args.command == "rollback":
            target = one_target(config, args.service, args.environment)
            rollback(ops, target, wait=args.wait, out=out, sleep=sleep, timeout_seconds=args.timeout)
        elif args.command == "override":
            target = one_target(config, args.service, args.environment)
            override(ops, target, args.condition, args.reason, out, now)
        elif args.command == "freeze":
            if args.until and args.until <= now():
                raise OpsError(f"--until {args.until.isoformat()} is in the past")
            freeze(ops, targets(config, args.service, args.environment), args.reason, args.until, out, now)
        else:
            unfreeze(ops, targets(config, args.service, args.environment), out, args.planned_too, now)
    except ConfigError as error:
        print(error.render(), file=sys.stderr)
        return 1
    except OpsError as error:
        print(f"ops: {error}", file=sys.stderr)
        return 2
    except NoCredentialsError:
        print("ops: no AWS credentials: log in (aws sso login --profile ...) or set credentials", file=sys.stderr)
        return 2
    except ClientError as error:
        print(f"ops: {describe_client_error(error, args.command)}", file=sys.stderr)
        return 2
    except BotoCoreError as error:
        print(f"ops: {type(error).__name__}: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
