"""CodeDeploy pre/post traffic hook for Lambda deployments (runs in the target account).

The same code serves both hooks; HOOK_STAGE says which one this function is:
- "pre" (BeforeAllowTraffic): invoke the version being deployed (TargetVersion in the AppSpec);
- "post" (AfterAllowTraffic): invoke the alias, which now points to the new version.
The test passes when the invocation has no FunctionError and, if the function returns a JSON
object with "statusCode", that status is below EXPECT_STATUS_BELOW. The result always goes back
to CodeDeploy with PutLifecycleEventHookExecutionStatus; otherwise the deployment waits for
the hook until it times out.

Handler: ``traffic_hook.handler``. Environment: HOOK_STAGE ("pre" | "post"), FUNCTION_NAME,
ALIAS (default "live"), TEST_PAYLOAD (JSON object, default {}), EXPECT_STATUS_BELOW (default 400).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import CodeDeployLifecycleHookEvent
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or "traffic_hook")

STAGES = ("pre", "post")
FUNCTION_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
ALIAS_RE = re.compile(r"^(?!\d+$)[A-Za-z0-9_-]{1,128}$")
# TargetVersion in the YAML (or JSON) AppSpec: TargetVersion: 5 / "TargetVersion": "5" / 'TargetVersion': '5'
TARGET_VERSION_RE = re.compile(r"""["']?\bTargetVersion["']?\s*:\s*["']?(\d+)\b""")
MAX_LOGGED_PAYLOAD = 2000

SUCCEEDED = "Succeeded"
FAILED = "Failed"


# ----------------------------------------------------------------------------- settings


class ConfigurationError(ValueError):
    """The hook function's environment is invalid."""


class HookTestError(RuntimeError):
    """The test could not be run (as opposed to: it ran and failed)."""


@dataclass(frozen=True)
class HookSettings:
    stage: str
    function_name: str
    alias: str
    test_payload: bytes
    expect_status_below: int


def load_settings(environ: Mapping[str, str]) -> HookSettings:
    """The only place that reads the environment."""
    stage = environ.get("HOOK_STAGE", "").strip().lower()
    if stage not in STAGES:
        raise ConfigurationError(f"environment variable HOOK_STAGE must be 'pre' or 'post', got {stage!r}")
    function_name = environ.get("FUNCTION_NAME", "").strip()
    if not FUNCTION_NAME_RE.match(function_name):
        raise ConfigurationError(
            f"environment variable FUNCTION_NAME must be a Lambda function name, got {function_name!r}"
        )
    alias = environ.get("ALIAS", "").strip() or "live"
    if not ALIAS_RE.match(alias):
        raise ConfigurationError(f"environment variable ALIAS must be a Lambda alias name, got {alias!r}")
    raw_payload = environ.get("TEST_PAYLOAD", "").strip() or "{}"
    try:
        payload = json.loads(raw_payload)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"environment variable TEST_PAYLOAD is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise ConfigurationError("environment variable TEST_PAYLOAD must be a JSON object")
    raw_threshold = environ.get("EXPECT_STATUS_BELOW", "").strip() or "400"
    try:
        threshold = int(raw_threshold)
    except ValueError:
        raise ConfigurationError(
            f"environment variable EXPECT_STATUS_BELOW={raw_threshold!r} is not an integer"
        ) from None
    if not 100 < threshold <= 600:
        raise ConfigurationError(f"environment variable EXPECT_STATUS_BELOW={threshold} must be in 101..600")
    return HookSettings(
        stage=stage,
        function_name=function_name,
        alias=alias,
        test_payload=json.dumps(payload).encode(),
        expect_status_below=threshold,
    )


@functools.cache
def get_settings() -> HookSettings:
    return load_settings(os.environ)


# ----------------------------------------------------------------------------- AWS access


@dataclass(frozen=True)
class HookClients:
    codedeploy: Any
    lambda_: Any


# A test invocation may run as long as the service function's timeout (at most 900 s):
# the default 60 s read timeout would cut it off and retry it.
_LAMBDA_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=10, read_timeout=905)
_CODEDEPLOY_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=10, read_timeout=60)


@functools.cache
def get_clients() -> HookClients:
    return HookClients(
        codedeploy=boto3.client("codedeploy", config=_CODEDEPLOY_CONFIG),
        lambda_=boto3.client("lambda", config=_LAMBDA_CONFIG),
    )


# ----------------------------------------------------------------------------- the event


def parse_event(event: dict[str, Any]) -> CodeDeployLifecycleHookEvent:
    hook = CodeDeployLifecycleHookEvent(event if isinstance(event, dict) else {})
    for key in ("DeploymentId", "LifecycleEventHookExecutionId"):
        if not isinstance(hook.get(key), str) or not hook.get(key):
            raise ValueError(f"not a CodeDeploy lifecycle hook event: '{key}' is missing")
    return hook


# ----------------------------------------------------------------------------- the AppSpec


def _names_match(appspec_name: object, function_name: str) -> bool:
    if not isinstance(appspec_name, str):
        return False
    # The AppSpec may name the function, or give its (possibly qualified) ARN.
    return (
        appspec_name == function_name
        or re.search(rf":function:{re.escape(function_name)}(:|$)", appspec_name) is not None
    )


