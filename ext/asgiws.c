/*
 * asgiws.c — a WebSocket's receive and send (asgiref's www.rst, the
 * websocket scope), for an ASGICall whose scope is one (asgicall.c
 * dispatches here), and what the WebSocket events Go posts do.
 *
 * receive() gives websocket.connect first, then each whole message
 * (websocket.receive, with "text" or "bytes"), then websocket.disconnect
 * with the close code (1005 when the peer gave none, 1006 when it gave
 * no close frame) and reason, every time after.  Go reads one message
 * ahead of the app: once the app takes one, C tells Go (gohttp_asgi_read)
 * that it may read the next, so at most one message waits here
 * (call->message) and one in Go.
 *
 * send() takes websocket.accept, websocket.send, websocket.close, and
 * before accepting the denial response (websocket.http.response.start
 * and .body, as http.response.* are sent).  It returns the shared done
 * Ready unless more than Go's high-water mark waits unwritten.  After the
 * WebSocket is closed (by either side), send() raises the loop's
 * ClientDisconnected, an OSError: Starlette turns it into its
 * WebSocketDisconnect.
 *
 * Several tasks may send on one WebSocket at once; each send() that must
 * wait gets a future of its own (call->ws_senders), and the next WRITTEN
 * event resolves them all.  receive() may wait meanwhile.
 *
 * Ownership: as asgicall.c's; call->ws_reason and call->ws_senders (a
 * list of futures) are the call's.
 */
#include "asgi.h"

#include <string.h>

/* New reference: {"type": "websocket.connect"}. */
static PyObject *
connect_message(gohttp_state *st)
{
    return Py_BuildValue("{OO}", st->asgi_key[GOHTTP_ASGI_K_TYPE],
                         st->asgi_value[GOHTTP_ASGI_V_WS_CONNECT]);
}

/* New reference: websocket.disconnect with the call's code and reason. */
static PyObject *
disconnect_message(ASGICallObject *call)
{
    gohttp_state *st = call->state;
    PyObject *reason = call->ws_reason != NULL
        ? Py_NewRef(call->ws_reason) : PyUnicode_FromStringAndSize("", 0);
    PyObject *msg = reason == NULL ? NULL : Py_BuildValue(
        "{OOOiOO}", st->asgi_key[GOHTTP_ASGI_K_TYPE],
        st->asgi_value[GOHTTP_ASGI_V_WS_DISCONNECT],
        st->asgi_key[GOHTTP_ASGI_K_CODE], (int)call->ws_code,
        st->asgi_key[GOHTTP_ASGI_K_REASON], reason);
    Py_XDECREF(reason);
    return msg;
}

/* New reference: websocket.receive of a message, data[:n], text or
 * bytes (Go checked that text is UTF-8). */
static PyObject *
receive_message(gohttp_state *st, const char *data, Py_ssize_t n, int text)
{
    PyObject *payload = text ? PyUnicode_DecodeUTF8(data, n, NULL)
                             : PyBytes_FromStringAndSize(data, n);
    if (payload == NULL) {
        return NULL;
    }
    PyObject *msg = Py_BuildValue(
        "{OOOO}", st->asgi_key[GOHTTP_ASGI_K_TYPE],
        st->asgi_value[GOHTTP_ASGI_V_WS_RECEIVE],
        st->asgi_key[text ? GOHTTP_ASGI_K_TEXT : GOHTTP_ASGI_K_BYTES],
        payload);
    Py_DECREF(payload);
    return msg;
}

/* The app took a message: Go may read the next.  0, or -1 with an
 * exception set. */
static int
read_next(ASGICallObject *call)
{
    gohttp_error err;
    if (call->disconnected || call->finished) {
        return 0;
    }
    gohttp_status status = gohttp_asgi_read(call->handle, call->generation,
                                            &err);
    if (status == GOHTTP_EFINISHED) {
        return 0;   /* Go has ended it: the close event is on its way */
    }
    return status == GOHTTP_OK ? 0 : gohttp_asgi_raise(call, status, &err);
}

PyObject *
gohttp_asgiws_receive(ASGICallObject *call)
{
    gohttp_state *st = call->state;

    if (!call->ws_connected) {
        call->ws_connected = 1;
        return gohttp_ready_new(st, connect_message(st));
    }
    if (call->message != NULL) {
        PyObject *msg = call->message;   /* the call's reference: ours now */
        call->message = NULL;
        if (read_next(call) < 0) {
            Py_DECREF(msg);
            return NULL;
        }
        return gohttp_ready_new(st, msg);
    }
    if (call->disconnected || call->finished) {
        return gohttp_ready_new(st, disconnect_message(call));
    }
    int w = gohttp_asgi_waiting(&call->receive_fut);
    if (w != 0) {
        if (w > 0) {
            PyErr_SetString(gohttp_exc.StateError,
                            "receive() is waiting already: await one "
                            "receive() before the next");
        }
        return NULL;
    }
    return gohttp_asgi_wait_in(call, &call->receive_fut);
}

