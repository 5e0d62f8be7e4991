"""Elasticsearch ticker index through the official async client.

Queries go to the alias ``tickers``; a reindex builds a fresh concrete index, bulk-loads it and
swaps the alias atomically, so searches never see a half-built index.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from elasticsearch import AsyncElasticsearch, NotFoundError, TransportError
from elasticsearch.helpers import async_bulk

from search.elastic_queries import (
    build_search_body,
    index_mappings,
    index_settings,
    listing_from_source,
    listing_source,
)
from search.index import IndexUnavailable
from search.query import SearchQuery
from search.ranking import Listing, rank

ALIAS = "tickers"


class ElasticTickerIndex:
    def __init__(self, client: AsyncElasticsearch, alias: str = ALIAS) -> None:
        self._client = client
        self._alias = alias

    @classmethod
    def from_url(cls, url: str, alias: str = ALIAS) -> ElasticTickerIndex:
        return cls(AsyncElasticsearch(url, request_timeout=5), alias)

    async def search(self, query: SearchQuery, limit: int) -> list[Listing]:
        try:
            response = await self._client.search(index=self._alias, **build_search_body(query, limit))
        except NotFoundError as exc:
            raise IndexUnavailable(f"no index behind alias {self._alias}: run `brokerage search reindex`") from exc
        except TransportError as exc:
            raise IndexUnavailable(f"Elasticsearch unavailable: {exc}") from exc
        listings = [listing_from_source(hit["_source"]) for hit in response["hits"]["hits"]]
        return rank(query, listings, limit)

    async def replace_all(self, listings: Sequence[Listing]) -> int:
        name = f"{self._alias}-{datetime.now(UTC):%Y%m%d%H%M%S%f}"
        await self._client.indices.create(index=name, settings=index_settings(), mappings=index_mappings())
        actions = ({"_index": name, "_id": lst.symbol, "_source": listing_source(lst)} for lst in listings)
        indexed, _ = await async_bulk(self._client, actions, chunk_size=2000, raise_on_error=True)
        await self._client.indices.refresh(index=name)
        old: list[str] = []
        if await self._client.indices.exists_alias(name=self._alias):
            old = list((await self._client.indices.get_alias(name=self._alias)).body.keys())
        swap = [{"remove": {"index": o, "alias": self._alias}} for o in old]
        swap.append({"add": {"index": name, "alias": self._alias}})
        await self._client.indices.update_aliases(actions=swap)
        for o in old:
            await self._client.indices.delete(index=o)
        return int(indexed)

    async def drop(self) -> None:
        """Delete the alias and every index behind it (tests)."""
        if await self._client.indices.exists_alias(name=self._alias):
            for o in (await self._client.indices.get_alias(name=self._alias)).body:
                await self._client.indices.delete(index=o)

    async def close(self) -> None:
        await self._client.close()
