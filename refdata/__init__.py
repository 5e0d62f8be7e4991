"""Reference data: the instrument universe shared by the exchange, the gateway and the search index."""

from refdata.instruments import Instrument, load_universe

__all__ = ["Instrument", "load_universe"]
