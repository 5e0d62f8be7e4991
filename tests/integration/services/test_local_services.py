"""The local services as `brokerage services` runs them: real servers, idempotent, clear errors."""

import os
import socket
from pathlib import Path

import pytest

from brokerage.services import LocalPostgres, LocalRedis, LocalServices, ServiceError, free_port, free_ports


@pytest.fixture
def base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("svc")
    os.chmod(base, 0o755)
    return base


def test_start_is_idempotent_status_is_healthy_and_stop_is_clean(base_dir: Path) -> None:
    services = LocalServices(base_dir, *free_ports(2))
    try:
        services.start()
        first = {s.name: s.pid for s in services.status()}
        services.start()  # second start: same servers, nothing new
        statuses = services.status()
        assert {s.name: s.pid for s in statuses} == first
        assert all(s.running and s.healthy for s in statuses)
    finally:
        services.stop()
    assert not any(s.running for s in services.status())
    services.stop()  # stopping again is a no-op
    services.remove_data()  # as root the data lives under /var/lib/brokerage-* (ADR 008)


def test_redis_keeps_data_across_restart(base_dir: Path) -> None:
    redis = LocalRedis(base_dir, free_port())
    import redis as redis_lib

    try:
        redis.start()
        redis_lib.Redis.from_url(redis.url).set("k", "v")
        redis.stop()
        redis.start()
        assert redis_lib.Redis.from_url(redis.url).get("k") == b"v"
    finally:
        redis.remove_data()


@pytest.mark.parametrize("service_cls", [LocalPostgres, LocalRedis])
def test_port_taken_is_a_clear_error(base_dir: Path, service_cls: type[LocalPostgres] | type[LocalRedis]) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with pytest.raises(ServiceError, match=f"127.0.0.1:{port} is already in use"):
            service_cls(base_dir, port).start()
