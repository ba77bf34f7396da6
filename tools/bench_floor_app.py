"""The benchmark's floor: the app `cdk init app --language python` writes, with one empty stack.

No tuning of any kind: what a CDK user pays before writing a construct.
"""

import aws_cdk as cdk

app = cdk.App()
cdk.Stack(app, "Empty")
app.synth()
