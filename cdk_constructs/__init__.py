"""Reusable L3 constructs. Named `cdk_constructs`, not `constructs`: a top-level `constructs`
folder would shadow the `constructs` library that aws-cdk-lib imports (aws/aws-cdk#19301)."""
