"""Offline proof that AWS would accept the platform: a deploy simulation from AWS's published data.

`python -m tools.preflight` (and `tests/gates/test_deploy_simulation.py`) simulate every
CloudFormation operation of a synthesized cloud assembly as each account's execution role:
`published` reads the resource provider schemas and IAM's service authorization reference,
`template` resolves names, ARNs and intrinsic functions, `policy` evaluates IAM policies and
`simulate` runs the checks.
"""
