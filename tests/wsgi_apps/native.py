"""Native gohttp handlers, for the gohttp command's MODULE and
MODULE:SERVER forms."""

import gohttp


@gohttp.route("GET /native")
def native(w, req):
    w.write(b"from the default server")


server = gohttp.Server()


@server.route("GET /own")
def own(w, req):
    w.write(b"from its own server")
