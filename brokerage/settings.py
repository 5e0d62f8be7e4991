"""Typed configuration: environment (``BROKERAGE_`` prefix), optional TOML file, sensible local defaults.

The TOML file is named by ``BROKERAGE_CONFIG`` (default ``./brokerage.toml`` when present); environment
variables win over the file.
"""

from __future__ import annotations

import os
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


def _config_file() -> Path | None:
    named = os.environ.get("BROKERAGE_CONFIG")
    if named:
        return Path(named)
    default = Path("brokerage.toml")
    return default if default.exists() else None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BROKERAGE_", extra="ignore", frozen=True)

    # Where local state lives: PostgreSQL/Redis data, FIX stores, audit engine, tokens.
    data_dir: Path = Path("var")

    # External servers. When unset, `brokerage services start` runs local ones on the ports below.
    database_url: str | None = None
    redis_url: str | None = None
    clickhouse_url: str | None = None
    elasticsearch_url: str | None = None

    local_postgres_port: int = 55432
    local_redis_port: int = 56379

    # Processes
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_db_pool_size: int = 10
    api_db_command_timeout_seconds: float = 10.0
    fix_host: str = "127.0.0.1"
    fix_port: int = 9876
    fix_tls_port: int | None = None
    fix_tls_certificate: Path | None = None
    fix_tls_private_key: Path | None = None
    fix_target_comp_id: str = "BROKER"
    fix_heartbeat_seconds: int = 30
    exchange_host: str = "127.0.0.1"
    exchange_port: int = 9877
    exchange_comp_id: str = "EXCHANGE"
    gateway_exchange_comp_id: str = "GATEWAY"
    exchange_reconnect_seconds: int = 5  # gateway → exchange initiator retry interval
    exchange_seed: int = 42
    exchange_md_comp_ids: tuple[str, ...] = ("MDFEED",)  # market-data-only sessions the exchange accepts

    # Trading
    trading_24h: bool = True
    base_currency: str = "USD"
    margin_initial_ratio: Decimal = Decimal("0.50")
    margin_maintenance_ratio: Decimal = Decimal("0.30")
    market_order_collar_pct: Decimal = Decimal("0.05")
    # Pre-trade risk defaults (gateway.oms.config), order-entry throttle, circuit breaker, margin monitor
    risk_max_order_qty: Decimal = Decimal(100_000)
    risk_max_order_notional: Decimal = Decimal(1_000_000)
    risk_price_collar_pct: Decimal = Decimal("0.10")  # a limit this far through last/mid is a fat finger
    risk_max_position_qty: Decimal = Decimal(1_000_000)
    risk_max_open_orders: int = 500
    risk_allow_reducing_when_killed: bool = True
    short_sale_requirement: Decimal = Decimal("1.5")  # Reg T: 150% of the short value
    fix_rate_limit_per_second: int = 50  # application messages per FIX session
    fix_rate_limit_burst: int = 100
    circuit_breaker_index_symbol: str | None = None  # None: an equal-weight index of the universe's quotes
    margin_monitor_interval_seconds: float = 60.0
    margin_call_grace_seconds: int = 86_400
    margin_liquidation_buffer: Decimal = Decimal("0.10")

    # Market data and search
    # A quote older than this is stale: not used to value market orders, flagged in positions/search.
    # The venue publishes on change only, so a quiet symbol's quote legitimately ages for many seconds.
    quote_stale_seconds: float = 60.0
    search_cache_ttl_seconds: float = 2.0  # hot search results cached in Redis this long
    marketdata_batch_max: int = 2000  # quotes per pipelined Redis write
    ws_max_symbols: int = 500  # symbols one WebSocket client may subscribe to
    fix_md_max_symbols: int = 500  # symbols one FIX client session may subscribe to (35=V)
    fix_md_flush_seconds: float = 0.05  # FIX market data conflation window: at most one 35=X per subscription
    marketdata_metrics_port: int = 0  # Prometheus metrics of `brokerage marketdata` (0: not served)

    # Audit trail (ClickHouse: chdb under <data_dir>/audit/chdb, or clickhouse_url)
    audit_host: str = "127.0.0.1"  # the shipper's local endpoint (reports, verify, /metrics)
    audit_port: int = 9880
    audit_clickhouse_database: str = "audit"
    audit_batch_size: int = 10_000
    audit_flush_interval_seconds: float = 0.1
    audit_retention_days: int = 2555  # 7 years
    audit_hot_days: int | None = None  # with audit_cold_volume: move to that volume after this many days
    audit_cold_volume: str | None = None

    # Operations
    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "json"
    admin_token: SecretStr | None = Field(default=None, description="Fixed admin token (otherwise generated)")

    # h2-client-caps: exchange link authentication, per-session limits of authenticated FIX clients
    # The exchange checks Password (554) of its peers (GATEWAY, MDFEED); a CompID missing here gets a
    # generated password in <secrets_dir>/exchange-<compid> (0600), read by the exchange and the peer.
    exchange_auth: bool = True
    exchange_passwords: dict[str, SecretStr] = Field(default_factory=dict)  # CompID -> password
    secrets_dir: Path | None = None  # None: <data_dir>/secrets
    fix_app_messages_per_second: int = 200  # every application message type, per client session
    fix_app_burst: int = 1000
    fix_admin_messages_per_second: int = 10  # Heartbeat/TestRequest/ResendRequest/... per session
    fix_admin_burst: int = 50
    fix_max_pending_messages: int = 2000  # per session, handed to the loop and not yet handled
    fix_resend_max_messages: int = 10_000  # one ResendRequest is served for at most this many messages
    fix_heartbeat_min_seconds: int = 1
    fix_heartbeat_max_seconds: int = 300
    fix_md_max_subscriptions: int = 100  # live MDReqIDs per client session
    fix_md_max_snapshot_symbols: int = 100  # symbols in one snapshot-only 35=V (263=0)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _config_file()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    # Derived locations ------------------------------------------------------------------
    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.resolve()

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"postgresql://brokerage@127.0.0.1:{self.local_postgres_port}/brokerage"

    @property
    def effective_redis_url(self) -> str:
        if self.redis_url:
            return self.redis_url
        return f"redis://127.0.0.1:{self.local_redis_port}/0"

    @property
    def uses_local_postgres(self) -> bool:
        return not self.database_url

    @property
    def uses_local_redis(self) -> bool:
        return not self.redis_url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
