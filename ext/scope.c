/*
 * scope.c — the ASGI http scope of a request (asgiref's www.rst), built in
 * C from the request block Go packed (bridge.h), and the keys and values
 * of ASGI messages, made once per module.
 *
 * The rules shared with the WSGI environ live in environ.c: the common
 * field values (method, scheme) and the split of "ip:port".  ASGI's own:
 * path is the percent-decoded path as UTF-8 (undecodable bytes kept as
 * surrogates, as request.c's fields do), raw_path the bytes as sent;
 * header names are lower-cased bytes, repeats kept, Host first (Go keeps
 * it apart from the other headers), the other names in Go's map order:
 * Go's parser does not keep the order of different names.  root_path is
 * the mount prefix, and path holds it (as uvicorn and Starlette expect).
 * A WebSocket handshake's scope is the same less "method", with its own
 * type, scheme (ws, wss), subprotocols and extensions.
 */
#include "module.h"

#include <string.h>

static const char *const key_names[GOHTTP_ASGI_NKEYS] = {
    [GOHTTP_ASGI_K_TYPE] = "type",
    [GOHTTP_ASGI_K_ASGI] = "asgi",
    [GOHTTP_ASGI_K_HTTP_VERSION] = "http_version",
    [GOHTTP_ASGI_K_METHOD] = "method",
    [GOHTTP_ASGI_K_SCHEME] = "scheme",
    [GOHTTP_ASGI_K_PATH] = "path",
    [GOHTTP_ASGI_K_RAW_PATH] = "raw_path",
    [GOHTTP_ASGI_K_QUERY_STRING] = "query_string",
    [GOHTTP_ASGI_K_ROOT_PATH] = "root_path",
    [GOHTTP_ASGI_K_HEADERS] = "headers",
    [GOHTTP_ASGI_K_CLIENT] = "client",
    [GOHTTP_ASGI_K_SERVER] = "server",
    [GOHTTP_ASGI_K_STATE] = "state",
    [GOHTTP_ASGI_K_EXTENSIONS] = "extensions",
    [GOHTTP_ASGI_K_BODY] = "body",
    [GOHTTP_ASGI_K_MORE_BODY] = "more_body",
    [GOHTTP_ASGI_K_STATUS] = "status",
    [GOHTTP_ASGI_K_SUBPROTOCOLS] = "subprotocols",
    [GOHTTP_ASGI_K_PATH_PARAMS] = "path_params",
    [GOHTTP_ASGI_K_TEXT] = "text",
    [GOHTTP_ASGI_K_BYTES] = "bytes",
    [GOHTTP_ASGI_K_CODE] = "code",
    [GOHTTP_ASGI_K_REASON] = "reason",
    [GOHTTP_ASGI_K_SUBPROTOCOL] = "subprotocol",
    [GOHTTP_ASGI_K_TLS] = "tls",
    [GOHTTP_ASGI_K_SERVER_CERT] = "server_cert",
    [GOHTTP_ASGI_K_CLIENT_CERT_CHAIN] = "client_cert_chain",
    [GOHTTP_ASGI_K_CLIENT_CERT_NAME] = "client_cert_name",
    [GOHTTP_ASGI_K_CLIENT_CERT_ERROR] = "client_cert_error",
    [GOHTTP_ASGI_K_TLS_VERSION] = "tls_version",
    [GOHTTP_ASGI_K_CIPHER_SUITE] = "cipher_suite",
    [GOHTTP_ASGI_K_LINKS] = "links",
    [GOHTTP_ASGI_K_TRAILERS] = "trailers",
    [GOHTTP_ASGI_K_MORE_TRAILERS] = "more_trailers",
};

