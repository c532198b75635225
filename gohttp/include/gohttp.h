/*
 * gohttp.h — gohttp's C API: answer HTTP requests in C, on Go's net/http,
 * with no Python and no GIL per request.
 *
 * A C extension registers a handler on a gohttp.Server:
 *
 *     #include <Python.h>
 *     #include <gohttp.h>            // include_dirs=[gohttp.get_include()]
 *
 *     static void
 *     hello(gohttp_rw *w, const gohttp_req *r, void *ctx)
 *     {
 *         const gohttp_capi *api = ctx;
 *         api->set_header(w, "Content-Type", "text/plain");
 *         api->write(w, "Hello, world!", 13);
 *     }
 *
 *     // In the module's exec function (the GIL held):
 *     const gohttp_capi *api;
 *     if (gohttp_import(&api) < 0) {
 *         return -1;                   // ImportError is set
 *     }
 *     // ... and where Python hands it a server (srv: a gohttp.Server):
 *     if (api->handle(srv, "GET /hello", hello, (void *)api, NULL) < 0) {
 *         return NULL;                 // TypeError, ValueError, RuntimeError
 *     }
 *
 * examples/c_handler/ in gohttp's sources is a whole extension.
 *
 * How a handler runs.  Go calls it on the goroutine that serves the
 * request, on one of Go's OS threads: without the GIL and without a
 * Python thread state, concurrently with itself and with every other
 * handler, Python ones included (they keep running while C handlers run,
 * and C handlers keep running while Python holds the GIL).  So:
 *
 *  - Do not call the Python C API from a handler.  Anything the handler
 *    shares with other threads (ctx, globals) needs its own locking or
 *    atomics.  If a handler must reach Python after all, it takes the GIL
 *    with PyGILState_Ensure() like any foreign thread, and then it is no
 *    longer GIL-free and must not outlive the interpreter: stop the
 *    server (gohttp does at exit) before Python finalizes.
 *  - w and r belong to one handler call: use them from the thread that
 *    runs it, one call at a time, like Go's ResponseWriter and Request.
 *  - A handler that blocks (waiting for a slow upload, a slow client, or
 *    anything else) holds its OS thread while it waits; requests that
 *    arrive meanwhile run on other threads, which Go makes as needed.
 *    Many handlers blocked at once are that many threads.
 *
 * Lifetimes, in net/http's terms:
 *
 *  - w and r, and every gohttp_str read from r, are valid only until the
 *    handler returns.  The strings point into Go's copy of the request,
 *    are not NUL-terminated, and are reused for the next request: copy
 *    what you keep.
 *  - Pointers a handler passes in (header names and values, the bytes to
 *    write, the buffer to read into) are read or written during the call
 *    only; gohttp copies what it keeps and frees none of them.
 *  - ctx is yours.  gohttp passes it to every call of the handler, from
 *    many threads at once, until the server is freed (after shutdown,
 *    when Python drops the last reference to it); then, with the GIL held
 *    and no handler running, it calls release(ctx) if release is not
 *    NULL.  If handle() fails, gohttp keeps nothing: ctx is still yours,
 *    and release is not called.  A server shut down while a handler was
 *    stuck in C (past its shutdown timeout) keeps its routes forever, and
 *    release is never called for them.
 *  - The table itself (gohttp_capi) is static and never freed: keep the
 *    pointer gohttp_import() gave for as long as the process lives.
 *
 * Errors.  A function that fails returns -1, and api->error(w) says why
 * until the next call on w.  Reading and writing fail once the client has
 * gone (writes only once they reach the connection: see write()); the
 * handler should then return.  A handler that calls
 * api->abort(w) gets, like a Go handler that panics, a 500 for the client
 * if the response has not started, and the connection closed if it has.
 * A handler that writes nothing gets an empty 200, as in Go.
 *
 * The ABI.  GOHTTP_CAPI_VERSION changes when the table changes in a way
 * that breaks extensions built against an older gohttp.h (an entry
 * removed, moved or changed); entries added at the end only make the
 * table larger.  gohttp_import() accepts the table only if its version is
 * the one this header was written for and it is at least as large as this
 * header's gohttp_capi, so an extension built against gohttp.h runs with
 * the same or a later gohttp of the same version, and refuses anything
 * else with ImportError instead of crashing.
 */
#ifndef GOHTTP_H
#define GOHTTP_H

#include <Python.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GOHTTP_CAPI_VERSION 1
#define GOHTTP_CAPSULE_NAME "gohttp._gohttp._C_API"

/* The response being written, and the request being served: opaque. */
typedef struct gohttp_rw gohttp_rw;
typedef struct gohttp_req gohttp_req;

