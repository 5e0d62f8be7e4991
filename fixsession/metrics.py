"""Prometheus metrics of every QuickFIX engine of the system (gateway client acceptor, gateway → exchange
link, exchange acceptor, market data feed): messages in and out by type, resend requests, sessions logged on.

Labels stay bounded: ``app`` is the application's fixed name (``gateway``, ``gateway-exchange``,
``exchange``, ...), ``msg_type`` one of the FIX 4.4 message types below or ``other``; never a CompID.
Counting happens on the engine thread (prometheus_client counters are thread-safe); the label children are
cached so a message costs a dict lookup and an increment.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping

import quickfix as fix
from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from fixsession.messages import msg_type

__all__ = ["FIX_MESSAGES", "RESEND_REQUESTS", "FixSessionsCollector", "MessageCounter", "count_kind", "count_message"]

# Session and application messages of FIX 4.4 this system speaks (anything else counts as "other").
KNOWN_TYPES = frozenset({
    "0", "1", "2", "3", "4", "5", "A",  # heartbeat, test request, resend request, reject, sequence reset, logout, logon
    "8", "9", "D", "F", "G", "H", "j",  # exec report, cancel reject, new/cancel/replace/status, business reject
    "V", "W", "X", "Y",  # market data request, snapshot, incremental, request reject
    "AE", "AR", "BE", "BF", "q", "r",  # trade capture, user request/response, mass cancel
})

FIX_MESSAGES = Counter("brokerage_fix_messages_total", "FIX messages by engine application, direction and MsgType",
                       ["app", "direction", "msg_type"])
RESEND_REQUESTS = Counter("brokerage_fix_resend_requests_total", "ResendRequests (35=2) received or sent",
                          ["app", "direction"])

_children: dict[tuple[str, str, str], Counter] = {}


def count_message(app: object, direction: str, message: fix.Message) -> None:
    """Count one message (engine thread); never raises (it runs inside QuickFIX callbacks)."""
    with contextlib.suppress(Exception):  # metrics must never reach C++
        count_kind(app, direction, msg_type(message))


def count_kind(app: object, direction: str, kind: str) -> None:
    """Count one message of MsgType ``kind`` (engine thread); never raises. A hot path keeps its own
    ``MessageCounter`` instead of resolving the application's name per message."""
    MessageCounter(app, direction).count(kind)


class MessageCounter:
    """The counters of one application and direction, by MsgType: a message costs a dict look-up and an
    increment."""

    def __init__(self, app: object, direction: str) -> None:
        self.name = str(getattr(app, "name", None) or type(app).__name__)
        self.direction = direction
        self._children: dict[str, Counter] = {}

    def count(self, kind: str) -> None:
        """Count one message of MsgType ``kind`` (engine thread or loop); never raises."""
        try:
            child = self._children.get(kind)
            if child is None:
                child = self._child(kind)
            child.inc()
            if kind == "2":
                RESEND_REQUESTS.labels(self.name, self.direction).inc()
        except Exception:  # metrics must never reach C++
            pass

    def _child(self, kind: str) -> Counter:
        label = kind if kind in KNOWN_TYPES else "other"
        child = _children.get((self.name, self.direction, label))
        if child is None:
            child = _children[(self.name, self.direction, label)] = FIX_MESSAGES.labels(self.name, self.direction,
                                                                                        label)
        if len(self._children) < 256:  # unknown types are caught by "other"; never let junk grow the cache
            self._children[kind] = child
        return child


class FixSessionsCollector(Collector):
    """``brokerage_fix_sessions_logged_on`` / ``_configured`` by link, read from the engines at scrape time.

    ``links`` maps a link name (``client``, ``exchange``, ``market_data``, ...) to a callable giving the
    session ids of that link (the set may change at run time: sessions provisioned while running)."""

    def __init__(self, links: Mapping[str, object]) -> None:
        self.links = dict(links)

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return []  # no describe-time collection: the engines may not exist yet when registered

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("brokerage_fix_sessions_logged_on", "FIX sessions logged on, by link", labels=["link"])
        configured = GaugeMetricFamily("brokerage_fix_sessions_configured", "FIX sessions configured, by link",
                                       labels=["link"])
        for link, sessions in self.links.items():
            ids = list(sessions() if callable(sessions) else [])
            configured.add_metric([link], len(ids))
            up.add_metric([link], sum(1 for sid in ids if _logged_on(sid)))
        yield up
        yield configured


def _logged_on(session_id: fix.SessionID) -> bool:
    session = fix.Session.lookupSession(session_id)
    return bool(session is not None and session.isLoggedOn())
