"""A pipeline's artifact store: customer KMS key with rotation, SSL-only bucket, access logs."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from constructs import Construct

from cdk_constructs.secure_defaults import RETAINED, log_bucket, retained_key


class EncryptedArtifactStore(Construct):
    """KMS key + artifact bucket + server-access-log bucket, all retained on stack deletion.

    artifact_retention: how long artifacts are kept (default: 365 days).

    The key also encrypts the pipeline's build output, caches, test reports, build
    logs and approval topic, so one key policy says who can read anything the
    pipeline produces.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        bucket_name: str,
        key_alias: str,
        description: str,
        artifact_retention: Duration | None = None,
    ) -> None:
        super().__init__(scope, id_)

        self.key = retained_key(
            self,
            "Key",
            alias=key_alias,
            description=f"Encrypts artifacts, caches, reports, logs and notifications of {description}",
        )

        self.access_log_bucket = log_bucket(
            self,
            "AccessLogs",
            why_not_logged="This bucket is the server-access-log target of the artifact bucket; logging it to "
            "itself would loop.",
        )

        self.bucket = s3.Bucket(
            self,
            "Bucket",
            bucket_name=bucket_name,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            server_access_logs_bucket=self.access_log_bucket,
            server_access_logs_prefix="artifacts/",
            removal_policy=RETAINED,
            lifecycle_rules=[
                s3.LifecycleRule(id="ExpireOldArtifacts", expiration=artifact_retention or Duration.days(365)),
                s3.LifecycleRule(id="ExpireNoncurrent", noncurrent_version_expiration=Duration.days(30)),
                s3.LifecycleRule(id="ExpireCaches", prefix="cache/", expiration=Duration.days(30)),
                s3.LifecycleRule(id="AbortUploads", abort_incomplete_multipart_upload_after=Duration.days(7)),
            ],
        )

    def grant_read_to(self, *principals: iam.IGrantable) -> None:
        """Let principals (possibly in other accounts) read artifacts: bucket and key policy both."""
        for principal in principals:
            self.bucket.grant_read(principal)
