"""A Falcon app for the framework tests."""

import falcon


class Hello:
    def on_get(self, req, resp, name):
        resp.media = {"hello": name, "path": req.path,
                      "root_path": req.root_path, "uri": req.uri,
                      "params": req.params,
                      "remote_addr": req.remote_addr}


class Echo:
    def on_post(self, req, resp):
        resp.content_type = req.content_type or falcon.MEDIA_TEXT
        resp.data = req.bounded_stream.read()


class Lines:
    def on_get(self, req, resp, count):
        resp.content_type = falcon.MEDIA_TEXT
        resp.stream = (f"line {i}\n".encode() for i in range(count))


class Missing:
    def on_get(self, req, resp):
        raise falcon.HTTPNotFound(title="nothing here")


app = falcon.App()
app.add_route("/hello/{name}", Hello())
app.add_route("/echo", Echo())
app.add_route("/lines/{count:int}", Lines())
app.add_route("/missing", Missing())
