"""URLs of the test Django project."""

from django.urls import path

from . import views

urlpatterns = [
    path("hello/<str:name>/", views.hello, name="hello"),
    path("where/", views.where),
    path("echo/", views.echo),
    path("upload/", views.upload),
    path("stream/<int:count>/", views.stream),
    path("download/", views.download),
    path("thread/", views.thread),
    path("athread/", views.athread),
    path("events/", views.events),
]
