"""The ticker index port and the choice of adapter.

Elasticsearch when ``BROKERAGE_ELASTICSEARCH_URL`` is set, otherwise the embedded tantivy index
under ``<data_dir>/search/``. Both return listings already ranked by ``search.ranking.rank``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from brokerage.settings import Settings
from search.query import SearchQuery
from search.ranking import Listing


class TickerIndex(Protocol):
    async def search(self, query: SearchQuery, limit: int) -> list[Listing]:
        """The best ``limit`` listings for the query, best first."""
        ...

    async def replace_all(self, listings: Sequence[Listing]) -> int:
        """Replace the whole index with these listings; returns how many were indexed."""
        ...

    async def close(self) -> None: ...


class IndexUnavailable(RuntimeError):
    """The index cannot be opened or queried (not built yet, server down); the message says why."""


def tantivy_path(settings: Settings) -> Path:
    return settings.resolved_data_dir / "search" / "tantivy"


def open_ticker_index(settings: Settings, *, create: bool = False) -> TickerIndex:
    """The configured adapter. ``create`` makes an empty embedded index when none exists (reindex)."""
    if settings.elasticsearch_url:
        from search.elastic import ElasticTickerIndex

        return ElasticTickerIndex.from_url(settings.elasticsearch_url)
    from search.tantivy_index import TantivyTickerIndex

    return TantivyTickerIndex.open(tantivy_path(settings), create=create)
