"""The project's WSGI entry point, as `django-admin startproject` makes
it: `gohttp wsgi_apps.django_site.wsgi:application`."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wsgi_apps.django_site.settings")

application = get_wsgi_application()
