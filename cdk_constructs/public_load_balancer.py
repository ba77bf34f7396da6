"""An internet-facing Application Load Balancer with access logs, for EC2 and ECS services."""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from constructs import Construct

from cdk_constructs.nag import acknowledge
from cdk_constructs.secure_defaults import log_bucket


class PublicLoadBalancer(Construct):
    """ALB in the public subnets; `production` listener on 443 (with a certificate) or 80.

    With a certificate, port 80 only redirects to 443. `add_test_listener` opens a second
    listener for blue/green test traffic, reachable from inside the VPC only.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        vpc: ec2.IVpc,
        certificate_arn: str | None,
    ) -> None:
        super().__init__(scope, id_)
        self.vpc = vpc
        self.security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=vpc, description="Public load balancer", allow_all_outbound=False
        )
        self.access_logs = log_bucket(
            self,
            "AccessLogs",
            why_not_logged="This bucket receives the load balancer's access logs; logging its own access would "
            "add a bucket per bucket without adding an audit trail CloudTrail does not already give.",
        )
        self.alb = elbv2.ApplicationLoadBalancer(
            self,
            "Alb",
            vpc=vpc,
            internet_facing=True,
            security_group=self.security_group,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            drop_invalid_header_fields=True,
        )
        self.alb.log_access_logs(self.access_logs)
        # What the production listener is, besides where it forwards (stacks that keep the forward
        # target outside CloudFormation re-read it whenever this changes).
        self.production_settings: dict[str, str] = {
            "Port": "443" if certificate_arn else "80",
            "Protocol": "HTTPS" if certificate_arn else "HTTP",
            "CertificateArn": certificate_arn or "",
            "SslPolicy": elbv2.SslPolicy.RECOMMENDED_TLS.value if certificate_arn else "",
        }
        if certificate_arn:
            self.production = self.alb.add_listener(
                "Https",
                port=443,
                protocol=elbv2.ApplicationProtocol.HTTPS,
                certificates=[elbv2.ListenerCertificate.from_arn(certificate_arn)],
                ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
                open=True,
            )
            self.alb.add_redirect(source_port=80, target_port=443)
        else:
            self.production = self.alb.add_listener("Http", port=80, open=True)
        acknowledge(
            self.security_group,
            "AwsSolutions-EC23",
            "An internet-facing load balancer accepts its listener ports from anywhere; instances and tasks "
            "behind it accept traffic from this security group only.",
        )

    def add_test_listener(self, port: int) -> elbv2.ApplicationListener:
        listener = self.alb.add_listener("Test", port=port, protocol=elbv2.ApplicationProtocol.HTTP, open=False)
        self.security_group.add_ingress_rule(
            ec2.Peer.ipv4(self.vpc.vpc_cidr_block), ec2.Port.tcp(port), "Blue/green test traffic from the VPC"
        )
        return listener

    def allow_to(self, target: ec2.SecurityGroup, port: int) -> None:
        """Open `port` from the load balancer to its targets, and only that."""
        self.security_group.add_egress_rule(target, ec2.Port.tcp(port), "To the service")
        target.add_ingress_rule(self.security_group, ec2.Port.tcp(port), "From the load balancer")