static const char *const value_names[GOHTTP_ASGI_NVALUES] = {
    [GOHTTP_ASGI_V_HTTP] = "http",
    [GOHTTP_ASGI_V_REQUEST] = "http.request",
    [GOHTTP_ASGI_V_DISCONNECT] = "http.disconnect",
    [GOHTTP_ASGI_V_START] = "http.response.start",
    [GOHTTP_ASGI_V_BODY] = "http.response.body",
    [GOHTTP_ASGI_V_HTTP10] = "1.0",
    [GOHTTP_ASGI_V_HTTP11] = "1.1",
    [GOHTTP_ASGI_V_HTTP2] = "2",
    [GOHTTP_ASGI_V_WEBSOCKET] = "websocket",
    [GOHTTP_ASGI_V_WS] = "ws",
    [GOHTTP_ASGI_V_WSS] = "wss",
    [GOHTTP_ASGI_V_WS_CONNECT] = "websocket.connect",
    [GOHTTP_ASGI_V_WS_RECEIVE] = "websocket.receive",
    [GOHTTP_ASGI_V_WS_DISCONNECT] = "websocket.disconnect",
    [GOHTTP_ASGI_V_WS_ACCEPT] = "websocket.accept",
    [GOHTTP_ASGI_V_WS_SEND] = "websocket.send",
    [GOHTTP_ASGI_V_WS_CLOSE] = "websocket.close",
    [GOHTTP_ASGI_V_WS_RESPONSE] = "websocket.http.response",
    [GOHTTP_ASGI_V_WS_RESPONSE_START] = "websocket.http.response.start",
    [GOHTTP_ASGI_V_WS_RESPONSE_BODY] = "websocket.http.response.body",
    [GOHTTP_ASGI_V_PATHSEND] = "http.response.pathsend",
    [GOHTTP_ASGI_V_EARLY_HINT] = "http.response.early_hint",
    [GOHTTP_ASGI_V_TRAILERS] = "http.response.trailers",
};

/* New reference: the lower-case bytes of the header name k[:n]. */
static PyObject *
lower_name(const char *k, Py_ssize_t n)
{
    PyObject *name = PyBytes_FromStringAndSize(NULL, n);
    if (name != NULL) {
        char *out = PyBytes_AS_STRING(name);
        for (Py_ssize_t i = 0; i < n; i++) {
            char c = k[i];
            out[i] = c >= 'A' && c <= 'Z' ? c + 32 : c;
        }
    }
    return name;
}

int
gohttp_scope_init_state(gohttp_state *st)
{
    for (int i = 0; i < GOHTTP_ASGI_NKEYS; i++) {
        st->asgi_key[i] = PyUnicode_InternFromString(key_names[i]);
        if (st->asgi_key[i] == NULL) {
            return -1;
        }
    }
    for (int i = 0; i < GOHTTP_ASGI_NVALUES; i++) {
        st->asgi_value[i] = PyUnicode_InternFromString(value_names[i]);
        if (st->asgi_value[i] == NULL) {
            return -1;
        }
    }
    for (int i = 0; i < GOHTTP_WSGI_NCOMMON_HEADERS; i++) {
        Py_ssize_t n;
        const char *k = gohttp_common_header_name(i, &n);
        st->asgi_header_name[i] = lower_name(k, n);
        if (st->asgi_header_name[i] == NULL) {
            return -1;
        }
    }
    st->asgi_host = PyBytes_FromStringAndSize("host", 4);
    st->asgi_version = Py_BuildValue("{ssss}", "version", "3.0",
                                     "spec_version", "2.4");
    if (st->asgi_host == NULL || st->asgi_version == NULL) {
        return -1;
    }
    /* The extensions gohttp serves (docs/asgi.md), each with an empty
     * dict, as asgiref's extensions.rst shows them.  Each scope gets a
     * copy of this dict, which shares the empty dicts: apps test the
     * keys, and nothing in the spec writes to the values. */
    st->asgi_extensions = PyDict_New();
    if (st->asgi_extensions == NULL) {
        return -1;
    }
    static const int extensions[] = {GOHTTP_ASGI_V_PATHSEND,
                                     GOHTTP_ASGI_V_EARLY_HINT,
                                     GOHTTP_ASGI_V_TRAILERS};
    for (size_t i = 0; i < sizeof extensions / sizeof extensions[0]; i++) {
        PyObject *empty = PyDict_New();
        int rc = empty != NULL
                 ? PyDict_SetItem(st->asgi_extensions,
                                  st->asgi_value[extensions[i]], empty)
                 : -1;
        Py_XDECREF(empty);
        if (rc < 0) {
            return -1;
        }
    }
    st->asgi_tls = PyDict_New();
    if (st->asgi_tls == NULL) {
        return -1;
    }
    for (int i = GOHTTP_ASGI_K_SERVER_CERT; i <= GOHTTP_ASGI_K_CIPHER_SUITE;
         i++) {
        if (PyDict_SetItem(st->asgi_tls, st->asgi_key[i], Py_None) < 0) {
            return -1;
        }
    }
    /* A scope made by copying this one has its final size at once (no
     * growing as its keys go in) and its keys' hashes: its values are
     * then replaced, not inserted.  Every key but "state", which not every
     * app has, and the message keys. */
    st->asgi_scope = PyDict_New();
    if (st->asgi_scope == NULL) {
        return -1;
    }
    for (int i = 0; i <= GOHTTP_ASGI_K_EXTENSIONS; i++) {
        PyObject *value = i == GOHTTP_ASGI_K_TYPE
                          ? st->asgi_value[GOHTTP_ASGI_V_HTTP] : Py_None;
        if (i != GOHTTP_ASGI_K_STATE
            && PyDict_SetItem(st->asgi_scope, st->asgi_key[i], value) < 0) {
            return -1;
        }
    }
    return 0;
}

