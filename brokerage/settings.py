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
    # uvicorn worker processes of `brokerage api` (0: one per CPU); each has its own DB pool, metrics, stream caps
    api_workers: int = Field(default=1, ge=0)
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
    circuit_breaker_index_symbol: str | None = None  # None: an equal-weight index of the S&P 500 members' quotes
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

    # Audit trail (ClickHouse: chdb under <data_dir>/audit/chdb, or clickhouse_url)
    audit_host: str = "127.0.0.1"  # the shipper's local endpoint (reports, verify, /metrics)
    audit_port: int = 9880
    audit_clickhouse_database: str = "audit"
    audit_batch_size: int = 50_000  # h16-audit-perf: was 10,000 (docs/perf/audit.md)
    audit_flush_interval_seconds: float = 0.1
    audit_retention_days: int = 2555  # 7 years
    audit_hot_days: int | None = None  # with audit_cold_volume: move to that volume after this many days
    audit_cold_volume: str | None = None

    # Operations
    log_level: str = "INFO"
    log_format: Literal["json", "console"] = "json"
    admin_token: SecretStr | None = Field(default=None, description="Fixed admin token (otherwise generated)")

    # h3-services: local services and secrets (ADR 008)
    # Migrations (`brokerage db upgrade|downgrade|current`) connect as the schema owner; every process
    # connects with database_url (the application role). Unset: database_url (external) or the local
    # owner role `brokerage` with its generated password (var/secrets/postgres-owner-password).
    database_owner_url: str | None = None
    database_app_role: str = "brokerage_app"  # `db upgrade` grants it DML on the ledger (if it exists)
    # h7-breaker-margin: persisted halts, circuit breaker clock, margin valuation and liquidation pacing
    circuit_breaker_halt_seconds: float = 900.0  # a level 1/2 halt's window (15 minutes by the rules)
    circuit_breaker_clock_offset_seconds: float = 0.0  # drills/tests only: shifts the breaker's clock
    margin_quote_max_age_seconds: float = 30.0  # older quotes: margin valuation unavailable, no action
    margin_liquidation_retry_seconds: float = 60.0  # per margin call: at most one liquidation attempt per window
    # h1-frontdoor: the FIX front door (gateway.frontdoor) serves fix_port and fix_tls_port; QuickFIX
    # listens on fix_backend_port, reachable from 127.0.0.1 only (fixsession.loopback_guard)
    fix_plain_enabled: bool = True  # False: TLS only (fix_tls_port), the plain port stays closed
    fix_backend_port: int | None = None  # the internal QuickFIX acceptor port (None: a free one at start)
    fix_max_connections: int = 4096
    fix_max_connections_per_ip: int = 64
    fix_first_byte_timeout_seconds: float = 3.0  # idle timeout before logon (no byte at all)
    fix_logon_timeout_seconds: float = 5.0  # a complete Logon within this
    fix_max_logon_bytes: int = 8192
    fix_slow_consumer_seconds: float = 15.0  # a client that reads nothing this long while data waits is cut off
    fix_max_message_bytes: int = 65536  # any message after logon
    fix_heartbeat_max_seconds: int = 300  # HeartBtInt (108) accepted: 1..this
    fix_logon_failures_per_comp_id: int = 3  # failed logons before exponential back-off (per CompID)
    fix_logon_failures_per_ip: int = 10  # ... and per source address
    # Group commit on the order path (ADR 048): what has queued up is applied in one transaction, up to this
    # many. Larger: fewer statements and commits per order under load; a batch holds its accounts locked longer.
    order_batch_max: int = Field(default=128, ge=1, le=1024)  # one session's consecutive NewOrderSingles
    venue_report_batch_max: int = Field(default=64, ge=1, le=1024)  # exchange reports on one venue-report lane
    # h5-exactly-once: ClOrdID uniqueness (FIX 4.4: per session and trading day, the UTC session day)
    cl_ord_id_unique_within: Literal["trading_day", "forever"] = "trading_day"
    # h6-venue-durable: the exchange's session close (Day orders expire) and its crash-durable journal.
    # Not trading_24h: the closes of the exchange_calendar (XNYS: 16:00 New York, early closes, no weekends
    # or holidays). trading_24h: every day at exchange_day_close in exchange_day_close_tz.
    exchange_calendar: str = "XNYS"
    exchange_day_close: str = "16:00"  # HH:MM[:SS]
    exchange_day_close_tz: str = "America/New_York"
    exchange_journal_fsync: bool = True  # fsync each journal batch (group commit) before its reports go out
    exchange_snapshot_every: int = 20_000  # commands between snapshots (bounds the replay at start-up) ...
    exchange_snapshot_seconds: float = 30.0  # ... and seconds (a step of the whole universe replays in ~50 ms)
    # h4-rest: REST access (market data, WebSocket) and the audit endpoint's credential
    api_public_market_data: bool = False  # /v1/search and /v1/stream without a token
    api_ws_max_connections_per_token: int = Field(default=5, ge=1)  # open /v1/stream per token, per API process
    api_ws_allowed_origins: list[str] = Field(default_factory=list)  # browser Origins allowed on /v1/stream
    api_ws_token_recheck_seconds: float = Field(default=30.0, gt=0)  # open streams end once their token is dead
    audit_token: SecretStr | None = None  # what the CLI shows the audit endpoint (default: var/admin-token)

    # h11-observability: every process serves /health, /ready and /metrics on its own port (ADR 016;
    # brokerage.ops_http). 0 disables one; a port already taken is logged and skipped. The REST API serves
    # them on api_port.
    metrics_host: str = "127.0.0.1"  # docker-compose: 0.0.0.0 (the internal network only, never published)
    gateway_metrics_port: int = 9101
    exchange_metrics_port: int = 9102
    marketdata_metrics_port: int = 9103
    audit_metrics_port: int = 9104
    ready_quote_max_age_seconds: float = 30.0  # marketdata /ready: a quote was written this recently
    ready_audit_loop_max_age_seconds: float = 60.0  # audit /ready: the shipper loop turned this recently
    # the REST API's /ready also requires these processes' /ready ("name=url"; `brokerage up` passes the local
    # ones, docker-compose the internal ones): the system's readiness means "a market order can fill"
    ready_peers: tuple[str, ...] = ()

    # h10-shards: gateways scaled out by FIX session (`brokerage gateway --shard K/N`, docs/adr/015)
    # One "host:port" per shard (index = shard number): shard K's QuickFIX acceptor listens there and
    # `brokerage frontdoor` routes each SenderCompID to its shard. Empty: one gateway with its own front door.
    # The exchange accepts one order link per shard (GATEWAY, GATEWAY-2, ... GATEWAY-N).
    gateway_shard_backends: list[str] = []
    gateway_shard_pins: dict[str, int] = {}  # SenderCompID -> shard, overriding the hash (moves a session)
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
    fix_md_max_subscriptions: int = 100  # live MDReqIDs per client session
    fix_md_max_snapshot_symbols: int = 100  # symbols in one snapshot-only 35=V (263=0)
    # Market depth (ADR 023): levels a side the ingestor subscribes to and keeps at book:SYMBOL
    # (1 = top of book only: no book keys are written; depth readers then see the quote's one level)
    marketdata_depth_levels: int = Field(default=10, ge=1, le=10)

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
        """The application role's URL (carries a password: show it only through hide_password)."""
        if self.database_url:
            return self.database_url
        from brokerage.credentials import PG_APP_ROLE, POSTGRES_APP_SECRET, postgres_url, read_secret

        password = read_secret(self.resolved_data_dir, POSTGRES_APP_SECRET)
        return postgres_url(PG_APP_ROLE, password, self.local_postgres_port)

    @property
    def migration_database_url(self) -> str:
        """The schema owner's URL, for migrations (carries a password)."""
        if self.database_owner_url:
            return self.database_owner_url
        if self.database_url:
            return self.database_url
        from brokerage.credentials import PG_OWNER_ROLE, POSTGRES_OWNER_SECRET, postgres_url, read_secret

        password = read_secret(self.resolved_data_dir, POSTGRES_OWNER_SECRET)
        return postgres_url(PG_OWNER_ROLE, password, self.local_postgres_port)

    @property
    def effective_redis_url(self) -> str:
        """Carries the local server's password when we run it (show it only through hide_password)."""
        if self.redis_url:
            return self.redis_url
        from brokerage.credentials import REDIS_SECRET, read_secret, redis_url

        return redis_url(read_secret(self.resolved_data_dir, REDIS_SECRET), self.local_redis_port)

    @property
    def uses_local_postgres(self) -> bool:
        return not self.database_url

    @property
    def uses_local_redis(self) -> bool:
        return not self.redis_url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
