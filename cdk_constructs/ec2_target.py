"""EC2 in-place deployment target: Auto Scaling group, its target group and rule, CodeDeploy deployment group."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_codedeploy as codedeploy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from cdk_constructs.nag import acknowledge
from cdk_constructs.public_load_balancer import LoadBalancerRefs, add_route
from cdk_constructs.rollback_alarms import RollbackAlarms
from config.model import AlarmThresholds, Ec2Settings, ListenerRoute

AUTO_ROLLBACK = codedeploy.AutoRollbackConfig(failed_deployment=True, stopped_deployment=True, deployment_in_alarm=True)


@dataclass(frozen=True)
class HealthPlaceholder:
    """What answers the load balancer's health check on a new instance until the app is deployed.

    The first instances boot before any revision exists, and nothing would listen on the health
    path: ELB health checks would replace them in a loop, the unhealthy-hosts alarm would sit in
    ALARM, and CodeDeploy stops a deployment whose alarms are in ALARM. So the user data starts a
    placeholder (Python's http.server, on the service's port, serving an "ok" at the health path)
    as the systemd unit `app-placeholder`; the revision's BeforeInstall hook disables it for good and
    the app's unit conflicts with it (service_templates/ec2). Instances that Auto Scaling launches
    later get the last revision from CodeDeploy before they go in service, and drop it the same way.
    """

    port: int
    health_check_path: str
    root: str = "/var/lib/app-placeholder"
    unit: str = "app-placeholder"

    @property
    def health_file(self) -> str:
        path = self.health_check_path.lstrip("/")
        return f"{path}index.html" if path.endswith("/") or not path else path

    def command(self, python: str = "/usr/bin/python3", root: str | None = None) -> list[str]:
        return [python, "-m", "http.server", str(self.port), "--directory", root or self.root]

    def user_data(self) -> list[str]:
        health = f"{self.root}/{self.health_file}"
        return [
            f'mkdir -p "$(dirname "{health}")" && echo ok > "{health}" && chmod -R a+rX {self.root}',
            f"cat > /etc/systemd/system/{self.unit}.service <<'EOF'",
            "[Unit]",
            "Description=Answers the load balancer's health check until the first deployment starts the app",
            "After=network-online.target",
            "Conflicts=app.service",
            "[Service]",
            f"ExecStart={' '.join(self.command())}",
            "Restart=on-failure",
            "DynamicUser=yes",
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
            "ProtectHome=yes",
            "[Install]",
            "WantedBy=multi-user.target",
            "EOF",
            "systemctl daemon-reload",
            f"systemctl enable --now {self.unit}.service",
        ]


class Ec2InPlaceTarget(Construct):
    """Instances from a launch template (AL2023 for the instance type's architecture, IMDSv2) behind an ALB.

    The load balancer may be shared: the service's listener rule forwards its route to its own
    target group, which CodeDeploy's in-place deployments deregister instances from and re-register
    them with (they never touch listeners or rules).

    The CodeDeploy agent comes from Systems Manager: a State Manager association installs it on
    every instance of the group at launch and reinstalls the current version every 14 days.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        load_balancer: LoadBalancerRefs,
        private_subnets: ec2.SubnetSelection,
        route: ListenerRoute,
        priority: int,
        codedeploy_role: iam.IRole,
        settings: Ec2Settings,
        thresholds: AlarmThresholds,
        instance_profile_name: str,
        application_name: str,
        deployment_group_name: str,
        deployment_config: codedeploy.IServerDeploymentConfig,
        environment_file: dict[str, str],
    ) -> None:
        super().__init__(scope, id_)
        vpc = load_balancer.vpc
        self.load_balancer = load_balancer
        self.security_group = ec2.SecurityGroup(
            self, "InstanceSecurityGroup", vpc=vpc, description="Service instances", allow_all_outbound=True
        )

        user_data = ec2.UserData.for_linux()
        user_data.add_commands(
            "mkdir -p /etc/app",
            "cat > /etc/app/environment <<'EOF'",
            *[f"{key}={value}" for key, value in sorted(environment_file.items())],
            "EOF",
            "chmod 0644 /etc/app/environment",
            *HealthPlaceholder(settings.port, settings.health_check_path).user_data(),
        )
        self.launch_template = ec2.LaunchTemplate(
            self,
            "LaunchTemplate",
            # The instance type's architecture decides the AMI (Graviton types arm64, the others x86_64).
            machine_image=ec2.MachineImage.latest_amazon_linux2023(
                cpu_type=ec2.AmazonLinuxCpuType.ARM_64
                if settings.architecture == "arm64"
                else ec2.AmazonLinuxCpuType.X86_64
            ),
            instance_type=ec2.InstanceType(settings.instance_type),
            instance_profile=iam.InstanceProfile.from_instance_profile_name(
                self, "InstanceProfile", instance_profile_name
            ),
            security_group=self.security_group,
            require_imdsv2=True,
            http_put_response_hop_limit=1,
            user_data=user_data,
            block_devices=[
                ec2.BlockDevice(
                    device_name="/dev/xvda",
                    volume=ec2.BlockDeviceVolume.ebs(20, encrypted=True, volume_type=ec2.EbsDeviceVolumeType.GP3),
                )
            ],
        )
        self.launch_template.add_security_group(load_balancer.targets)
        self.auto_scaling_group = autoscaling.AutoScalingGroup(
            self,
            "Instances",
            vpc=vpc,
            vpc_subnets=private_subnets,
            launch_template=self.launch_template,
            min_capacity=settings.min_capacity,
            max_capacity=settings.max_capacity,
            health_checks=autoscaling.HealthChecks.with_additional_checks(
                additional_types=[autoscaling.AdditionalHealthCheckType.ELB],
                grace_period=Duration.minutes(5),
            ),
        )
        acknowledge(
            self.auto_scaling_group,
            "AwsSolutions-AS3",
            "Scaling activity is in the group's activity history and CloudTrail; deployments report through "
            "CodeDeploy's EventBridge events, which the platform forwards to Teams.",
        )

        self.target_group = elbv2.ApplicationTargetGroup(
            self,
            "TargetGroup",
            vpc=vpc,
            port=settings.port,
            protocol=elbv2.ApplicationProtocol.HTTP,
            targets=[self.auto_scaling_group],
            deregistration_delay=Duration.seconds(30),
            health_check=elbv2.HealthCheck(
                path=settings.health_check_path,
                healthy_threshold_count=2,
                unhealthy_threshold_count=3,
                interval=Duration.seconds(15),
            ),
        )
        self.rule = add_route(
            self,
            "Rule",
            listener=load_balancer.production,
            route=route,
            priority=priority,
            target_group=self.target_group,
        )

        self.agent_association = ssm.CfnAssociation(
            self,
            "CodeDeployAgent",
            name="AWS-ConfigureAWSPackage",
            association_name=f"{deployment_group_name}-codedeploy-agent",
            parameters={
                "action": ["Install"],
                "installationType": ["Uninstall and reinstall"],
                "name": ["AWSCodeDeployAgent"],
            },
            schedule_expression="rate(14 days)",
            targets=[
                ssm.CfnAssociation.TargetProperty(
                    key="tag:aws:autoscaling:groupName",
                    values=[self.auto_scaling_group.auto_scaling_group_name],
                )
            ],
            compliance_severity="HIGH",
        )

        self.alarms = RollbackAlarms(self, "Alarms", thresholds=thresholds, name_prefix=deployment_group_name)
        period = self.alarms.period
        self.alarms.add(
            "target-5xx",
            load_balancer.target_group_metric(self.target_group, "HTTPCode_Target_5XX_Count", "Sum", period),
            thresholds.http_5xx,
            "Service instances answer with 5xx",
        )
        self.alarms.add(
            "unhealthy-hosts",
            load_balancer.target_group_metric(self.target_group, "UnHealthyHostCount", "Maximum", period),
            thresholds.unhealthy_hosts,
            "Service instances fail the load balancer health check",
        )

        self.application = codedeploy.ServerApplication(self, "Application", application_name=application_name)
        self.deployment_group = codedeploy.ServerDeploymentGroup(
            self,
            "DeploymentGroup",
            application=self.application,
            deployment_group_name=deployment_group_name,
            auto_scaling_groups=[self.auto_scaling_group],
            install_agent=False,  # Systems Manager installs and updates it (see above)
            load_balancers=[codedeploy.LoadBalancer.application(self.target_group)],
            deployment_config=deployment_config,
            alarms=self.alarms.alarms,
            auto_rollback=AUTO_ROLLBACK,
            role=codedeploy_role,
        )