void
gohttp_scope_clear_state(gohttp_state *st)
{
    for (int i = 0; i < GOHTTP_ASGI_NKEYS; i++) {
        Py_CLEAR(st->asgi_key[i]);
    }
    for (int i = 0; i < GOHTTP_ASGI_NVALUES; i++) {
        Py_CLEAR(st->asgi_value[i]);
    }
    for (int i = 0; i < GOHTTP_WSGI_NCOMMON_HEADERS; i++) {
        Py_CLEAR(st->asgi_header_name[i]);
    }
    Py_CLEAR(st->asgi_host);
    Py_CLEAR(st->asgi_extensions);
    Py_CLEAR(st->asgi_tls);
    Py_CLEAR(st->asgi_server_der);
    Py_CLEAR(st->asgi_server_pem);
    Py_CLEAR(st->asgi_chain_der);
    Py_CLEAR(st->asgi_chain);
    Py_CLEAR(st->asgi_chain_name);
    Py_CLEAR(st->asgi_version);
    Py_CLEAR(st->asgi_scope);
    Py_CLEAR(st->asgi_server_addr);
    Py_CLEAR(st->asgi_server);
}

static inline const char *
span(const gohttp_request *req, const char *data, int field, Py_ssize_t *n)
{
    *n = (Py_ssize_t)req->field[field].len;
    return data + req->field[field].off;
}

/* New reference: the (name, value) pair of one header, or NULL. */
static PyObject *
header_pair(gohttp_state *st, const char *k, Py_ssize_t klen,
            const char *v, Py_ssize_t vlen)
{
    int i = gohttp_common_header(k, klen);
    PyObject *name = i >= 0 ? Py_NewRef(st->asgi_header_name[i])
                            : lower_name(k, klen);
    PyObject *value = name != NULL ? PyBytes_FromStringAndSize(v, vlen) : NULL;
    PyObject *pair = value != NULL ? PyTuple_Pack(2, name, value) : NULL;
    Py_XDECREF(name);
    Py_XDECREF(value);
    return pair;
}

