"""The platform's secure defaults for keys and log buckets, in one place."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from cdk_constructs.nag import acknowledge

# How the platform keeps stateful resources (repositories, buckets, keys, log groups, secrets,
# tables): kept when their stack is deleted or they are replaced, but deleted when the stack's
# first deploy rolls back (DeletionPolicy RetainExceptOnCreate), so that a retry does not fail on
# names a failed attempt left behind.
RETAINED = RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE


def retained_key(scope: Construct, id_: str, *, alias: str, description: str) -> kms.Key:
    """A customer managed KMS key with yearly rotation, kept when its stack is deleted."""
    return kms.Key(
        scope,
        id_,
        alias=alias,
        description=description,
        enable_key_rotation=True,
        removal_policy=RETAINED,
    )


def log_bucket(scope: Construct, id_: str, *, why_not_logged: str) -> s3.Bucket:
    """A private, TLS-only, retained bucket for logs AWS services deliver (which support SSE-S3 only).

    Its own access is not logged (that would need a bucket per bucket); `why_not_logged`
    says why for this bucket, as cdk-nag's acknowledgement.
    """
    bucket = s3.Bucket(
        scope,
        id_,
        encryption=s3.BucketEncryption.S3_MANAGED,
        enforce_ssl=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        removal_policy=RETAINED,
        versioned=True,
        lifecycle_rules=[
            s3.LifecycleRule(expiration=Duration.days(365), noncurrent_version_expiration=Duration.days(30))
        ],
    )
    acknowledge(bucket, "AwsSolutions-S1", why_not_logged)
    return bucket