/* Raise ClientDisconnected for a send() once the WebSocket is closed.
 * Returns -1. */
static int
raise_closed(ASGICallObject *call, const char *type)
{
    if (call->disconnected) {
        PyErr_Format(call->loop->disconnected,
                     "%s after the WebSocket closed (code %d): the client "
                     "has gone or closed it", type, (int)call->ws_code);
    }
    else {
        PyErr_Format(call->loop->disconnected,
                     "%s after websocket.close: the WebSocket is closed",
                     type);
    }
    return -1;
}

/* message[key], borrowed; NULL if missing or None (an error set only if
 * the lookup failed). */
static PyObject *
get(PyObject *message, PyObject *key)
{
    PyObject *v = PyDict_GetItemWithError(message, key);
    return v == Py_None ? NULL : v;
}

/* websocket.accept: subprotocol (str or None), headers.  0 or -1. */
static int
send_accept(ASGICallObject *call, PyObject *message)
{
    gohttp_state *st = call->state;
    const char *proto = NULL;
    Py_ssize_t proto_len = 0;
    char *packed = NULL;
    size_t size = 0;
    gohttp_error err;

    if (call->ws_accepted) {
        PyErr_SetString(gohttp_exc.StateError,
                        "websocket.accept was sent already");
        return -1;
    }
    if (call->started) {
        PyErr_SetString(gohttp_exc.StateError,
                        "websocket.accept after websocket.http.response.start:"
                        " the handshake was refused already");
        return -1;
    }
    PyObject *sub = get(message, st->asgi_key[GOHTTP_ASGI_K_SUBPROTOCOL]);
    if (sub == NULL && PyErr_Occurred()) {
        return -1;
    }
    if (sub != NULL) {
        if (!PyUnicode_Check(sub)) {
            PyErr_Format(PyExc_TypeError,
                         "websocket.accept's subprotocol must be a str or "
                         "None, not %.200s", Py_TYPE(sub)->tp_name);
            return -1;
        }
        proto = PyUnicode_AsUTF8AndSize(sub, &proto_len);
        if (proto == NULL) {
            return -1;
        }
    }
    PyObject *headers = get(message, st->asgi_key[GOHTTP_ASGI_K_HEADERS]);
    if ((headers == NULL && PyErr_Occurred())
        || gohttp_asgi_pack_headers(headers, &packed, &size) < 0) {
        return -1;
    }
    gohttp_status status = gohttp_asgi_ws_accept(
        call->handle, call->generation, (char *)proto, (size_t)proto_len,
        packed, size, &err);
    PyMem_RawFree(packed);
    if (status != GOHTTP_OK) {
        return gohttp_asgi_raise(call, status, &err);
    }
    call->ws_accepted = 1;
    return 0;
}

/* websocket.send: exactly one of bytes and text.  1 if the app must wait
 * for Go to write, 0 if not, -1 with an exception set. */
static int
send_message(ASGICallObject *call, PyObject *message)
{
    gohttp_state *st = call->state;
    Py_buffer view = {0};
    const char *p;
    Py_ssize_t n;
    int text, pending = 0;
    gohttp_error err;

    if (!call->ws_accepted) {
        PyErr_SetString(gohttp_exc.StateError,
                        "websocket.send before websocket.accept: accept the "
                        "WebSocket first");
        return -1;
    }
    PyObject *bytes = get(message, st->asgi_key[GOHTTP_ASGI_K_BYTES]);
    PyObject *str = bytes == NULL && PyErr_Occurred()
        ? NULL : get(message, st->asgi_key[GOHTTP_ASGI_K_TEXT]);
    if (PyErr_Occurred()) {
        return -1;
    }
    if ((bytes == NULL) == (str == NULL)) {
        PyErr_SetString(PyExc_ValueError,
                        "websocket.send takes exactly one of 'bytes' and "
                        "'text'");
        return -1;
    }
    if (str != NULL) {
        if (!PyUnicode_Check(str)) {
            PyErr_Format(PyExc_TypeError,
                         "websocket.send's text must be a str, not %.200s",
                         Py_TYPE(str)->tp_name);
            return -1;
        }
        p = PyUnicode_AsUTF8AndSize(str, &n);   /* cached by the str */
        if (p == NULL) {
            return -1;   /* a lone surrogate: UnicodeEncodeError */
        }
        text = 1;
    }
    else {
        if (PyUnicode_Check(bytes)
            || PyObject_GetBuffer(bytes, &view, PyBUF_SIMPLE) < 0) {
            PyErr_Clear();
            PyErr_Format(PyExc_TypeError,
                         "websocket.send's bytes must be bytes, not %.200s",
                         Py_TYPE(bytes)->tp_name);
            return -1;
        }
        p = view.buf;
        n = view.len;
        text = 0;
    }
    gohttp_status status = gohttp_asgi_ws_send(call->handle, call->generation,
                                               text, (char *)p, (size_t)n,
                                               &pending, &err);
    PyBuffer_Release(&view);
    if (status == GOHTTP_EIO) {
        return raise_closed(call, "websocket.send");
    }
    if (status != GOHTTP_OK) {
        return gohttp_asgi_raise(call, status, &err);
    }
    return pending;
}