/* New reference: scope["headers"], a list of (name, value) bytes pairs. */
static PyObject *
headers_list(gohttp_state *st, const gohttp_request *req, const char *data)
{
    Py_ssize_t n, host_len;
    const char *host = span(req, data, GOHTTP_F_HOST, &host_len);
    const char *p = span(req, data, GOHTTP_F_HEADERS, &n);
    Py_ssize_t count = (Py_ssize_t)req->header_count + (host_len > 0);
    Py_ssize_t at = 0;
    PyObject *list = PyList_New(count);
    if (list == NULL) {
        return NULL;
    }
    if (host_len > 0) {
        PyObject *value = PyBytes_FromStringAndSize(host, host_len);
        PyObject *pair = value ? PyTuple_Pack(2, st->asgi_host, value) : NULL;
        Py_XDECREF(value);
        if (pair == NULL) {
            goto error;
        }
        PyList_SET_ITEM(list, at++, pair);   /* steals pair */
    }
    for (uint32_t i = 0; i < req->header_count; i++) {
        Py_ssize_t klen, vlen;
        const char *k = gohttp_next_item(&p, &klen);
        const char *v = gohttp_next_item(&p, &vlen);
        PyObject *pair = header_pair(st, k, klen, v, vlen);
        if (pair == NULL) {
            goto error;
        }
        PyList_SET_ITEM(list, at++, pair);   /* steals pair */
    }
    return list;   /* new reference */

error:
    Py_DECREF(list);
    return NULL;
}

/* New reference: (host, port) of "ip:port", [path, None] of "unix:path",
 * or None for what names no address ("" or a Unix client's "@"). */
static PyObject *
address(const char *s, Py_ssize_t n)
{
    const char *host, *port;
    Py_ssize_t host_len, port_len;
    if (n > 5 && memcmp(s, "unix:", 5) == 0) {
        return Py_BuildValue("[s#O]", s + 5, n - 5, Py_None);
    }
    gohttp_split_addr(s, n, &host, &host_len, &port, &port_len);
    if (port_len == 0 || port_len > 5) {
        return Py_NewRef(Py_None);
    }
    long number = 0;
    for (Py_ssize_t i = 0; i < port_len; i++) {
        if (port[i] < '0' || port[i] > '9') {
            return Py_NewRef(Py_None);
        }
        number = number * 10 + (port[i] - '0');
    }
    /* What Py_BuildValue("(s#l)") makes, without parsing a format for
     * every request. */
    PyObject *h = PyUnicode_DecodeUTF8(host, host_len, NULL);
    PyObject *p = h != NULL ? PyLong_FromLong(number) : NULL;
    PyObject *pair = p != NULL ? PyTuple_Pack(2, h, p) : NULL;
    Py_XDECREF(h);
    Py_XDECREF(p);
    return pair;
}

/* New reference: scope["server"] of the local address s[:n].  A server
 * listens on few addresses, and the tuple is immutable: the last one is
 * kept and shared (a list, for a Unix socket, is not). */
static PyObject *
server_address(gohttp_state *st, const char *s, Py_ssize_t n)
{
    PyObject *cached = st->asgi_server_addr;
    if (cached != NULL && PyBytes_GET_SIZE(cached) == n
        && memcmp(PyBytes_AS_STRING(cached), s, (size_t)n) == 0) {
        return Py_NewRef(st->asgi_server);
    }
    PyObject *server = address(s, n);
    if (server != NULL && PyTuple_CheckExact(server)) {
        PyObject *addr = PyBytes_FromStringAndSize(s, n);
        if (addr == NULL) {
            Py_CLEAR(server);
        }
        else {
            Py_XSETREF(st->asgi_server_addr, addr);
            Py_XSETREF(st->asgi_server, Py_NewRef(server));
        }
    }
    return server;
}

/* Set scope[key] to value, a new reference this takes (NULL: an error is
 * set already).  0, or -1 with an exception set. */
static int
set_new(PyObject *scope, PyObject *key, PyObject *value)
{
    if (value == NULL) {
        return -1;
    }
    int rc = PyDict_SetItem(scope, key, value);
    Py_DECREF(value);
    return rc;
}

/* ---- the "tls" extension (asgiref's tls.rst) ---------------------------- */

