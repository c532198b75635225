"""Stands in for uvloop when the suite runs with GOHTTP_TEST_LOOP=asyncio
(tests/conftest.py puts this directory first on the path): --loop auto
then falls back to asyncio's loop, in the tests' own process and in the
servers they start, although uvloop is installed."""

raise ImportError("uvloop is hidden from this run: GOHTTP_TEST_LOOP=asyncio")
