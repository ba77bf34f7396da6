"""config/aws_data.json is what the pinned botocore publishes (python -m tools.aws_data rewrites it)."""

from __future__ import annotations

from config import aws_facts
from tools.aws_data import generate, render


def test_the_shipped_aws_data_matches_botocore() -> None:
    assert aws_facts.DATA_FILE.read_text(encoding="utf-8") == render(generate()), (
        "config/aws_data.json is stale: run `make aws-data` (python -m tools.aws_data)"
    )


def test_instance_architectures_follow_the_naming_of_graviton_families() -> None:
    types = aws_facts.instance_types()
    assert {"t4g.small", "m7g.large", "c7gn.xlarge", "m5.large", "c7i-flex.large"} <= types
    assert {t: aws_facts.instance_architecture(t) for t in ("t4g.small", "m7g.large", "c7gn.xlarge", "a1.large")} == (
        dict.fromkeys(("t4g.small", "m7g.large", "c7gn.xlarge", "a1.large"), "arm64")
    )
    assert {aws_facts.instance_architecture(t) for t in ("m5.large", "c7i-flex.large", "g4dn.xlarge", "t3.micro")} == {
        "x86_64"
    }
    assert aws_facts.instance_architecture("mac2.metal") is None
