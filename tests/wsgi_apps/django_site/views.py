"""Views of the test Django project."""

import asyncio
import hashlib
import os
import threading

from django.http import (FileResponse, HttpResponse, JsonResponse,
                         StreamingHttpResponse)
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt


def hello(request, name):
    return HttpResponse(f"Hello, {name}!", content_type="text/plain")


def where(request):
    return JsonResponse({
        "path": request.path, "path_info": request.path_info,
        "script_name": request.META["SCRIPT_NAME"],
        "reverse": reverse("hello", args=["x"]),
        "absolute": request.build_absolute_uri(),
        "get": dict(request.GET.lists()),
        "remote_addr": request.META["REMOTE_ADDR"],
    })


@csrf_exempt
def echo(request):
    return JsonResponse({"method": request.method,
                         "length": len(request.body),
                         "sha256": hashlib.sha256(request.body).hexdigest(),
                         "content_type": request.content_type})


@csrf_exempt
def upload(request):
    upload = request.FILES["file"]
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    return JsonResponse({"name": upload.name, "size": upload.size,
                         "sha256": digest.hexdigest(),
                         "field": request.POST["field"]})


def stream(request, count):
    lines = (f"line {i}\n" for i in range(count))
    return StreamingHttpResponse(lines, content_type="text/plain")


def download(request):
    """The file named by ?path= (tests only)."""
    return FileResponse(open(request.GET["path"], "rb"),
                        as_attachment=True,
                        filename=os.path.basename(request.GET["path"]))


def thread(request):
    """A sync view: under ASGI, asgiref runs it in a thread of its own."""
    return JsonResponse({"thread": threading.current_thread().name,
                         "async": False})


async def athread(request):
    """An async view: under ASGI, on the server's event loop."""
    await asyncio.sleep(0)
    return JsonResponse({"thread": threading.current_thread().name,
                         "async": True, "path": request.path})


async def events(request):
    """Server-sent events from an async iterator (Django 4.2+)."""
    async def generate():
        for i in range(3):
            yield f"data: {i}\n\n"
            await asyncio.sleep(0.01)
    return StreamingHttpResponse(generate(), content_type="text/event-stream")
