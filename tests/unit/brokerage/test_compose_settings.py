"""docker-compose.yml cannot run here; this keeps it honest about the settings it passes."""

from pathlib import Path

import yaml

from brokerage.settings import Settings

ROOT = Path(__file__).resolve().parents[3]


def _env_names(node: object) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(key, str) and key.startswith("BROKERAGE_"):
                found.add(key)
            found |= _env_names(value)
    elif isinstance(node, list):
        for item in node:
            found |= _env_names(item)
    return found


def test_every_brokerage_variable_in_compose_is_a_setting() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    names = _env_names(compose)
    assert "BROKERAGE_DATABASE_URL" in names
    fields = {f"BROKERAGE_{name.upper()}" for name in Settings.model_fields}
    assert names <= fields, f"unknown settings in docker-compose.yml: {sorted(names - fields)}"


def test_compose_runs_every_system_process() -> None:
    from brokerage.commands.up import system_processes

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    commands = {" ".join(svc.get("command", [])) for svc in compose["services"].values()}
    for spec in system_processes(Settings()):
        assert " ".join(spec.argv[3:]) in commands, f"{spec.name} is not a docker-compose service"
