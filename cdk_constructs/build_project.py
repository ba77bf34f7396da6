"""A CodeBuild project with the platform's standard settings.

Graviton (aarch64) Amazon Linux 2023 image, KMS-encrypted output, a cache, build
logs in a KMS-encrypted log group with bounded retention, and CodeArtifact access
for every dependency the build installs.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_codebuild as codebuild
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from cdk_constructs.nag import acknowledge_all, logical_id
from cdk_constructs.secure_defaults import RETAINED

# aarch64 AL2023 standard image: python 3.13, nodejs 22, docker; cheaper than x86 per minute.
BUILD_IMAGE = codebuild.LinuxArmBuildImage.AMAZON_LINUX_2023_STANDARD_3_0


@dataclass(frozen=True)
class CodeArtifactAccess:
    """Where a build reads its packages from: one repository of the platform's domain."""

    domain: str
    domain_owner: str
    repository: str
    region: str

    @property
    def domain_arn(self) -> str:
        return f"arn:aws:codeartifact:{self.region}:{self.domain_owner}:domain/{self.domain}"

    @property
    def repository_arn(self) -> str:
        return f"arn:aws:codeartifact:{self.region}:{self.domain_owner}:repository/{self.domain}/{self.repository}"

    def environment_variables(self) -> dict[str, str]:
        return {
            "CODEARTIFACT_DOMAIN": self.domain,
            "CODEARTIFACT_DOMAIN_OWNER": self.domain_owner,
            "CODEARTIFACT_REPOSITORY": self.repository,
        }

    def grant_read(self, grantee: iam.IGrantable) -> None:
        """Least privilege for `aws codeartifact login` and installs through the repository (once per role)."""
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["codeartifact:GetAuthorizationToken"],
            resource_arns=[self.domain_arn],
        )
        iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["codeartifact:GetRepositoryEndpoint", "codeartifact:ReadFromRepository"],
            resource_arns=[self.repository_arn],
        )
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["sts:GetServiceBearerToken"],
                # GetServiceBearerToken has no resource type; the condition scopes it to CodeArtifact.
                resources=["*"],
                conditions={"StringEquals": {"sts:AWSServiceName": "codeartifact.amazonaws.com"}},
            )
        )


class ServiceBuildProject(Construct):
    """One CodeBuild project (pipeline build, test, or pull-request build) of a service.

    role: the CodeBuild service role, named so that CodeArtifact's policies can admit it by
    pattern (see `build_role` below); projects that run the same trusted code may share one. An
    imported role (the shared pull-request role) gets no grants here: its own stack grants by pattern.
    junit_reports: create the project's JUnit report group, <project>-junit (default: none).
    report_exports: the bucket that receives the report group's exports (default: reports stay in
    CodeBuild, which keeps them 30 days).
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        project_name: str,
        role: iam.IRole,
        description: str,
        build_spec: codebuild.BuildSpec,
        encryption_key: kms.IKey,
        cache: codebuild.Cache,
        log_retention: logs.RetentionDays,
        codeartifact: CodeArtifactAccess,
        environment_variables: dict[str, str] | None = None,
        source: codebuild.ISource | None = None,
        privileged: bool = False,
        timeout: Duration | None = None,
        compute_type: codebuild.ComputeType = codebuild.ComputeType.SMALL,
        junit_reports: bool = False,
        report_exports: s3.IBucket | None = None,
    ) -> None:
        super().__init__(scope, id_)
        stack = Stack.of(self)

        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"/aws/codebuild/{project_name}",
            retention=log_retention,
            encryption_key=encryption_key,
            removal_policy=RETAINED,
        )
        variables = {**codeartifact.environment_variables(), **(environment_variables or {})}
        self.role = role
        common = dict(
            project_name=project_name,
            role=self.role,
            description=description,
            build_spec=build_spec,
            encryption_key=encryption_key,
            cache=cache,
            timeout=timeout or Duration.minutes(30),  # default: 30 minutes
            queued_timeout=Duration.hours(2),
            # Report groups are created explicitly and granted one by one.
            grant_report_group_permissions=False,
            environment=codebuild.BuildEnvironment(
                build_image=BUILD_IMAGE,
                compute_type=compute_type,
                privileged=privileged,
            ),
            environment_variables={
                k: codebuild.BuildEnvironmentVariable(value=v) for k, v in sorted(variables.items())
            },
            logging=codebuild.LoggingOptions(cloud_watch=codebuild.CloudWatchLoggingOptions(log_group=self.log_group)),
        )
        self.project: codebuild.Project
        if source is None:
            self.project = codebuild.PipelineProject(self, "Project", **common)  # type: ignore[arg-type]
        else:
            self.project = codebuild.Project(self, "Project", source=source, **common)  # type: ignore[arg-type]
        self.report_group: codebuild.ReportGroup | None = None
        if junit_reports:
            # A buildspec's `reports: junit:` resolves to "<project>-junit"; created here it gets
            # retention, encryption and a grant instead of an implicit one.
            self.report_group = codebuild.ReportGroup(
                self,
                "Reports",
                report_group_name=f"{project_name}-junit",
                type=codebuild.ReportGroupType.TEST,
                export_bucket=report_exports,
                zip_export=report_exports is not None,
                removal_policy=RETAINED,
            )
            self.report_group.grant_write(self.project)
        if not isinstance(self.role, iam.Role):
            return
        acknowledge_all(
            self.role,
            {
                "AwsSolutions-IAM5[Resource::*]": (
                    "sts:GetServiceBearerToken has no resource type; the statement is limited by the condition "
                    "sts:AWSServiceName = codeartifact.amazonaws.com."
                ),
                f"AwsSolutions-IAM5[Resource::arn:aws:logs:{stack.region}:{stack.account}:log-group:/aws/codebuild/"
                f"<{logical_id(self.project)}>:*]": (
                    "Log streams of this project's own log group; CodeBuild names a new stream per build."
                ),
            },
        )


def allow_log_groups(key: kms.IKey, log_group_pattern: str) -> None:
    """Let CloudWatch Logs encrypt the log groups matching `log_group_pattern` with `key`."""
    stack = Stack.of(key)
    key.add_to_resource_policy(
        iam.PolicyStatement(
            principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
            actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
            resources=["*"],
            conditions={
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": stack.format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name=log_group_pattern,
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                }
            },
        )
    )


def build_role(scope: Construct, id_: str, *, role_name: str, runs: str) -> iam.Role:
    """A CodeBuild service role with a deterministic name (CodeArtifact admits <p>-*-build and <p>-*-pr)."""
    return iam.Role(
        scope,
        id_,
        role_name=role_name,
        assumed_by=iam.ServicePrincipal("codebuild.amazonaws.com"),
        description=f"Runs {runs}",
    )
