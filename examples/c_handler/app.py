"""C routes beside Python routes on one gohttp.Server.

    python setup.py build_ext --inplace      # builds c_handler beside this file
    python app.py                            # then: curl http://127.0.0.1:8000/c/hello

GET /c/hello, /c/greet/{name}, /c/info/... and POST /c/echo are answered
in C without the GIL; GET /py/hello and /stats in Python.
"""

import gohttp

import c_handler

srv = gohttp.Server(host="127.0.0.1", port=8000)
c_handler.hello(srv, "GET /c/hello", text="Hello from C!\n")
c_handler.greet(srv, "GET /c/greet/{name}")
c_handler.echo(srv, "POST /c/echo")
c_handler.info(srv, "/c/info/")


@srv.route("GET /py/hello")
def hello(w, req):
    w.write("Hello from Python!\n")


@srv.route("GET /stats")
def stats(w, req):
    w.write(f"C handlers answered {c_handler.served()} requests\n")


if __name__ == "__main__":
    srv.run()
