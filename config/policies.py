"""The CloudFormation execution policy of each account, derived from the config.

These replace CDK's default AdministratorAccess for the role CloudFormation deploys the
platform's stacks as (the bootstrap's cfn-exec role). They are scoped three ways:

- services whose resources the platform creates without name-based ARNs (networking, load
  balancers, Auto Scaling, ECS, CodeDeploy, alarms, rules, log groups, ...) are allowed as
  namespaces, and nothing outside them;
- services whose resources carry the platform prefix (Lambda, S3, SQS, and in the tooling account
  the CI/CD services) only on ARNs with that prefix, plus the few actions of those services that
  support no resource-level permissions (`NoResourceLevelPermissions`);
- IAM only on roles, instance profiles and policies with the prefix, with exactly the actions
  CloudFormation's IAM handlers call.

CloudFormation also reads what CDK publishes into the bootstrap bucket with this role: Lambda
code and layers, the CodeCommit seed (`ReadCdkAssets`), and the bootstrap version parameter.

`tests/gates/test_deploy_simulation.py` proves these documents sufficient by simulating every
create, update and delete of every synthesized stack against them (tools/preflight), and
`tests/unit/test_policies.py` keeps the action lists equal to what the published resource
schemas and IAM reference require. Plain dicts, so the bootstrap tool writes and applies them
without loading aws-cdk-lib.
"""

from __future__ import annotations

from typing import Any

from config.model import PlatformConfig
from config.names import CDK_QUALIFIER

# Services whose resources have no name-based ARNs (or none we choose): allowed on "*".
TARGET_SERVICES = (
    "application-autoscaling",  # ECS service scaling
    "autoscaling",  # EC2 Auto Scaling groups and lifecycle hooks
    "cloudwatch",  # rollback alarms
    "codedeploy",  # applications, deployment groups, custom deployment configs
    "ec2",  # VPC, subnets, NAT, security groups, launch templates
    "ecs",  # Fargate clusters, services, task definitions
    "elasticloadbalancing",  # ALBs, listeners, target groups
    "events",  # the rule forwarding CodeDeploy events to the tooling account
    "logs",  # log groups
    "ssm",  # the CodeDeploy agent association, AMI parameters
)
TOOLING_SERVICES = ("cloudwatch", "events", "kms", "logs", "ssm")

# Actions CloudFormation's handlers call on the prefixed services that support no resource-level
# permissions (IAM's service authorization reference lists no resource type for them).
TARGET_UNSCOPED_ACTIONS: tuple[str, ...] = ()
TOOLING_UNSCOPED_ACTIONS = (
    "codeartifact:CreateDomain",  # AWS::CodeArtifact::Domain create
    "codeartifact:CreateRepository",  # AWS::CodeArtifact::Repository create
    "codecommit:ListRepositories",  # AWS::CodeCommit::Repository delete
    "lambda:CreateEventSourceMapping",  # AWS::Lambda::EventSourceMapping create (the notifier's queues)
    "dynamodb:DescribeEndpoints",  # AWS::DynamoDB::GlobalTable: dynamodb:Describe*
    "dynamodb:DescribeLimits",
    "dynamodb:DescribeReservedCapacity",
    "dynamodb:DescribeReservedCapacityOfferings",
    "secretsmanager:GetRandomPassword",  # AWS::SecretsManager::Secret create and update
)

# Amazon Q Developer channel configurations (only when the config has amazon_q channels): the actions
# their handlers call that IAM authorizes on no resource; the rest is scoped to the prefix.
CHATBOT_UNSCOPED_ACTIONS = (
    "chatbot:CreateMicrosoftTeamsChannelConfiguration",
    "chatbot:GetMicrosoftTeamsChannelConfiguration",
    "chatbot:ListTagsForResource",
)


def uses_amazon_q(config: PlatformConfig) -> bool:
    return any(c.delivery == "amazon_q" for c in config.notifications.channels)


# Exactly the role, policy and instance-profile actions the create, update and delete handlers of
# AWS::IAM::Role, ::Policy, ::ManagedPolicy and ::InstanceProfile call, plus passing the platform's
# roles to the services that use them and the service-linked roles services create on first use.
IAM_ACTIONS = (
    "iam:AddRoleToInstanceProfile",
    "iam:AttachRolePolicy",
    "iam:CreateInstanceProfile",
    "iam:CreatePolicy",
    "iam:CreatePolicyVersion",
    "iam:CreateRole",
    "iam:CreateServiceLinkedRole",
    "iam:DeleteInstanceProfile",
    "iam:DeletePolicy",
    "iam:DeletePolicyVersion",
    "iam:DeleteRole",
    "iam:DeleteRolePermissionsBoundary",
    "iam:DeleteRolePolicy",
    "iam:DetachRolePolicy",
    "iam:GetInstanceProfile",
    "iam:GetPolicy",
    "iam:GetRole",
    "iam:GetRolePolicy",
    "iam:ListAttachedRolePolicies",
    "iam:ListEntitiesForPolicy",
    "iam:ListPolicyVersions",
    "iam:ListRolePolicies",
    "iam:PassRole",
    "iam:PutRolePermissionsBoundary",
    "iam:PutRolePolicy",
    "iam:RemoveRoleFromInstanceProfile",
    "iam:TagRole",
    "iam:UntagRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:UpdateRole",
    "iam:UpdateRoleDescription",
)


