"""The FIX front door: the only thing a FIX client talks to (see docs/adr/006-fix-front-door.md).

    framing.py      pure: where a FIX message ends (QuickFIX's own rules), Logon parsing, Logout bytes
    policy.py       pure: limits, connection caps, failed-logon back-off (no I/O, time passed in)
    logon.py        pure: the Logon gate (BeginString, CompIDs, HeartBtInt, credentials verdict)
    credentials.py  the credential source port: PostgreSQL (production), static (conformance profile)
    router.py       pure: SenderCompID -> gateway shard address
    server.py       the asyncio shell: listeners (plain/TLS), timeouts, relay with backpressure
"""
