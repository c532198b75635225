"""workers_app, except that a worker started while the file named by
$GOHTTP_TEST_CRASH_AT_START exists dies as it imports the app (as an app
whose start crashes would): the supervisor's crash-loop backoff."""

import os

from wsgi_apps.workers_app import app  # noqa: F401 - the app served

if os.path.exists(os.environ.get("GOHTTP_TEST_CRASH_AT_START", "")):
    os._exit(3)
