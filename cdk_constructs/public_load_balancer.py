"""An internet-facing Application Load Balancer that routes to services by listener rules.

The environment foundation has one or more of these, shared by its EC2 and ECS services; a
service with isolation `load_balancer` or `network` has one of its own. Either way a service
reaches it through its own listener rules (`ServiceRoute`), and requests no rule matches get a
404 from the listener itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_s3 as s3
from constructs import Construct

from cdk_constructs.nag import acknowledge
from cdk_constructs.secure_defaults import log_bucket
from config.model import ListenerRoute

# Blue/green test traffic (CodeDeploy's test route), from inside the VPC only.
TEST_LISTENER_PORT = 9000
NOT_ROUTED = elbv2.ListenerAction.fixed_response(404, content_type="text/plain", message_body="Not found")


def access_log_bucket(scope: Construct, id_: str) -> s3.Bucket:
    return log_bucket(
        scope,
        id_,
        why_not_logged="This bucket receives load balancers' access logs; logging its own access would add a "
        "bucket per bucket without adding an audit trail CloudTrail does not already give.",
    )


class PublicLoadBalancer(Construct):
    """ALB in the public subnets; `production` listener on 443 (with a certificate) or 80.

    With a certificate, port 80 only redirects to 443. With `test_listener`, a second listener on
    9000 takes blue/green test traffic, reachable from inside the VPC only. Services' instances and
    tasks join `targets`: the load balancer reaches `ports` on members of that group and nothing else.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        vpc: ec2.IVpc,
        certificate_arn: str | None,
        ports: Sequence[int],
        test_listener: bool,
        access_logs: s3.IBucket | None = None,
        access_log_prefix: str | None = None,
    ) -> None:
        super().__init__(scope, id_)
        self.vpc = vpc
        self.security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=vpc, description="Public load balancer", allow_all_outbound=False
        )
        self.targets = ec2.SecurityGroup(
            self,
            "Targets",
            vpc=vpc,
            description="Instances and tasks behind the public load balancer",
            allow_all_outbound=False,
        )
        for port in sorted(set(ports)):
            self.security_group.add_egress_rule(self.targets, ec2.Port.tcp(port), f"To services on {port}")
            self.targets.add_ingress_rule(self.security_group, ec2.Port.tcp(port), "From the load balancer")
        self.access_logs = access_logs or access_log_bucket(self, "AccessLogs")
        self.alb = elbv2.ApplicationLoadBalancer(
            self,
            "Alb",
            vpc=vpc,
            internet_facing=True,
            security_group=self.security_group,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            drop_invalid_header_fields=True,
        )
        self.alb.log_access_logs(self.access_logs, prefix=access_log_prefix)
        if certificate_arn:
            self.production = self.alb.add_listener(
                "Https",
                port=443,
                protocol=elbv2.ApplicationProtocol.HTTPS,
                certificates=[elbv2.ListenerCertificate.from_arn(certificate_arn)],
                ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
                open=True,
                default_action=NOT_ROUTED,
            )
            self.alb.add_redirect(source_port=80, target_port=443)
        else:
            self.production = self.alb.add_listener("Http", port=80, open=True, default_action=NOT_ROUTED)
        self.test: elbv2.ApplicationListener | None = None
        if test_listener:
            self.test = self.alb.add_listener(
                "Test",
                port=TEST_LISTENER_PORT,
                protocol=elbv2.ApplicationProtocol.HTTP,
                open=False,
                default_action=NOT_ROUTED,
            )
            self.security_group.add_ingress_rule(
                ec2.Peer.ipv4(vpc.vpc_cidr_block),
                ec2.Port.tcp(TEST_LISTENER_PORT),
                "Blue/green test traffic from the VPC",
            )
        acknowledge(
            self.security_group,
            "AwsSolutions-EC23",
            "An internet-facing load balancer accepts its listener ports from anywhere; instances and tasks "
            "behind it accept traffic from this security group only.",
        )


@dataclass(frozen=True)
class LoadBalancerRefs:
    """What a service stack needs of a load balancer, shared or its own."""

    vpc: ec2.IVpc
    production: elbv2.IApplicationListener
    test: elbv2.IApplicationListener | None
    load_balancer_full_name: str
    targets: ec2.ISecurityGroup
    security_group: ec2.ISecurityGroup

    @classmethod
    def of(cls, balancer: PublicLoadBalancer) -> LoadBalancerRefs:
        return cls(
            balancer.vpc,
            balancer.production,
            balancer.test,
            balancer.alb.load_balancer_full_name,
            balancer.targets,
            balancer.security_group,
        )

    def imported_into(self, scope: Construct) -> LoadBalancerRefs:
        """The same load balancer, seen from a service stack: listeners by ARN, security groups immutable.

        Without this, CDK would add a rule per service to the shared load balancer's security group
        (aws/aws-cdk#22262), and a security group holds 60 rules each way; the foundation's `targets`
        group already lets the load balancer reach every service port, and only those.
        """
        balancer_group = ec2.SecurityGroup.from_security_group_id(
            scope, "LoadBalancerSecurityGroup", self.security_group.security_group_id, mutable=False
        )

        def listener(id_: str, arn: str) -> elbv2.IApplicationListener:
            return elbv2.ApplicationListener.from_application_listener_attributes(
                scope, id_, listener_arn=arn, security_group=balancer_group
            )

        return LoadBalancerRefs(
            self.vpc,
            listener("ProductionListener", self.production.listener_arn),
            listener("TestListener", self.test.listener_arn) if self.test is not None else None,
            self.load_balancer_full_name,
            ec2.SecurityGroup.from_security_group_id(
                scope, "TargetsSecurityGroup", self.targets.security_group_id, mutable=False
            ),
            balancer_group,
        )

    def target_group_metric(
        self, group: elbv2.ApplicationTargetGroup, metric_name: str, statistic: str, period: Duration
    ) -> cloudwatch.Metric:
        """A target group's ALB metric (what group.metrics gives, for a group attached outside CDK's view)."""
        return cloudwatch.Metric(
            namespace="AWS/ApplicationELB",
            metric_name=metric_name,
            dimensions_map={
                "TargetGroup": group.target_group_full_name,
                "LoadBalancer": self.load_balancer_full_name,
            },
            statistic=statistic,
            period=period,
        )


def route_conditions(route: ListenerRoute) -> list[elbv2.ListenerCondition]:
    conditions = []
    if route.hosts:
        conditions.append(elbv2.ListenerCondition.host_headers(list(route.hosts)))
    if route.paths:
        conditions.append(elbv2.ListenerCondition.path_patterns(list(route.paths)))
    return conditions


def add_route(
    scope: Construct,
    id_: str,
    *,
    listener: elbv2.IApplicationListener,
    route: ListenerRoute,
    priority: int,
    target_group: elbv2.IApplicationTargetGroup,
) -> elbv2.ApplicationListenerRule:
    """The service's rule on a (possibly shared) listener: its route forwards to its target group."""
    return elbv2.ApplicationListenerRule(
        scope,
        id_,
        listener=listener,
        priority=priority,
        conditions=route_conditions(route),
        action=elbv2.ListenerAction.forward([target_group]),
    )
