"""A realistic single-file Django project: GET /items renders a Django
template (apps/templates/items.html, the Flask app's) from 10 rows of a
SQLite query through Django's database connection.  Settings in code, the
default middleware that needs no app of its own (security, common).  GET /
answers the benchmark's hello world (its readiness check).  Served by
gohttp's WSGI adapter, gunicorn sync and granian WSGI as
apps.app_django:app."""

from pathlib import Path

import django
from django.conf import settings
from django.db import connection
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import path

from apps import appdb

settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["*"],
    SECRET_KEY="bench-only, not secret",
    ROOT_URLCONF=__name__,
    MIDDLEWARE=["django.middleware.security.SecurityMiddleware",
                "django.middleware.common.CommonMiddleware"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3",
                           "NAME": str(appdb.PATH)}},
    TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates",
                "DIRS": [str(Path(__file__).resolve().parent / "templates")]}],
    INSTALLED_APPS=[],
    USE_TZ=True,
)
django.setup()


def hello(request):
    return HttpResponse(b"Hello, world!", content_type="text/plain")


def items(request):
    with connection.cursor() as cursor:
        cursor.execute(appdb.QUERY, [appdb.FIRST])
        rows = [{"id": i, "name": n, "price": p}
                for i, n, p in cursor.fetchall()]
    return render(request, "items.html", {"title": "Items", "items": rows})


urlpatterns = [path("", hello), path("items", items)]

from django.core.wsgi import get_wsgi_application  # noqa: E402

app = get_wsgi_application()
