"""Helpers of the test suite, apart from the tests themselves.

    common         timeouts, raw connections, one request, process stats
    net            curl, h2load, TLS key pairs, IPv6 and Unix socket checks
    wsgi           WSGI apps and files the WSGI tests share
    wsgi_fixtures  the WSGI tests' fixtures, a pytest plugin:
                   pytest_plugins = ["helpers.wsgi_fixtures"]

The fixtures every test may use (make_server, server, fetch, ...) are in
tests/conftest.py.
"""
