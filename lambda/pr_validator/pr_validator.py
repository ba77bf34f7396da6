"""Pull-request validator: PR opened or updated -> its build; PR build finished -> comment + approval.

Invoked asynchronously by EventBridge with two kinds of events:

- "CodeCommit Pull Request State Change" (pullRequestCreated, pullRequestSourceBranchUpdated) of
  any platform repository, from the platform's one pull-request rule: start the repository's
  pull-request project, "<repository><PROJECT_SUFFIX>", on the source commit, with the overrides
  PULL_REQUEST_ID, REVISION_ID, SOURCE_COMMIT, DESTINATION_COMMIT and REPOSITORY_NAME and an
  idempotency token derived from them (a redelivered event starts no second build). A repository
  without a pull-request project (validation turned off) is ignored.
- "CodeBuild Build State Change" of the "<platform>-<service>-pr" projects. For a final build:

1. get_pull_request: stop ("outdated revision") if the PR is closed or has a newer revision.
2. Comment once per build: skip when a comment carrying the build's hidden marker exists;
   otherwise post with a deterministic clientRequestToken (covers concurrent duplicates).
3. APPROVE (SUCCEEDED) or REVOKE (any other final status) the built revision as the
   validator role. REVOKE is skipped when the revision has no approval at all.

Malformed events, invalid configuration and unexpected API errors raise, so the
asynchronous invocation's failure destination (dead-letter queue) receives the event.
"""

import hashlib
import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes import EventBridgeEvent
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config as BotocoreConfig
from botocore.exceptions import ClientError

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME") or "pr_validator")


# --- Configuration: every environment variable is read and validated here ------------------------------------------

DEFAULT_PROJECT_SUFFIX = "-pr"
DEFAULT_COMMENT_MARKER = "pr-validator"

# CodeBuild project names allow letters, digits, '-' and '_'.
_PROJECT_SUFFIX_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,100}")
# The marker goes inside an HTML comment: no spaces, no '--', no '>'.
_COMMENT_MARKER_PATTERN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._]|-(?!-)){0,63}")


class ConfigError(ValueError):
    """An environment variable has an invalid value."""


@dataclass(frozen=True)
class Config:
    """Validated settings.

    project_suffix: only builds of CodeBuild projects whose name ends with it are handled.
    comment_marker: prefix of the hidden marker that identifies this function's comments.
    """

    project_suffix: str = DEFAULT_PROJECT_SUFFIX
    comment_marker: str = DEFAULT_COMMENT_MARKER


def load_config(environ: Mapping[str, str]) -> Config:
    """Builds the :class:`Config` from ``environ``; unset or empty variables take their defaults."""
    project_suffix = environ.get("PROJECT_SUFFIX") or DEFAULT_PROJECT_SUFFIX
    if not _PROJECT_SUFFIX_PATTERN.fullmatch(project_suffix):
        raise ConfigError(f"PROJECT_SUFFIX must match {_PROJECT_SUFFIX_PATTERN.pattern}, got {project_suffix!r}")
    comment_marker = environ.get("COMMENT_MARKER") or DEFAULT_COMMENT_MARKER
    if not _COMMENT_MARKER_PATTERN.fullmatch(comment_marker):
        raise ConfigError(
            f"COMMENT_MARKER must be 1-64 letters, digits, '.', '_' or single '-', got {comment_marker!r}"
        )
    return Config(project_suffix=project_suffix, comment_marker=comment_marker)


# --- Event parsing -------------------------------------------------------------------------------------------------

DETAIL_TYPE = "CodeBuild Build State Change"
SUCCEEDED = "SUCCEEDED"
FINAL_STATUSES = frozenset({SUCCEEDED, "FAILED", "FAULT", "STOPPED", "TIMED_OUT"})

PULL_REQUEST_ID = "PULL_REQUEST_ID"
REVISION_ID = "REVISION_ID"
SOURCE_COMMIT = "SOURCE_COMMIT"
DESTINATION_COMMIT = "DESTINATION_COMMIT"
REPOSITORY_NAME = "REPOSITORY_NAME"
OVERRIDE_NAMES = (PULL_REQUEST_ID, REVISION_ID, SOURCE_COMMIT, DESTINATION_COMMIT, REPOSITORY_NAME)

