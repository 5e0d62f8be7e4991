"""docker-compose.yml's monitoring (ADR 016), checked the way `docker compose config` would see it (no Docker
engine here): Prometheus and Grafana provisioned from deploy/, every scrape target a compose service on the
internal network at the port the process listens on, metrics ports never published, files mounted exist."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from brokerage.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
PROCESS_PORTS = {"gateway": "gateway_metrics_port", "exchange": "exchange_metrics_port",
                 "marketdata": "marketdata_metrics_port", "audit": "audit_metrics_port", "api": "api_port"}


def _compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())  # type: ignore[no-any-return]


def _bind_mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    mounts = []
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("./"):
            mounts.append((source, target))
    return mounts


def test_monitoring_services_exist_with_their_provisioning() -> None:
    compose = _compose()
    services = compose["services"]
    prometheus, grafana = services["prometheus"], services["grafana"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    assert ("./deploy/prometheus", "/etc/prometheus") in _bind_mounts(prometheus)
    assert ("./deploy/grafana/provisioning", "/etc/grafana/provisioning") in _bind_mounts(grafana)
    assert ("./deploy/grafana/brokerage.json", "/var/lib/grafana/dashboards/brokerage.json") in _bind_mounts(grafana)
    for service in (prometheus, grafana):
        for source, _ in _bind_mounts(service):
            assert (ROOT / source).exists(), source
        assert "internal" in service["networks"]
        for volume in service["volumes"]:
            name = volume.split(":")[0]
            if not name.startswith("./"):
                assert name in compose["volumes"], name
    assert grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")
    assert grafana["environment"]["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert grafana["depends_on"]["prometheus"]["condition"] == "service_healthy"
    assert prometheus["ports"] == ["127.0.0.1:9090:9090"] and grafana["ports"] == ["127.0.0.1:3000:3000"]


def test_every_scrape_target_is_a_compose_service_at_its_settings_port() -> None:
    services = _compose()["services"]
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    targets = {job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]}
    defaults = Settings()
    for process, setting in PROCESS_PORTS.items():
        assert process in services, process
        assert targets[process] == [f"{process}:{getattr(defaults, setting)}"], process
        assert "internal" in services[process]["networks"], process  # the x-brokerage anchor's, merged
    rule_files = config["rule_files"]
    assert all((ROOT / "deploy" / "prometheus" / f.split("#")[0].strip()).exists() for f in rule_files)


def test_processes_listen_for_prometheus_on_the_internal_network_only() -> None:
    compose = _compose()
    anchor_env = compose["x-brokerage"]["environment"]
    assert anchor_env["BROKERAGE_METRICS_HOST"] == "0.0.0.0"
    defaults = Settings()
    metrics_ports = {getattr(defaults, s) for s in PROCESS_PORTS.values() if s != "api_port"}
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert int(str(port).rsplit(":", 1)[-1]) not in metrics_ports, (name, port)
        env = service.get("environment", {})
        if name in PROCESS_PORTS and "BROKERAGE_METRICS_HOST" in env:
            assert env["BROKERAGE_METRICS_HOST"] == "0.0.0.0"
    assert "9102/ready" in " ".join(compose["services"]["exchange"]["healthcheck"]["test"])


def test_grafana_data_source_and_dashboard_agree() -> None:
    datasources = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())
    source = datasources["datasources"][0]
    assert source["url"] == "http://prometheus:9090" and source["type"] == "prometheus"
    providers = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards/brokerage.yml").read_text())
    assert providers["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    dashboard = json.loads((ROOT / "deploy/grafana/brokerage.json").read_text())
    assert dashboard["uid"] == "brokerage"
    queries = [t for p in dashboard["panels"] for t in p.get("targets", [])]
    assert queries and all(t["datasource"]["uid"] == source["uid"] for t in queries)
    assert all(p["datasource"]["uid"] == source["uid"] for p in dashboard["panels"] if p["type"] != "row")
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_the_api_readiness_asks_every_process_at_its_compose_address() -> None:
    services = _compose()["services"]
    peers = Settings(ready_peers=json.loads(services["api"]["environment"]["BROKERAGE_READY_PEERS"])).ready_peers
    defaults = Settings()
    expected = {f"{p}=http://{p}:{getattr(defaults, s)}/ready" for p, s in PROCESS_PORTS.items() if p != "api"}
    assert set(peers) == expected
