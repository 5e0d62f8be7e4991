"""One-edit typo neighbourhoods (pure): the fuzzy tier's one-edit matches found by lookup, not by automaton.

For a text and the alphabet of a vocabulary, :func:`one_edit_neighbours` lists every string within one
optimal-string-alignment edit (a deletion, an insertion, a substitution or an adjacent transposition)
that keeps the first character, i.e. exactly the strings ``search.ranking`` accepts as a one-edit fuzzy
match with prefix length 1. Intersected with the set of indexed terms it gives the fuzzy terms of a
token in a few hundred set lookups, where a Levenshtein automaton walks a large part of the term
dictionary (docs/perf/search.md). Characters outside the alphabet cannot occur in a vocabulary word,
so leaving them out loses nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from search.query import FUZZY_PREFIX_LENGTH


def one_edit_neighbours(text: str, alphabet: Iterable[str]) -> set[str]:
    """Every string at most one edit from ``text`` (``text`` included) whose first character is
    ``text``'s: edits only from position FUZZY_PREFIX_LENGTH on (an edit at position 0 that keeps the
    first character, such as deleting one of two equal leading letters, gives a string listed anyway)."""
    keep = FUZZY_PREFIX_LENGTH
    letters = tuple(alphabet)
    n = len(text)
    out = {text}
    out.update(text[:i] + text[i + 1:] for i in range(keep, n))  # deletions
    out.update(text[:i] + text[i + 1] + text[i] + text[i + 2:] for i in range(keep, n - 1))  # transpositions
    for i in range(keep, n):
        head, tail = text[:i], text[i + 1:]
        out.update([head + c + tail for c in letters])  # substitutions
    for i in range(keep, n + 1):
        head, tail = text[:i], text[i:]
        out.update([head + c + tail for c in letters])  # insertions
    return out