/* A run of bytes, not NUL-terminated.  ptr is NULL only where a function
 * says so (a header that is absent). */
typedef struct {
    const char *ptr;
    size_t len;
} gohttp_str;

/* A request's TLS state (api->tls): what req.tls holds for Python
 * handlers.  The strings point into the request, as r's do. */
typedef struct {
    uint16_t version;          /* 0x0303 for TLS 1.2, 0x0304 for TLS 1.3 */
    uint16_t cipher_suite;     /* its IANA number: 0x1301 */
    gohttp_str version_name;   /* "TLSv1.3" */
    gohttp_str cipher_name;    /* Go's name: "TLS_AES_128_GCM_SHA256" */
    gohttp_str server_name;    /* SNI: the name the client asked for, or "" */
    gohttp_str alpn;           /* "h2", "http/1.1", or "" */
    size_t client_certs;       /* certificates in the client's verified
                                  chain (api->tls_client_cert), 0 without a
                                  client certificate */
} gohttp_tls;

/* A handler: answers one request.  See the top for where it runs. */
typedef void (*gohttp_handler)(gohttp_rw *w, const gohttp_req *r,
                               void *ctx);

/* Frees a handler's ctx; called with the GIL held. */
typedef void (*gohttp_release)(void *ctx);

typedef struct gohttp_capi {
    /* GOHTTP_CAPI_VERSION of the gohttp that made the table, and its
     * sizeof(gohttp_capi).  Always the first two fields. */
    uint32_t version;
    uint32_t size;

    /* ---- registering: call with the GIL held ---------------------- */

    /* Route requests that match pattern (a Go ServeMux pattern such as
     * "GET /items/{id}", NUL-terminated UTF-8) to handler(w, r, ctx).
     * server is a gohttp.Server (or gohttp._gohttp.Server), borrowed for
     * the call.  Routes may be added before or while the server serves.
     * Returns 0, or -1 with an exception set: TypeError if server is not
     * a gohttp Server or pattern or handler is NULL, ValueError with Go's
     * message for a bad pattern or one that conflicts with a route,
     * RuntimeError if the server was shut down. */
    int (*handle)(PyObject *server, const char *pattern,
                  gohttp_handler handler, void *ctx, gohttp_release release);

    /* ---- the request: no GIL needed ------------------------------- */

    gohttp_str (*method)(const gohttp_req *r);      /* "GET" */
    gohttp_str (*url)(const gohttp_req *r);         /* as sent: "/a%20b?x=1" */
    gohttp_str (*path)(const gohttp_req *r);        /* decoded: "/a b" */
    gohttp_str (*query)(const gohttp_req *r);       /* raw, no '?': "x=1" */
    gohttp_str (*host)(const gohttp_req *r);        /* Host or :authority */
    gohttp_str (*proto)(const gohttp_req *r);       /* "HTTP/1.1" */
    gohttp_str (*scheme)(const gohttp_req *r);      /* "http" or "https" */
    gohttp_str (*remote_addr)(const gohttp_req *r); /* "127.0.0.1:53211" */

    /* The first value of the request header name (NUL-terminated, any
     * case), or {NULL, 0} if the request has none. */
    gohttp_str (*header)(const gohttp_req *r, const char *name);
    /* How many header values the request has, and the i-th one (0 <= i <
     * header_count) with its name in Go's canonical form ("Content-Type"):
     * returns 0, or -1 if i is out of range. */
    size_t (*header_count)(const gohttp_req *r);
    int (*header_at)(const gohttp_req *r, size_t i, gohttp_str *name,
                     gohttp_str *value);

    /* The wildcard name (NUL-terminated) of the route's pattern: for
     * "GET /items/{id}", path_value(r, "id") is "42" for /items/42.  ""
     * (not NULL) if the pattern has no wildcard of that name, as in Go. */
    gohttp_str (*path_value)(const gohttp_req *r, const char *name);

    /* The request's Content-Length, or -1 if unknown (a chunked upload). */
    int64_t (*content_length)(const gohttp_req *r);

    /* Read up to n bytes of the request body into buf; returns how many
     * were read (fewer than n only at the end of the body), 0 once it is
     * over, or -1 (api->error(w) says why: the client went away, the
     * server's max_body_bytes was reached, a read timeout).  It blocks
     * until the bytes arrive. */
    int64_t (*read)(const gohttp_req *r, void *buf, size_t n);

    /* ---- the response: no GIL needed ------------------------------ */

    /* Set, add or delete a response header (names and values
     * NUL-terminated; names are HTTP tokens, put in canonical form;
     * values may not hold CR or LF).  Only before the response starts:
     * before write_header(), write() or flush().  Return 0, or -1. */
    int (*set_header)(gohttp_rw *w, const char *name, const char *value);
    int (*add_header)(gohttp_rw *w, const char *name, const char *value);
    int (*del_header)(gohttp_rw *w, const char *name);

    /* Set the status code (100 to 999) and end the headers, at most once,
     * before write() and flush().  As in Go, the status line and the
     * headers go out with the first write() or flush(), or when the
     * handler returns; an informational code (1xx but 101) goes out at
     * once and may come before the final one.  Returns 0, or -1. */
    int (*write_header)(gohttp_rw *w, int code);

    /* Write n bytes of buf to the body; the first write ends the headers
     * and the status (200 unless write_header() said otherwise).  Small
     * writes are kept, as Go's ResponseWriter buffers them: a response
     * of up to about 4 KiB that is never flushed goes out when the
     * handler returns, in one piece.  Returns n, or -1 (the client went
     * away, a body longer than the Content-Length set, a status that
     * allows no body).  As in Go, a write that was only buffered does
     * not see the client go. */
    int64_t (*write)(gohttp_rw *w, const void *buf, size_t n);

    /* Send what is buffered to the client now (starting the response if
     * needed).  Without Content-Length the body is chunked, so streamed
     * responses reach the client at once.  Returns 0, or -1. */
    int (*flush)(gohttp_rw *w);

    /* Give up on the response: once the handler returns, the client gets
     * a 500 if the response has not started (a 413 if reading the body
     * failed at the server's max_body_bytes), else the connection is
     * closed (a half response cannot pass for a whole one).  Later
     * writes fail. */
    void (*abort)(gohttp_rw *w);

    /* Why the last call on w or its request failed (NUL-terminated,
     * valid until the next call on w), or "" if none did. */
    const char *(*error)(const gohttp_rw *w);

    /* ---- TLS: no GIL needed ---------------------------------------- */

    /* The connection's TLS state into *tls: returns 0, or -1 for a
     * cleartext request (*tls is then zeroed). */
    int (*tls)(const gohttp_req *r, gohttp_tls *tls);
    /* The i-th certificate (DER) of the client's verified chain: the
     * client's own first, then its chain up to the trusted CA (0 <= i <
     * tls->client_certs), into *der, which points into the request as
     * r's strings do.  Returns 0, or -1 if there is no such one. */
    int (*tls_client_cert)(const gohttp_req *r, size_t i, gohttp_str *der);
} gohttp_capi;

