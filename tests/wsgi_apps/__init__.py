"""WSGI applications the tests serve, also through the gohttp command."""
