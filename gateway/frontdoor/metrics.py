"""Prometheus metrics of the FIX front door (ADR 016): connections held and logons being checked (read at
scrape time), logons refused by kind (``credentials``: a bad password or unknown CompID, counting toward the
back-off; ``protocol``: anything else). Never a CompID or an address as a label."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["LOGONS_REFUSED", "FrontDoorCollector", "logon_refused"]

LOGONS_REFUSED = Counter("brokerage_frontdoor_logons_refused_total", "Logons the front door refused, by kind",
                         ["kind"])


def logon_refused(credential_failure: bool) -> None:
    LOGONS_REFUSED.labels("credentials" if credential_failure else "protocol").inc()


class FrontDoorCollector(Collector):
    def __init__(self, door: object) -> None:
        self.door = door  # gateway.frontdoor.server.FrontDoor (or None: no front door)

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gate = getattr(self.door, "gate", None)
        connections = GaugeMetricFamily("brokerage_frontdoor_connections",
                                        "Client TCP connections the front door holds")
        connections.add_metric([], float(getattr(gate, "total", 0)))
        pending = GaugeMetricFamily("brokerage_frontdoor_logon_checks_pending", "Logons being checked (passwords)")
        pending.add_metric([], float(getattr(self.door, "pending_checks", 0)))
        yield connections
        yield pending