def target_version_from_appspec(content: str, function_name: str) -> str:
    """TargetVersion of the function in an AppSpec (JSON, or the YAML form; no YAML library)."""
    try:
        appspec = json.loads(content)
    except json.JSONDecodeError:
        appspec = None
    if isinstance(appspec, dict):
        candidates: list[tuple[object, object]] = []
        for resource in appspec.get("Resources") or []:
            if not isinstance(resource, dict):
                continue
            for spec in resource.values():
                properties = spec.get("Properties") if isinstance(spec, dict) else None
                if isinstance(properties, dict):
                    candidates.append((properties.get("Name"), properties.get("TargetVersion")))
        matching = [version for name, version in candidates if _names_match(name, function_name)]
        if not matching and len(candidates) == 1:
            matching = [candidates[0][1]]
        if len(matching) != 1:
            raise HookTestError(f"the AppSpec has no single Lambda resource for {function_name}")
        version = str(matching[0]) if isinstance(matching[0], (str, int)) else ""
        if not version.isdigit():
            raise HookTestError(f"the AppSpec's TargetVersion {matching[0]!r} is not a version number")
        return version
    versions = set(TARGET_VERSION_RE.findall(content))
    if len(versions) != 1:
        raise HookTestError(f"found {len(versions)} TargetVersion values in the AppSpec, expected exactly one")
    return versions.pop()


def appspec_content(deployment_info: Mapping[str, Any]) -> str:
    revision = deployment_info.get("revision") or {}
    for key in ("appSpecContent", "string"):
        content = (revision.get(key) or {}).get("content")
        if isinstance(content, str) and content.strip():
            return content
    raise HookTestError(
        f"the deployment's revision ({revision.get('revisionType')}) carries no AppSpec content "
        "to read TargetVersion from"
    )


# ----------------------------------------------------------------------------- the test


@dataclass(frozen=True)
class CheckResult:
    passed: bool
    reason: str
    status_code: int | None = None
    executed_version: str | None = None


def _snippet(payload: bytes) -> str:
    text = payload.decode("utf-8", errors="replace")
    return text if len(text) <= MAX_LOGGED_PAYLOAD else text[:MAX_LOGGED_PAYLOAD] + "..."


def evaluate(function_error: str | None, payload: bytes, expect_status_below: int) -> CheckResult:
    if function_error:
        return CheckResult(passed=False, reason=f"function error ({function_error}): {_snippet(payload)}")
    try:
        body = json.loads(payload) if payload else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict) or "statusCode" not in body:
        return CheckResult(passed=True, reason="invoked without a function error")
    raw_status = body["statusCode"]
    if isinstance(raw_status, bool) or not isinstance(raw_status, (int, str)) or not str(raw_status).isdigit():
        return CheckResult(passed=False, reason=f"statusCode {raw_status!r} is not a number")
    status = int(raw_status)
    if status >= expect_status_below:
        return CheckResult(
            passed=False,
            reason=f"statusCode {status} is not below {expect_status_below}: {_snippet(payload)}",
            status_code=status,
        )
    return CheckResult(passed=True, reason=f"statusCode {status}", status_code=status)


def invoke_and_evaluate(lambda_: Any, qualified_name: str, settings: HookSettings) -> CheckResult:
    response = lambda_.invoke(
        FunctionName=qualified_name,
        InvocationType="RequestResponse",
        Payload=settings.test_payload,
    )
    stream = response.get("Payload")
    payload: bytes = stream.read() if stream is not None else b""
    result = evaluate(response.get("FunctionError"), payload, settings.expect_status_below)
    return dataclasses.replace(result, executed_version=response.get("ExecutedVersion"))


def run_test(
    hook: CodeDeployLifecycleHookEvent, settings: HookSettings, clients: HookClients
) -> tuple[str, CheckResult]:
    """Returns (what was invoked, result)."""
    if settings.stage == "pre":
        info = clients.codedeploy.get_deployment(deploymentId=hook.deployment_id)["deploymentInfo"]
        version = target_version_from_appspec(appspec_content(info), settings.function_name)
        qualifier = version
    else:
        qualifier = settings.alias
    qualified_name = f"{settings.function_name}:{qualifier}"
    return qualified_name, invoke_and_evaluate(clients.lambda_, qualified_name, settings)


# ----------------------------------------------------------------------------- entry points


def process_event(event: dict[str, Any], *, clients: HookClients, settings_loader: Callable[[], HookSettings]) -> str:
    hook = parse_event(event)  # without the ids nothing can be reported: let it raise
    fields: dict[str, Any] = {
        "deployment_id": hook.deployment_id,
        "execution_id": hook.lifecycle_event_hook_execution_id,
    }
    status = FAILED
    try:
        settings = settings_loader()
        fields["stage"] = settings.stage
        invoked, result = run_test(hook, settings, clients)
        fields.update(
            invoked=invoked,
            version=result.executed_version or invoked.rsplit(":", 1)[1],
            status_code=result.status_code,
        )
        status = SUCCEEDED if result.passed else FAILED
        log = logger.info if result.passed else logger.warning
        log("traffic hook test ran", result=status, reason=result.reason, **fields)
    except Exception:
        logger.exception("traffic hook test could not run", result=FAILED, **fields)
        status = FAILED
    clients.codedeploy.put_lifecycle_event_hook_execution_status(
        deploymentId=hook.deployment_id,
        lifecycleEventHookExecutionId=hook.lifecycle_event_hook_execution_id,
        status=status,
    )
    logger.info("traffic hook status reported", result=status, **fields)
    return status


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    return {"status": process_event(event, clients=get_clients(), settings_loader=get_settings)}
