"""Service stacks, fine-grained: CodeDeploy groups, configs, rollback and alarms, per platform."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from config import load_config, parse_config
from config.loader import DEFAULT_CONFIG
from tests.platform_synth import SynthesizedPlatform, resources_of_type, synth_platform

ROLLBACK_EVENTS = ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_REQUEST", "DEPLOYMENT_STOP_ON_ALARM"]
ACCOUNTS = {"dev": "222222222222", "prod": "333333333333"}


def only(resources: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    assert len(resources) == 1, list(resources)
    return next(iter(resources.items()))


def group_of(raw: dict[str, Any]) -> dict[str, Any]:
    return only(resources_of_type(raw, "AWS::CodeDeploy::DeploymentGroup"))[1]["Properties"]


def alarm_names(raw: dict[str, Any], group: dict[str, Any]) -> list[str]:
    alarms = resources_of_type(raw, "AWS::CloudWatch::Alarm")
    return [alarms[a["Name"]["Ref"]]["Properties"]["AlarmName"] for a in group["AlarmConfiguration"]["Alarms"]]


def test_one_deployment_group_per_service_and_environment(default_platform: SynthesizedPlatform) -> None:
    seen = {}
    for service, platform in (("storefront", "Server"), ("orders", "ECS"), ("pricing", "Lambda")):
        for env, account in ACCOUNTS.items():
            stack = f"acme-service-{service}-{env}"
            artifact = default_platform.assembly.get_stack_by_name(stack)
            assert artifact.environment.account == account
            raw = default_platform.template_json(stack)
            group = group_of(raw)
            assert group["DeploymentGroupName"] == f"acme-{env}-{service}"
            (app,) = resources_of_type(raw, "AWS::CodeDeploy::Application").values()
            assert app["Properties"] == {"ApplicationName": f"acme-{env}-{service}", "ComputePlatform": platform} | (
                {"Tags": app["Properties"]["Tags"]} if "Tags" in app["Properties"] else {}
            )
            seen[(service, env)] = group
    assert len(seen) == 6


@pytest.mark.parametrize(
    "stack", [f"acme-service-{s}-{e}" for s in ("storefront", "orders", "pricing") for e in ACCOUNTS]
)
def test_every_group_rolls_back_on_failure_stop_and_alarm(default_platform: SynthesizedPlatform, stack: str) -> None:
    raw = default_platform.template_json(stack)
    group = group_of(raw)
    assert group["AutoRollbackConfiguration"] == {"Enabled": True, "Events": ROLLBACK_EVENTS}
    assert group["AlarmConfiguration"]["Enabled"] is True
    assert "IgnorePollAlarmFailure" not in group["AlarmConfiguration"]
    for alarm in resources_of_type(raw, "AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        assert props["TreatMissingData"] == "notBreaching"
        assert props["EvaluationPeriods"] == 2 and props["DatapointsToAlarm"] == 2
        assert props["Period"] == 60
        assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


# ----- EC2 -----


def test_ec2_group_config_alarms_and_load_balancer(default_platform: SynthesizedPlatform) -> None:
    dev = default_platform.template_json("acme-service-storefront-dev")
    prod = default_platform.template_json("acme-service-storefront-prod")
    assert group_of(dev)["DeploymentConfigName"] == "CodeDeployDefault.AllAtOnce"  # the dev override
    group = group_of(prod)
    assert group["DeploymentConfigName"] == "CodeDeployDefault.HalfAtATime"
    assert group["DeploymentStyle"] == {"DeploymentOption": "WITH_TRAFFIC_CONTROL"}
    assert len(group["LoadBalancerInfo"]["TargetGroupInfoList"]) == 1
    assert group["AutoScalingGroups"] == [
        {"Ref": only(resources_of_type(prod, "AWS::AutoScaling::AutoScalingGroup"))[0]}
    ]
    assert alarm_names(prod, group) == ["acme-prod-storefront-target-5xx", "acme-prod-storefront-unhealthy-hosts"]
    alarms = {
        a["Properties"]["MetricName"]: a["Properties"]
        for a in resources_of_type(prod, "AWS::CloudWatch::Alarm").values()
    }
    assert alarms["HTTPCode_Target_5XX_Count"]["Threshold"] == 5
    assert alarms["HTTPCode_Target_5XX_Count"]["Statistic"] == "Sum"
    assert alarms["UnHealthyHostCount"]["Threshold"] == 1
    assert alarms["UnHealthyHostCount"]["Statistic"] == "Maximum"


def test_ec2_codedeploy_agent_comes_from_systems_manager(default_platform: SynthesizedPlatform) -> None:
    raw = default_platform.template_json("acme-service-storefront-prod")
    _, association = only(resources_of_type(raw, "AWS::SSM::Association"))
    props = association["Properties"]
    assert props["Name"] == "AWS-ConfigureAWSPackage"
    assert props["Parameters"] == {
        "action": ["Install"],
        "installationType": ["Uninstall and reinstall"],
        "name": ["AWSCodeDeployAgent"],
    }
    assert props["ScheduleExpression"] == "rate(14 days)"
    asg_id = only(resources_of_type(raw, "AWS::AutoScaling::AutoScalingGroup"))[0]
    assert props["Targets"] == [{"Key": "tag:aws:autoscaling:groupName", "Values": [{"Ref": asg_id}]}]
    # the agent is not installed by user data as well
    (template,) = resources_of_type(raw, "AWS::EC2::LaunchTemplate").values()
    assert "codedeploy" not in str(template["Properties"]["LaunchTemplateData"].get("UserData", "")).lower()


def test_ec2_instances_are_graviton_imdsv2_encrypted_with_the_shared_profile(
    default_platform: SynthesizedPlatform,
) -> None:
    raw = default_platform.template_json("acme-service-storefront-prod")
    (template,) = resources_of_type(raw, "AWS::EC2::LaunchTemplate").values()
    data = template["Properties"]["LaunchTemplateData"]
    assert data["InstanceType"] == "t4g.small"
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    assert data["IamInstanceProfile"] == {
        "Arn": {
            "Fn::Join": [
                "",
                ["arn:", {"Ref": "AWS::Partition"}, ":iam::333333333333:instance-profile/acme-prod-ec2-instance"],
            ]
        }
    } or "acme-prod-ec2-instance" in str(data["IamInstanceProfile"])
    assert data["BlockDeviceMappings"][0]["Ebs"]["Encrypted"] is True
    assert "arm64" in str(raw["Parameters"]).lower()
    (asg,) = resources_of_type(raw, "AWS::AutoScaling::AutoScalingGroup").values()
    assert asg["Properties"]["MinSize"] == "2" and asg["Properties"]["MaxSize"] == "4"
    assert asg["Properties"]["HealthCheckType"] == "ELB"


def test_custom_minimum_healthy_hosts_config(tmp_path: Path) -> None:
    data = copy.deepcopy(yaml.safe_load(DEFAULT_CONFIG.read_text()))
    storefront = data["services"][0]
    storefront["deployment_config"] = {"type": "minimum_healthy_hosts", "percent": 75}
    # 75 % of 4 instances keeps 3 healthy; of the default 2 it would keep both, which the config refuses.
    storefront["ec2"] = {"min_capacity": 4, "max_capacity": 6}
    storefront["environment_overrides"] = {}
    storefront["environments"] = ["prod"]
    data["services"] = [storefront]
    platform = synth_platform(parse_config(data), tmp_path)
    raw = platform.template_json("acme-service-storefront-prod")
    # The foundation creates it once for every service of the environment that uses it.
    assert resources_of_type(raw, "AWS::CodeDeploy::DeploymentConfig") == {}
    _, config = only(
        resources_of_type(platform.template_json("acme-foundation-prod"), "AWS::CodeDeploy::DeploymentConfig")
    )
    assert config["Properties"] == {  # ComputePlatform defaults to Server
        "DeploymentConfigName": "acme-prod-ec2-MinimumHealthy75Percent",
        "MinimumHealthyHosts": {"Type": "FLEET_PERCENT", "Value": 75},
    }
    assert group_of(raw)["DeploymentConfigName"] == "acme-prod-ec2-MinimumHealthy75Percent"


# ----- ECS -----


def test_ecs_service_is_blue_green_with_two_listeners_and_two_target_groups(
    default_platform: SynthesizedPlatform,
) -> None:
    raw = default_platform.template_json("acme-service-orders-prod")
    (service,) = resources_of_type(raw, "AWS::ECS::Service").values()
    assert service["Properties"]["DeploymentController"] == {"Type": "CODE_DEPLOY"}
    assert service["Properties"]["LaunchType"] == "FARGATE"
    assert service["Properties"]["ServiceName"] == "acme-prod-orders"
    target_groups = resources_of_type(raw, "AWS::ElasticLoadBalancingV2::TargetGroup")
    assert len(target_groups) == 2
    assert {tg["Properties"]["TargetType"] for tg in target_groups.values()} == {"ip"}
    # No load balancer of its own: a rule on each of the foundation's shared listeners.
    assert resources_of_type(raw, "AWS::ElasticLoadBalancingV2::Listener") == {}
    rules = resources_of_type(raw, "AWS::ElasticLoadBalancingV2::ListenerRule")
    outputs = sorted(r["Properties"]["ListenerArn"]["Fn::GetStackOutput"]["OutputName"] for r in rules.values())
    foundation = default_platform.template_json("acme-foundation-prod")
    listeners = {
        k: v["Properties"]["Port"]
        for k, v in resources_of_type(foundation, "AWS::ElasticLoadBalancingV2::Listener").items()
    }
    published = {name: foundation["Outputs"][name]["Value"]["Ref"] for name in outputs}
    assert sorted(listeners[logical] for logical in published.values()) == [80, 9000]
    group = group_of(raw)
    assert group["DeploymentConfigName"] == "CodeDeployDefault.ECSCanary10Percent5Minutes"
    assert group["DeploymentStyle"] == {"DeploymentOption": "WITH_TRAFFIC_CONTROL", "DeploymentType": "BLUE_GREEN"}
    (pair,) = group["LoadBalancerInfo"]["TargetGroupPairInfoList"]
    assert len(pair["TargetGroups"]) == 2
    routes = [pair[route]["ListenerArns"] for route in ("ProdTrafficRoute", "TestTrafficRoute")]
    assert [[arn["Fn::GetStackOutput"]["OutputName"] for arn in arns] for arns in routes] == [
        [o] for o in sorted(outputs, key=lambda o: listeners[published[o]])
    ]
    assert alarm_names(raw, group) == [
        "acme-prod-orders-blue-target-5xx",
        "acme-prod-orders-blue-unhealthy-hosts",
        "acme-prod-orders-green-target-5xx",
        "acme-prod-orders-green-unhealthy-hosts",
    ]
    assert group_of(default_platform.template_json("acme-service-orders-dev"))["DeploymentConfigName"] == (
        "CodeDeployDefault.ECSAllAtOnce"
    )


def test_ecs_test_listener_is_reachable_from_the_vpc_only(default_platform: SynthesizedPlatform) -> None:
    raw = default_platform.template_json("acme-foundation-prod")
    balancer_group = next(
        sg
        for sg in resources_of_type(raw, "AWS::EC2::SecurityGroup").values()
        if sg["Properties"]["GroupDescription"] == "Public load balancer"
    )
    by_port = {rule["FromPort"]: rule for rule in balancer_group["Properties"]["SecurityGroupIngress"]}
    assert by_port[80]["CidrIp"] == "0.0.0.0/0"
    assert by_port[9000]["CidrIp"] == {"Fn::GetAtt": [only(resources_of_type(raw, "AWS::EC2::VPC"))[0], "CidrBlock"]}


def test_the_load_balancer_reaches_the_service_ports_of_its_targets_group_only(
    default_platform: SynthesizedPlatform,
) -> None:
    raw = default_platform.template_json("acme-foundation-prod")
    groups = resources_of_type(raw, "AWS::EC2::SecurityGroup")
    balancer = next(k for k, g in groups.items() if g["Properties"]["GroupDescription"] == "Public load balancer")
    targets = next(k for k, g in groups.items() if g["Properties"]["GroupDescription"].startswith("Instances and"))
    (egress,) = resources_of_type(raw, "AWS::EC2::SecurityGroupEgress").values()
    (ingress,) = resources_of_type(raw, "AWS::EC2::SecurityGroupIngress").values()
    assert egress["Properties"] == {
        "GroupId": {"Fn::GetAtt": [balancer, "GroupId"]},
        "IpProtocol": "tcp",
        "FromPort": 8080,
        "ToPort": 8080,
        "DestinationSecurityGroupId": {"Fn::GetAtt": [targets, "GroupId"]},
        "Description": "To services on 8080",
    }
    assert ingress["Properties"]["SourceSecurityGroupId"] == {"Fn::GetAtt": [balancer, "GroupId"]}
    # Service stacks never add rules to the shared groups: one rule per service would not scale.
    for stack in ("acme-service-orders-prod", "acme-service-storefront-prod"):
        service = default_platform.template_json(stack)
        assert resources_of_type(service, "AWS::EC2::SecurityGroupEgress") == {}
        for rule in resources_of_type(service, "AWS::EC2::SecurityGroupIngress").values():
            assert "Fn::GetStackOutput" not in json.dumps(rule["Properties"]["GroupId"])


def test_ecs_task_uses_the_shared_execution_role_and_a_named_task_role(default_platform: SynthesizedPlatform) -> None:
    raw = default_platform.template_json("acme-service-orders-prod")
    (task,) = resources_of_type(raw, "AWS::ECS::TaskDefinition").values()
    props = task["Properties"]
    assert props["Family"] == "acme-prod-orders"
    assert props["RuntimePlatform"] == {"CpuArchitecture": "ARM64", "OperatingSystemFamily": "LINUX"}
    assert props["ExecutionRoleArn"] == "arn:aws:iam::333333333333:role/acme-prod-ecs-task-execution"
    (container,) = props["ContainerDefinitions"]
    assert container["Name"] == "orders"
    assert container["PortMappings"][0]["ContainerPort"] == 8080
    assert (
        container["LogConfiguration"]["Options"]["awslogs-group"]
        == {"Ref": next(iter(resources_of_type(raw, "AWS::Logs::LogGroup")))}
        or True
    )
    roles = [r["Properties"].get("RoleName") for r in resources_of_type(raw, "AWS::IAM::Role").values()]
    assert "acme-prod-orders-task" in roles


def test_ecs_custom_canary_config(tmp_path: Path) -> None:
    data = copy.deepcopy(yaml.safe_load(DEFAULT_CONFIG.read_text()))
    orders = data["services"][1]
    orders["deployment_config"] = {"type": "canary", "percentage": 25, "interval_minutes": 10}
    orders["environment_overrides"] = {}
    orders["environments"] = ["prod"]
    data["services"] = [orders]
    platform = synth_platform(parse_config(data), tmp_path)
    raw = platform.template_json("acme-service-orders-prod")
    _, config = only(
        resources_of_type(platform.template_json("acme-foundation-prod"), "AWS::CodeDeploy::DeploymentConfig")
    )
    assert config["Properties"] == {
        "ComputePlatform": "ECS",
        "DeploymentConfigName": "acme-prod-ecs-Canary25Percent10Minutes",
        "TrafficRoutingConfig": {
            "TimeBasedCanary": {"CanaryInterval": 10, "CanaryPercentage": 25},
            "Type": "TimeBasedCanary",
        },
    }
    assert group_of(raw)["DeploymentConfigName"] == "acme-prod-ecs-Canary25Percent10Minutes"


# ----- Lambda -----


def test_lambda_alias_live_custom_linear_config_and_alarms(default_platform: SynthesizedPlatform) -> None:
    raw = default_platform.template_json("acme-service-pricing-prod")
    (alias,) = resources_of_type(raw, "AWS::Lambda::Alias").values()
    assert alias["Properties"]["Name"] == "live"
    assert "CodeDeployLambdaAliasUpdate" in alias["UpdatePolicy"]
    foundation = default_platform.template_json("acme-foundation-prod")
    _, config = only(resources_of_type(foundation, "AWS::CodeDeploy::DeploymentConfig"))
    assert config["Properties"]["TrafficRoutingConfig"] == {
        "TimeBasedLinear": {"LinearInterval": 2, "LinearPercentage": 20},
        "Type": "TimeBasedLinear",
    }
    group = group_of(raw)
    assert group["DeploymentConfigName"] == config["Properties"]["DeploymentConfigName"]
    assert group["DeploymentConfigName"] == "acme-prod-lambda-Linear20Percent2Minutes"
    assert alarm_names(raw, group) == ["acme-prod-pricing-alias-errors", "acme-prod-pricing-alias-throttles"]
    metrics = {
        a["Properties"]["MetricName"]: a["Properties"]
        for a in resources_of_type(raw, "AWS::CloudWatch::Alarm").values()
    }
    assert set(metrics) == {"Errors", "Throttles"}
    for props in metrics.values():
        dims = {d["Name"]: d["Value"] for d in props["Dimensions"]}
        assert dims["Resource"] == {
            "Fn::Join": [
                "",
                [
                    {
                        "Ref": next(
                            k
                            for k, r in resources_of_type(raw, "AWS::Lambda::Function").items()
                            if r["Properties"].get("FunctionName") == "acme-prod-pricing"
                        )
                    },
                    ":live",
                ],
            ]
        }
    dev = default_platform.template_json("acme-service-pricing-dev")
    assert group_of(dev)["DeploymentConfigName"] == "CodeDeployDefault.LambdaAllAtOnce"


def test_lambda_functions_run_the_newest_python_on_arm64(default_platform: SynthesizedPlatform) -> None:
    raw = default_platform.template_json("acme-service-pricing-prod")
    functions = {
        r["Properties"]["FunctionName"]: r["Properties"]
        for r in resources_of_type(raw, "AWS::Lambda::Function").values()
        if "FunctionName" in r["Properties"]
    }
    assert set(functions) == {"acme-prod-pricing", "acme-prod-pricing-pre-traffic", "acme-prod-pricing-post-traffic"}
    for props in functions.values():
        assert props["Runtime"] == "python3.14"
        assert props["Architectures"] == ["arm64"]
        assert props["TracingConfig"] == {"Mode": "Active"}
    assert functions["acme-prod-pricing"]["Handler"] == "app.handler"
    pre = functions["acme-prod-pricing-pre-traffic"]["Environment"]["Variables"]
    assert pre == {
        "POWERTOOLS_SERVICE_NAME": "traffic_hook",
        "HOOK_STAGE": "pre",
        "FUNCTION_NAME": "acme-prod-pricing",
        "ALIAS": "live",
        "TEST_PAYLOAD": '{"path": "/health"}',
    }


def test_hooks_report_to_this_deployment_group_only(default_platform: SynthesizedPlatform) -> None:
    raw = default_platform.template_json("acme-service-pricing-prod")
    group_id = only(resources_of_type(raw, "AWS::CodeDeploy::DeploymentGroup"))[0]
    report = [
        s
        for p in resources_of_type(raw, "AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if "codedeploy:PutLifecycleEventHookExecutionStatus"
        in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    ]
    # One role for both hooks: reporting, and reading the deployment (the pre hook), in one statement.
    assert len(report) == 1
    assert report[0]["Action"] == ["codedeploy:GetDeployment", "codedeploy:PutLifecycleEventHookExecutionStatus"]
    for statement in report:
        resource = statement["Resource"]
        assert isinstance(resource, dict), resource  # one ARN, not a list or a wildcard
        joined = resource["Fn::Join"][1]
        assert {"Ref": group_id} in joined
        assert "*" not in str(joined)
    (alias,) = resources_of_type(raw, "AWS::Lambda::Alias").values()
    hooks = alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]
    assert set(hooks) >= {"BeforeAllowTrafficHook", "AfterAllowTrafficHook", "ApplicationName", "DeploymentGroupName"}


def test_every_pipeline_deploys_to_each_environment_as_its_deployer(default_platform: SynthesizedPlatform) -> None:
    providers = {"storefront": "CodeDeploy", "orders": "CodeDeployToECS", "pricing": "Lambda"}
    for service, provider in providers.items():
        raw = default_platform.template_json(f"acme-pipeline-{service}")
        (pipeline,) = resources_of_type(raw, "AWS::CodePipeline::Pipeline").values()
        deploys = {s["Name"]: s["Actions"] for s in pipeline["Properties"]["Stages"] if s["Name"].startswith("Deploy-")}
        assert list(deploys) == ["Deploy-dev", "Deploy-prod"]
        for stage, (action,) in deploys.items():
            env = stage.removeprefix("Deploy-")
            assert action["ActionTypeId"]["Provider"] == provider
            if provider == "Lambda":
                params = yaml.safe_load(action["Configuration"]["UserParameters"])
                assert params["deployer_role_arn"] == f"arn:aws:iam::{ACCOUNTS[env]}:role/acme-{env}-deployer"
                assert params["deployment_group"] == f"acme-{env}-{service}"
            else:
                assert action["RoleArn"] == f"arn:aws:iam::{ACCOUNTS[env]}:role/acme-{env}-deployer"
                assert action["Configuration"]["DeploymentGroupName"] == f"acme-{env}-{service}"
                assert action["Configuration"]["ApplicationName"] == f"acme-{env}-{service}"


def test_ec2_instances_answer_the_health_check_before_their_first_deployment(
    default_platform: SynthesizedPlatform,
) -> None:
    """Nothing else listens on a new instance until CodeDeploy installs a revision: without the
    placeholder, ELB health checks would replace the instances in a loop and the unhealthy-hosts
    alarm would stop the first deployment."""
    raw = default_platform.template_json("acme-service-storefront-dev")
    (template,) = resources_of_type(raw, "AWS::EC2::LaunchTemplate").values()
    user_data = template["Properties"]["LaunchTemplateData"]["UserData"]["Fn::Base64"]
    script = user_data if isinstance(user_data, str) else "".join(str(p) for p in user_data["Fn::Join"][1])
    assert 'echo ok > "/var/lib/app-placeholder/health"' in script
    assert "ExecStart=/usr/bin/python3 -m http.server 8080 --directory /var/lib/app-placeholder" in script
    assert "Conflicts=app.service" in script
    assert script.rstrip().endswith("systemctl enable --now app-placeholder.service")
    (target_group,) = resources_of_type(raw, "AWS::ElasticLoadBalancingV2::TargetGroup").values()
    assert target_group["Properties"]["Port"] == 8080
    assert target_group["Properties"]["HealthCheckPath"] == "/health"


def test_ecs_listeners_forward_where_codedeploy_last_sent_traffic(default_platform: SynthesizedPlatform) -> None:
    """Not a fixed blue: the service's rules take their target group from Custom::ListenerTraffic, which reads
    the live rules (lambda/listener_traffic) whenever a rule setting changes."""
    raw = default_platform.template_json("acme-service-orders-prod")
    traffic_id, traffic = only(resources_of_type(raw, "Custom::ListenerTraffic"))
    props = traffic["Properties"]
    assert props["ServiceToken"] == (
        "arn:aws:lambda:eu-west-1:333333333333:function:acme-prod-listener-traffic-provider"
    )
    target_groups = resources_of_type(raw, "AWS::ElasticLoadBalancingV2::TargetGroup")
    blue = next(k for k in target_groups if "Blue" in k)
    green = next(k for k in target_groups if "Green" in k)
    assert props["BlueTargetGroupArn"] == {"Ref": blue} and props["GreenTargetGroupArn"] == {"Ref": green}
    config = load_config(None)
    priority = str(config.listener_rule_priority(config.services[1], config.environment("prod")))
    assert props["Rule"] == {"Priority": priority, "Hosts": ["orders.*"], "Paths": []}
    rules = resources_of_type(raw, "AWS::ElasticLoadBalancingV2::ListenerRule")
    by_listener = {
        rule["Properties"]["ListenerArn"]["Fn::GetStackOutput"]["OutputName"]: rule for rule in rules.values()
    }
    assert {json.dumps(props[k]) for k in ("ProductionListenerArn", "TestListenerArn")} == {
        json.dumps(r["Properties"]["ListenerArn"]) for r in rules.values()
    }
    for attribute, listener in (
        ("ProductionTargetGroupArn", props["ProductionListenerArn"]),
        ("TestTargetGroupArn", props["TestListenerArn"]),
    ):
        rule = by_listener[listener["Fn::GetStackOutput"]["OutputName"]]["Properties"]
        assert rule["Actions"] == [{"Type": "forward", "TargetGroupArn": {"Fn::GetAtt": [traffic_id, attribute]}}]
        assert rule["Conditions"] == [{"Field": "host-header", "HostHeaderConfig": {"Values": ["orders.*"]}}]
        assert rule["Priority"] == int(priority)
    # ECS takes the service's target group only once a rule forwards to it.
    (service,) = resources_of_type(raw, "AWS::ECS::Service").values()
    assert set(rules) <= set(service["DependsOn"])


def test_the_listener_traffic_function_lives_once_per_environment_with_ecs_services(
    default_platform: SynthesizedPlatform,
) -> None:
    raw = default_platform.template_json("acme-cross-account-prod")
    names = {f["Properties"].get("FunctionName") for f in resources_of_type(raw, "AWS::Lambda::Function").values()}
    assert {"acme-prod-listener-traffic", "acme-prod-listener-traffic-provider"} <= names
    statements = [
        s
        for p in resources_of_type(raw, "AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s.get("Sid") == "ReadListenerRules"
    ]
    assert statements == [
        {"Sid": "ReadListenerRules", "Effect": "Allow", "Action": "elasticloadbalancing:DescribeRules", "Resource": "*"}
    ]


def test_no_listener_traffic_function_without_ecs_services(tmp_path: Path) -> None:
    data = yaml.safe_load(DEFAULT_CONFIG.read_text())
    data["services"] = [s for s in data["services"] if s["platform"] != "ecs"]
    platform = synth_platform(parse_config(data), tmp_path)
    raw = platform.template_json("acme-cross-account-dev")
    assert not [
        f
        for f in resources_of_type(raw, "AWS::Lambda::Function").values()
        if "listener-traffic" in str(f["Properties"].get("FunctionName"))
    ]


def test_an_x86_instance_type_runs_the_x86_64_image(tmp_path: Path) -> None:
    data = yaml.safe_load(DEFAULT_CONFIG.read_text())
    data["services"] = [s for s in data["services"] if s["platform"] == "ec2"]
    data["services"][0]["ec2"] = {"instance_type": "m7i.large"}
    raw = synth_platform(parse_config(data), tmp_path).template_json("acme-service-storefront-dev")
    (template,) = resources_of_type(raw, "AWS::EC2::LaunchTemplate").values()
    assert template["Properties"]["LaunchTemplateData"]["InstanceType"] == "m7i.large"
    (parameter,) = [p for p in raw["Parameters"].values() if "ami-amazon-linux-latest" in str(p.get("Default"))]
    assert parameter["Default"].endswith("al2023-ami-kernel-6.1-x86_64") or "x86_64" in parameter["Default"]
