"""A module that fails while it is imported, as a bad app module does."""

import wsgi_apps.hello  # noqa: F401  (imports fine)

raise RuntimeError("settings are missing: DATABASE_URL is not set")
