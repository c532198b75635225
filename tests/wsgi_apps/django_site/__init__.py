"""A minimal Django project: settings, URLs, views and its wsgi.py."""
