/*
 * capi.c — gohttp's C API for other extensions: the capsule
 * gohttp._gohttp._C_API and the function table behind
 * gohttp/include/gohttp.h.
 *
 * A C handler's route runs without Python: Go calls c_dispatch straight
 * from the request's goroutine (go/chandler.go), and c_dispatch calls the
 * extension's handler.  The response goes through the writer a Python
 * ResponseWriter uses (writer.h): a small one is held in the reply buffer
 * Go lends for the call and goes back to Go with the return of the call,
 * at no crossing; a larger one crosses when it outgrows the buffer, with
 * status, headers and body together.  What is C's own here is the list of
 * headers, built in place at the front of that buffer (bridge.h rule 7)
 * until the response starts, or in memory of its own if it outgrows it.
 *
 * gohttp.h's types are opaque to the extension; here they are one struct
 * on c_dispatch's stack, which lives exactly as long as the handler call
 * (gohttp.h: "valid only until the handler returns").  Nothing here is
 * shared between calls but the route, which is read-only while serving.
 */
#include "module.h"
#include "gohttp.h"
#include "writer.h"

#include <stdio.h>
#include <string.h>

/* A C handler route.  Owned by its server (server.c); Go holds its
 * address as the handler value until the server is freed. */
struct gohttp_c_route {
    gohttp_handler handler;
    void *ctx;                /* the extension's */
    gohttp_release release;   /* or NULL */
};

struct gohttp_req {
    const gohttp_request *req;  /* borrowed from Go: the handler call */
    const char *data;           /* borrowed from Go: the handler call */
    struct gohttp_rw *w;        /* the call's other half */
};

struct gohttp_rw {
    struct gohttp_req r;
    gohttp_writer out;          /* the response (writer.h) */
    int aborted;
    char *headers;              /* packed list (bridge.h): key, value, ...;
                                   reply_buf, or owned (PyMem_Raw) */
    size_t headers_len;
    size_t headers_cap;
    int64_t declared;           /* their Content-Length (writer.h) */
    gohttp_error err;           /* the last failure, for api->error */
};

/* 0 if status is GOHTTP_OK, else -1: w->err says why. */
static int
ok(gohttp_status status)
{
    return status == GOHTTP_OK ? 0 : -1;
}

/* ---- errors ------------------------------------------------------------ */

static int
fail(gohttp_rw *w, const char *message)
{
    w->err.sys_errno = 0;
    snprintf(w->err.message, sizeof w->err.message, "%s", message);
    return -1;
}

static int
check_live(gohttp_rw *w)
{
    if (w->aborted) {
        return fail(w, "the handler aborted the response");
    }
    return 0;
}

/* ---- the request ------------------------------------------------------- */

static gohttp_str
field(const gohttp_req *r, int which)
{
    gohttp_span span = r->req->field[which];
    return (gohttp_str){r->data + span.off, span.len};
}

static gohttp_str req_method(const gohttp_req *r) { return field(r, GOHTTP_F_METHOD); }
static gohttp_str req_url(const gohttp_req *r) { return field(r, GOHTTP_F_URL); }
static gohttp_str req_path(const gohttp_req *r) { return field(r, GOHTTP_F_PATH); }
static gohttp_str req_query(const gohttp_req *r) { return field(r, GOHTTP_F_QUERY); }
static gohttp_str req_host(const gohttp_req *r) { return field(r, GOHTTP_F_HOST); }
static gohttp_str req_proto(const gohttp_req *r) { return field(r, GOHTTP_F_PROTO); }
static gohttp_str req_scheme(const gohttp_req *r) { return field(r, GOHTTP_F_SCHEME); }
static gohttp_str req_remote_addr(const gohttp_req *r) { return field(r, GOHTTP_F_REMOTE_ADDR); }

/* Read the item of a packed list at *p (bridge.h) and step past it. */
static gohttp_str
next_item(const char **p)
{
    Py_ssize_t n;
    const char *item = gohttp_next_item(p, &n);
    return (gohttp_str){item, (size_t)n};
}