def account_roles(config: PlatformConfig, account: str) -> tuple[bool, bool]:
    """(tooling, target): whether `account` hosts the tooling stacks, environment stacks, or both."""
    return account == config.tooling.account, any(e.account == account for e in config.environments)


def regions_of(config: PlatformConfig, account: str) -> list[str]:
    """Every region the platform deploys stacks to in `account`."""
    regions = {config.region_of(e) for e in config.environments if e.account == account}
    if account == config.tooling.account:
        regions.add(config.tooling.region)
    return sorted(regions)


def accounts(config: PlatformConfig) -> list[str]:
    """Every account the platform deploys to: the environments' in config order, then the tooling account."""
    found = list(dict.fromkeys(e.account for e in config.environments))
    return [*[a for a in found if a != config.tooling.account], config.tooling.account]


def _prefixed(config: PlatformConfig, account: str, tooling: bool) -> dict[str, list[str]]:
    """Resources (by service) whose every instance the stacks create starts with the platform prefix.

    Named resources use the prefix explicitly; unnamed ones get CloudFormation names that start
    with their stack name, and every stack name starts with the prefix.
    """
    p = config.name
    scoped: dict[str, list[str]] = {
        "lambda": [f"arn:aws:lambda:*:{account}:function:{p}-*", f"arn:aws:lambda:*:{account}:layer:{p}-*"],
        "s3": [f"arn:aws:s3:::{p}-*"],
        "sqs": [f"arn:aws:sqs:*:{account}:{p}-*"],
    }
    if tooling:
        domain = config.codeartifact.domain
        # Event source mappings are named by a UUID that AWS assigns; only the notifier has them.
        scoped["lambda"].append(f"arn:aws:lambda:*:{account}:event-source-mapping:*")
        scoped |= {
            "codeartifact": [
                f"arn:aws:codeartifact:*:{account}:domain/{domain}",
                f"arn:aws:codeartifact:*:{account}:repository/{domain}/*",
            ],
            "codebuild": [
                f"arn:aws:codebuild:*:{account}:project/{p}-*",
                f"arn:aws:codebuild:*:{account}:report-group/{p}-*",
            ],
            "codecommit": [f"arn:aws:codecommit:*:{account}:{p}-*"],
            "codepipeline": [f"arn:aws:codepipeline:*:{account}:{p}-*"],
            "dynamodb": [f"arn:aws:dynamodb:*:{account}:table/{p}-*"],
            "ecr": [f"arn:aws:ecr:*:{account}:repository/{p}/*"],
            "secretsmanager": [f"arn:aws:secretsmanager:*:{account}:secret:{p}/*"],
            "sns": [f"arn:aws:sns:*:{account}:{p}-*"],
        }
        if config.has_waiting_freezes:
            # `during: wait` freezes: schedules in the default group, named <p>-freeze-<digest>.
            scoped["scheduler"] = [f"arn:aws:scheduler:*:{account}:schedule/default/{p}-*"]
        if uses_amazon_q(config):
            # Global: chat-configuration ARNs have no region.
            scoped["chatbot"] = [f"arn:aws:chatbot::{account}:chat-configuration/*/{p}-*"]
    return scoped


def _sid(service: str) -> str:
    return f"Prefixed{service.title().replace('-', '')}"