_BUILD_ARN = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):codebuild:(?P<region>[a-z0-9-]+):(?P<account>\d{12})"
    r":build/(?P<project>[A-Za-z0-9][A-Za-z0-9_-]*):(?P<uuid>[A-Za-z0-9-]+)"
)


class MalformedEventError(ValueError):
    """The event is not a well-formed CodeBuild build state change or pull-request state change."""


# A boto3 CodeBuild client (or anything with the same methods).
CodeBuildClient = Any


@dataclass(frozen=True)
class Phase:
    phase_type: str
    start_time: str | None
    end_time: str | None
    duration_seconds: int | None


@dataclass(frozen=True)
class BuildEvent:
    """The parts of a build state change event this function uses."""

    build_arn: str
    partition: str
    region: str
    account: str
    project_name: str
    build_uuid: str
    status: str
    build_number: int | None = None
    start_time: str | None = None
    phases: tuple[Phase, ...] = ()
    logs_link: str | None = None
    environment: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def succeeded(self) -> bool:
        return self.status == SUCCEEDED


@dataclass(frozen=True)
class PullRequestBuild:
    """The environment-variable overrides the pull-request rule started the build with."""

    pull_request_id: str
    revision_id: str
    source_commit: str
    destination_commit: str
    repository_name: str


def _required_str(container: Mapping[str, Any], key: str, where: str) -> str:
    value = container.get(key)
    if not isinstance(value, str) or not value:
        raise MalformedEventError(f"{where}.{key} is missing or not a non-empty string")
    return value


def _optional_str(container: Mapping[str, Any], key: str) -> str | None:
    value = container.get(key)
    return value if isinstance(value, str) and value else None


_INTEGRAL_TEXT = re.compile(r"[0-9]{1,18}(?:\.0*)?")


def _optional_int(container: Mapping[str, Any], key: str) -> int | None:
    """An integer field; CodeBuild may write it as a JSON float (``12.0``) or a string (``"12"``).

    None when absent or not a whole number (``12.5``, ``"abc"``, ``true``, infinity, NaN).
    """
    value = container.get(key)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str) and _INTEGRAL_TEXT.fullmatch(value.strip()):
        return int(value.strip().split(".", 1)[0])
    return None


def _parse_phases(raw: object) -> tuple[Phase, ...]:
    if not isinstance(raw, list):
        return ()
    return tuple(
        Phase(
            phase_type=_optional_str(item, "phase-type") or "UNKNOWN",
            start_time=_optional_str(item, "start-time"),
            end_time=_optional_str(item, "end-time"),
            duration_seconds=_optional_int(item, "duration-in-seconds"),
        )
        for item in raw
        if isinstance(item, dict)
    )


def _parse_environment(info: Mapping[str, Any]) -> dict[str, str]:
    environment = info.get("environment", {})
    if not isinstance(environment, dict):
        raise MalformedEventError("detail.additional-information.environment is not an object")
    variables = environment.get("environment-variables", [])
    if not isinstance(variables, list):
        raise MalformedEventError("environment.environment-variables is not a list")
    result: dict[str, str] = {}
    for variable in variables:
        if not isinstance(variable, dict) or not isinstance(variable.get("name"), str):
            raise MalformedEventError("environment.environment-variables has an entry without a name")
        # PARAMETER_STORE / SECRETS_MANAGER values are references, not the value: skip them.
        if variable.get("type", "PLAINTEXT") != "PLAINTEXT":
            continue
        value = variable.get("value")
        if isinstance(value, str):
            result[variable["name"]] = value
    return result


