/*
 * c_handler.c — an extension module that answers HTTP requests in C on a
 * gohttp.Server, beside Python routes: gohttp's C API (gohttp.h) at work.
 *
 *     python setup.py build_ext --inplace     # in this folder
 *     python app.py                           # serves on 127.0.0.1:8000
 *
 * Its handlers run on Go's threads, without the GIL: they keep answering
 * while Python code holds it, and they run in parallel with each other.
 * So they touch no Python object, and what they share (the counter of
 * requests served) is atomic.
 *
 * From Python:
 *
 *     c_handler.hello(srv, "GET /hello", text="Hello, world!")
 *     c_handler.greet(srv, "GET /greet/{name}")     # path values
 *     c_handler.echo(srv, "POST /echo")             # the request body back
 *     c_handler.info(srv, "/info/")                 # the request, as text
 *     c_handler.served()                            # requests answered so far
 *     c_handler.live_contexts()                     # hello()'s ctx not yet freed
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <gohttp.h>

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

/* Shared by every handler, on any thread: atomic. */
static atomic_long served;
static atomic_long live_contexts;

typedef struct {
    const gohttp_capi *api;
} module_state;

static module_state *
get_state(PyObject *module)
{
    module_state *st = PyModule_GetState(module);
    assert(st != NULL);
    return st;
}

/* ---- the handlers: no GIL, no Python -------------------------------- */

/* What hello() gives its handler: the text, copied, freed by release. */
typedef struct {
    const gohttp_capi *api;
    size_t len;
    char text[];
} hello_ctx;

static void
hello_handler(gohttp_rw *w, const gohttp_req *r, void *ctx)
{
    hello_ctx *hello = ctx;
    hello->api->set_header(w, "Content-Type", "text/plain");
    hello->api->write(w, hello->text, hello->len);
    atomic_fetch_add(&served, 1);
}

/* Called by gohttp with the GIL held once no handler can run any more. */
static void
hello_release(void *ctx)
{
    PyMem_RawFree(ctx);
    atomic_fetch_sub(&live_contexts, 1);
}

static void
greet_handler(gohttp_rw *w, const gohttp_req *r, void *ctx)
{
    const gohttp_capi *api = ctx;
    char buf[512];
    gohttp_str name = api->path_value(r, "name");
    int n = snprintf(buf, sizeof buf, "Hello, %.*s!\n", (int)name.len,
                     name.ptr);
    api->set_header(w, "Content-Type", "text/plain; charset=utf-8");
    api->write(w, buf, n < (int)sizeof buf ? (size_t)n : sizeof buf - 1);
    atomic_fetch_add(&served, 1);
}

/* The request body back, with its Content-Type.  The body is read whole
 * before the response starts: once an HTTP/1.x response has started, Go
 * drops what is left of the request body.  A known length is read into
 * one buffer of that size, with one read; else in 16 KiB steps. */
static void
echo_handler(gohttp_rw *w, const gohttp_req *r, void *ctx)
{
    const gohttp_capi *api = ctx;
    char *body = NULL;
    size_t len = 0, cap = 0, step = 16384;
    int64_t got, declared = api->content_length(r);

    if (declared >= 0 && declared <= (1 << 20)) {
        step = (size_t)declared + 1;   /* + 1: to see the end in one read */
    }
    do {
        if (cap - len < step) {
            cap = len + step > 2 * cap ? len + step : 2 * cap;
            /* No GIL here: the raw allocator, which needs none. */
            char *grown = PyMem_RawRealloc(body, cap);
            if (grown == NULL) {
                api->abort(w);   /* the client gets a 500 */
                goto done;
            }
            body = grown;
        }
        size_t want = cap - len;
        got = api->read(r, body + len, want);
        len += got > 0 ? (size_t)got : 0;
        /* Fewer bytes than asked for: the body is over. */
        if (got >= 0 && (size_t)got < want) {
            break;
        }
    } while (got > 0);
    if (got < 0) {
        /* The client went, or the body was too large: say so if we can. */
        api->set_header(w, "Content-Type", "text/plain");
        api->write_header(w, 400);
        const char *why = api->error(w);
        api->write(w, why, strlen(why));
        goto done;
    }
    gohttp_str type = api->header(r, "Content-Type");
    if (type.ptr != NULL && type.len < 256) {
        char value[256];
        memcpy(value, type.ptr, type.len);
        value[type.len] = '\0';
        api->set_header(w, "Content-Type", value);
    }
    else {
        api->set_header(w, "Content-Type", "application/octet-stream");
    }
    api->write(w, body, len);
    atomic_fetch_add(&served, 1);
done:
    PyMem_RawFree(body);
}

/* A response body built in memory, then written in one call: each write
 * crosses into Go, so fewer writes are cheaper. */
typedef struct {
    char data[8192];
    size_t len;
} text;

#define LIT(s) ((gohttp_str){(s), sizeof(s) - 1})

static void
append(text *t, gohttp_str s)
{
    size_t n = s.len < sizeof t->data - t->len ? s.len
                                               : sizeof t->data - t->len;
    memcpy(t->data + t->len, s.ptr, n);
    t->len += n;
}

static void
append_line(text *t, gohttp_str label, gohttp_str value)
{
    append(t, label);
    append(t, LIT(": "));
    append(t, value);
    append(t, LIT("\n"));
}

/* The request as text: its fields in lower case, then every header in
 * Go's canonical form ("User-Agent: curl/8.0"). */