def execution_policy(config: PlatformConfig, account: str) -> dict[str, Any]:
    """What CloudFormation may do in `account`: deploy the platform's stacks there, and nothing else."""
    tooling, target = account_roles(config, account)
    if not (tooling or target):
        raise ValueError(f"account {account} is not an account of the {config.name} platform")
    services = sorted(set(TOOLING_SERVICES if tooling else ()) | set(TARGET_SERVICES if target else ()))
    unscoped = sorted(
        set(TOOLING_UNSCOPED_ACTIONS if tooling else ())
        | set(CHATBOT_UNSCOPED_ACTIONS if tooling and uses_amazon_q(config) else ())
        | set(TARGET_UNSCOPED_ACTIONS if target else ())
    )
    prefix = config.name
    statements: list[dict[str, Any]] = [
        {"Sid": "InfrastructureServices", "Effect": "Allow", "Action": [f"{s}:*" for s in services], "Resource": "*"},
        *(
            {"Sid": _sid(service), "Effect": "Allow", "Action": f"{service}:*", "Resource": resources}
            for service, resources in sorted(_prefixed(config, account, tooling).items())
        ),
    ]
    if unscoped:
        statements.append({"Sid": "NoResourceLevelPermissions", "Effect": "Allow", "Action": unscoped, "Resource": "*"})
    statements += [
        {
            "Sid": "ReadCdkAssets",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:GetObjectVersion"],
            "Resource": [
                f"arn:aws:s3:::cdk-{CDK_QUALIFIER}-assets-{account}-{region}/*"
                for region in regions_of(config, account)
            ],
        },
        {
            "Sid": "PlatformRolesOnly",
            "Effect": "Allow",
            "Action": list(IAM_ACTIONS),
            "Resource": [
                f"arn:aws:iam::{account}:role/{prefix}-*",
                f"arn:aws:iam::{account}:instance-profile/{prefix}-*",
                f"arn:aws:iam::{account}:policy/{prefix}-*",
                # Service-linked roles that ECS, ELB, Auto Scaling and CodeDeploy create on first use.
                f"arn:aws:iam::{account}:role/aws-service-role/*",
            ],
        },
        *(
            [
                {
                    "Sid": "PlatformPipelineBootstrapRoles",
                    "Effect": "Allow",
                    "Action": ["iam:GetRole", "iam:PassRole"],
                    "Resource": [
                        f"arn:aws:iam::{account}:role/cdk-{CDK_QUALIFIER}-{kind}-role-{account}-{region}"
                        for region in regions_of(config, account)
                        for kind in ("deploy", "cfn-exec")
                    ],
                    "Condition": {"StringEqualsIfExists": {"iam:PassedToService": "codepipeline.amazonaws.com"}},
                }
            ]
            if tooling and config.platform_pipeline.enabled
            else []
        ),
        {
            "Sid": "ReadBootstrapVersion",
            "Effect": "Allow",
            "Action": ["ssm:GetParameter", "ssm:GetParameters"],
            "Resource": f"arn:aws:ssm:*:{account}:parameter/cdk-bootstrap/{CDK_QUALIFIER}/*",
        },
    ]
    return {"Version": "2012-10-17", "Statement": statements}


def execution_policies(config: PlatformConfig) -> dict[str, dict[str, Any]]:
    """Every account's execution policy, by account id."""
    return {account: execution_policy(config, account) for account in accounts(config)}


def cfn_execution_policy_name(config: PlatformConfig) -> str:
    """Name of the customer managed policy the bootstrap tool creates in each account."""
    return f"{config.name}-cdk-cfn-execution"


# Why each statement is as wide as it is (cdk-nag acknowledgements and the README quote these).
STATEMENT_REASONS = {
    "InfrastructureServices": (
        "CloudFormation creates whole stacks: networking, load balancers, Auto Scaling, ECS, CodeDeploy, "
        "alarms, rules and log groups have no name-based resource scoping, so each service is one namespace."
    ),
    "NoResourceLevelPermissions": (
        "Actions CloudFormation's handlers call that IAM authorizes on no resource (CreateDomain, "
        "CreateRepository, ListRepositories, GetRandomPassword, account-level DynamoDB describes)."
    ),
    "ReadCdkAssets": (
        "Lambda, Lambda layers and CodeCommit read the code CDK publishes to this account's bootstrap bucket "
        "with CloudFormation's credentials; read-only, objects of that bucket only."
    ),
    "PlatformRolesOnly": (
        "IAM is limited to roles, instance profiles and policies named with the platform prefix (and the "
        "service-linked roles AWS creates), so stacks cannot create users or change foreign roles."
    ),
    "PlatformPipelineBootstrapRoles": (
        "The platform pipeline's CloudFormation actions run as this account's bootstrap deploy and execution "
        "roles; creating the pipeline reads and passes them (to CodePipeline only), and nothing else."
    ),
    "ReadBootstrapVersion": "CloudFormation checks the CDK bootstrap version parameter before each deployment.",
    **{
        _sid(service): (
            f"Every {service} resource the platform creates is named with the platform prefix "
            "(explicitly, or through its stack name), so the statement is limited to that prefix."
        )
        for service in (
            "chatbot",
            "codeartifact",
            "codebuild",
            "codecommit",
            "codepipeline",
            "dynamodb",
            "ecr",
            "lambda",
            "s3",
            "scheduler",
            "secretsmanager",
            "sns",
            "sqs",
        )
    },
}
