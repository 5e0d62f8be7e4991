"""Gateway shards (docs/adr/015): the placement of sessions is a stable pure function, shared by the
front door's router and the shards themselves, and each session has exactly one owner."""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from brokerage.commands.gateway import shard_settings
from brokerage.settings import Settings
from gateway.frontdoor.router import Backend, sharded
from gateway.shards import Placement, Shard, exchange_comp_ids, hash_shard, parse_backend

comp_ids = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=20)


def test_hash_is_crc32_mod_n_fixed_values() -> None:
    # pinned values: a change of the function would move live sessions to another shard
    assert [hash_shard(c, 2) for c in ("CLIENT1", "CLIENT2", "CLIENT3", "CLIENT4", "CLIENT5")] == [
        zlib.crc32(c.encode()) % 2 for c in ("CLIENT1", "CLIENT2", "CLIENT3", "CLIENT4", "CLIENT5")]
    assert hash_shard("CLIENT1", 1) == 0
    assert hash_shard("BENCH1", 4) == zlib.crc32(b"BENCH1") % 4


@given(comp_ids, st.integers(1, 64))
def test_each_session_has_exactly_one_owner(comp_id: str, count: int) -> None:
    placement = Placement(count)
    owners = [k for k in range(count) if Shard(k, count).owns(comp_id, placement)]
    assert owners == [placement.shard_of(comp_id)]


@given(st.lists(comp_ids, min_size=1, max_size=30), st.integers(1, 8))
def test_router_and_shards_agree(comps: list[str], count: int) -> None:
    backends = [f"127.0.0.1:{9100 + k}" for k in range(count)]
    pins = {comps[0]: count - 1}
    router = sharded(backends, pins)
    placement = Placement(count, pins)
    for comp in comps:
        k = router.shard_of(comp)
        assert router.route(comp) == Backend("127.0.0.1", 9100 + k)
        assert Shard(k, count).owns(comp, placement)


def test_pins_override_the_hash_and_are_checked() -> None:
    assert Placement(3, {"VIP": 2}).shard_of("VIP") == 2
    with pytest.raises(ValueError, match="out of range"):
        Placement(2, {"VIP": 2})
    with pytest.raises(ValueError):
        Shard(0, 2).owns("X", Placement(3))


def test_spread_is_roughly_even() -> None:
    counts = [0, 0, 0, 0]
    for n in range(4000):
        counts[Placement(4).shard_of(f"CLIENT{n}")] += 1
    assert min(counts) > 800


def test_parse_and_names() -> None:
    assert Shard.parse("1/2") == Shard(1, 2)
    assert Shard.parse(" 0 / 1 ") == Shard(0, 1)
    for bad in ("2/2", "1", "a/b", "-1/2", "0/0"):
        with pytest.raises(ValueError):
            Shard.parse(bad)
    assert Shard(0, 2).exchange_comp_id("GATEWAY") == "GATEWAY"
    assert Shard(1, 2).exchange_comp_id("GATEWAY") == "GATEWAY-2"
    assert exchange_comp_ids("GATEWAY", 3) == ("GATEWAY", "GATEWAY-2", "GATEWAY-3")
    assert exchange_comp_ids("GATEWAY", 0) == ("GATEWAY",)
    assert Shard(0, 2).suffix("gateway") == "gateway" and Shard(2, 3).suffix("venue") == "venue-3"
    assert Shard(0, 2).system_wide and not Shard(1, 2).system_wide
    assert Shard(0, 2).owns_order(None, Placement(2)) and not Shard(1, 2).owns_order(None, Placement(2))
    assert parse_backend("127.0.0.1:9100") == ("127.0.0.1", 9100)
    assert parse_backend("[::1]:9100") == ("::1", 9100)
    for bad in ("9100", "host:", "host:0", "host:x"):
        with pytest.raises(ValueError):
            parse_backend(bad)


def test_shard_settings() -> None:
    base = Settings(gateway_shard_backends=["127.0.0.1:9100", "127.0.0.1:9101"])
    one = shard_settings(base, Shard(1, 2))
    assert (one.gateway_exchange_comp_id, one.fix_backend_port) == ("GATEWAY-2", 9101)
    assert shard_settings(base, Shard(0, 2)).gateway_exchange_comp_id == "GATEWAY"
    assert shard_settings(Settings(), Shard()) == Settings()
    with pytest.raises(ValueError, match="2 entries"):
        shard_settings(Settings(gateway_shard_backends=["127.0.0.1:9100"]), Shard(1, 2))


async def test_reconciliation_asks_only_about_this_shards_orders() -> None:
    """A shard's reconciliation sends status requests for its own working orders only: another shard's
    order is unknown on this shard's link, and "unknown" would close an order live at the venue."""
    from unittest import mock

    from gateway.oms import reconciliation
    from gateway.oms.links import VenueLink

    sent: list[str] = []

    class Recording(VenueLink):
        def __init__(self) -> None:
            pass

        def send(self, msg_type: str, fields: Sequence[Sequence[object]]) -> bool:
            sent.append(str(dict((int(str(t)), v) for t, v in fields).get(11)))
            return True

    def stored(order_id: str) -> mock.Mock:
        s = mock.Mock()
        s.order.order_id = order_id
        return s

    async def own() -> set[str]:
        return {"OMINE"}

    reconciler = reconciliation.Reconciler(mock.Mock(), Recording(), mock.Mock(drain=mock.AsyncMock()),
                                           wait_seconds=0.0, scope=own)
    with mock.patch.object(reconciliation, "working_orders", mock.AsyncMock(
            return_value=[stored("OMINE"), stored("OTHERS")])), \
            mock.patch.object(reconciliation.reports, "venue_status",
                              side_effect=lambda order, oid: [(11, oid)]), \
            mock.patch.object(reconciler, "_ledger_view", mock.AsyncMock(return_value={})):
        report = await reconciler.run("test")
    assert sent == ["OMINE"] and report.checked == 1