static void
info_handler(gohttp_rw *w, const gohttp_req *r, void *ctx)
{
    const gohttp_capi *api = ctx;
    text out = {.len = 0};
    char number[32];

    api->set_header(w, "Content-Type", "text/plain; charset=utf-8");
    api->set_header(w, "X-Handler", "c");
    api->add_header(w, "X-Thread-Safe", "yes");
    api->add_header(w, "x-thread-safe", "really");   /* the same header */
    append_line(&out, LIT("method"), api->method(r));
    append_line(&out, LIT("url"), api->url(r));
    append_line(&out, LIT("path"), api->path(r));
    append_line(&out, LIT("query"), api->query(r));
    append_line(&out, LIT("host"), api->host(r));
    append_line(&out, LIT("proto"), api->proto(r));
    append_line(&out, LIT("scheme"), api->scheme(r));
    append_line(&out, LIT("remote_addr"), api->remote_addr(r));
    int n = snprintf(number, sizeof number, "%lld",
                     (long long)api->content_length(r));
    append_line(&out, LIT("content_length"), (gohttp_str){number, (size_t)n});
    gohttp_str agent = api->header(r, "user-agent");   /* any case */
    append_line(&out, LIT("user_agent"),
                agent.ptr != NULL ? agent : LIT("(none)"));
    for (size_t i = 0; i < api->header_count(r); i++) {
        gohttp_str name, value;
        if (api->header_at(r, i, &name, &value) == 0) {
            append_line(&out, name, value);
        }
    }
    api->write(w, out.data, out.len);
    atomic_fetch_add(&served, 1);
}

/* ---- registering: from Python, with the GIL ------------------------- */

PyDoc_STRVAR(hello_doc,
"hello(server, pattern, text='Hello, world!')\n--\n\n"
"Answer requests matching pattern on server with text (text/plain), in C.");

static PyObject *
hello(PyObject *module, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"server", "pattern", "text", NULL};
    const gohttp_capi *api = get_state(module)->api;
    PyObject *server;
    const char *pattern, *text = "Hello, world!";
    Py_ssize_t len = 13;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "Os|s#:hello", kwlist,
                                     &server, &pattern, &text, &len)) {
        return NULL;
    }
    hello_ctx *ctx = PyMem_RawMalloc(sizeof *ctx + (size_t)len);
    if (ctx == NULL) {
        return PyErr_NoMemory();
    }
    ctx->api = api;
    ctx->len = (size_t)len;
    memcpy(ctx->text, text, (size_t)len);
    if (api->handle(server, pattern, hello_handler, ctx, hello_release) < 0) {
        PyMem_RawFree(ctx);   /* still ours: gohttp did not take it */
        return NULL;
    }
    atomic_fetch_add(&live_contexts, 1);
    Py_RETURN_NONE;
}

/* The handlers whose ctx is the table itself: nothing to free. */
static PyObject *
register_plain(PyObject *module, PyObject *args, const char *format,
               gohttp_handler handler)
{
    const gohttp_capi *api = get_state(module)->api;
    PyObject *server;
    const char *pattern;

    if (!PyArg_ParseTuple(args, format, &server, &pattern)) {
        return NULL;
    }
    if (api->handle(server, pattern, handler, (void *)api, NULL) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *
greet(PyObject *module, PyObject *args)
{
    return register_plain(module, args, "Os:greet", greet_handler);
}

static PyObject *
echo(PyObject *module, PyObject *args)
{
    return register_plain(module, args, "Os:echo", echo_handler);
}

static PyObject *
info(PyObject *module, PyObject *args)
{
    return register_plain(module, args, "Os:info", info_handler);
}

static PyObject *
get_served(PyObject *module, PyObject *unused)
{
    return PyLong_FromLong(atomic_load(&served));
}

static PyObject *
get_live_contexts(PyObject *module, PyObject *unused)
{
    return PyLong_FromLong(atomic_load(&live_contexts));
}

static PyMethodDef methods[] = {
    {"hello", (PyCFunction)(void (*)(void))hello,
     METH_VARARGS | METH_KEYWORDS, hello_doc},
    {"greet", greet, METH_VARARGS,
     PyDoc_STR("greet(server, pattern)\n--\n\n"
               "Answer 'Hello, {name}!' with the pattern's {name}.")},
    {"echo", echo, METH_VARARGS,
     PyDoc_STR("echo(server, pattern)\n--\n\n"
               "Answer with the request body and its Content-Type.")},
    {"info", info, METH_VARARGS,
     PyDoc_STR("info(server, pattern)\n--\n\n"
               "Answer with the request's fields and headers, as text.")},
    {"served", get_served, METH_NOARGS,
     PyDoc_STR("served()\n--\n\nRequests the C handlers answered so far.")},
    {"live_contexts", get_live_contexts, METH_NOARGS,
     PyDoc_STR("live_contexts()\n--\n\n"
               "hello() routes whose text gohttp has not released yet.")},
    {NULL, NULL, 0, NULL},
};

static int
exec_module(PyObject *module)
{
    /* Imports gohttp and checks that its C API is the one gohttp.h
     * describes: ImportError otherwise. */
    return gohttp_import(&get_state(module)->api);
}

static PyModuleDef_Slot slots[] = {
    {Py_mod_exec, exec_module},
#ifdef Py_GIL_DISABLED
    /* Nothing here needs the GIL (what handlers share is atomic): say so,
     * or importing the module turns the GIL back on in free-threaded
     * Python. */
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

static PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "c_handler",
    .m_doc = "HTTP handlers in C for gohttp.Server: gohttp's C API example.",
    .m_size = sizeof(module_state),
    .m_methods = methods,
    .m_slots = slots,
};

PyMODINIT_FUNC
PyInit_c_handler(void)
{
    return PyModuleDef_Init(&module_def);
}
