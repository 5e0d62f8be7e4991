"""A light FIX 4.4 client (simplefix + asyncio) for tests, the `brokerage fix-client` command and benchmarks.

Layers, inner to outer (asyncpg's split: the protocol state machine never touches a socket):

* ``codec``    -- framing by BodyLength, CheckSum checks, encode, UTC timestamps (pure)
* ``session``  -- the client session state machine: logon/logout, heartbeats and TestRequests as timer
  decisions, gap detection and ResendRequest, answering the peer's ResendRequest, SequenceReset (pure)
* ``messages`` -- typed ExecutionReport / OrderCancelReject views, order bodies (pure)
* ``store``    -- sequence numbers in a small JSON file, so a reconnecting client resumes
* ``inbox``    -- inbound messages waiting for readers: reports by ClOrdID, predicates, iterators
* ``errors``   -- FixError (peer-caused root), LogonRejected, SessionClosed
* ``client``   -- :class:`FixClient`, the asyncio API (socket, timers, order entry)
* ``terminal`` -- the command language and report lines of `brokerage fix-client` (pure)

Example::

    client = await FixClient.connect("127.0.0.1", 9876, "CLIENT1", "BROKER", password="demo1")
    await client.logon()
    cl_ord_id = await client.new_order_single("AAPL", "buy", 100, "limit", price="190.50")
    report = await client.next_execution_report(cl_ord_id, timeout=5)
    await client.logout()
"""

from fixclient.client import FixClient
from fixclient.errors import FixError, LogonRejected, SessionClosed
from fixclient.messages import ExecutionReport, InboundMessage, OrderCancelReject
from fixclient.session import ResendMode, SessionState

__all__ = [
    "ExecutionReport",
    "FixClient",
    "FixError",
    "InboundMessage",
    "LogonRejected",
    "OrderCancelReject",
    "ResendMode",
    "SessionClosed",
    "SessionState",
]