def parse_build_event(raw: object) -> BuildEvent:
    """Parses an EventBridge "CodeBuild Build State Change" event."""
    if not isinstance(raw, dict):
        raise MalformedEventError("event is not an object")
    event = EventBridgeEvent(raw)
    if event.get("detail-type", DETAIL_TYPE) != DETAIL_TYPE:
        raise MalformedEventError(f"detail-type is {event.detail_type!r}, expected {DETAIL_TYPE!r}")
    if not isinstance(event.get("detail"), dict):
        raise MalformedEventError("detail is missing or not an object")
    detail = event.detail

    status = _required_str(detail, "build-status", "detail")
    project_name = _required_str(detail, "project-name", "detail")
    build_arn = _required_str(detail, "build-id", "detail")
    match = _BUILD_ARN.fullmatch(build_arn)
    if match is None:
        raise MalformedEventError(f"detail.build-id is not a CodeBuild build ARN: {build_arn!r}")
    if match["project"] != project_name:
        raise MalformedEventError(f"detail.build-id {build_arn!r} is not a build of project {project_name!r}")

    info = detail.get("additional-information", {})
    if not isinstance(info, dict):
        raise MalformedEventError("detail.additional-information is not an object")
    logs = info.get("logs")

    return BuildEvent(
        build_arn=build_arn,
        partition=match["partition"],
        region=match["region"],
        account=match["account"],
        project_name=project_name,
        build_uuid=match["uuid"],
        status=status,
        build_number=_optional_int(info, "build-number"),
        start_time=_optional_str(info, "build-start-time"),
        phases=_parse_phases(info.get("phases")),
        logs_link=_optional_str(logs, "deep-link") if isinstance(logs, dict) else None,
        environment=_parse_environment(info),
    )


def pull_request_of(build: BuildEvent) -> PullRequestBuild | None:
    """The pull request a build was started for; None when the build has no PULL_REQUEST_ID.

    A build with PULL_REQUEST_ID but without the other overrides was started by a broken
    rule: that raises, so the event lands in the dead-letter queue.
    """
    if not build.environment.get(PULL_REQUEST_ID):
        return None
    missing = [name for name in OVERRIDE_NAMES if not build.environment.get(name)]
    if missing:
        raise MalformedEventError(f"build {build.build_arn} has PULL_REQUEST_ID but lacks {', '.join(missing)}")
    env = build.environment
    return PullRequestBuild(
        pull_request_id=env[PULL_REQUEST_ID],
        revision_id=env[REVISION_ID],
        source_commit=env[SOURCE_COMMIT],
        destination_commit=env[DESTINATION_COMMIT],
        repository_name=env[REPOSITORY_NAME],
    )


# --- Comment content, hidden marker, idempotency token (pure functions of the event) -------------------------------

# CodeBuild event times look like "Sep 1, 2017 4:12:29 PM" (no time zone; only differences are used).
_CODEBUILD_TIME_FORMAT = "%b %d, %Y %I:%M:%S %p"
_CONSOLE_DOMAINS = {
    "aws": "console.aws.amazon.com",
    "aws-cn": "console.amazonaws.cn",
    "aws-us-gov": "console.amazonaws-us-gov.com",
}


def parse_codebuild_time(text: str | None) -> datetime | None:
    """Parses a CodeBuild event timestamp (or ISO 8601) as naive UTC; None when absent or unknown."""
    if not text:
        return None
    try:
        return datetime.strptime(text.strip(), _CODEBUILD_TIME_FORMAT)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


def build_duration_seconds(build: BuildEvent) -> int | None:
    """The build's duration: the sum of its phases' duration-in-seconds (negative ones ignored).

    Only when no phase has a duration, the wall-clock time from build-start-time to the latest
    phase end (or the COMPLETED phase's start); None when neither can be computed.
    """
    durations = [
        phase.duration_seconds
        for phase in build.phases
        if phase.duration_seconds is not None and phase.duration_seconds >= 0
    ]
    if durations:
        return sum(durations)
    start = parse_codebuild_time(build.start_time)
    ends = [parse_codebuild_time(phase.end_time) for phase in build.phases]
    ends += [parse_codebuild_time(phase.start_time) for phase in build.phases if phase.phase_type == "COMPLETED"]
    parsed_ends = [end for end in ends if end is not None]
    if start is not None and parsed_ends:
        seconds = int((max(parsed_ends) - start).total_seconds())
        if seconds >= 0:
            return seconds
    return None


def format_duration(seconds: int | None) -> str:
    """117 -> "1m 57s"; 3700 -> "1h 1m 40s"; None -> "unknown"."""
    if seconds is None or seconds < 0:
        return "unknown"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m {secs}s"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


def report_url(build: BuildEvent) -> str:
    """The CodeBuild console page with the build's test reports."""
    domain = _CONSOLE_DOMAINS.get(build.partition, _CONSOLE_DOMAINS["aws"])
    project = quote(build.project_name, safe="")
    return (
        f"https://{build.region}.{domain}/codesuite/codebuild/{build.account}/projects/{project}"
        f"/build/{project}%3A{quote(build.build_uuid, safe='')}/reports?region={build.region}"
    )


