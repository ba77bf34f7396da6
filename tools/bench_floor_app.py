"""The benchmark's floor: a CDK app with one empty stack, synthesized like app.py (same CLI and flags).

With --with-platform-imports it first imports every module the platform imports (and so every
aws-cdk-lib service module it uses) and still synthesizes one empty stack: the difference to
the plain floor is the cost of loading those modules.
"""

import sys

if "--with-platform-imports" in sys.argv:
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import stacks.platform  # noqa: F401

import aws_cdk as cdk

app = cdk.App(builtin_cloud_formation_validation=False, stack_traces=False)
cdk.Stack(app, "Empty", env=cdk.Environment(account="111111111111", region="eu-west-1"))
app.synth()