/* 1 if cached, bytes or NULL, holds p[:n]. */
static int
same_bytes(PyObject *cached, const char *p, Py_ssize_t n)
{
    return cached != NULL && PyBytes_GET_SIZE(cached) == n
           && memcmp(PyBytes_AS_STRING(cached), p, (size_t)n) == 0;
}

/* New reference: the PEM str of the server's certificate der[:n].  A
 * server sends one certificate (until it is reloaded): the last one's
 * PEM is kept, and a request pays a comparison. */
static PyObject *
server_cert(gohttp_state *st, const char *der, Py_ssize_t n)
{
    if (same_bytes(st->asgi_server_der, der, n)) {
        return Py_NewRef(st->asgi_server_pem);
    }
    PyObject *pem = gohttp_pem_certificate((const unsigned char *)der, n);
    PyObject *key = pem != NULL ? PyBytes_FromStringAndSize(der, n) : NULL;
    if (key == NULL) {
        Py_XDECREF(pem);
        return NULL;
    }
    Py_XSETREF(st->asgi_server_der, key);
    Py_XSETREF(st->asgi_server_pem, Py_NewRef(pem));
    return pem;
}

/* Set *chain (a tuple of PEM str, leaf first) and *name (the leaf's
 * subject, or None), new references, from the client's verified chain
 * tls->chain (DER items) and the subject name[:name_n].  The requests of
 * one connection, and the clients that share a certificate, send the
 * same chain: the last one is kept, as a tuple, which no app can change.
 * 0, or -1 with an exception set. */
static int
client_chain(gohttp_state *st, const gohttp_tls_state *tls,
             const char *name, Py_ssize_t name_n, PyObject **chain,
             PyObject **subject)
{
    Py_ssize_t size = tls->chain_end - tls->chain, count = 0;
    PyObject *der = NULL, *pems = NULL, *who = NULL;

    if (size == 0) {
        *chain = PyTuple_New(0);
        *subject = Py_NewRef(Py_None);
        return *chain != NULL ? 0 : -1;
    }
    if (same_bytes(st->asgi_chain_der, tls->chain, size)) {
        *chain = Py_NewRef(st->asgi_chain);
        *subject = Py_NewRef(st->asgi_chain_name);
        return 0;
    }
    for (const char *p = tls->chain; p < tls->chain_end; count++) {
        Py_ssize_t n;
        (void)gohttp_next_item(&p, &n);
    }
    der = PyBytes_FromStringAndSize(tls->chain, size);
    pems = der != NULL ? PyTuple_New(count) : NULL;
    if (pems == NULL) {
        goto error;
    }
    const char *p = tls->chain;
    for (Py_ssize_t i = 0; i < count; i++) {
        Py_ssize_t n;
        const char *cert = gohttp_next_item(&p, &n);
        PyObject *pem = gohttp_pem_certificate((const unsigned char *)cert, n);
        if (pem == NULL) {
            goto error;
        }
        PyTuple_SET_ITEM(pems, i, pem);   /* steals pem */
    }
    who = name_n > 0 ? PyUnicode_DecodeUTF8(name, name_n, "replace")
                     : Py_NewRef(Py_None);
    if (who == NULL) {
        goto error;
    }
    Py_XSETREF(st->asgi_chain_der, der);
    Py_XSETREF(st->asgi_chain, Py_NewRef(pems));
    Py_XSETREF(st->asgi_chain_name, Py_NewRef(who));
    *chain = pems;
    *subject = who;
    return 0;

error:
    Py_XDECREF(der);
    Py_XDECREF(pems);
    return -1;
}

/* New reference: scope["extensions"] of a request over TLS: the
 * cleartext one and "tls", made of the request's TLS state (tls_span)
 * and what Go packed for ASGI alone (asgi_span: bridge.h's
 * GOHTTP_F_ASGI_TLS).  A client certificate that does not verify fails
 * the handshake (docs/tls-http2.md), so client_cert_error is None. */
