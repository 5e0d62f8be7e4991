"""TLS for client sessions: the server-side context the FIX front door (gateway.frontdoor) serves
``fix_tls_port`` with. The front door terminates TLS and relays to the one QuickFIX acceptor, so a
client keeps a single session (one sequence-number store) whichever port it uses. (``fixsession``
still builds QuickFIX-SSL endpoints, e.g. for a TLS-only link.)
"""

from __future__ import annotations

import ssl
from pathlib import Path


def server_context(certificate: Path, private_key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(certificate), str(private_key))
    return context