/* websocket.close: code (default 1000), reason (default "").  0 or -1. */
static int
send_close(ASGICallObject *call, PyObject *message)
{
    gohttp_state *st = call->state;
    long code = 1000;
    const char *reason = "";
    Py_ssize_t reason_len = 0;
    gohttp_error err;

    PyObject *c = get(message, st->asgi_key[GOHTTP_ASGI_K_CODE]);
    PyObject *r = c == NULL && PyErr_Occurred()
        ? NULL : get(message, st->asgi_key[GOHTTP_ASGI_K_REASON]);
    if (PyErr_Occurred()) {
        return -1;
    }
    if (c != NULL) {
        if (!PyLong_Check(c) || PyBool_Check(c)) {
            PyErr_Format(PyExc_TypeError,
                         "websocket.close's code must be an int, not %.200s",
                         Py_TYPE(c)->tp_name);
            return -1;
        }
        code = PyLong_AsLong(c);
        if (code == -1 && PyErr_Occurred()) {
            return -1;
        }
        if (code < 0 || code > 65535) {
            code = 0;   /* Go says what is valid */
        }
    }
    if (r != NULL) {
        if (!PyUnicode_Check(r)) {
            PyErr_Format(PyExc_TypeError,
                         "websocket.close's reason must be a str, not %.200s",
                         Py_TYPE(r)->tp_name);
            return -1;
        }
        reason = PyUnicode_AsUTF8AndSize(r, &reason_len);
        if (reason == NULL) {
            return -1;
        }
    }
    gohttp_status status = gohttp_asgi_ws_close(
        call->handle, call->generation, (int32_t)code, (char *)reason,
        (size_t)reason_len, &err);
    if (status != GOHTTP_OK) {
        return gohttp_asgi_raise(call, status, &err);
    }
    call->ws_closed = 1;
    return 0;
}

/* New reference: a future for a send() that waits for Go to write, in
 * call->ws_senders.  Several tasks may send on one WebSocket at once (a
 * chat's broadcast): each such send() waits, until the WRITTEN event
 * that resolves them all. */
static PyObject *
wait_written(ASGICallObject *call)
{
    if (call->ws_senders == NULL) {
        call->ws_senders = PyList_New(0);
        if (call->ws_senders == NULL) {
            return NULL;
        }
    }
    PyObject *fut = PyObject_CallNoArgs(call->loop->create_future);
    if (fut != NULL && PyList_Append(call->ws_senders, fut) < 0) {
        Py_CLEAR(fut);
    }
    return fut;
}

/* Resolve the futures of the send()s that wait: with None, or with exc
 * (borrowed) if not NULL.  0, or -1 with an exception set. */
static int
resolve_senders(ASGICallObject *call, PyObject *exc)
{
    PyObject *senders = call->ws_senders;
    int rc = 0;
    if (senders == NULL) {
        return 0;
    }
    call->ws_senders = NULL;   /* this owns the list now */
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(senders); i++) {
        PyObject *slot = Py_NewRef(PyList_GET_ITEM(senders, i));
        if (gohttp_asgi_resolve(&slot, exc == NULL ? Py_None : NULL,
                                exc) < 0) {   /* clears slot */
            rc = -1;
        }
    }
    Py_DECREF(senders);
    return rc;
}