/* Import gohttp's C API into *api: call it with the GIL held, in the
 * module's exec function (or PyInit), after which gohttp is imported.
 * Returns 0, or -1 with ImportError set: gohttp is missing, or it is not
 * the gohttp this header belongs to (rebuild the extension against the
 * installed gohttp's gohttp.get_include()). */
static inline int
gohttp_import(const gohttp_capi **api)
{
    const gohttp_capi *table =
        (const gohttp_capi *)PyCapsule_Import(GOHTTP_CAPSULE_NAME, 0);
    if (table == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_ImportError)) {
            /* An AttributeError (no _C_API) or ValueError (not the
             * capsule): say it as an ImportError. */
#if PY_VERSION_HEX >= 0x030C0000
            PyObject *why = PyErr_GetRaisedException();
#else
            PyObject *type, *why, *tb;
            PyErr_Fetch(&type, &why, &tb);
            Py_XDECREF(type);
            Py_XDECREF(tb);
#endif
            PyErr_Format(PyExc_ImportError,
                         "gohttp's C API (%s) is missing: %S; install a "
                         "gohttp with a C API", GOHTTP_CAPSULE_NAME,
                         why != NULL ? why : Py_None);
            Py_XDECREF(why);
        }
        return -1;
    }
    if (table->version != GOHTTP_CAPI_VERSION) {
        PyErr_Format(PyExc_ImportError,
                     "gohttp's C API is version %u, but this extension was "
                     "built against version %u: rebuild it against the "
                     "installed gohttp (include_dirs=[gohttp.get_include()])",
                     (unsigned)table->version, (unsigned)GOHTTP_CAPI_VERSION);
        return -1;
    }
    if (table->size < sizeof(gohttp_capi)) {
        PyErr_Format(PyExc_ImportError,
                     "gohttp's C API table has %u bytes, but this extension "
                     "was built against a newer gohttp.h that needs %u: "
                     "upgrade gohttp, or rebuild the extension against the "
                     "installed one", (unsigned)table->size,
                     (unsigned)sizeof(gohttp_capi));
        return -1;
    }
    *api = table;
    return 0;
}

#ifdef __cplusplus
}
#endif

#endif /* GOHTTP_H */
