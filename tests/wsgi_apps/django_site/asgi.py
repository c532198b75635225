"""The project's ASGI entry point, as `django-admin startproject` makes
it: `gohttp wsgi_apps.django_site.asgi:application`."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wsgi_apps.django_site.settings")

application = get_asgi_application()