PyObject *
gohttp_asgiws_send(ASGICallObject *call, PyObject *message)
{
    gohttp_state *st = call->state;
    PyObject **v = st->asgi_value;
    int rc;

    if (gohttp_asgi_check_live(call) < 0) {
        return NULL;
    }
    if (!PyDict_Check(message)) {
        PyErr_Format(PyExc_TypeError,
                     "send() takes an ASGI message, a dict, not %.200s",
                     Py_TYPE(message)->tp_name);
        return NULL;
    }
    PyObject *type = PyDict_GetItemWithError(message,
                                             st->asgi_key[GOHTTP_ASGI_K_TYPE]);
    if (type == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_ValueError,
                            "an ASGI message needs a 'type'");
        }
        return NULL;
    }
    if (!PyUnicode_Check(type)) {
        PyErr_Format(PyExc_TypeError, "an ASGI message's type must be a "
                     "str, not %.200s", Py_TYPE(type)->tp_name);
        return NULL;
    }
    if (PyUnicode_Compare(type, v[GOHTTP_ASGI_V_WS_SEND]) == 0) {
        if (call->ws_closed || call->disconnected) {
            raise_closed(call, "websocket.send");
            return NULL;
        }
        rc = send_message(call, message);
    }
    else if (PyUnicode_Compare(type, v[GOHTTP_ASGI_V_WS_ACCEPT]) == 0) {
        if (call->ws_closed || call->disconnected) {
            raise_closed(call, "websocket.accept");
            return NULL;
        }
        rc = send_accept(call, message);
    }
    else if (PyUnicode_Compare(type, v[GOHTTP_ASGI_V_WS_CLOSE]) == 0) {
        if (call->ws_closed) {
            PyErr_SetString(gohttp_exc.StateError,
                            "websocket.close was sent already");
            return NULL;
        }
        if (call->disconnected) {
            /* The peer closed first: nothing is left to close. */
            call->ws_closed = 1;
            return Py_NewRef(st->asgi_done);
        }
        rc = send_close(call, message);
    }
    else if (PyUnicode_Compare(type, v[GOHTTP_ASGI_V_WS_RESPONSE_START]) == 0
             || PyUnicode_Compare(type,
                                  v[GOHTTP_ASGI_V_WS_RESPONSE_BODY]) == 0) {
        int start = PyUnicode_Compare(
            type, v[GOHTTP_ASGI_V_WS_RESPONSE_START]) == 0;
        if (call->ws_accepted || call->ws_closed) {
            PyErr_SetString(gohttp_exc.StateError,
                            "a denial response (websocket.http.response.*) "
                            "must come before websocket.accept or .close");
            return NULL;
        }
        if (call->disconnected) {
            raise_closed(call, "websocket.http.response");
            return NULL;
        }
        rc = start ? gohttp_asgi_send_start(call, message)
                   : gohttp_asgi_send_body(call, message);
    }
    else {
        if (!PyErr_Occurred()) {
            PyErr_Format(PyExc_ValueError,
                         "unexpected ASGI message type %.200R in a websocket "
                         "scope: send 'websocket.accept', 'websocket.send', "
                         "'websocket.close' or 'websocket.http.response.*'",
                         type);
        }
        rc = -1;
    }
    if (rc < 0) {
        return NULL;
    }
    if (rc > 0) {
        return wait_written(call);
    }
    return Py_NewRef(st->asgi_done);
}

int
gohttp_asgiws_event(ASGICallObject *call, const gohttp_asgi_event *ev,
                     const char *data)
{
    gohttp_state *st = call->state;
    PyObject *msg = NULL, *exc = NULL;
    int rc = 0;

    switch (ev->kind) {
    case GOHTTP_ASGI_WS_MESSAGE:
        msg = receive_message(st, data, (Py_ssize_t)ev->len, ev->text);
        if (msg == NULL) {
            rc = -1;
        }
        else if (gohttp_asgi_waiting(&call->receive_fut) > 0) {
            rc = gohttp_asgi_resolve(&call->receive_fut, msg, NULL);
            if (rc == 0) {
                rc = read_next(call);   /* the app took it */
            }
        }
        else {   /* the next receive() takes it */
            Py_XSETREF(call->message, Py_NewRef(msg));
        }
        break;
    case GOHTTP_ASGI_WS_CLOSE:
    case GOHTTP_ASGI_DISCONNECT:   /* a denial response failed to go out */
        if (call->disconnected) {
            break;
        }
        call->disconnected = 1;
        call->ws_code = ev->kind == GOHTTP_ASGI_WS_CLOSE ? ev->code : 1006;
        if (ev->kind == GOHTTP_ASGI_WS_CLOSE && ev->len > 0) {
            call->ws_reason = PyUnicode_DecodeUTF8(data, (Py_ssize_t)ev->len,
                                                   "replace");
            if (call->ws_reason == NULL) {
                rc = -1;
                break;
            }
        }
        if (call->message == NULL) {
            msg = disconnect_message(call);
            if (msg == NULL
                || gohttp_asgi_resolve(&call->receive_fut, msg, NULL) < 0) {
                rc = -1;
            }
        }
        exc = PyObject_CallFunction(call->loop->disconnected, "s",
                                    "the WebSocket is closed: the client "
                                    "has gone or closed it");
        if (exc == NULL || resolve_senders(call, exc) < 0) {
            rc = -1;
        }
        break;
    case GOHTTP_ASGI_WRITTEN:
        rc = resolve_senders(call, NULL);
        break;
    }
    Py_XDECREF(msg);
    Py_XDECREF(exc);
    return rc;
}
