"""REST fuzzing: schemathesis against the OpenAPI spec of the running API (uvicorn, real PostgreSQL, Redis and an
audit shipper on chdb), every operation, with an admin and an account token: no response is a 5xx and every
4xx is an RFC 9457 problem+json document.

Bounded for CI (BROKERAGE_API_FUZZ_EXAMPLES examples per operation, flavour and token; default 8); a long run:

    BROKERAGE_API_FUZZ_EXAMPLES=500 .venv/bin/python -m pytest -q -s tests/integration/api/test_api_schemathesis.py

Each operation is generated three ways: valid inputs; valid inputs on the seeded account, order, position and
a real report name (so the handlers run past the 404); invalid inputs (schemathesis' negative mode).
Generation is derandomized (reproducible).
"""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from audit import service
from audit.chdb_sink import ChdbSink
from brokerage.services import free_port
from brokerage.settings import Settings
from gateway.api.app import create_app
from tests.integration.api.conftest import Seed, serving
from tests.integration.audit.conftest import DATA_DIR
from tests.integration.audit.conftest import chdb_sink as chdb_sink

if TYPE_CHECKING:
    from tests.conftest import TestServers

pytestmark = pytest.mark.integration
EXAMPLES = int(os.environ.get("BROKERAGE_API_FUZZ_EXAMPLES", "8"))
PROBLEM = "application/problem+json"


@dataclass
class Findings:
    requests: int = 0
    unsatisfiable: int = 0
    by_operation: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: dict[tuple[str, int, str], str] = field(default_factory=dict)  # (operation, status, what) → curl

    def record(self, label: str, case: Any, response: Any) -> None:
        self.requests += 1
        self.by_operation[label] += 1
        self.statuses[response.status_code] += 1
        problem = None
        if response.status_code >= 500:
            problem = "5xx"
        elif response.status_code >= 400:
            content_type = (response.headers.get("content-type") or [""])[0]
            if not content_type.startswith(PROBLEM):
                problem = f"4xx not problem+json ({content_type})"
            else:
                body = response.json()
                if not (isinstance(body, dict) and body.get("status") == response.status_code
                        and isinstance(body.get("type"), str) and isinstance(body.get("title"), str)):
                    problem = "4xx problem document incomplete"
        if problem is not None:
            key = (label, response.status_code, problem)
            self.failures.setdefault(key, f"{case.as_curl_command()}\n    -> {response.text[:300]}")


def fuzz(operation: Any, strategy: Any, headers: dict[str, str], findings: Findings) -> None:
    @given(case=strategy)
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    def run(case: Any) -> None:
        case.headers = {**(case.headers or {}), **headers}  # our token, not a generated one
        response = case.call(timeout=60)
        findings.record(operation.label, case, response)

    try:
        run()
    except Unsatisfiable:  # negative mode on an operation that has no input to get wrong (e.g. /health)
        findings.unsatisfiable += 1


def fuzz_all(base_url: str, tokens: dict[str, str], known: dict[str, str]) -> tuple[int, Findings]:
    """``known``: path parameter values that exist (seeded account, order, position, report name)."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    findings = Findings()
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        pinned = {name: value for name, value in known.items() if f"{{{name}}}" in operation.path}
        strategies = [operation.as_strategy(), operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)]
        if pinned:
            strategies.append(operation.as_strategy(path_parameters=pinned))
        for token in tokens.values():
            for strategy in strategies:
                fuzz(operation, strategy, {"Authorization": f"Bearer {token}"}, findings)
    return len(operations), findings


async def test_schemathesis_finds_no_5xx_and_only_problem_4xx(
    migrated_db_url: str, test_servers: TestServers, tmp_path: Path, db_pool: asyncpg.Pool, seed: Seed,
    chdb_sink: ChdbSink,
) -> None:
    await seed.account("A1", cash="1000")
    await seed.holding("A1", "AAPL", "10", "150")
    order_id = await seed.order("A1", "AAPL", "filled", seed.at(1))
    await seed.fill(order_id, "100", "10", seed.at(2))
    tokens = {"admin": await seed.token("admin"), "account": await seed.token("account", "A1")}

    audit_port = free_port()
    shipper_settings = Settings(data_dir=DATA_DIR, audit_clickhouse_database=chdb_sink.database,
                                database_url=migrated_db_url, audit_port=audit_port, clickhouse_url=None)
    stop = asyncio.Event()
    shipper = asyncio.create_task(service.run(shipper_settings, stop))
    app = create_app(Settings(database_url=migrated_db_url, redis_url=test_servers.redis_url, data_dir=tmp_path,
                              audit_port=audit_port))
    try:
        with serving(app) as base_url:
            known = {"account_id": "A1", "order_id": order_id, "symbol": "AAPL", "name": "blotter"}
            operations, findings = await asyncio.to_thread(fuzz_all, base_url, tokens, known)
    finally:
        stop.set()
        await asyncio.wait_for(shipper, 30)

    print(f"\nschemathesis: {operations} operations, {findings.requests} requests "
          f"({EXAMPLES} examples per operation, flavour and token), statuses {dict(sorted(findings.statuses.items()))}")
    assert operations >= 15 and set(findings.by_operation) and findings.requests > operations * 2
    assert not findings.failures, "\n".join(f"{k}: {v}" for k, v in findings.failures.items())
    # the fuzzer moved money only through the API's own rules: the ledger still balances for A1
    assert await db_pool.fetchval("SELECT amount FROM cash_balances WHERE account_id = 'A1'") >= Decimal(0)
