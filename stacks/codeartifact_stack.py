"""CodeArtifactStack (tooling account): one domain, repositories chained by upstreams, public connections.

Reads: the platform's build roles (CodeBuild projects of every pipeline and pull-request
build) and the configured target accounts. Publishes: only the roles each repository names.
Resource policies name principals by pattern (aws:PrincipalArn), so their size does not
grow with the number of services.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_codeartifact as codeartifact
from constructs import Construct

from cdk_constructs.secure_defaults import RETAINED, retained_key
from config.model import CodeArtifactRepository, PlatformConfig
from config.names import Names

READ_ACTIONS = [
    "codeartifact:DescribePackageVersion",
    "codeartifact:DescribeRepository",
    "codeartifact:GetPackageVersionReadme",
    "codeartifact:GetRepositoryEndpoint",
    "codeartifact:ListPackageVersionAssets",
    "codeartifact:ListPackageVersionDependencies",
    "codeartifact:ListPackageVersions",
    "codeartifact:ListPackages",
    "codeartifact:ReadFromRepository",
]
PUBLISH_ACTIONS = [
    "codeartifact:PublishPackageVersion",
    "codeartifact:PutPackageMetadata",
]


class CodeArtifactStack(Stack):
    """Domain (customer KMS key, rotated, retained) and repositories, created upstreams first."""

    def __init__(self, scope: Construct, id_: str, *, config: PlatformConfig, **kwargs: Any) -> None:
        super().__init__(scope, id_, **kwargs)
        names = Names(config)
        settings = config.codeartifact
        tooling = config.tooling.account
        self.build_role_patterns = names.build_role_patterns
        target_accounts = sorted({e.account for e in config.environments if e.account != tooling})

        self.key = retained_key(
            self,
            "Key",
            alias=f"alias/{config.name}/codeartifact",
            description=f"Encrypts the {settings.domain} CodeArtifact domain's packages",
        )
        readers = self._readers(tooling, target_accounts)

        self.domain = codeartifact.CfnDomain(
            self,
            "Domain",
            domain_name=settings.domain,
            encryption_key=self.key.key_arn,
            permissions_policy_document=_document(
                [
                    {
                        "Sid": f"TokenFor{label}",
                        "Effect": "Allow",
                        "Principal": principal,
                        "Action": ["codeartifact:GetAuthorizationToken", "codeartifact:DescribeDomain"],
                        "Resource": "*",
                        **({"Condition": condition} if condition else {}),
                    }
                    for label, principal, condition in readers
                ]
            ),
        )
        self.domain.apply_removal_policy(RETAINED)

        self.repositories: dict[str, codeartifact.CfnRepository] = {}
        for repo in settings.creation_order():
            resource = codeartifact.CfnRepository(
                self,
                f"Repository-{repo.name}",
                domain_name=settings.domain,
                domain_owner=tooling,
                repository_name=repo.name,
                description=repo.description or None,
                external_connections=repo.external_connections or None,
                upstreams=repo.upstreams or None,
                permissions_policy_document=self._repository_policy(repo, readers),
            )
            resource.apply_removal_policy(RETAINED)
            resource.add_resource_dependency(self.domain)
            # CodeArtifact refuses an upstream that does not exist yet.
            for upstream in repo.upstreams:
                resource.add_resource_dependency(self.repositories[upstream])
            self.repositories[repo.name] = resource
            self._outputs(config, repo)

    def _readers(self, tooling: str, target_accounts: list[str]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
        """(label, principal, condition) of everyone who may read packages."""
        readers: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
            (
                "PlatformBuilds",
                {"AWS": f"arn:aws:iam::{tooling}:root"},
                {"ArnLike": {"aws:PrincipalArn": self.build_role_patterns}},
            )
        ]
        if target_accounts:
            readers.append(
                ("TargetAccounts", {"AWS": [f"arn:aws:iam::{account}:root" for account in target_accounts]}, {})
            )
        return readers

    def _repository_policy(
        self, repo: CodeArtifactRepository, readers: list[tuple[str, dict[str, Any], dict[str, Any]]]
    ) -> dict[str, Any]:
        statements = [
            {
                "Sid": f"ReadBy{label}",
                "Effect": "Allow",
                "Principal": principal,
                "Action": READ_ACTIONS,
                "Resource": "*",
                **({"Condition": condition} if condition else {}),
            }
            for label, principal, condition in readers
        ]
        if repo.publishers:
            statements.append(
                {
                    "Sid": "PublishByNamedRoles",
                    "Effect": "Allow",
                    "Principal": {"AWS": sorted(repo.publishers)},
                    "Action": PUBLISH_ACTIONS + READ_ACTIONS,
                    "Resource": "*",
                }
            )
        return _document(statements)

    def _outputs(self, config: PlatformConfig, repo: CodeArtifactRepository) -> None:
        base = (
            f"https://{config.codeartifact.domain}-{config.tooling.account}.d.codeartifact."
            f"{config.tooling.region}.amazonaws.com"
        )
        logical = repo.name.replace("-", " ").title().replace(" ", "")
        CfnOutput(
            self,
            f"{logical}PypiEndpoint",
            value=f"{base}/pypi/{repo.name}/simple/",
            description=f"pip index of {repo.name} (pip install --index-url <this>)",
        )
        CfnOutput(
            self,
            f"{logical}NpmEndpoint",
            value=f"{base}/npm/{repo.name}/",
            description=f"npm registry of {repo.name} (npm config set registry <this>)",
        )


def _document(statements: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": statements}
