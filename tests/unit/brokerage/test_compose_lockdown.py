"""docker-compose.yml keeps the local lockdown (ADR 008): no literal passwords, the application connects
as its non-superuser role, only the gateway and the API publish ports."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]


def _compose() -> dict[str, object]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())  # type: ignore[no-any-return]


def test_no_literal_passwords_and_the_app_role_everywhere_but_migrate() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    assert "brokerage:brokerage@" not in text and "PASSWORD: brokerage" not in text
    services = _compose()["services"]
    assert isinstance(services, dict)
    for name, service in services.items():
        env = service.get("environment", {})
        url = env.get("BROKERAGE_DATABASE_URL")
        if url is not None:
            assert url.startswith("postgresql://brokerage_app:${POSTGRES_APP_PASSWORD"), name
        if "BROKERAGE_DATABASE_OWNER_URL" in env:
            assert name == "migrate"
        if "BROKERAGE_REDIS_URL" in env:
            assert env["BROKERAGE_REDIS_URL"].startswith("redis://:${REDIS_PASSWORD"), name


def test_only_the_edge_publishes_ports_and_the_exchange_is_internal() -> None:
    compose = _compose()
    services = compose["services"]
    assert isinstance(services, dict)
    published = {name for name, service in services.items() if service.get("ports")}
    monitoring = {"prometheus", "grafana"}  # ADR 016: the host's loopback only
    assert published - monitoring == {"gateway", "api"}
    assert all(port.startswith("127.0.0.1:") for name in published & monitoring for port in services[name]["ports"])
    assert services["exchange"]["networks"] == ["internal"]
    networks = compose["networks"]
    assert isinstance(networks, dict) and networks["internal"]["internal"] is True


def test_redis_requires_a_password_and_refuses_admin_commands() -> None:
    redis = _compose()["services"]["redis"]  # type: ignore[index]
    command = " ".join(redis["command"])
    assert "user default on >%s" in command and "$$REDIS_PASSWORD" not in command.split("printf")[0]
    for denied in ("-config", "-module", "-debug", "-acl"):
        assert denied in command
    assert redis["user"] == "redis"


def test_postgres_init_creates_a_non_superuser_app_role() -> None:
    script = (ROOT / "deploy" / "postgres" / "10-brokerage-roles.sh").read_text()
    assert "CREATE ROLE brokerage_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE" in script
    assert "CREATE ROLE brokerage LOGIN NOSUPERUSER CREATEDB" in script
    postgres = _compose()["services"]["postgres"]  # type: ignore[index]
    assert postgres["environment"]["POSTGRES_HOST_AUTH_METHOD"] == "scram-sha-256"