static PyObject *
tls_extensions(gohttp_state *st, const char *tls_span, Py_ssize_t tls_n,
               const char *asgi_span, Py_ssize_t asgi_n)
{
    PyObject **key = st->asgi_key;
    PyObject *extensions = NULL, *tls = NULL, *chain = NULL, *name = NULL;
    gohttp_tls_state state;
    const char *der = NULL, *subject = NULL;
    Py_ssize_t der_n = 0, subject_n = 0;

    (void)gohttp_tls_read(tls_span, tls_n, &state);
    if (asgi_n > 0) {
        const char *p = asgi_span;
        der = gohttp_next_item(&p, &der_n);
        subject = gohttp_next_item(&p, &subject_n);
    }
    extensions = PyDict_Copy(st->asgi_extensions);
    tls = extensions != NULL ? PyDict_Copy(st->asgi_tls) : NULL;
    if (tls == NULL
        || (der_n > 0
            && set_new(tls, key[GOHTTP_ASGI_K_SERVER_CERT],
                       server_cert(st, der, der_n)) < 0)
        || client_chain(st, &state, subject, subject_n, &chain, &name) < 0
        || PyDict_SetItem(tls, key[GOHTTP_ASGI_K_CLIENT_CERT_CHAIN],
                          chain) < 0
        || PyDict_SetItem(tls, key[GOHTTP_ASGI_K_CLIENT_CERT_NAME],
                          name) < 0
        || set_new(tls, key[GOHTTP_ASGI_K_TLS_VERSION],
                   PyLong_FromLong(state.version)) < 0
        || set_new(tls, key[GOHTTP_ASGI_K_CIPHER_SUITE],
                   PyLong_FromLong(state.cipher_suite)) < 0
        || PyDict_SetItem(extensions, key[GOHTTP_ASGI_K_TLS], tls) < 0) {
        Py_CLEAR(extensions);
    }
    Py_XDECREF(tls);
    Py_XDECREF(chain);
    Py_XDECREF(name);
    return extensions;
}

/* New reference: scope["http_version"] of Go's "HTTP/1.1". */
static PyObject *
http_version(gohttp_state *st, const char *s, Py_ssize_t n)
{
    if (n == 8 && memcmp(s, "HTTP/1.1", 8) == 0) {
        return Py_NewRef(st->asgi_value[GOHTTP_ASGI_V_HTTP11]);
    }
    if (n >= 6 && memcmp(s, "HTTP/2", 6) == 0) {
        return Py_NewRef(st->asgi_value[GOHTTP_ASGI_V_HTTP2]);
    }
    if (n == 8 && memcmp(s, "HTTP/1.0", 8) == 0) {
        return Py_NewRef(st->asgi_value[GOHTTP_ASGI_V_HTTP10]);
    }
    if (n >= 6 && memcmp(s, "HTTP/3", 6) == 0) {
        return PyUnicode_FromStringAndSize("3", 1);   /* as "2": no minor */
    }
    return PyUnicode_DecodeLatin1(s + (n > 5 ? 5 : 0), n > 5 ? n - 5 : n,
                                  NULL);
}

