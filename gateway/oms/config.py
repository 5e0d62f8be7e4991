"""The pure cores' configuration built from ``brokerage.settings`` (the shell's one place to do it)."""

from __future__ import annotations

from datetime import timedelta

from brokerage.settings import Settings
from gateway.oms.circuit_breaker import BreakerRules, with_halt_window
from gateway.oms.margin import MaintenancePolicy
from gateway.oms.rate_limit import RateLimit
from gateway.oms.risk_config import RiskLimits
from ledger.buying_power import MarginPolicy

__all__ = ["breaker_rules", "maintenance_policy", "rate_limit", "risk_limits"]


def risk_limits(settings: Settings, *, short_selling: bool = False) -> RiskLimits:
    """Defaults for an account; ``short_selling`` comes from the account (accounts.short_selling_enabled)."""
    return RiskLimits(
        max_order_qty=settings.risk_max_order_qty,
        max_order_notional=settings.risk_max_order_notional,
        price_collar_pct=settings.risk_price_collar_pct,
        market_order_collar_pct=settings.market_order_collar_pct,
        max_position_qty=settings.risk_max_position_qty,
        max_open_orders=settings.risk_max_open_orders,
        short_selling=short_selling,
        short_requirement=settings.short_sale_requirement,
        margin=MarginPolicy(settings.margin_initial_ratio, settings.margin_maintenance_ratio),
        allow_reducing_when_killed=settings.risk_allow_reducing_when_killed,
        max_quote_age_seconds=settings.quote_stale_seconds,
    )


def rate_limit(settings: Settings) -> RateLimit:
    return RateLimit(settings.fix_rate_limit_per_second, settings.fix_rate_limit_burst)


def maintenance_policy(settings: Settings) -> MaintenancePolicy:
    ratio = settings.margin_maintenance_ratio
    return MaintenancePolicy(long_ratio=ratio, short_ratio=ratio,
                             grace_period=timedelta(seconds=settings.margin_call_grace_seconds),
                             liquidation_buffer=settings.margin_liquidation_buffer)


def breaker_rules(settings: Settings) -> BreakerRules:
    return with_halt_window(BreakerRules(), timedelta(seconds=settings.circuit_breaker_halt_seconds))
