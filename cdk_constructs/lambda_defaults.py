"""`PlatformFunction`: every Lambda function the platform itself runs, with one set of defaults."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from cdk_constructs.nag import acknowledge_all
from cdk_constructs.secure_defaults import RETAINED

# The newest Python runtime Lambda offers (and aws-cdk-lib knows); arm64 is cheaper and the
# functions are pure Python.
RUNTIME = lambda_.Runtime.PYTHON_3_14
ARCHITECTURE = lambda_.Architecture.ARM_64
REPO_ROOT = Path(__file__).resolve().parent.parent
LAMBDA_DIR = REPO_ROOT / "lambda"
# Built by `make install` from requirements-lambda.txt (docs/adr/0004-powertools-layer.md).
POWERTOOLS_LAYER_ZIP = REPO_ROOT / "build" / "powertools-layer.zip"
# Local caches never belong in a deployed asset (or in its hash).
ASSET_EXCLUDES = ["__pycache__", "*.pyc", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".venv", "dist"]


class PlatformFunction(Construct):
    """A Python function from `lambda/<code_folder>`, with its own retained log group.

    default memory: 256 MiB; default timeout: set by the caller (no implicit 3 s);
    logs: JSON, application level INFO, in `/aws/lambda/<function>` with bounded retention;
    tracing: X-Ray active.
    powertools: attach the stack's Powertools layer and name the Logger's service after the
    code folder (default: yes; the platform's handlers import it).
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        description: str,
        code_folder: str,
        handler: str,
        timeout: Duration,
        log_retention: logs.RetentionDays,
        role: iam.IRole | None = None,
        function_name: str | None = None,
        environment: dict[str, str] | None = None,
        memory_size: int = 256,
        reserved_concurrency: int | None = None,
        on_failure: lambda_.IDestination | None = None,
        retry_attempts: int | None = None,
        code: lambda_.Code | None = None,
        powertools: bool = True,
    ) -> None:
        super().__init__(scope, id_)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            retention=log_retention,
            removal_policy=RETAINED,
        )
        # Our own role instead of AWSLambdaBasicExecutionRole: write to this log group only.
        self.role = role or iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=description[:1000],
        )
        self.log_group.grant_write(self.role)
        self.function = lambda_.Function(
            self,
            "Function",
            function_name=function_name,
            description=description,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=handler,
            code=code or lambda_.Code.from_asset(str(LAMBDA_DIR / code_folder), exclude=ASSET_EXCLUDES),
            timeout=timeout,
            memory_size=memory_size,
            role=self.role,
            environment={**({"POWERTOOLS_SERVICE_NAME": code_folder} if powertools else {}), **(environment or {})},
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=lambda_.ApplicationLogLevel.INFO,
            system_log_level_v2=lambda_.SystemLogLevel.WARN,
            tracing=lambda_.Tracing.ACTIVE,
            reserved_concurrent_executions=reserved_concurrency,
            on_failure=on_failure,
            retry_attempts=retry_attempts,
            layers=[powertools_layer(self)] if powertools else None,
        )
        reasons = {
            "AwsSolutions-IAM5[Resource::*]": (
                "X-Ray's PutTraceSegments and PutTelemetryRecords (added for active tracing) have no resource type."
            )
        }
        if on_failure is not None:
            reasons["Serverless-LambdaDLQ"] = (
                "Failed asynchronous invocations go to an SQS on-failure destination, which keeps the request, "
                "the error and the retry count; a classic DLQ would keep only the payload."
            )
        # On this construct: it holds the function and, unless one was given, the role.
        acknowledge_all(self, reasons)
        if role is not None:
            acknowledge_all(role, {"AwsSolutions-IAM5[Resource::*]": reasons["AwsSolutions-IAM5[Resource::*]"]})


def powertools_layer(scope: Construct) -> lambda_.ILayerVersion:
    """The stack's one copy of the Powertools for AWS Lambda layer, built at install."""
    stack = Stack.of(scope)
    existing = stack.node.try_find_child("PowertoolsLayer")
    if isinstance(existing, lambda_.LayerVersion):
        return existing
    if not POWERTOOLS_LAYER_ZIP.is_file():
        # Not a traceback: the one thing a fresh clone that skipped `make install` gets wrong.
        raise SystemExit(
            f"{POWERTOOLS_LAYER_ZIP.relative_to(REPO_ROOT)} is missing: run `make install` to build the Powertools "
            "layer from requirements-lambda.txt"
        )
    return lambda_.LayerVersion(
        stack,
        "PowertoolsLayer",
        # Named with the stack's name: every stack name starts with the platform prefix, which the
        # execution policy's Lambda statement requires (unnamed, it would be the logical id).
        layer_version_name=f"{stack.stack_name}-powertools",
        code=lambda_.Code.from_asset(str(POWERTOOLS_LAYER_ZIP)),
        compatible_runtimes=[RUNTIME],
        compatible_architectures=[ARCHITECTURE],
        description="Powertools for AWS Lambda (Python), as pinned in requirements-lambda.txt",
    )
