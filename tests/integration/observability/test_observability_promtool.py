"""The alert rules and the scrape configuration, checked by Prometheus's own promtool (Debian's
``prometheus`` package; ``scripts/ensure_promtool.sh`` installs it when missing and we are root, as in CI):
``check rules``, ``check config``, and ``test rules`` with synthetic series, where every rule must fire in
at least one test case."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
PROMETHEUS = REPO / "deploy" / "prometheus"
RULES = PROMETHEUS / "alerts.yml"
RULE_TESTS = PROMETHEUS / "tests" / "alerts_test.yml"
METRIC_PACKAGES = ("brokerage", "gateway", "exchange", "marketdata", "audit", "fixsession")


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        result = subprocess.run(["bash", str(REPO / "scripts" / "ensure_promtool.sh")], capture_output=True,
                                text=True, timeout=900, check=False)
        found = shutil.which("promtool")
        if found is None:
            if os.geteuid() != 0:
                pytest.skip("promtool missing and not root: cannot install Debian's prometheus package")
            pytest.fail(f"could not install promtool: {result.stdout}\n{result.stderr}")
    return found


def _run(promtool: str, *args: str) -> str:
    result = subprocess.run([promtool, *args], capture_output=True, text=True, timeout=120, check=False,
                            cwd=PROMETHEUS)
    assert result.returncode == 0, f"promtool {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def _alert_names() -> set[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule}


def test_rules_pass_promtool_check(promtool: str) -> None:
    out = _run(promtool, "check", "rules", str(RULES))
    assert f"SUCCESS: {len(_alert_names())} rules found" in out


def test_scrape_config_passes_promtool_check(promtool: str) -> None:
    _run(promtool, "check", "config", str(PROMETHEUS / "prometheus.yml"))


def test_every_rule_fires_in_a_promtool_unit_test(promtool: str) -> None:
    _run(promtool, "test", "rules", str(RULE_TESTS))
    cases = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    fired = {check["alertname"] for case in cases for check in case.get("alert_rule_test", [])
             if check.get("exp_alerts")}
    silent = {check["alertname"] for case in cases for check in case.get("alert_rule_test", [])
              if not check.get("exp_alerts")}
    assert _alert_names() - fired == set(), "rules without a firing test"
    assert _alert_names() - silent == set(), "rules without a test where they stay silent"


def test_scrape_jobs_cover_every_process() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]}
    assert jobs["gateway"] == ["gateway:9101"] and jobs["exchange"] == ["exchange:9102"]
    assert jobs["marketdata"] == ["marketdata:9103"] and jobs["audit"] == ["audit:9104"]
    assert jobs["api"] == ["api:8000"]


def _dashboard_exprs() -> list[str]:
    dashboard = json.loads((REPO / "deploy" / "grafana" / "brokerage.json").read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


def test_dashboard_queries_are_valid_promql(promtool: str, tmp_path: Path) -> None:
    """Each panel's query, as a recording rule, through promtool's parser."""
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{i}", "expr": expr} for i, expr in enumerate(_dashboard_exprs())]}]}
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump(rules))
    _run(promtool, "check", "rules", str(path))


def test_rules_and_dashboard_only_use_metrics_the_processes_define() -> None:
    """A renamed metric would silence its alert or blank its panel: every series selected is defined in code."""
    exprs = " ".join(rule["expr"] for group in yaml.safe_load(RULES.read_text())["groups"]
                     for rule in group["rules"]) + " ".join(_dashboard_exprs())
    used = set(re.findall(r"\b((?:brokerage|marketdata)_[a-z_]+)", exprs))
    source = "\n".join(path.read_text() for package in METRIC_PACKAGES
                       for path in (REPO / package).rglob("*.py"))
    for name in sorted(used):
        base = re.sub(r"_(total|bucket|count|sum)$", "", name)
        assert f'"{base}' in source, f"{name} is not defined by any process"
