"""Embedded ticker index on tantivy (the default when no Elasticsearch is configured).

The derived terms of ``search.query`` are indexed as raw (untokenised) multi-valued fields, so a
prefix lookup is one term lookup (name-word prefixes, prefixes of the name's words run together for
punctuation-free matching, the separator-free symbol, the share class); fuzzy matching uses tantivy's
Levenshtein automaton with transpositions costing one edit. Each tier is one search ordered by the
``market_cap`` fast field, and ``search.ranking.rank`` merges them: within a tier the larger company
wins, as in Elasticsearch with its rank_feature. Searches run in microseconds, so they run on the event loop.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import tantivy

from refdata.symbology import compact_symbol
from search.index import IndexUnavailable
from search.query import (
    SearchQuery,
    joined_prefixes,
    listing_share_class,
    max_edits,
    name_prefixes,
    name_words,
    symbol_prefixes,
)
from search.ranking import Listing, rank
from search.typos import one_edit_neighbours

FUZZY_OVERFETCH = 4  # rank re-checks fuzzy hits and puts a named share class first in the tier: fetch more
# Bumped whenever the schema or the derived terms change: an index built by another version is rebuilt
# by a reindex (and reported unavailable until then, which makes the API build it afresh).
SCHEMA_VERSION = "3"
SCHEMA_MARKER = "brokerage-schema-version"
# Writer heap: ~10 kB per listing up to this, so a reindex of 100k listings is one segment: every term
# lookup and automaton walks each segment's dictionary, so two segments cost about twice one
# (docs/perf/search.md).
WRITER_HEAP_BYTES = 1_000_000_000
# Two-edit fuzzy words are looked up in ``name_word_anchored``, where every word is indexed behind its first
# letter repeated this many times: more than the edits allowed, so no match can change the first letter
# (ranking's prefix length 1) and tantivy's automaton walks only that letter's words (ADR 044).
ANCHOR_REPEAT = 3


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """One searcher and the terms it holds that one-edit fuzzy matching looks up (ADR 034): the
    symbols and name words, with the characters they use. Built from that searcher's own term
    dictionary, so lookups and searches always see the same index generation."""

    searcher: tantivy.Searcher
    symbols: frozenset[str]
    symbol_alphabet: str
    words: frozenset[str]
    word_alphabet: str

    @classmethod
    def of(cls, searcher: tantivy.Searcher) -> Vocabulary:
        symbols = frozenset(t for t, _ in searcher.terms_with_prefix("symbol", ""))
        words = frozenset(t for t, _ in searcher.terms_with_prefix("name_word", ""))
        return cls(searcher, symbols, _alphabet(symbols), words, _alphabet(words))


def _alphabet(terms: frozenset[str]) -> str:
    return "".join(sorted(set[str]().union(*terms)))


def anchored(word: str) -> str:
    """``word`` behind its first letter repeated ANCHOR_REPEAT times (``apple`` → ``aaaapple``).

    Two anchored words with different first letters are more than two edits apart (each of the
    repeated letters must be substituted, deleted or matched past the other's repeats), and two with the
    same first letter are at most as far apart as the words (align the repeats, then the words); so a
    two-edit automaton on ``anchored(token)`` finds exactly the words ``search.ranking`` accepts, and
    never leaves the token's first letter in the term dictionary."""
    return word[:1] * ANCHOR_REPEAT + word


def build_schema() -> tantivy.Schema:
    sb = tantivy.SchemaBuilder()
    sb.add_text_field("symbol", stored=True, tokenizer_name="raw", index_option="basic")
    sb.add_text_field("symbol_prefix", tokenizer_name="raw", index_option="basic")
    sb.add_text_field("name_prefix", tokenizer_name="raw", index_option="basic")
    sb.add_text_field("name_word", tokenizer_name="raw", index_option="basic")
    sb.add_text_field("name_word_anchored", tokenizer_name="raw", index_option="basic")
    sb.add_text_field("name_joined_prefix", tokenizer_name="raw", index_option="basic")
    sb.add_text_field("symbol_compact", tokenizer_name="raw", index_option="basic")
    sb.add_text_field("share_class", tokenizer_name="raw", index_option="basic")
    sb.add_text_field("name", stored=True, tokenizer_name="raw", index_option="basic")
    sb.add_text_field("exchange", stored=True, tokenizer_name="raw", index_option="basic")
    sb.add_text_field("sector", stored=True, tokenizer_name="raw", index_option="basic")
    sb.add_text_field("market_cap_text", stored=True, tokenizer_name="raw", index_option="basic")
    sb.add_unsigned_field("market_cap", stored=False, indexed=False, fast=True)
    return sb.build()


def listing_document(listing: Listing) -> tantivy.Document:
    doc = tantivy.Document()
    doc.add_text("symbol", listing.symbol)
    for prefix in sorted(symbol_prefixes(listing.symbol)):
        doc.add_text("symbol_prefix", prefix)
    for prefix in sorted(name_prefixes(listing.name)):
        doc.add_text("name_prefix", prefix)
    for word in sorted(set(name_words(listing.name))):
        doc.add_text("name_word", word)
        doc.add_text("name_word_anchored", anchored(word))
    for prefix in sorted(joined_prefixes(listing.name)):
        doc.add_text("name_joined_prefix", prefix)
    doc.add_text("symbol_compact", compact_symbol(listing.symbol))
    share_class = listing_share_class(listing.symbol, listing.name)
    if share_class is not None:
        doc.add_text("share_class", share_class)
        doc.add_text("name_prefix", share_class)  # "berkshire b" matches BRK-B (search.query.listing_words)
    doc.add_text("name", listing.name)
    doc.add_text("exchange", listing.exchange)
    doc.add_text("sector", listing.sector)
    doc.add_text("market_cap_text", str(listing.market_cap))
    doc.add_unsigned("market_cap", max(0, int(listing.market_cap)))
    return doc


class TantivyTickerIndex:
    def __init__(self, index: tantivy.Index, path: Path | None) -> None:
        self._index = index
        self._schema = index.schema
        self._path = path
        self._vocabulary: Vocabulary | None = None
        self._generation: tuple[int, int] | None = None  # meta.json's (inode, mtime) for that vocabulary

    @classmethod
    def open(cls, path: Path, *, create: bool = False) -> TantivyTickerIndex:
        marker = path / SCHEMA_MARKER
        current = marker.exists() and marker.read_text().strip() == SCHEMA_VERSION
        if (path / "meta.json").exists() and not current:
            if not create:
                raise IndexUnavailable(
                    f"the search index at {path} has an older layout: run `brokerage search reindex`"
                )
            shutil.rmtree(path)
        if not (path / "meta.json").exists():
            if not create:
                raise IndexUnavailable(f"no search index at {path}: run `brokerage search reindex`")
            path.mkdir(parents=True, exist_ok=True)
            created = cls(tantivy.Index(build_schema(), path=str(path), reuse=False), path)
            marker.write_text(SCHEMA_VERSION + "\n")
            return created
        try:
            index = tantivy.Index.open(str(path))
        except (OSError, ValueError) as exc:
            raise IndexUnavailable(f"cannot open the search index at {path}: {exc}") from exc
        index.config_reader(reload_policy="OnCommit")  # a reindex by another process is picked up
        return cls(index, path)

    @classmethod
    def in_memory(cls) -> TantivyTickerIndex:
        return cls(tantivy.Index(build_schema()), None)

    async def replace_all(self, listings: Sequence[Listing]) -> int:
        return self.replace_all_sync(listings)

    def replace_all_sync(self, listings: Sequence[Listing]) -> int:
        heap = min(WRITER_HEAP_BYTES, max(50_000_000, 10_000 * len(listings)))
        writer = self._index.writer(heap_size=heap, num_threads=1)
        writer.delete_all_documents()
        for listing in listings:
            writer.add_document(listing_document(listing))
        writer.commit()
        writer.wait_merging_threads()
        self._index.reload()
        self._vocabulary = None
        return len(listings)

    async def search(self, query: SearchQuery, limit: int) -> list[Listing]:
        return self.search_sync(query, limit)

    def vocabulary(self) -> Vocabulary:
        """The current searcher with its terms; rebuilt when the index on disk was committed since
        (a reindex by another process: meta.json changes), else kept (a stat per search)."""
        generation = None
        if self._path is not None:
            try:
                meta = (self._path / "meta.json").stat()
                generation = (meta.st_ino, meta.st_mtime_ns)
            except OSError:
                generation = None
        if self._vocabulary is None or generation != self._generation:
            if self._vocabulary is not None:
                self._index.reload()  # do not wait for the reader's own reload: both must agree
            self._vocabulary = Vocabulary.of(self._index.searcher())
            self._generation = generation
        return self._vocabulary

    def search_sync(self, query: SearchQuery, limit: int) -> list[Listing]:
        vocabulary = self.vocabulary()
        searcher = vocabulary.searcher
        addresses: list[tantivy.DocAddress] = []
        if query.symbol is not None:
            exact = tantivy.Query.boolean_query([
                (tantivy.Occur.Should, self._term("symbol", query.symbol)),
                (tantivy.Occur.Should, self._term("symbol_compact", compact_symbol(query.symbol))),
            ])
            addresses += [a for _, a in searcher.search(exact, limit, count=False, order_by_field="market_cap").hits]
        prefix = self._prefix_query(query)
        if query.class_letters:  # the named share class first within the prefix tier (ranking.rank)
            named = tantivy.Query.boolean_query([
                (tantivy.Occur.Must, prefix),
                (tantivy.Occur.Must, tantivy.Query.boolean_query(
                    [(tantivy.Occur.Should, self._term("share_class", c)) for c in sorted(query.class_letters)])),
            ])
            addresses += [a for _, a in searcher.search(named, limit, count=False, order_by_field="market_cap").hits]
        addresses += [a for _, a in searcher.search(prefix, limit, count=False, order_by_field="market_cap").hits]
        if len({(a.segment_ord, a.doc) for a in addresses}) < limit:
            fuzzy = self._fuzzy_query(query, prefix, vocabulary)
            if fuzzy is not None:
                hits = searcher.search(fuzzy, limit * FUZZY_OVERFETCH, count=False, order_by_field="market_cap")
                addresses += [a for _, a in hits.hits]
        seen: set[tuple[int, int]] = set()
        listings: list[Listing] = []
        for address in addresses:
            key = (address.segment_ord, address.doc)
            if key not in seen:
                seen.add(key)
                listings.append(self._listing(searcher.doc(address)))
        return rank(query, listings, limit)

    async def close(self) -> None:
        return None

    def remove_files(self) -> None:
        if self._path is not None:
            shutil.rmtree(self._path, ignore_errors=True)

    # Query construction ------------------------------------------------------------------
    def _term(self, field: str, value: str) -> tantivy.Query:
        return tantivy.Query.term_query(self._schema, field, value, index_option="basic")

    def _prefix_query(self, query: SearchQuery) -> tantivy.Query:
        name_all = tantivy.Query.boolean_query(
            [(tantivy.Occur.Must, self._term("name_prefix", t)) for t in query.tokens]
        )
        clauses = [
            (tantivy.Occur.Should, name_all),
            (tantivy.Occur.Should, self._term("name_joined_prefix", query.compact)),
        ]
        if query.symbol is not None:
            clauses.append((tantivy.Occur.Should, self._term("symbol_prefix", query.symbol)))
        return tantivy.Query.boolean_query(clauses)

    def _fuzzy_query(self, query: SearchQuery, prefix: tantivy.Query, vocabulary: Vocabulary) -> tantivy.Query | None:
        """The fuzzy tier minus the prefix tier. One-edit matches (4–5 letter words, tickers) are the
        token's one-edit neighbours that are indexed terms (search.typos: the first letter kept, as
        ranking.rank wants); two-edit words (6+ letters) use tantivy's Levenshtein automaton on the
        anchored words (``anchored``), which keeps the first letter too."""
        alternatives: list[tuple[tantivy.Occur, tantivy.Query]] = []
        if any(max_edits(t) for t in query.tokens):
            per_token = []
            for token in query.tokens:
                options = [(tantivy.Occur.Should, self._term("name_prefix", token))]
                edits = max_edits(token)
                if edits == 1:
                    typos = one_edit_neighbours(token, vocabulary.word_alphabet) & vocabulary.words
                    options += [(tantivy.Occur.Should, self._term("name_word", w)) for w in sorted(typos)]
                elif edits:
                    options.append((tantivy.Occur.Should, self._fuzzy("name_word_anchored", anchored(token), edits)))
                per_token.append((tantivy.Occur.Must, tantivy.Query.boolean_query(options)))
            alternatives.append((tantivy.Occur.Should, tantivy.Query.boolean_query(per_token)))
        if query.symbol is not None and query.symbol_fuzzy_edits:
            typos = one_edit_neighbours(query.symbol, vocabulary.symbol_alphabet) & vocabulary.symbols
            alternatives += [(tantivy.Occur.Should, self._term("symbol", s)) for s in sorted(typos)]
        if not alternatives:
            return None
        return tantivy.Query.boolean_query(
            [(tantivy.Occur.Must, tantivy.Query.boolean_query(alternatives)), (tantivy.Occur.MustNot, prefix)]
        )

    def _fuzzy(self, field: str, text: str, distance: int) -> tantivy.Query:
        return tantivy.Query.fuzzy_term_query(
            self._schema, field, text, distance=distance, transposition_cost_one=True, prefix=False
        )

    @staticmethod
    def _listing(doc: tantivy.Document) -> Listing:
        return Listing(
            symbol=str(doc.get_first("symbol")),
            name=str(doc.get_first("name")),
            exchange=str(doc.get_first("exchange")),
            sector=str(doc.get_first("sector")),
            market_cap=Decimal(str(doc.get_first("market_cap_text"))),
        )
