"""The benchmark's floor: a CDK app with one empty stack, synthesized like app.py (same CLI and flags)."""

import aws_cdk as cdk

app = cdk.App(builtin_cloud_formation_validation=False, stack_traces=False)
cdk.Stack(app, "Empty", env=cdk.Environment(account="111111111111", region="eu-west-1"))
app.synth()