static int
ascii_lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static int
equal_fold(gohttp_str s, const char *name, size_t len)
{
    if (s.len != len) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        if (ascii_lower((unsigned char)s.ptr[i])
            != ascii_lower((unsigned char)name[i])) {
            return 0;
        }
    }
    return 1;
}

/* The value of the first pair named name (any case if fold) in the
 * packed list of field which, which holds count pairs; ptr NULL if none. */
static gohttp_str
find_pair(const gohttp_req *r, int which, uint32_t count, const char *name,
          int fold)
{
    size_t len = strlen(name);
    const char *p = field(r, which).ptr;
    for (uint32_t i = 0; i < count; i++) {
        gohttp_str key = next_item(&p);
        gohttp_str value = next_item(&p);
        if (fold ? equal_fold(key, name, len)
                 : key.len == len && memcmp(key.ptr, name, len) == 0) {
            return value;
        }
    }
    return (gohttp_str){NULL, 0};
}

static gohttp_str
req_header(const gohttp_req *r, const char *name)
{
    return find_pair(r, GOHTTP_F_HEADERS, r->req->header_count, name, 1);
}

static size_t
req_header_count(const gohttp_req *r)
{
    return r->req->header_count;
}

static int
req_header_at(const gohttp_req *r, size_t i, gohttp_str *name,
              gohttp_str *value)
{
    if (i >= r->req->header_count) {
        return -1;
    }
    const char *p = field(r, GOHTTP_F_HEADERS).ptr;
    for (size_t j = 0;; j++) {
        *name = next_item(&p);
        *value = next_item(&p);
        if (j == i) {
            return 0;
        }
    }
}

static gohttp_str
req_path_value(const gohttp_req *r, const char *name)
{
    gohttp_str value = find_pair(r, GOHTTP_F_PATH_VALUES,
                                 r->req->path_value_count, name, 0);
    return value.ptr != NULL ? value : (gohttp_str){"", 0};
}

static int
req_tls(const gohttp_req *r, gohttp_tls *out)
{
    gohttp_str span = field(r, GOHTTP_F_TLS);
    gohttp_tls_state tls;
    memset(out, 0, sizeof *out);
    if (!gohttp_tls_read(span.ptr, (Py_ssize_t)span.len, &tls)) {
        return -1;   /* cleartext */
    }
    out->version = tls.version;
    out->cipher_suite = tls.cipher_suite;
    gohttp_str *names[GOHTTP_TLS_NNAMES] = {
        [GOHTTP_TLS_VERSION] = &out->version_name,
        [GOHTTP_TLS_CIPHER] = &out->cipher_name,
        [GOHTTP_TLS_SERVER_NAME] = &out->server_name,
        [GOHTTP_TLS_ALPN] = &out->alpn,
    };
    for (int i = 0; i < GOHTTP_TLS_NNAMES; i++) {
        *names[i] = (gohttp_str){tls.name[i], (size_t)tls.name_len[i]};
    }
    for (const char *p = tls.chain; p < tls.chain_end; out->client_certs++) {
        (void)next_item(&p);
    }
    return 0;
}

static int
req_tls_client_cert(const gohttp_req *r, size_t i, gohttp_str *der)
{
    gohttp_str span = field(r, GOHTTP_F_TLS);
    gohttp_tls_state tls;
    if (gohttp_tls_read(span.ptr, (Py_ssize_t)span.len, &tls)) {
        const char *p = tls.chain;
        for (size_t j = 0; p < tls.chain_end; j++) {
            *der = next_item(&p);
            if (j == i) {
                return 0;
            }
        }
    }
    *der = (gohttp_str){NULL, 0};
    return -1;
}

static int64_t
req_content_length(const gohttp_req *r)
{
    return r->req->content_length;
}

static int64_t
req_read(const gohttp_req *r, void *buf, size_t n)
{
    gohttp_rw *w = r->w;
    size_t got = 0;
    /* A response held so far goes to Go first, so that Go sees it start
     * before the read, as the handler did. */
    if (check_live(w) < 0 || ok(gohttp_writer_release(&w->out, &w->err)) < 0) {
        return -1;
    }
    gohttp_status status = gohttp_call_read(w->out.call, w->out.generation,
                                            buf, n, &got, &w->err);
    return status == GOHTTP_OK ? (int64_t)got : -1;
}

