"""The VPC a service runs in: a new one per service stack, or an existing one given by ids (no lookups)."""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct

from cdk_constructs.secure_defaults import RETAINED
from config.model import ImportedNetwork, NewNetwork


class ServiceNetwork(Construct):
    """`vpc` with public subnets (load balancers) and private subnets (instances, tasks).

    A new VPC spans the given AZs (the stack's, named in the config so synth needs no
    lookup), one NAT gateway by default, and logs rejected flows.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        network: ImportedNetwork | NewNetwork,
        availability_zones: list[str],
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, id_)
        self.vpc: ec2.IVpc
        if isinstance(network, ImportedNetwork):
            self.vpc = ec2.Vpc.from_vpc_attributes(
                self,
                "Vpc",
                vpc_id=network.vpc_id,
                vpc_cidr_block=network.cidr,
                availability_zones=network.availability_zones,
                public_subnet_ids=network.public_subnet_ids,
                private_subnet_ids=network.private_subnet_ids,
            )
            self.private_subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)
            return
        private_type = (
            ec2.SubnetType.PRIVATE_WITH_EGRESS if network.nat_gateways > 0 else ec2.SubnetType.PRIVATE_ISOLATED
        )
        vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(network.cidr),
            availability_zones=availability_zones,
            nat_gateways=network.nat_gateways,
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24),
                ec2.SubnetConfiguration(name="private", subnet_type=private_type, cidr_mask=22),
            ],
        )
        flow_logs = logs.LogGroup(self, "FlowLogs", retention=log_retention, removal_policy=RETAINED)
        vpc.add_flow_log(
            "RejectedFlows",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
            traffic_type=ec2.FlowLogTrafficType.REJECT,
        )
        self.vpc = vpc
        self.private_subnets = ec2.SubnetSelection(subnet_type=private_type)
