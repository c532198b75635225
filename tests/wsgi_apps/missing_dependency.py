"""A module that imports a package that is not installed."""

import no_such_package_for_gohttp_tests  # noqa: F401


def app(environ, start_response):
    raise AssertionError("never imported")
