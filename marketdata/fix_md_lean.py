"""The ingestor's decoder for incremental refreshes (35=X): C-level scanning, no Python work per entry.

Nearly all market data is 35=X in the exchange's canonical layout (QuickFIX writes group fields in
the dictionary's order: 279, 269, 55, [270], [271], [290]). For those, one compiled pattern is run
over the group section: the matches must tile it exactly (their lengths add up to the section's) and
number NoMDEntries, or the message is not canonical. Entries are built by ``map`` over the matches
(``Match.groups`` gives None for an absent price or size, ``tuple.__new__`` makes the ``MdEntry``),
so no Python frame runs per entry; profiled, the NamedTuple constructor alone was ~45% of the
previous decoder and a second regex pass to validate coverage another 10%.

Anything else (another message type, an extra or empty field, another field order, a count that does
not add up) gets None, and the caller hands it to ``marketdata.fix_md.decode``, the general decoder
with the clear errors; what this returns always equals what that would (a property test holds them
together).
"""

from __future__ import annotations

import re
from functools import partial

from marketdata.fix_md import Increment, MdEntry, _sending_time_us

_ENTRY = re.compile(
    "279=([^\x01]+)\x01269=([^\x01]+)\x0155=([^\x01]+)\x01(?:270=([^\x01]+)\x01)?(?:271=([^\x01]+)\x01)?"
    "(?:290=[0-9]+\x01)?"
)
_COUNT = re.compile("\x01268=([0-9]{1,9})\x01")
_SENDING_TIME = re.compile("\x0152=([^\x01]*)\x01")
_REQ_ID = re.compile("\x01262=([^\x01]*)\x01")
_INCREMENT = "\x0135=X\x01"
_new_entry = partial(tuple.__new__, MdEntry)
_groups = re.Match.groups
_whole = re.Match.group


def decode_increment(raw: str) -> Increment | None:
    """A canonical 35=X decoded, or None when the general decoder must look at it."""
    if _INCREMENT not in raw[:64]:
        return None
    count = _COUNT.search(raw)
    if count is None:
        return None
    start = count.end()
    sending = _SENDING_TIME.search(raw, 0, start)
    if sending is None:
        return None
    tail = raw.rfind("\x0110=", start - 1)  # the group section ends at the checksum...
    end = len(raw) if tail < 0 else tail + 1
    if tail >= 0 and raw.find("\x01", end) not in (-1, len(raw) - 1):
        return None  # ...when it is the last field; a stray 10= inside the groups is not canonical
    matches = list(_ENTRY.finditer(raw, start, end))
    # Matches never overlap, so they tile the section exactly when their lengths add up to it.
    if len(matches) != int(count.group(1)) or sum(map(len, map(_whole, matches))) != end - start:
        return None
    req_id = _REQ_ID.search(raw, 0, start)
    entries = tuple(map(_new_entry, map(_groups, matches)))
    return Increment(req_id.group(1) if req_id else "", entries, _sending_time_us(sending.group(1)))
