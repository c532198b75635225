"""ASGI apps the command serves in the tests (``python -m gohttp
asgi_apps.hello:app`` from tests/)."""
