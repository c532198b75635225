"""Run by tests/test_http3.py with niquests on its PYTHONPATH (never
imported by the suite: see tests/requirements-http3.txt).

    python niquests_client.py CA_FILE [POST:]URL...

Requests each URL in turn on one niquests Session, as a browser would:
HTTP/2 first, then HTTP/3 once an Alt-Svc says where.  Prints one JSON
line per response: its HTTP version (20, 30), status, body, Alt-Svc.
A POST: URL sends 50,000 bytes."""

import json
import sys

import niquests

ca, urls = sys.argv[1], sys.argv[2:]
with niquests.Session() as session:
    for url in urls:
        if url.startswith("POST:"):
            r = session.post(url[5:], data=b"q" * 50_000, verify=ca,
                             timeout=10)
        else:
            r = session.get(url, verify=ca, timeout=10)
        print(json.dumps({"version": r.http_version, "status": r.status_code,
                          "body": r.text, "alt_svc": r.headers.get("Alt-Svc")}),
              flush=True)
