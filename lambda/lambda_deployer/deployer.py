"""CodePipeline job worker: deploy a Lambda function version through CodeDeploy.

CodePipeline has no CodeDeploy action for Lambda, so a Lambda invoke action calls this
function (tooling account). The first invocation of a job publishes the artifact as a new
version of the service function in the target account and starts a CodeDeploy deployment
that shifts the alias from the current to the new version. It then hands CodePipeline a
continuation token; every following invocation polls the deployment for a while and either
ends the job (success or failure) or hands the token back again.

Handler: ``deployer.handler``. Environment (optional): POLL_INTERVAL_SECONDS (default 15),
WAIT_BUDGET_SECONDS (default 240). The artifact is read with the job's artifact credentials.
Never log the event: it carries those credentials.
"""

from __future__ import annotations

import functools
import io
import json
import os
import re
import time
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeAlias

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import CodePipelineJobEvent
from aws_lambda_powertools.utilities.data_classes.code_pipeline_job_event import CodePipelineS3Location
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or "lambda_deployer")

# CodePipeline limits (PutJobFailureResult / PutJobSuccessResult).
MAX_FAILURE_MESSAGE = 5000
MAX_SUMMARY = 2048
MAX_EXTERNAL_EXECUTION_ID = 1500
MAX_CONTINUATION_TOKEN = 2048
# Lambda limit for a deployment package uploaded in the request (ZipFile).
MAX_ZIP_BYTES = 50 * 1024 * 1024
# Time kept back from the Lambda timeout to report the result to CodePipeline.
REPORT_MARGIN_SECONDS = 20.0
MAX_WAIT_BUDGET_SECONDS = 900.0
ASSUMED_ROLE_SECONDS = 900

DEPLOYMENT_SUCCEEDED = "Succeeded"
DEPLOYMENT_ENDED_BADLY = frozenset({"Failed", "Stopped"})
DEPLOYMENT_RUNNING = frozenset({"Created", "Queued", "InProgress", "Baking", "Ready"})

FUNCTION_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
ALIAS_RE = re.compile(r"^(?!\d+$)[A-Za-z0-9_-]{1,128}$")
ROLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")
REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
CODEDEPLOY_NAME_RE = re.compile(r"^[\x21-\x7e][\x20-\x7e]{0,99}$")  # 1-100 printable ASCII
ENVIRONMENT_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
VERSION_RE = re.compile(r"^\d+$")
SESSION_NAME_INVALID = re.compile(r"[^\w+=,.@-]")


# ----------------------------------------------------------------------------- errors


class ConfigurationError(ValueError):
    """The job or the function is misconfigured (UserParameters, environment)."""


class DeploymentError(RuntimeError):
    """The deployment cannot go on; the message is shown in CodePipeline."""


# ----------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Settings:
    poll_interval_seconds: float = 15.0
    wait_budget_seconds: float = 240.0
    # Publishing a version takes seconds; no need to wait a whole deployment poll interval.
    update_poll_interval_seconds: float = 2.0


def _positive_seconds(environ: Mapping[str, str], name: str, default: float, maximum: float) -> float:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"environment variable {name}={raw!r} is not a number") from None
    if not 0 < value < maximum:
        raise ConfigurationError(f"environment variable {name}={raw!r} must be > 0 and < {maximum:g}")
    return value


def load_settings(environ: Mapping[str, str]) -> Settings:
    """The only place that reads the environment."""
    return Settings(
        poll_interval_seconds=_positive_seconds(environ, "POLL_INTERVAL_SECONDS", 15.0, MAX_WAIT_BUDGET_SECONDS),
        wait_budget_seconds=_positive_seconds(environ, "WAIT_BUDGET_SECONDS", 240.0, MAX_WAIT_BUDGET_SECONDS),
    )


@functools.cache
def get_settings() -> Settings:
    return load_settings(os.environ)


# ----------------------------------------------------------------------------- the job


@dataclass(frozen=True)
class UserParameters:
    environment: str
    function_name: str
    alias: str
    application: str
    deployment_group: str
    deployer_role_arn: str
    region: str
    pre_traffic_hook: str | None = None
    post_traffic_hook: str | None = None