PyObject *
gohttp_asgi_scope(gohttp_state *st, const gohttp_request *req,
                  const char *data, PyObject *root_path,
                  PyObject *path_prefix, PyObject *state)
{
    PyObject **key = st->asgi_key;
    Py_ssize_t n, url_len;
    const char *s;
    PyObject *scope = PyDict_Copy(st->asgi_scope);   /* "type" is set */
    if (scope == NULL) {
        return NULL;
    }
    if (set_new(scope, key[GOHTTP_ASGI_K_ASGI],
                PyDict_Copy(st->asgi_version)) < 0) {
        goto error;
    }
    s = span(req, data, GOHTTP_F_PROTO, &n);
    if (set_new(scope, key[GOHTTP_ASGI_K_HTTP_VERSION],
                http_version(st, s, n)) < 0) {
        goto error;
    }
    s = span(req, data, GOHTTP_F_METHOD, &n);
    if (set_new(scope, key[GOHTTP_ASGI_K_METHOD],
                gohttp_common_value(st, s, n)) < 0) {
        goto error;
    }
    s = span(req, data, GOHTTP_F_SCHEME, &n);
    if (set_new(scope, key[GOHTTP_ASGI_K_SCHEME],
                gohttp_common_value(st, s, n)) < 0) {
        goto error;
    }
    s = span(req, data, GOHTTP_F_PATH, &n);
    PyObject *path = PyUnicode_DecodeUTF8(s, n, "surrogateescape");
    if (path != NULL && path_prefix != NULL) {
        Py_SETREF(path, PyUnicode_Concat(path_prefix, path));
    }
    if (set_new(scope, key[GOHTTP_ASGI_K_PATH], path) < 0) {
        goto error;
    }
    /* raw_path: the request-target up to its query; an absolute-form or
     * "*" target as it came. */
    s = span(req, data, GOHTTP_F_URL, &url_len);
    const char *q = memchr(s, '?', (size_t)url_len);
    if (set_new(scope, key[GOHTTP_ASGI_K_RAW_PATH],
                PyBytes_FromStringAndSize(s, q ? q - s : url_len)) < 0) {
        goto error;
    }
    s = span(req, data, GOHTTP_F_QUERY, &n);
    if (set_new(scope, key[GOHTTP_ASGI_K_QUERY_STRING],
                PyBytes_FromStringAndSize(s, n)) < 0
        || PyDict_SetItem(scope, key[GOHTTP_ASGI_K_ROOT_PATH], root_path) < 0
        || set_new(scope, key[GOHTTP_ASGI_K_HEADERS],
                   headers_list(st, req, data)) < 0) {
        goto error;
    }
    s = span(req, data, GOHTTP_F_REMOTE_ADDR, &n);
    if (set_new(scope, key[GOHTTP_ASGI_K_CLIENT], address(s, n)) < 0) {
        goto error;
    }
    s = span(req, data, GOHTTP_F_LOCAL_ADDR, &n);
    if (set_new(scope, key[GOHTTP_ASGI_K_SERVER], server_address(st, s, n)) < 0) {
        goto error;
    }
    s = span(req, data, GOHTTP_F_TLS, &n);
    if (n == 0) {   /* cleartext: the spec forbids "tls" */
        if (set_new(scope, key[GOHTTP_ASGI_K_EXTENSIONS],
                    PyDict_Copy(st->asgi_extensions)) < 0) {
            goto error;
        }
    }
    else {
        Py_ssize_t asgi_n;
        const char *asgi = span(req, data, GOHTTP_F_ASGI_TLS, &asgi_n);
        if (set_new(scope, key[GOHTTP_ASGI_K_EXTENSIONS],
                    tls_extensions(st, s, n, asgi, asgi_n)) < 0) {
            goto error;
        }
    }
    if (state != NULL
        && set_new(scope, key[GOHTTP_ASGI_K_STATE], PyDict_Copy(state)) < 0) {
        goto error;
    }
    return scope;   /* new reference */

error:
    Py_DECREF(scope);
    return NULL;
}

/* New reference: scope["subprotocols"], the protocols the client offered
 * in its Sec-WebSocket-Protocol headers (comma-separated), in order;
 * headers is scope["headers"] (borrowed). */