def comment_marker(prefix: str, build: BuildEvent) -> str:
    """Hidden marker identifying this function's comment for one build."""
    return f"<!-- {prefix}:build={build.build_arn} -->"


def client_request_token(build: BuildEvent) -> str:
    """Deterministic idempotency token (UUID-shaped) from the build ARN and status."""
    digest = hashlib.sha256(f"{build.build_arn}|{build.status}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16]))


def render_comment(build: BuildEvent, pull_request: PullRequestBuild, marker_prefix: str) -> str:
    """Markdown comment describing the build result."""
    if build.succeeded:
        headline = "### ✅ PR build passed"
        result = f"✅ passed ({build.status})"
    else:
        headline = f"### ❌ PR build failed: {build.status}"
        result = f"❌ failed ({build.status})"
    build_label = f"#{build.build_number} " if build.build_number is not None else ""
    logs = f"[CloudWatch Logs]({build.logs_link})" if build.logs_link else "not available"
    lines = [
        headline,
        "",
        f"- **Result:** {result}",
        f"- **Build:** {build_label}`{build.project_name}:{build.build_uuid}`",
        f"- **Duration:** {format_duration(build_duration_seconds(build))}",
        f"- **Source commit:** `{pull_request.source_commit}` (revision `{pull_request.revision_id}`)",
        f"- **Logs:** {logs}",
        f"- **Test report:** [CodeBuild reports]({report_url(build)})",
        "",
        comment_marker(marker_prefix, build),
    ]
    return "\n".join(lines)


# --- CodeCommit steps ----------------------------------------------------------------------------------------------

# A boto3 CodeCommit client (or anything with the same methods).
CodeCommitClient = Any

APPROVE = "APPROVE"
REVOKE = "REVOKE"


@dataclass(frozen=True)
class Result:
    """What the invocation did; returned by the handler and logged."""

    outcome: str
    comment: str | None = None
    approval: str | None = None

    def as_dict(self) -> dict[str, str]:
        return {key: value for key, value in asdict(self).items() if value is not None}


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def process_event(event: object, *, client: CodeCommitClient, config: Config) -> Result:
    """Parses the event, filters out what is not ours, validates the pull request."""
    build = parse_build_event(event)
    fields: dict[str, Any] = {"build_id": build.build_arn, "project": build.project_name, "status": build.status}
    if not build.project_name.endswith(config.project_suffix):
        logger.info("ignored: not a pull-request project", suffix=config.project_suffix, **fields)
        return Result("ignored-project")
    if not build.is_final:
        logger.info("ignored: build status is not final", **fields)
        return Result("ignored-not-final")
    pull_request = pull_request_of(build)
    if pull_request is None:
        logger.warning("ignored: build has no PULL_REQUEST_ID override", **fields)
        return Result("ignored-no-pull-request")
    return validate_pull_request(build, pull_request, client=client, config=config)


def validate_pull_request(
    build: BuildEvent, pull_request: PullRequestBuild, *, client: CodeCommitClient, config: Config
) -> Result:
    fields = _fields(build, pull_request)
    current = client.get_pull_request(pullRequestId=pull_request.pull_request_id)["pullRequest"]
    current_status = current.get("pullRequestStatus")
    current_revision = current.get("revisionId")
    if current_status == "CLOSED" or current_revision != pull_request.revision_id:
        logger.info(
            "outdated revision",
            pull_request_status=current_status,
            current_revision_id=current_revision,
            **fields,
        )
        return Result("outdated-revision")
    comment = ensure_comment(build, pull_request, client=client, config=config)
    approval = set_approval(build, pull_request, client=client)
    logger.info("pull request validated", comment=comment, approval=approval, **fields)
    return Result("validated", comment=comment, approval=approval)


def comment_already_posted(client: CodeCommitClient, pull_request_id: str, marker: str) -> bool:
    """True if a live comment on the pull request contains ``marker``."""
    paginator = client.get_paginator("get_comments_for_pull_request")
    for page in paginator.paginate(pullRequestId=pull_request_id):
        for thread in page.get("commentsForPullRequestData", []):
            for comment in thread.get("comments", []):
                if not comment.get("deleted") and marker in comment.get("content", ""):
                    return True
    return False


def ensure_comment(
    build: BuildEvent, pull_request: PullRequestBuild, *, client: CodeCommitClient, config: Config
) -> str:
    """Posts the result comment unless this build's comment exists. Returns what happened."""
    fields = _fields(build, pull_request)
    marker = comment_marker(config.comment_marker, build)
    if comment_already_posted(client, pull_request.pull_request_id, marker):
        logger.info("comment already posted", **fields)
        return "already-posted"
    try:
        response = client.post_comment_for_pull_request(
            pullRequestId=pull_request.pull_request_id,
            repositoryName=pull_request.repository_name,
            beforeCommitId=pull_request.destination_commit,
            afterCommitId=pull_request.source_commit,
            content=render_comment(build, pull_request, config.comment_marker),
            clientRequestToken=client_request_token(build),
        )
    except ClientError as error:
        if _error_code(error) != "IdempotencyParameterMismatchException":
            raise
        # The token was used before with other parameters (e.g. a deploy changed the comment
        # text between two deliveries): this build's comment exists already.
        logger.warning("comment token already used with other content", **fields)
        return "already-posted"
    comment_id = response.get("comment", {}).get("commentId")
    logger.info("comment posted", comment_id=comment_id, **fields)
    return "posted"


def revision_has_approvals(client: CodeCommitClient, pull_request: PullRequestBuild) -> bool:
    response = client.get_pull_request_approval_states(
        pullRequestId=pull_request.pull_request_id, revisionId=pull_request.revision_id
    )
    return any(approval.get("approvalState") == APPROVE for approval in response.get("approvals", []))


def set_approval(build: BuildEvent, pull_request: PullRequestBuild, *, client: CodeCommitClient) -> str:
    """APPROVE or REVOKE the built revision as the validator role. Returns what happened."""
    fields = _fields(build, pull_request)
    state = APPROVE if build.succeeded else REVOKE
    if state == REVOKE and not revision_has_approvals(client, pull_request):
        # CodeCommit stores no REVOKE state: with no approval there is nothing to revoke.
        logger.info("no approval to revoke", **fields)
        return "none-to-revoke"
    try:
        client.update_pull_request_approval_state(
            pullRequestId=pull_request.pull_request_id,
            revisionId=pull_request.revision_id,
            approvalState=state,
        )
    except ClientError as error:
        code = _error_code(error)
        if code == "RevisionNotCurrentException":
            logger.info("outdated revision", approval_state=state, **fields)
            return "outdated-revision"
        if code == "PullRequestAlreadyClosedException":
            logger.info("pull request closed before the approval", approval_state=state, **fields)
            return "pull-request-closed"
        raise
    logger.info("approval state updated", approval_state=state, **fields)
    return state


def _fields(build: BuildEvent, pull_request: PullRequestBuild) -> dict[str, Any]:
    return {
        "build_id": build.build_arn,
        "project": build.project_name,
        "status": build.status,
        "pull_request_id": pull_request.pull_request_id,
        "repository": pull_request.repository_name,
        "revision_id": pull_request.revision_id,
    }


# --- Pull request opened or updated: start its build -----------------------------------------------------------------

PULL_REQUEST_DETAIL_TYPE = "CodeCommit Pull Request State Change"
BUILD_ON = frozenset({"pullRequestCreated", "pullRequestSourceBranchUpdated"})


@dataclass(frozen=True)
class PullRequestChange:
    """The parts of a pull-request state change this function uses."""

    event: str
    status: str
    pull_request: PullRequestBuild


def parse_pull_request_event(raw: object) -> PullRequestChange:
    """Parses an EventBridge "CodeCommit Pull Request State Change" event."""
    if not isinstance(raw, dict):
        raise MalformedEventError("event is not an object")
    event = EventBridgeEvent(raw)
    if event.get("detail-type") != PULL_REQUEST_DETAIL_TYPE:
        raise MalformedEventError(f"detail-type is {event.get('detail-type')!r}, expected {PULL_REQUEST_DETAIL_TYPE!r}")
    if not isinstance(event.get("detail"), dict):
        raise MalformedEventError("detail is missing or not an object")
    detail = event.detail
    repositories = detail.get("repositoryNames")
    if not isinstance(repositories, list) or len(repositories) != 1 or not isinstance(repositories[0], str):
        raise MalformedEventError("detail.repositoryNames is not a list of one repository name")
    return PullRequestChange(
        event=_required_str(detail, "event", "detail"),
        status=_required_str(detail, "pullRequestStatus", "detail"),
        pull_request=PullRequestBuild(
            pull_request_id=_required_str(detail, "pullRequestId", "detail"),
            revision_id=_required_str(detail, "revisionId", "detail"),
            source_commit=_required_str(detail, "sourceCommit", "detail"),
            destination_commit=_required_str(detail, "destinationCommit", "detail"),
            repository_name=repositories[0],
        ),
    )


def build_idempotency_token(pull_request: PullRequestBuild) -> str:
    """Deterministic StartBuild token (UUID-shaped): the same revision of the same pull request starts one build."""
    pr = pull_request
    key = "|".join((pr.repository_name, pr.pull_request_id, pr.revision_id, pr.source_commit))
    return str(uuid.UUID(bytes=hashlib.sha256(key.encode()).digest()[:16]))


def start_build_request(pull_request: PullRequestBuild, config: Config) -> dict[str, Any]:
    """The StartBuild parameters: the repository's pull-request project on the source commit."""
    overrides = (
        (PULL_REQUEST_ID, pull_request.pull_request_id),
        (REVISION_ID, pull_request.revision_id),
        (SOURCE_COMMIT, pull_request.source_commit),
        (DESTINATION_COMMIT, pull_request.destination_commit),
        (REPOSITORY_NAME, pull_request.repository_name),
    )
    return {
        "projectName": f"{pull_request.repository_name}{config.project_suffix}",
        "sourceVersion": pull_request.source_commit,
        "environmentVariablesOverride": [{"name": n, "value": v, "type": "PLAINTEXT"} for n, v in overrides],
        "idempotencyToken": build_idempotency_token(pull_request),
    }


def start_pull_request_build(event: object, *, client: CodeBuildClient, config: Config) -> Result:
    """Starts the pull-request build of a new or updated open pull request."""
    change = parse_pull_request_event(event)
    pull_request = change.pull_request
    fields: dict[str, Any] = {
        "event": change.event,
        "pull_request_id": pull_request.pull_request_id,
        "repository": pull_request.repository_name,
        "revision_id": pull_request.revision_id,
    }
    if change.event not in BUILD_ON or change.status != "Open":
        logger.info("ignored: not a new or updated open pull request", status=change.status, **fields)
        return Result("ignored-pull-request-event")
    request = start_build_request(pull_request, config)
    try:
        response = client.start_build(**request)
    except ClientError as error:
        if _error_code(error) != "ResourceNotFoundException":
            raise
        logger.info("ignored: repository has no pull-request project", project=request["projectName"], **fields)
        return Result("ignored-no-project")
    logger.info("pull-request build started", build_id=response.get("build", {}).get("id"), **fields)
    return Result("build-started")


# --- Lambda entry point --------------------------------------------------------------------------------------------

_config: Config | None = None
_client: CodeCommitClient | None = None
_codebuild: CodeBuildClient | None = None


def get_config() -> Config:
    """Environment variables are read and validated once per execution environment."""
    global _config
    if _config is None:
        _config = load_config(os.environ)
    return _config


def get_client() -> CodeCommitClient:
    global _client
    if _client is None:
        _client = boto3.client("codecommit", config=BotocoreConfig(retries={"mode": "standard"}))
    return _client


def get_codebuild() -> CodeBuildClient:
    global _codebuild
    if _codebuild is None:
        _codebuild = boto3.client("codebuild", config=BotocoreConfig(retries={"mode": "standard"}))
    return _codebuild


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, str]:
    try:
        if isinstance(event, dict) and event.get("detail-type") == PULL_REQUEST_DETAIL_TYPE:
            result = start_pull_request_build(event, client=get_codebuild(), config=get_config())
        else:
            result = process_event(event, client=get_client(), config=get_config())
    except MalformedEventError as error:
        event_id = event.get("id") if isinstance(event, dict) else None
        logger.error("malformed event", error=str(error), event_id=event_id)
        raise
    except ConfigError as error:
        logger.error("invalid configuration", error=str(error))
        raise
    except Exception:
        logger.exception("validation failed")
        raise
    return result.as_dict()