@dataclass(frozen=True)
class DeploymentState:
    """What the continuation token carries from one invocation to the next."""

    deployment_id: str
    target_version: str
    current_version: str

    def to_token(self) -> str:
        return json.dumps(
            {
                "deployment_id": self.deployment_id,
                "target_version": self.target_version,
                "current_version": self.current_version,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_token(cls, token: str) -> DeploymentState:
        try:
            data = json.loads(token)
        except json.JSONDecodeError:
            data = None
        if not isinstance(data, dict):
            raise ConfigurationError("continuationToken is not a token issued by this deployer")
        values: dict[str, str] = {}
        for name in ("deployment_id", "target_version", "current_version"):
            value = data.get(name)
            if not isinstance(value, str) or not value:
                raise ConfigurationError(f"continuationToken: field '{name}' is missing or not a string")
            values[name] = value
        return cls(**values)


@dataclass(frozen=True)
class Job:
    event: CodePipelineJobEvent
    id: str
    params: UserParameters
    continuation_token: str | None


_PARAM_RULES: dict[str, tuple[bool, re.Pattern[str], str]] = {
    # name: (required, pattern, what it must be)
    "environment": (True, ENVIRONMENT_RE, "1-64 letters, digits, '-' or '_'"),
    "function_name": (True, FUNCTION_NAME_RE, "a Lambda function name (not an ARN)"),
    "alias": (False, ALIAS_RE, "a Lambda alias name"),
    "application": (True, CODEDEPLOY_NAME_RE, "a CodeDeploy application name"),
    "deployment_group": (True, CODEDEPLOY_NAME_RE, "a CodeDeploy deployment group name"),
    "deployer_role_arn": (True, ROLE_ARN_RE, "an IAM role ARN"),
    "region": (True, REGION_RE, "an AWS region such as eu-west-1"),
    "pre_traffic_hook": (False, FUNCTION_NAME_RE, "a Lambda function name"),
    "post_traffic_hook": (False, FUNCTION_NAME_RE, "a Lambda function name"),
}


def parse_user_parameters(raw: object) -> UserParameters:
    if not isinstance(raw, str) or not raw.strip():
        raise ConfigurationError("UserParameters is missing: expected a JSON object")
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"UserParameters is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigurationError("UserParameters must be a JSON object")
    unknown = sorted(set(data) - set(_PARAM_RULES))
    if unknown:
        raise ConfigurationError(f"UserParameters: unknown field '{unknown[0]}'")
    values: dict[str, str] = {}
    for name, (required, pattern, meaning) in _PARAM_RULES.items():
        value = data.get(name)
        if value is None:
            if required:
                raise ConfigurationError(f"UserParameters: field '{name}' is missing")
            continue
        if not isinstance(value, str) or not pattern.match(value):
            raise ConfigurationError(f"UserParameters: field '{name}' is invalid: expected {meaning}, got {value!r}")
        values[name] = value
    values.setdefault("alias", "live")
    return UserParameters(**values)


def job_id_of(event: dict[str, Any]) -> str:
    """The job id, without which nothing can be reported: a bad event is an error."""
    try:
        job_id = CodePipelineJobEvent(event).get_id
    except (KeyError, TypeError):
        job_id = None
    if not isinstance(job_id, str) or not job_id:
        raise ValueError("not a CodePipeline job event: 'CodePipeline.job.id' is missing")
    return job_id


def parse_job(event: dict[str, Any]) -> Job:
    job = CodePipelineJobEvent(event)
    try:
        params = parse_user_parameters(job.user_parameters)
    except (KeyError, TypeError):
        raise ConfigurationError("UserParameters is missing: no data.actionConfiguration.configuration") from None
    token = job.data.continuation_token
    return Job(event=job, id=job.get_id, params=params, continuation_token=token or None)


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Success:
    summary: str
    percent_complete: int | None = None
    continuation_token: str | None = None
    external_execution_id: str | None = None


@dataclass(frozen=True)
class Failure:
    message: str
    failure_type: str = "JobFailed"
    external_execution_id: str | None = None


Outcome: TypeAlias = Success | Failure


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def report(codepipeline: Any, job_id: str, outcome: Outcome) -> None:
    """Tell CodePipeline. Errors here propagate: the job cannot be ended any other way."""
    if isinstance(outcome, Success):
        details: dict[str, Any] = {"summary": truncate(outcome.summary, MAX_SUMMARY)}
        if outcome.percent_complete is not None:
            details["percentComplete"] = max(0, min(100, outcome.percent_complete))
        if outcome.external_execution_id:
            details["externalExecutionId"] = truncate(outcome.external_execution_id, MAX_EXTERNAL_EXECUTION_ID)
        kwargs: dict[str, Any] = {"jobId": job_id, "executionDetails": details}
        if outcome.continuation_token:
            kwargs["continuationToken"] = outcome.continuation_token
        codepipeline.put_job_success_result(**kwargs)
    else:
        failure: dict[str, Any] = {
            "type": outcome.failure_type,
            "message": truncate(outcome.message, MAX_FAILURE_MESSAGE),
        }
        if outcome.external_execution_id:
            failure["externalExecutionId"] = truncate(outcome.external_execution_id, MAX_EXTERNAL_EXECUTION_ID)
        codepipeline.put_job_failure_result(jobId=job_id, failureDetails=failure)


# ----------------------------------------------------------------------------- AWS access


@dataclass(frozen=True)
class Credentials:
    access_key_id: str = field(repr=False)
    secret_access_key: str = field(repr=False)
    session_token: str = field(repr=False)


@dataclass(frozen=True)
class TargetClients:
    lambda_: Any
    codedeploy: Any


TargetClientFactory = Callable[[Credentials, str], TargetClients]


@dataclass(frozen=True)
class Aws:
    """Clients with the function's own (tooling account) credentials, and factories for the
    artifact's S3 client and the target-account clients. Tests build one around stubbed clients."""

    sts: Any
    codepipeline: Any
    artifact_s3: Callable[[Credentials], Any]
    target_clients: TargetClientFactory


_CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=10, read_timeout=60)


def _client(service: str, credentials: Credentials, region: str | None = None) -> Any:
    return boto3.client(
        service,
        region_name=region,
        config=_CLIENT_CONFIG,
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key,
        aws_session_token=credentials.session_token,
    )


def _boto_target_clients(credentials: Credentials, region: str) -> TargetClients:
    return TargetClients(
        lambda_=_client("lambda", credentials, region), codedeploy=_client("codedeploy", credentials, region)
    )


@functools.cache
def get_aws() -> Aws:
    return Aws(
        sts=boto3.client("sts", config=_CLIENT_CONFIG),
        codepipeline=boto3.client("codepipeline", config=_CLIENT_CONFIG),
        artifact_s3=functools.partial(_client, "s3"),
        target_clients=_boto_target_clients,
    )


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def role_session_name(job_id: str) -> str:
    """2-64 characters of [\\w+=,.@-]."""
    return SESSION_NAME_INVALID.sub("-", f"deployer-{job_id}")[:64]


def assume_target_role(aws: Aws, job: Job) -> TargetClients:
    response = aws.sts.assume_role(
        RoleArn=job.params.deployer_role_arn,
        RoleSessionName=role_session_name(job.id),
        DurationSeconds=ASSUMED_ROLE_SECONDS,
    )
    raw = response["Credentials"]
    credentials = Credentials(
        access_key_id=raw["AccessKeyId"],
        secret_access_key=raw["SecretAccessKey"],
        session_token=raw["SessionToken"],
    )
    return aws.target_clients(credentials, job.params.region)


# ----------------------------------------------------------------------------- first invocation


def input_artifact(job: Job) -> tuple[CodePipelineS3Location, Credentials]:
    """Where the deployment package is, and the credentials CodePipeline gives this job to read it."""
    try:
        data = job.event.data
        location = data.input_artifacts[0].location.s3_location
        raw = data.artifact_credentials
        credentials = Credentials(raw.access_key_id, raw.secret_access_key, raw.session_token)
        if location.bucket_name and location.key:
            return location, credentials
    except (KeyError, IndexError, TypeError):
        pass
    raise ConfigurationError(
        "the action has no input artifact (inputArtifacts[0].location.s3Location, artifactCredentials)"
    )


def download_package(s3: Any, artifact: CodePipelineS3Location) -> bytes:
    body = s3.get_object(Bucket=artifact.bucket_name, Key=artifact.key)["Body"]
    try:
        package: bytes = body.read()
    finally:
        body.close()
    if len(package) > MAX_ZIP_BYTES:
        raise DeploymentError(
            f"artifact s3://{artifact.bucket_name}/{artifact.key} is {len(package)} bytes; "
            f"a package uploaded through the Lambda API may be at most {MAX_ZIP_BYTES} bytes"
        )
    try:
        with zipfile.ZipFile(io.BytesIO(package)) as archive:
            names = [name for name in archive.namelist() if not name.endswith("/")]
    except zipfile.BadZipFile:
        raise DeploymentError(f"artifact s3://{artifact.bucket_name}/{artifact.key} is not a zip file") from None
    if len(names) == 1 and names[0].lower().endswith(".zip"):
        raise DeploymentError(
            f"artifact s3://{artifact.bucket_name}/{artifact.key} holds only '{names[0]}': the input artifact must be "
            "the deployment package itself (the function's files at the root), not a zip inside a zip"
        )
    return package


def wait_until_version_ready(
    lambda_: Any, function_name: str, version: str, settings: Settings, clock: Clock, deadline: float
) -> None:
    while True:
        config = lambda_.get_function_configuration(FunctionName=function_name, Qualifier=version)
        state, update = config.get("State"), config.get("LastUpdateStatus")
        if state == "Failed" or update == "Failed":
            reason = config.get("StateReason") or config.get("LastUpdateStatusReason") or "no reason given"
            code = config.get("StateReasonCode") or config.get("LastUpdateStatusReasonCode")
            raise DeploymentError(
                f"version {version} of {function_name} failed to become ready"
                + (f" ({code})" if code else "")
                + f": {reason}"
            )
        if state == "Active" and update in (None, "Successful"):
            return
        if clock.monotonic() + settings.update_poll_interval_seconds >= deadline:
            raise DeploymentError(
                f"version {version} of {function_name} was not ready in time (State={state}, LastUpdateStatus={update})"
            )
        clock.sleep(settings.update_poll_interval_seconds)


def build_appspec(params: UserParameters, current_version: str, target_version: str) -> str:
    hooks = []
    if params.pre_traffic_hook:
        hooks.append({"BeforeAllowTraffic": params.pre_traffic_hook})
    if params.post_traffic_hook:
        hooks.append({"AfterAllowTraffic": params.post_traffic_hook})
    appspec: dict[str, Any] = {
        "version": 0.0,
        "Resources": [
            {
                params.function_name: {
                    "Type": "AWS::Lambda::Function",
                    "Properties": {
                        "Name": params.function_name,
                        "Alias": params.alias,
                        "CurrentVersion": current_version,
                        "TargetVersion": target_version,
                    },
                }
            }
        ],
    }
    if hooks:
        appspec["Hooks"] = hooks
    return json.dumps(appspec)


def start_deployment(job: Job, aws: Aws, settings: Settings, clock: Clock, deadline: float) -> Outcome:
    params = job.params
    artifact, credentials = input_artifact(job)
    package = download_package(aws.artifact_s3(credentials), artifact)
    logger.info("artifact downloaded", job_id=job.id, bytes=len(package), key=artifact.key)

    target = assume_target_role(aws, job)
    current = target.lambda_.get_alias(FunctionName=params.function_name, Name=params.alias)["FunctionVersion"]
    if not VERSION_RE.match(current):
        raise DeploymentError(
            f"alias {params.alias} of {params.function_name} points to {current}; "
            "CodeDeploy needs it to point to a published version"
        )
    published = target.lambda_.update_function_code(FunctionName=params.function_name, ZipFile=package, Publish=True)
    new_version = published["Version"]
    logger.info(
        "version published",
        job_id=job.id,
        environment=params.environment,
        function=params.function_name,
        current_version=current,
        new_version=new_version,
        code_sha256=published.get("CodeSha256"),
    )
    wait_until_version_ready(target.lambda_, params.function_name, new_version, settings, clock, deadline)

    if new_version == current:
        return Success(
            summary=f"No change: {params.function_name}:{params.alias} already runs version {current} "
            f"with this code ({params.environment})",
            percent_complete=100,
        )

    description = truncate(
        f"CodePipeline job {job.id}: {params.function_name} {params.alias} {current} -> {new_version}", 500
    )
    appspec = build_appspec(params, current, new_version)
    deployment_id = target.codedeploy.create_deployment(
        applicationName=params.application,
        deploymentGroupName=params.deployment_group,
        revision={"revisionType": "AppSpecContent", "appSpecContent": {"content": appspec}},
        description=description,
    )["deploymentId"]
    logger.info(
        "deployment created",
        job_id=job.id,
        environment=params.environment,
        deployment_id=deployment_id,
        current_version=current,
        target_version=new_version,
    )
    state = DeploymentState(deployment_id=deployment_id, target_version=new_version, current_version=current)
    return Success(
        summary=f"CodeDeploy deployment {deployment_id} started: {params.function_name}:{params.alias} "
        f"{current} -> {new_version} ({params.environment})",
        percent_complete=0,
        continuation_token=state.to_token(),
        external_execution_id=deployment_id,
    )


# ----------------------------------------------------------------------------- continuation


def percent_complete(info: Mapping[str, Any]) -> int | None:
    overview = info.get("deploymentOverview")
    if not isinstance(overview, Mapping):
        return None
    keys = ("Pending", "InProgress", "Succeeded", "Failed", "Skipped", "Ready")
    counts = [int(overview.get(key) or 0) for key in keys]
    total = sum(counts)
    if total == 0:
        return None
    return int(100 * (counts[2] + counts[4]) / total)


def failure_message(deployment_id: str, info: Mapping[str, Any]) -> str:
    status = info.get("status")
    message = f"CodeDeploy deployment {deployment_id} {status}"
    error = info.get("errorInformation") or {}
    if error.get("code") or error.get("message"):
        message += f" ({error.get('code', 'no code')}): {error.get('message', 'no message')}"
    rollback = info.get("rollbackInfo")
    if rollback:
        message += "; rolled back"
        if rollback.get("rollbackDeploymentId"):
            message += f" by deployment {rollback['rollbackDeploymentId']}"
        if rollback.get("rollbackMessage"):
            message += f": {rollback['rollbackMessage']}"
    return message


def follow_deployment(job: Job, token: str, aws: Aws, settings: Settings, clock: Clock, deadline: float) -> Outcome:
    state = DeploymentState.from_token(token)
    params = job.params
    target = assume_target_role(aws, job)
    while True:
        info = target.codedeploy.get_deployment(deploymentId=state.deployment_id)["deploymentInfo"]
        status = info.get("status")
        fields = {"job_id": job.id, "deployment_id": state.deployment_id, "status": status}
        if status == DEPLOYMENT_SUCCEEDED:
            logger.info("deployment succeeded", **fields)
            return Success(
                summary=f"CodeDeploy deployment {state.deployment_id} succeeded: {params.function_name}:"
                f"{params.alias} now runs version {state.target_version} ({params.environment})",
                percent_complete=100,
                external_execution_id=state.deployment_id,
            )
        if status in DEPLOYMENT_ENDED_BADLY:
            message = failure_message(state.deployment_id, info)
            logger.warning("deployment did not succeed", reason=message, **fields)
            return Failure(message=message, external_execution_id=state.deployment_id)
        if status not in DEPLOYMENT_RUNNING:
            logger.warning("unknown deployment status, still waiting", **fields)
        if clock.monotonic() + settings.poll_interval_seconds >= deadline:
            logger.info("deployment still running, handing back the continuation token", **fields)
            return Success(
                summary=f"CodeDeploy deployment {state.deployment_id} {status}: {params.function_name}:"
                f"{params.alias} {state.current_version} -> {state.target_version} ({params.environment})",
                percent_complete=percent_complete(info),
                continuation_token=token,
                external_execution_id=state.deployment_id,
            )
        clock.sleep(settings.poll_interval_seconds)


# ----------------------------------------------------------------------------- entry points


def compute_deadline(now: float, settings: Settings, remaining_seconds: float | None) -> float:
    budget = settings.wait_budget_seconds
    if remaining_seconds is not None:
        budget = min(budget, remaining_seconds - REPORT_MARGIN_SECONDS)
    return now + max(budget, 0.0)


def describe_error(exc: BaseException) -> str:
    # botocore's messages name the operation and the error code and carry no credentials.
    return f"{type(exc).__name__}: {exc}"


def process_event(
    event: dict[str, Any],
    *,
    aws: Aws,
    clock: Clock,
    settings_loader: Callable[[], Settings],
    remaining_seconds: float | None,
) -> Outcome:
    job_id = job_id_of(event)
    outcome: Outcome
    try:
        settings = settings_loader()
        job = parse_job(event)
        deadline = compute_deadline(clock.monotonic(), settings, remaining_seconds)
        logger.info(
            "job received",
            job_id=job_id,
            environment=job.params.environment,
            function=job.params.function_name,
            continuation=job.continuation_token is not None,
        )
        if job.continuation_token is None:
            outcome = start_deployment(job, aws, settings, clock, deadline)
        else:
            outcome = follow_deployment(job, job.continuation_token, aws, settings, clock, deadline)
    except ConfigurationError as exc:
        logger.error("job misconfigured", job_id=job_id, error=str(exc))
        outcome = Failure(message=str(exc), failure_type="ConfigurationError")
    except Exception as exc:
        logger.exception("job failed", job_id=job_id)
        outcome = Failure(message=describe_error(exc))
    report(aws.codepipeline, job_id, outcome)
    logger.info(
        "job result reported",
        job_id=job_id,
        result=type(outcome).__name__,
        continuation=isinstance(outcome, Success) and outcome.continuation_token is not None,
    )
    return outcome


# log_event=False even if POWERTOOLS_LOGGER_LOG_EVENT is set: the event carries the artifact credentials.
@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: LambdaContext) -> None:
    process_event(
        event,
        aws=get_aws(),
        clock=SystemClock(),
        settings_loader=get_settings,
        remaining_seconds=context.get_remaining_time_in_millis() / 1000,
    )
