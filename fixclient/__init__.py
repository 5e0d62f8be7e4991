"""A light FIX 4.4 client (simplefix + asyncio) for tests, the `brokerage fix-client` command and benchmarks."""
