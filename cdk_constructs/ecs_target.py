"""ECS blue/green deployment target: Fargate service (CODE_DEPLOY controller), two target groups, rules."""

from __future__ import annotations

from aws_cdk import Annotations, CustomResource, Duration
from aws_cdk import aws_codedeploy as codedeploy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from cdk_constructs.ec2_target import AUTO_ROLLBACK
from cdk_constructs.nag import acknowledge
from cdk_constructs.public_load_balancer import LoadBalancerRefs, add_route
from cdk_constructs.rollback_alarms import RollbackAlarms
from cdk_constructs.secure_defaults import RETAINED
from config.model import AlarmThresholds, EcsSettings, ListenerRoute

# Serves the health path until the pipeline's first deployment replaces it with the service image
# (the tooling account's repository is empty when this stack is first deployed).
BOOTSTRAP_IMAGE = "public.ecr.aws/docker/library/python:3.13-alpine"


class EcsBlueGreenTarget(Construct):
    """A Fargate (ARM64) service whose task sets CodeDeploy swaps between a blue and a green target group.

    Production traffic comes through the service's rule on the production listener, test traffic
    (for validation before the shift) through its rule on the test listener, reachable from inside
    the VPC only. Both listeners may be shared with other services (the environment foundation's);
    CodeDeploy names the listeners as the routes and moves the rules that forward to this service's
    target groups (docs/adr/0005-environment-foundation.md).
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        load_balancer: LoadBalancerRefs,
        private_subnets: ec2.SubnetSelection,
        cluster: ecs.ICluster,
        route: ListenerRoute,
        priority: int,
        codedeploy_role: iam.IRole,
        settings: EcsSettings,
        thresholds: AlarmThresholds,
        service_name: str,
        family: str,
        container_name: str,
        execution_role_arn: str,
        task_role_name: str,
        log_group_name: str,
        log_retention: logs.RetentionDays,
        application_name: str,
        deployment_group_name: str,
        deployment_config: codedeploy.IEcsDeploymentConfig,
        listener_traffic_token: str,
    ) -> None:
        super().__init__(scope, id_)
        port = settings.container_port
        vpc = load_balancer.vpc
        if load_balancer.test is None:
            raise ValueError("an ECS blue/green service needs a load balancer with a test listener")
        self.load_balancer, self.test_listener = load_balancer, load_balancer.test
        self.route, self.priority = route, priority
        self.cluster = cluster
        self.log_group = logs.LogGroup(
            self, "Logs", log_group_name=log_group_name, retention=log_retention, removal_policy=RETAINED
        )
        self.task_role = iam.Role(
            self,
            "TaskRole",
            role_name=task_role_name,
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description=f"Runtime role of {service_name}: grant the service's own AWS access here",
        )
        # Fixed size: CloudFormation cannot change a CODE_DEPLOY service's task definition, so this
        # bootstrap definition never changes; the pipeline registers the real one (taskdef-<env>.json).
        self.task_definition = ecs.FargateTaskDefinition(
            self,
            "BootstrapTask",
            family=family,
            cpu=256,
            memory_limit_mib=512,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.ARM64,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
            execution_role=iam.Role.from_role_arn(self, "ExecutionRole", execution_role_arn, mutable=False),
            task_role=self.task_role,
        )
        health = settings.health_check_path.lstrip("/") or "index.html"
        self.task_definition.add_container(
            "Service",
            container_name=container_name,
            image=ecs.ContainerImage.from_registry(BOOTSTRAP_IMAGE),
            entry_point=["sh", "-c"],
            command=[
                f'mkdir -p "/tmp/www/$(dirname "{health}")" && echo ok > "/tmp/www/{health}" '
                f"&& exec python -m http.server {port} --directory /tmp/www"
            ],
            port_mappings=[ecs.PortMapping(container_port=port)],
            logging=ecs.LogDriver.aws_logs(stream_prefix=container_name, log_group=self.log_group),
        )

        # Its own group (for the service's own rules) and the load balancer's targets group (the only
        # way in from the load balancer).
        self.security_group = ec2.SecurityGroup(
            self, "ServiceSecurityGroup", vpc=vpc, description="Service tasks", allow_all_outbound=True
        )
        self.service = ecs.FargateService(
            self,
            "Service",
            cluster=self.cluster,
            service_name=service_name,
            task_definition=self.task_definition,
            desired_count=settings.desired_count,
            deployment_controller=ecs.DeploymentController(type=ecs.DeploymentControllerType.CODE_DEPLOY),
            vpc_subnets=private_subnets,
            security_groups=[self.security_group, load_balancer.targets],
            assign_public_ip=False,
            health_check_grace_period=Duration.seconds(60),
            # CodeDeploy's task sets govern blue/green capacity; stated so no default is implied.
            min_healthy_percent=100,
            max_healthy_percent=200,
        )

        def target_group(name: str) -> elbv2.ApplicationTargetGroup:
            return elbv2.ApplicationTargetGroup(
                self,
                name,
                vpc=vpc,
                port=port,
                protocol=elbv2.ApplicationProtocol.HTTP,
                target_type=elbv2.TargetType.IP,
                deregistration_delay=Duration.seconds(30),
                health_check=elbv2.HealthCheck(
                    path=settings.health_check_path,
                    healthy_threshold_count=2,
                    unhealthy_threshold_count=3,
                    interval=Duration.seconds(15),
                ),
            )

        self.blue = target_group("Blue")
        self.green = target_group("Green")
        self.service.attach_to_application_target_group(self.blue)
        self._forward_to_live_target_groups(listener_traffic_token)

        self.alarms = RollbackAlarms(self, "Alarms", thresholds=thresholds, name_prefix=deployment_group_name)
        period = self.alarms.period
        for color, group in (("blue", self.blue), ("green", self.green)):
            self.alarms.add(
                f"{color}-target-5xx",
                self.load_balancer.target_group_metric(group, "HTTPCode_Target_5XX_Count", "Sum", period),
                thresholds.http_5xx,
                f"Tasks in the {color} target group answer with 5xx",
            )
            self.alarms.add(
                f"{color}-unhealthy-hosts",
                self.load_balancer.target_group_metric(group, "UnHealthyHostCount", "Maximum", period),
                thresholds.unhealthy_hosts,
                f"Tasks in the {color} target group fail the health check",
            )

        self.application = codedeploy.EcsApplication(self, "Application", application_name=application_name)
        self.deployment_group = codedeploy.EcsDeploymentGroup(
            self,
            "DeploymentGroup",
            application=self.application,
            deployment_group_name=deployment_group_name,
            service=self.service,
            blue_green_deployment_config=codedeploy.EcsBlueGreenDeploymentConfig(
                blue_target_group=self.blue,
                green_target_group=self.green,
                listener=load_balancer.production,
                test_listener=self.test_listener,
                termination_wait_time=Duration.minutes(5),
            ),
            deployment_config=deployment_config,
            alarms=self.alarms.alarms,
            auto_rollback=AUTO_ROLLBACK,
            role=codedeploy_role,
        )
        acknowledge(
            self.task_definition,
            "AwsSolutions-ECS2",
            "The bootstrap container gets no environment variables of ours; CDK adds none that carry secrets.",
        )

    def _forward_to_live_target_groups(self, service_token: str) -> None:
        """The service's rules forward where CodeDeploy last sent their traffic, not where the template first did.

        CodeDeploy moves the rules between blue and green; a template that always said "blue" would
        move production back to blue (whose tasks CodeDeploy has terminated) on the next update of the
        rule. Custom::ListenerTraffic reads the live target groups on every deploy that changes a rule
        setting (lambda/listener_traffic), and the rules use its answer.
        """
        traffic = CustomResource(
            self,
            "ListenerTraffic",
            service_token=service_token,
            resource_type="Custom::ListenerTraffic",
            properties={
                "ProductionListenerArn": self.load_balancer.production.listener_arn,
                "TestListenerArn": self.test_listener.listener_arn,
                "BlueTargetGroupArn": self.blue.target_group_arn,
                "GreenTargetGroupArn": self.green.target_group_arn,
                # What the rules are, besides where they forward: a change re-reads the live state first.
                "Rule": {
                    "Priority": str(self.priority),
                    "Hosts": list(self.route.hosts),
                    "Paths": list(self.route.paths),
                },
            },
        )
        self.rules: list[elbv2.ApplicationListenerRule] = []
        for listener, attribute, id_ in (
            (self.load_balancer.production, "ProductionTargetGroupArn", "ProductionRule"),
            (self.test_listener, "TestTargetGroupArn", "TestRule"),
        ):
            live = elbv2.ApplicationTargetGroup.from_target_group_attributes(
                self, f"Live{attribute}", target_group_arn=traffic.get_att_string(attribute)
            )
            Annotations.of(live).acknowledge_warning(
                "@aws-cdk/aws-elbv2:albTargetGroupCannotRegisterListener",
                "The load balancer reaches the tasks through its targets security group.",
            )
            self.rules.append(
                add_route(self, id_, listener=listener, route=self.route, priority=self.priority, target_group=live)
            )
        # ECS accepts a service's target group only once a listener rule forwards to it; CDK adds that
        # dependency only for target groups it attached itself.
        self.service.node.add_dependency(*self.rules)
