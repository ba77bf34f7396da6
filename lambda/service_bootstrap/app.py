"""Bootstrap code of every Lambda service: answers the health check until the first deployment.

The service stack deploys this once; the pipeline's first run replaces it with the service's
own code (same handler, app.handler). It never changes, so CloudFormation never pushes it
over code the pipeline deployed.
"""

import json


def handler(event, context):  # type: ignore[no-untyped-def]
    return {"statusCode": 200, "body": json.dumps({"status": "ok", "bootstrap": True})}