static PyObject *
subprotocols(PyObject *headers)
{
    static const char key[] = "sec-websocket-protocol";
    PyObject *list = PyList_New(0);
    if (list == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(headers); i++) {
        PyObject *pair = PyList_GET_ITEM(headers, i);           /* borrowed */
        PyObject *name = PyTuple_GET_ITEM(pair, 0);             /* borrowed */
        PyObject *value = PyTuple_GET_ITEM(pair, 1);            /* borrowed */
        if (PyBytes_GET_SIZE(name) != (Py_ssize_t)sizeof key - 1
            || memcmp(PyBytes_AS_STRING(name), key, sizeof key - 1) != 0) {
            continue;
        }
        const char *p = PyBytes_AS_STRING(value);
        const char *end = p + PyBytes_GET_SIZE(value);
        while (p < end) {
            const char *comma = memchr(p, ',', (size_t)(end - p));
            const char *stop = comma != NULL ? comma : end;
            const char *a = p, *b = stop;
            while (a < b && (*a == ' ' || *a == '\t')) {
                a++;
            }
            while (b > a && (b[-1] == ' ' || b[-1] == '\t')) {
                b--;
            }
            if (b > a) {
                PyObject *proto = PyUnicode_DecodeLatin1(a, b - a, NULL);
                if (proto == NULL || PyList_Append(list, proto) < 0) {
                    Py_XDECREF(proto);
                    Py_DECREF(list);
                    return NULL;
                }
                Py_DECREF(proto);
            }
            p = stop + 1;
        }
    }
    return list;
}

/* New reference: scope["path_params"], {name: value} of the route's
 * wildcards (GOHTTP_F_PATH_VALUES), values decoded as the path is. */
static PyObject *
path_params(const gohttp_request *req, const char *data)
{
    Py_ssize_t n;
    const char *p = span(req, data, GOHTTP_F_PATH_VALUES, &n);
    PyObject *params = PyDict_New();
    if (params == NULL) {
        return NULL;
    }
    for (uint32_t i = 0; i < req->path_value_count; i++) {
        Py_ssize_t klen, vlen;
        const char *k = gohttp_next_item(&p, &klen);
        const char *v = gohttp_next_item(&p, &vlen);
        PyObject *name = PyUnicode_DecodeUTF8(k, klen, NULL);
        PyObject *value = name != NULL
            ? PyUnicode_DecodeUTF8(v, vlen, "surrogateescape") : NULL;
        int rc = value != NULL ? PyDict_SetItem(params, name, value) : -1;
        Py_XDECREF(name);
        Py_XDECREF(value);
        if (rc < 0) {
            Py_DECREF(params);
            return NULL;
        }
    }
    return params;
}

PyObject *
gohttp_asgi_ws_scope(gohttp_state *st, const gohttp_request *req,
                     const char *data, PyObject *root_path,
                     PyObject *path_prefix, PyObject *state, int with_params)
{
    PyObject **key = st->asgi_key;
    PyObject **value = st->asgi_value;
    PyObject *scope = gohttp_asgi_scope(st, req, data, root_path,
                                        path_prefix, state);
    PyObject *extensions = NULL;
    if (scope == NULL) {
        return NULL;
    }
    Py_ssize_t n;
    const char *s = span(req, data, GOHTTP_F_SCHEME, &n);
    int secure = n == 5 && memcmp(s, "https", 5) == 0;
    PyObject *headers = PyDict_GetItemWithError(scope,
                                                key[GOHTTP_ASGI_K_HEADERS]);
    extensions = Py_BuildValue("{O{}}", value[GOHTTP_ASGI_V_WS_RESPONSE]);
    if (headers == NULL || extensions == NULL
        || PyDict_DelItem(scope, key[GOHTTP_ASGI_K_METHOD]) < 0
        || PyDict_SetItem(scope, key[GOHTTP_ASGI_K_TYPE],
                          value[GOHTTP_ASGI_V_WEBSOCKET]) < 0
        || PyDict_SetItem(scope, key[GOHTTP_ASGI_K_SCHEME],
                          value[secure ? GOHTTP_ASGI_V_WSS
                                       : GOHTTP_ASGI_V_WS]) < 0
        || set_new(scope, key[GOHTTP_ASGI_K_SUBPROTOCOLS],
                   subprotocols(headers)) < 0
        || PyDict_SetItem(scope, key[GOHTTP_ASGI_K_EXTENSIONS],
                          extensions) < 0
        || (with_params
            && set_new(scope, key[GOHTTP_ASGI_K_PATH_PARAMS],
                       path_params(req, data)) < 0)) {
        Py_CLEAR(scope);
    }
    Py_XDECREF(extensions);
    return scope;   /* new reference, or NULL */
}
