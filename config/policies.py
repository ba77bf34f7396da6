"""IAM policy documents derived from the config, shared by the stacks and the bootstrap tool.

The CloudFormation execution policies replace CDK's default AdministratorAccess. They are
scoped in two ways: to the AWS services the platform's stacks create (and nothing else),
and, for IAM, to names that start with the platform prefix, so a stack can neither create
users nor touch roles it does not own. Plain dicts, so the bootstrap tool can create the
managed policy with boto3 without loading aws-cdk-lib.
"""

from __future__ import annotations

from typing import Any

from config.model import Environment, PlatformConfig

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


def _prefixed(config: PlatformConfig, account: str, tooling: bool) -> list[dict[str, Any]]:
    """Services whose every resource the stacks create starts with the platform prefix.

    Named resources use the prefix explicitly; unnamed ones get CloudFormation names that
    start with their stack name, and every stack name starts with the prefix.
    """
    p = config.name
    scoped: dict[str, list[str]] = {
        "lambda": [f"arn:aws:lambda:*:{account}:function:{p}-*"],
        "s3": [f"arn:aws:s3:::{p}-*"],
        "sqs": [f"arn:aws:sqs:*:{account}:{p}-*"],
    }
    if tooling:
        domain = config.codeartifact.domain
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
    return [
        {
            "Sid": f"Prefixed{service.title().replace('-', '')}",
            "Effect": "Allow",
            "Action": f"{service}:*",
            "Resource": resources,
        }
        for service, resources in sorted(scoped.items())
    ]


_IAM_ACTIONS = (
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
    "iam:DeleteRolePolicy",
    "iam:DetachRolePolicy",
    "iam:GetInstanceProfile",
    "iam:GetPolicy",
    "iam:GetPolicyVersion",
    "iam:GetRole",
    "iam:GetRolePolicy",
    "iam:ListPolicyVersions",
    "iam:PassRole",
    "iam:PutRolePolicy",
    "iam:RemoveRoleFromInstanceProfile",
    "iam:TagPolicy",
    "iam:TagRole",
    "iam:UntagRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:UpdateRole",
    "iam:UpdateRoleDescription",
)


def _document(config: PlatformConfig, account: str, services: tuple[str, ...], tooling: bool) -> dict[str, Any]:
    prefix = config.name
    iam_resources = [
        f"arn:aws:iam::{account}:role/{prefix}-*",
        f"arn:aws:iam::{account}:instance-profile/{prefix}-*",
        f"arn:aws:iam::{account}:policy/{prefix}-*",
        # Service-linked roles that ECS, ELB, Auto Scaling and CodeDeploy create on first use.
        f"arn:aws:iam::{account}:role/aws-service-role/*",
    ]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "InfrastructureServices",
                "Effect": "Allow",
                "Action": [f"{service}:*" for service in services],
                "Resource": "*",
            },
            *_prefixed(config, account, tooling),
            {
                "Sid": "PlatformRolesOnly",
                "Effect": "Allow",
                "Action": list(_IAM_ACTIONS),
                "Resource": iam_resources,
            },
            {
                "Sid": "ReadBootstrapVersion",
                "Effect": "Allow",
                "Action": ["ssm:GetParameter", "ssm:GetParameters"],
                "Resource": f"arn:aws:ssm:*:{account}:parameter/cdk-bootstrap/*",
            },
        ],
    }


def target_cfn_execution_policy(config: PlatformConfig, env: Environment) -> dict[str, Any]:
    """What CloudFormation may do in a target account: deploy the platform's target stacks."""
    return _document(config, env.account, TARGET_SERVICES, tooling=False)


def tooling_cfn_execution_policy(config: PlatformConfig) -> dict[str, Any]:
    """What CloudFormation may do in the tooling account: deploy pipelines, CodeArtifact, notifications."""
    return _document(config, config.tooling.account, TOOLING_SERVICES, tooling=True)


def cfn_execution_policy_name(config: PlatformConfig) -> str:
    """Name of the customer managed policy the bootstrap tool creates in each account."""
    return f"{config.name}-cdk-cfn-execution"


# Why each statement is as wide as it is (cdk-nag acknowledgements and the README quote these).
STATEMENT_REASONS = {
    "InfrastructureServices": (
        "CloudFormation creates whole stacks: networking, load balancers, Auto Scaling, ECS, CodeDeploy, "
        "alarms, rules and log groups have no name-based resource scoping, so each service is one namespace."
    ),
    "PlatformRolesOnly": (
        "IAM is limited to roles, instance profiles and policies named with the platform prefix (and the "
        "service-linked roles AWS creates), so stacks cannot create users or change foreign roles."
    ),
    "ReadBootstrapVersion": "CloudFormation checks the CDK bootstrap version parameter before each deployment.",
    **{
        f"Prefixed{service.title().replace('-', '')}": (
            f"Every {service} resource the platform creates is named with the platform prefix "
            "(explicitly, or through its stack name), so the statement is limited to that prefix."
        )
        for service in (
            "codeartifact",
            "codebuild",
            "codecommit",
            "codepipeline",
            "dynamodb",
            "ecr",
            "lambda",
            "s3",
            "secretsmanager",
            "sns",
            "sqs",
        )
    },
}