/* ---- the response headers --------------------------------------------- */

/* 1 for the bytes of an HTTP token (RFC 9110), which header names are. */
static const unsigned char token_char[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1,
    ['*'] = 1, ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1,
    ['`'] = 1, ['|'] = 1, ['~'] = 1,
    ['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1,
};

/* Check a header change; the name's length, or -1 with the reason in w. */
static Py_ssize_t
check_header(gohttp_rw *w, const char *name, const char *value)
{
    if (check_live(w) < 0) {
        return -1;
    }
    if (w->out.started) {
        return fail(w, "the response has already started: headers can no "
                       "longer change (set them before write_header(), "
                       "write() and flush())");
    }
    if (name == NULL || name[0] == '\0') {
        return fail(w, "a header name must be a non-empty string");
    }
    size_t len = 0;
    while (name[len] != '\0') {
        if (!token_char[(unsigned char)name[len++]]) {
            return fail(w, "invalid header name: header names are HTTP "
                           "tokens (letters, digits and !#$%&'*+-.^_`|~)");
        }
    }
    if (value != NULL && strpbrk(value, "\r\n") != NULL) {
        return fail(w, "invalid header value: it may not contain CR or LF");
    }
    if (len > UINT32_MAX / 2) {
        return fail(w, "header name too long");
    }
    return (Py_ssize_t)len;
}

/* Make room for need more bytes of headers; 0, or -1 with the reason.
 * Headers that outgrow the reply buffer move to memory of their own; the
 * response then crosses into Go when it starts. */
static int
reserve(gohttp_rw *w, size_t need)
{
    if (need <= w->headers_cap - w->headers_len) {
        return 0;
    }
    size_t cap = w->headers_cap * 2;
    while (cap - w->headers_len < need) {
        cap *= 2;
    }
    /* Without the GIL: the raw allocator (it is thread-safe). */
    char *buf = PyMem_RawMalloc(cap);
    if (buf == NULL) {
        return fail(w, "out of memory for the response headers");
    }
    memcpy(buf, w->headers, w->headers_len);
    if (w->headers != w->out.reply_buf) {
        PyMem_RawFree(w->headers);
    }
    w->headers = buf;
    w->headers_cap = cap;
    return 0;
}

/* Remove every pair whose key is name (len bytes, any case). */
static void
remove_pairs(gohttp_rw *w, const char *name, size_t len)
{
    const char *p = w->headers, *end = w->headers + w->headers_len;
    char *out = w->headers;
    while (p < end) {
        const char *pair = p;
        gohttp_str key = next_item(&p);
        (void)next_item(&p);
        size_t size = (size_t)(p - pair);
        if (equal_fold(key, name, len)) {
            continue;
        }
        if (out != pair) {
            memmove(out, pair, size);
        }
        out += size;
    }
    w->headers_len = (size_t)(out - w->headers);
}

/* Append name in Go's canonical form, as textproto writes a valid one
 * ("content-type" → "Content-Type"; headers.c), as one packed-list item
 * at p. */
static char *
put_canonical_key(char *p, const char *name, size_t len)
{
    uint32_t n = (uint32_t)len;
    memcpy(p, &n, sizeof n);
    p += sizeof n;
    gohttp_canonicalize((unsigned char *)p, (const unsigned char *)name, len);
    return p + len;
}

/* The shared work of set, add and del: value NULL deletes. */
static int
change_header(gohttp_rw *w, const char *name, const char *value, int replace)
{
    Py_ssize_t nlen = check_header(w, name, value);
    if (nlen < 0) {
        return -1;
    }
    int is_length = nlen == 14
                    && equal_fold((gohttp_str){name, 14}, "Content-Length", 14);
    if (replace && w->headers_len > 0) {
        remove_pairs(w, name, (size_t)nlen);
    }
    if (is_length && replace) {
        w->declared = GOHTTP_LENGTH_NONE;
    }
    if (value == NULL) {
        return 0;
    }
    size_t vlen = strlen(value);
    if (vlen > UINT32_MAX / 2) {
        return fail(w, "header value too long");
    }
    if (reserve(w, 2 * sizeof(uint32_t) + (size_t)nlen + vlen) < 0) {
        return -1;
    }
    char *p = put_canonical_key(w->headers + w->headers_len, name,
                                (size_t)nlen);
    uint32_t n = (uint32_t)vlen;
    memcpy(p, &n, sizeof n);
    memcpy(p + sizeof n, value, vlen);
    w->headers_len = (size_t)(p + sizeof n + vlen - w->headers);
    if (is_length) {
        /* A second one: Go judges the two. */
        w->declared = w->declared == GOHTTP_LENGTH_NONE
                      ? gohttp_content_length(value, vlen)
                      : GOHTTP_LENGTH_UNKNOWN;
    }
    return 0;
}

static int
rw_set_header(gohttp_rw *w, const char *name, const char *value)
{
    if (value == NULL) {
        return fail(w, "set_header(): value is NULL: use del_header()");
    }
    return change_header(w, name, value, 1);
}

static int
rw_add_header(gohttp_rw *w, const char *name, const char *value)
{
    if (value == NULL) {
        return fail(w, "add_header(): value is NULL");
    }
    return change_header(w, name, value, 0);
}

static int
rw_del_header(gohttp_rw *w, const char *name)
{
    return change_header(w, name, NULL, 1);
}

/* ---- the response ------------------------------------------------------ */

/* Start the response with code, the headers and the n bytes of body at
 * body (n may be 0): held if it can be (writer.h).  0 with *written set,
 * or -1 with the reason. */
static int
start(gohttp_rw *w, int code, const void *body, size_t n, size_t *written)
{
    return ok(gohttp_writer_start(&w->out, code, w->headers, w->headers_len,
                                  w->declared, body, n, written, &w->err));
}

static int
rw_write_header(gohttp_rw *w, int code)
{
    size_t unused;
    if (check_live(w) < 0) {
        return -1;
    }
    if (w->out.started) {
        return fail(w, "the response has already started: write_header() "
                       "comes once, before write() and flush()");
    }
    if (code < 100 || code > 999) {
        return fail(w, "invalid status code: want 100 to 999");
    }
    /* A final status is held with the headers, an informational one
     * sent at once. */
    return start(w, code, NULL, 0, &unused);
}

static int64_t
rw_write(gohttp_rw *w, const void *buf, size_t n)
{
    size_t written = 0;
    gohttp_status status;
    if (check_live(w) < 0) {
        return -1;
    }
    if (!w->out.started) {
        return start(w, 200, buf, n, &written) < 0 ? -1 : (int64_t)written;
    }
    status = gohttp_writer_write(&w->out, buf, n, &written, &w->err);
    return status == GOHTTP_OK ? (int64_t)written : -1;
}

static int
rw_flush(gohttp_rw *w)
{
    size_t unused;
    if (check_live(w) < 0
        || (!w->out.started && start(w, 200, NULL, 0, &unused) < 0)) {
        return -1;
    }
    return ok(gohttp_writer_flush(&w->out, &w->err));
}

static void
rw_abort(gohttp_rw *w)
{
    w->aborted = 1;
}

static const char *
rw_error(const gohttp_rw *w)
{
    return w->err.message;
}

/* ---- one request ------------------------------------------------------- */

/* The gohttp_dispatch_fn Go calls for a C handler route (bridge.h,
 * go/chandler.go), on the request's goroutine, without the GIL. */
static gohttp_outcome
c_dispatch(uintptr_t handler, const gohttp_request *req, const char *data,
           gohttp_reply *reply, char *reply_buf)
{
    gohttp_c_route *route = (gohttp_c_route *)handler;
    gohttp_rw w;
    w.r.req = req;
    w.r.data = data;
    w.r.w = &w;
    gohttp_writer_init(&w.out, req, reply, reply_buf, NULL);  /* no GIL */
    w.aborted = 0;
    w.headers = reply_buf;
    w.headers_len = 0;
    w.headers_cap = reply->capacity;
    w.declared = GOHTTP_LENGTH_NONE;
    w.err.sys_errno = 0;
    w.err.message[0] = '\0';

    route->handler(&w, &w.r, route->ctx);

    gohttp_outcome outcome = GOHTTP_HANDLED;
    if (w.aborted) {
        outcome = GOHTTP_FAILED;   /* Go drops what is held */
    }
    else if (!w.out.started && w.headers_len > 0) {
        /* Headers set, nothing else: held, or sent if too large.  If
         * this fails, the client has gone: no one is left to tell. */
        size_t unused;
        (void)start(&w, 200, NULL, 0, &unused);
    }
    if (w.headers != reply_buf) {
        PyMem_RawFree(w.headers);
    }
    gohttp_writer_end(&w.out);
    return outcome;
}

/* ---- registering ------------------------------------------------------- */

/* api->handle: see gohttp.h. */
static int
capi_handle(PyObject *server, const char *pattern, gohttp_handler handler,
            void *ctx, gohttp_release release)
{
    PyObject *core = NULL;
    gohttp_c_route *route = NULL;
    int rc = -1;

    if (server == NULL || pattern == NULL || handler == NULL) {
        PyErr_SetString(PyExc_TypeError,
                        "gohttp C API handle(): server, pattern and handler "
                        "must not be NULL");
        return -1;
    }
    if (gohttp_is_server(server)) {
        core = Py_NewRef(server);
    }
    else {
        /* A gohttp.Server (gohttp/server.py) wraps the core in _core. */
        core = PyObject_GetAttrString(server, "_core");
        if (core == NULL) {
            if (!PyErr_ExceptionMatches(PyExc_AttributeError)) {
                return -1;
            }
            PyErr_Clear();
        }
        if (core == NULL || !gohttp_is_server(core)) {
            PyErr_Format(PyExc_TypeError,
                         "a C handler is registered on a gohttp.Server, not "
                         "%.200s", Py_TYPE(server)->tp_name);
            goto done;
        }
    }
    route = PyMem_RawMalloc(sizeof *route);
    if (route == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    route->handler = handler;
    route->ctx = ctx;
    route->release = release;
    if (gohttp_server_add_c_route(core, pattern, route) < 0) {
        PyMem_RawFree(route);   /* ctx stays the caller's: no release */
        goto done;
    }
    rc = 0;   /* the server owns route now */
done:
    Py_XDECREF(core);
    return rc;
}

void
gohttp_c_route_free(gohttp_c_route *route)
{
    if (route->release != NULL) {
        route->release(route->ctx);
    }
    PyMem_RawFree(route);
}

/* ---- the capsule ------------------------------------------------------- */

static const gohttp_capi capi_table = {
    .version = GOHTTP_CAPI_VERSION,
    .size = sizeof(gohttp_capi),
    .handle = capi_handle,
    .method = req_method,
    .url = req_url,
    .path = req_path,
    .query = req_query,
    .host = req_host,
    .proto = req_proto,
    .scheme = req_scheme,
    .remote_addr = req_remote_addr,
    .header = req_header,
    .header_count = req_header_count,
    .header_at = req_header_at,
    .path_value = req_path_value,
    .content_length = req_content_length,
    .read = req_read,
    .set_header = rw_set_header,
    .add_header = rw_add_header,
    .del_header = rw_del_header,
    .write_header = rw_write_header,
    .write = rw_write,
    .flush = rw_flush,
    .abort = rw_abort,
    .error = rw_error,
    .tls = req_tls,
    .tls_client_cert = req_tls_client_cert,
};

void
gohttp_capi_init(void)
{
    gohttp_set_c_dispatch(c_dispatch);
}

int
gohttp_capi_add(PyObject *module)
{
    /* The table is static and const; the capsule only lends it. */
    PyObject *capsule = PyCapsule_New((void *)&capi_table,
                                      GOHTTP_CAPSULE_NAME, NULL);
    if (capsule == NULL) {
        return -1;
    }
    int rc = PyModule_AddObjectRef(module, "_C_API", capsule);
    Py_DECREF(capsule);
    return rc;
}
