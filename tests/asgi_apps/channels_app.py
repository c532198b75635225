"""A Django Channels project's asgi.py, as its tutorial writes it, over the
test Django project (wsgi_apps.django_site): HTTP to Django, WebSockets
to Channels consumers, one sync (run in asgiref's thread) and one async."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wsgi_apps.django_site.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()   # sets Django up first

from channels.generic.websocket import (  # noqa: E402
    AsyncJsonWebsocketConsumer, WebsocketConsumer)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402


class Echo(WebsocketConsumer):
    def connect(self):
        self.accept()

    def receive(self, text_data=None, bytes_data=None):
        if text_data == "close":
            self.close(code=4001)
        elif text_data is not None:
            self.send(text_data="sync: " + text_data)
        else:
            self.send(bytes_data=bytes_data[::-1])


class Room(AsyncJsonWebsocketConsumer):
    async def connect(self):
        self.room = self.scope["url_route"]["kwargs"]["room"]
        if self.room == "closed":
            await self.close()   # before accept: refused, 403
            return
        await self.accept()

    async def receive_json(self, content, **kwargs):
        await self.send_json({"room": self.room, "got": content})


application = ProtocolTypeRouter({
    "http": django_asgi_app,
    "websocket": URLRouter([
        path("ws/echo/", Echo.as_asgi()),
        path("ws/room/<str:room>/", Room.as_asgi()),
    ]),
})
