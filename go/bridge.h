/*
 * bridge.h — the one header both sides of the Go/C boundary include.
 *
 * Memory rules across the boundary (written once, here):
 *
 *  1. Go objects cross to C only as a cgo.Handle (a uintptr_t, never 0).
 *     C never holds a Go pointer past the call that handed it over.
 *  2. A request reaches C as (gohttp_request *, const char *data): both
 *     point into Go memory that holds no Go pointers, and both are valid
 *     only until the handler callback returns.  C copies what it keeps.
 *     So do (gohttp_reply *, char *reply_buf), the one place where C
 *     writes Go memory: a small response C holds back for Go to send.
 *  3. Memory C hands to Go (write buffers, read buffers, packed headers)
 *     stays owned by C; Go copies what it keeps and never frees it.
 *  4. Every export returns a gohttp_status.  No Go panic crosses into C:
 *     exports recover and report GOHTTP_EPANIC with the message in
 *     gohttp_error.
 *  5. The C side owns Python objects; Go holds them only as opaque
 *     uintptr_t handler values that C promised to keep alive until the
 *     server is shut down and drained.
 *  6. A file descriptor C passes (gohttp_call_send_file) stays C's: Go
 *     reads through a duplicate that it closes before the call returns.
 *  7. One C module writes a call's (gohttp_reply, reply_buf): the writer,
 *     ext/writer.h, which the Python ResponseWriter and the C API both
 *     answer through.  It borrows them from the handler callback and
 *     forgets them when the callback ends (gohttp_writer_end), before Go
 *     reads them.  The C API alone also lends reply_buf's front to the
 *     headers it builds, until the response starts (ext/capi.c).
 *  8. ASGI (go/asgi*.go, ext/asgi.c).  Python runs only on the event
 *     loop's thread; Go never calls into C for an ASGI request.
 *     a. The loop (gohttp_asgi_loop_new) is a cgo.Handle owned by C, with
 *        a wake descriptor Go owns and closes in gohttp_asgi_loop_free.
 *     b. gohttp_asgi_take copies each event into memory C owns: the
 *        gohttp_asgi_event array and one byte buffer, where an event's
 *        bytes are (a NEW's request block, a BODY's chunk, a WS_MESSAGE's
 *        message, a WS_CLOSE's reason).  Both are C's before and after;
 *        Go writes them during the call only.
 *     c. An event names its request by (req.call, req.generation), as
 *        rule 2's handler calls do; an event for a request C has already
 *        finished is stale and C drops it.  The pair stays valid until C
 *        calls gohttp_asgi_finish (or gohttp_asgi_end, the last body and
 *        the finish in one call); Go refuses it afterwards.
 *     d. What C passes to gohttp_asgi_body or _end (the body bytes, and
 *        with the first body the start's headers C held until then) is read
 *        during the call only: Go copies it, and the request's goroutine
 *        writes it to the network, never the loop (but see g for a body
 *        C lends).  So are the packed
 *        headers of gohttp_asgi_early_hint and _trailers.  A last body C
 *        holds back (ext/asgicall.c's held_body, a bytes object) stays
 *        C's until it goes to _body or _end, then crosses as any other.
 *        Likewise the path of gohttp_asgi_pathsend: Go opens the file
 *        itself during the call and owns it (closing it once sent or
 *        refused); no descriptor crosses, unlike rule 6.
 *     e. The app value of a route (gohttp_server_handle_asgi) follows
 *        rule 5: C keeps it alive until the server is freed.
 *     f. A WebSocket (go/asgiws.go) is an ASGI request whose call lives
 *        until the app has finished and the connection is closed: the
 *        same (call, generation) pair, the same events (with WS_CONNECT,
 *        WS_MESSAGE, WS_CLOSE), the same rules.  A WS_MESSAGE's bytes
 *        are in the reader's buffer until C takes the event; Go reads the
 *        next message into it only once C asked (gohttp_asgi_read), so
 *        the buffer is never written while an event points into it.
 *        What C passes to gohttp_asgi_ws_* is read during the call only.
 *     g. A large body C lends (gohttp_asgi_body with a loan, ext/asgicall.c):
 *        the bytes stay where Python has them, in a read-only buffer C
 *        holds through a Py_buffer (PyMem_Raw, its address the loan), and
 *        Go keeps the pointer, not a copy.  This is the one place Go keeps
 *        a pointer past the call, and it is C's memory, not Go's: cgo
 *        allows it, and Go's collector never sees it.  The request's
 *        goroutine writes from it (HTTP/1: straight to the connection;
 *        HTTP/2 and 3 through a buffer of Go's, since their frame writers
 *        may still read a buffer after Write returned on a reset stream).
 *        Once done with it (written, the client gone, the app failed, the
 *        request over), Go posts a RELEASE event with the loan, even after
 *        gohttp_asgi_loop_close (one no send() waits on rides the loop's
 *        next wake, or brings its own a millisecond later); C releases the buffer on the loop's
 *        thread, with the GIL, when it takes the event, and takes the
 *        events left one last time before gohttp_asgi_loop_free.  A
 *        goroutine still writing after that (a forced shutdown whose
 *        handler outlived the loop) keeps its loan for good: a leak,
 *        never a use after free.  If gohttp_asgi_body fails, Go kept
 *        nothing.
 */
#ifndef GOHTTP_BRIDGE_H
#define GOHTTP_BRIDGE_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    GOHTTP_OK = 0,
    GOHTTP_EINVAL = 1,  /* bad argument: maps to ValueError */
    GOHTTP_ESTATE = 2,  /* wrong state (response started, ...): gohttp.StateError */
    GOHTTP_EIO = 3,     /* I/O error (client gone, bind failed): OSError, errno set */
    GOHTTP_EPANIC = 4,  /* a Go panic was recovered: RuntimeError */
    GOHTTP_ETIMEOUT = 5, /* a wait timed out; not an error for most callers */
    GOHTTP_EFINISHED = 6, /* the request has finished: gohttp.RequestFinishedError */
    GOHTTP_ECLOSED = 7   /* the server cannot do that now (shut down,
                            already serving): gohttp.ServerStateError */
} gohttp_status;

/* Details of a failed call, filled by Go when the status is not GOHTTP_OK. */
typedef struct {
    int32_t sys_errno; /* errno of the underlying system call, or 0 */
    char message[512]; /* NUL-terminated, truncated to fit */
} gohttp_error;

/* A run of bytes inside the request's data block. */
typedef struct {
    uint32_t off;
    uint32_t len;
} gohttp_span;

/* Which span of gohttp_request.field holds what. */
enum {
    GOHTTP_F_METHOD,      /* "GET" */
    GOHTTP_F_URL,         /* the request-target as sent: "/a%20b?x=1" */
    GOHTTP_F_PATH,        /* percent-decoded path: "/a b" */
    GOHTTP_F_QUERY,       /* raw query, without '?': "x=1" */
    GOHTTP_F_HOST,        /* Host header or :authority */
    GOHTTP_F_PROTO,       /* "HTTP/1.1" */
    GOHTTP_F_REMOTE_ADDR, /* "127.0.0.1:53211" */
    GOHTTP_F_HEADERS,     /* packed pairs: key, value, key, value, ... */
    GOHTTP_F_PATH_VALUES, /* packed pairs: name, value, ... */
    GOHTTP_F_SCHEME,      /* "https" under TLS or by a trusted proxy, else "http" */
    GOHTTP_F_TLS,         /* empty for cleartext; under TLS a packed list:
                             uint16 version and uint16 cipher suite
                             (4 bytes, native order), version name
                             ("TLSv1.3"), cipher suite (Go's name), server
                             name (SNI), ALPN protocol, then the client's
                             verified certificate chain, DER each, leaf
                             first (none without a client certificate).
                             Go packs it only for TLS requests
                             (go/tls_state.go); every adapter reads it. */
    GOHTTP_F_LOCAL_ADDR,  /* "127.0.0.1:8000", "[::1]:8000", "unix:/run/a.sock";
                             packed for ASGI requests only, else empty */
    GOHTTP_F_ASGI_TLS,    /* empty but for ASGI requests over TLS: a packed
                             list of the certificate the server sent (DER;
                             empty if unknown) and the subject of the
                             client's certificate, RFC 4514 style (empty
                             without one): what only the scope's "tls"
                             extension reports (go/tls_state.go) */
    GOHTTP_NFIELDS
};

/*
 * A packed list is a sequence of items, each a uint32_t length in native
 * byte order (unaligned: read it with memcpy) followed by that many bytes.
 */

/* What C learns about a request.  Plain integers only: it lives in Go memory. */
typedef struct {
    gohttp_span field[GOHTTP_NFIELDS];
    int64_t content_length; /* -1 when unknown (chunked upload) */
    uint32_t header_count;  /* pairs in GOHTTP_F_HEADERS */
    uint32_t path_value_count;
    uintptr_t call;         /* cgo.Handle of the call: pass to gohttp_call_* */
    uint64_t generation;    /* pass with call; stale pairs are refused */
} gohttp_request;

/*
 * A response C holds back, for Go to send once the handler has returned:
 * a handler that writes a small response whole (status, headers, body)
 * then costs no call from C into Go.  Go sets capacity; C fills reply_buf
 * with header_len bytes of packed headers (canonical key, value, ...),
 * then body_len bytes of body, and sets status (capacity is
 * GOHTTP_REPLY_SIZE; ext/writer.h does all this).  Go sends it only if the
 * handler returned GOHTTP_HANDLED; any other outcome discards it, so a
 * handler that raises after writing still gets a clean 500.  C sends what
 * it holds itself (gohttp_call_write_header) before anything that must
 * reach Go at once: a flush, a file, a write too large to hold.
 */
typedef struct {
    int32_t status;       /* 0: nothing held */
    uint32_t header_len;
    uint32_t body_len;
    uint32_t capacity;    /* bytes at reply_buf; set by Go */

    /* The lane's question (lane.go): when Go sets timed, C sets ran_ns to
     * how long the handler ran once it had the GIL, and cpu_ns to how much
     * of that its thread spent on a CPU.  A handler that was on a CPU all
     * along held the GIL: a wider lane would not have helped it. */
    int32_t timed;
    int64_t ran_ns;
    int64_t cpu_ns;
} gohttp_reply;

/* The capacity of a call's reply_buf (gohttp_reply.capacity): how much
 * of a response C may hold back, its packed headers and body together;
 * as much as net/http buffers before it writes to the socket. */
#define GOHTTP_REPLY_SIZE 4096

/*
 * The two rules about status codes that C and Go share.  Go cannot call
 * these cheaply: go/statuscode.go has their Go twins (codeIsFinal,
 * codeAllowsBody), and its test checks that both agree on every code.
 */

/* 1 if code starts the response: a final status (200 and up), or 101
 * Switching Protocols, after which the connection speaks another
 * protocol.  Headers cannot change afterwards.  Other 1xx codes are
 * informational: they go out at once, and a final one follows. */
static inline int
gohttp_code_is_final(int code)
{
    return code >= 200 || code == 101;
}

/* 1 if a response with status code may carry a body, as net/http
 * decides (RFC 9110 6.4.1): not 1xx, 204 No Content or 304 Not
 * Modified.  Go refuses a body write for the others. */
static inline int
gohttp_code_allows_body(int code)
{
    return code >= 200 && code != 204 && code != 304;
}

/* What a handler callback tells Go when it returns. */
typedef enum {
    GOHTTP_HANDLED = 0,     /* the response is complete */
    GOHTTP_FAILED = 1,      /* the handler raised: 500, or abort if started */
    GOHTTP_UNAVAILABLE = 2  /* the interpreter is shutting down: 503 */
} gohttp_outcome;

/*
 * The handler callback C registers with gohttp_set_dispatch.  Go calls it
 * on a goroutine's OS thread, which may differ on every call; handler is
 * the value given to gohttp_server_handle.
 */
typedef gohttp_outcome (*gohttp_dispatch_fn)(uintptr_t handler,
                                             const gohttp_request *req,
                                             const char *data,
                                             gohttp_reply *reply,
                                             char *reply_buf);

/* ASGI: the kinds of gohttp_asgi_event (rule 8). */
typedef enum {
    GOHTTP_ASGI_NEW = 1,        /* a request: req and its block */
    GOHTTP_ASGI_BODY = 2,       /* a chunk of the body the app asked for */
    GOHTTP_ASGI_DISCONNECT = 3, /* the client has gone: nothing more is sent
                                   (a read or write failed, or, once C
                                   asked gohttp_asgi_watch, the request's
                                   context is done) */
    GOHTTP_ASGI_WRITTEN = 4,    /* a send that had to wait may go on */
    /* WebSockets (go/asgiws.go; rule 8f) */
    GOHTTP_ASGI_WS_CONNECT = 5, /* a WebSocket handshake: as NEW, for a
                                   websocket scope */
    GOHTTP_ASGI_WS_MESSAGE = 6, /* a whole message, text if text is 1 */
    GOHTTP_ASGI_WS_CLOSE = 7,   /* the WebSocket is closed: code, and the
                                   reason in the bytes; nothing follows */
    GOHTTP_ASGI_RELEASE = 8     /* Go is done with the body C lent as loan
                                   (rule 8g); names no request */
} gohttp_asgi_kind;

/* One event gohttp_asgi_take hands the loop.  req.call and
 * req.generation name the request for every kind but RELEASE; the rest of req is set
 * for NEW only, whose block (req's spans point into it) is
 * buf[off:off+len]; a BODY's chunk is there too. */
typedef struct {
    int32_t kind;          /* a gohttp_asgi_kind */
    int32_t more_body;     /* BODY: 1 if more chunks follow */
    int32_t text;          /* WS_MESSAGE: 1 for text (valid UTF-8), 0 bytes */
    int32_t code;          /* WS_CLOSE: the close code, 1005 when the
                              peer gave none, 1006 when it gave no close */
    uintptr_t app;         /* NEW: the route's value (gohttp_server_handle_asgi) */
    uintptr_t loan;        /* RELEASE: the loan C gave gohttp_asgi_body */
    uint32_t off;
    uint32_t len;
    gohttp_request req;
} gohttp_asgi_event;

/* Access log formats (gohttp_config.access_log_format). */
typedef enum {
    GOHTTP_LOG_COMBINED = 0,  /* Apache/nginx combined: common + referer, agent */
    GOHTTP_LOG_COMMON = 1,    /* the Common Log Format */
    GOHTTP_LOG_JSON = 2       /* one JSON object per line */
} gohttp_log_format;

/*
 * Server settings, read by gohttp_server_listen during the call only: Go
 * copies every string and array it keeps.  All strings are NUL-terminated
 * UTF-8; NULL and "" mean "not set" unless a field says otherwise.  A
 * zeroed struct is valid: it listens on all interfaces, a port the OS
 * picks, with no limits.
 */
typedef struct {
    const char *host;              /* NULL: no host:port listener (binds only);
                                      "" means all interfaces */
    int32_t port;                  /* 0: the OS picks */
    int64_t read_header_timeout_ns;/* 0: no limit */
    int64_t read_timeout_ns;
    int64_t write_timeout_ns;
    int64_t idle_timeout_ns;
    int64_t max_header_bytes;      /* 0: Go's default (1 MiB) */

    /* Limits Go enforces before Python sees a request. */
    int64_t max_body_bytes;        /* 0: no limit; else 413 beyond it */
    int32_t max_connections;       /* 0: no limit; else accept waits */

    /* More listeners, besides host:port: nbinds addresses, each
     * "HOST:PORT", "[V6]:PORT", "unix:PATH" or "fd://N". */
    const char *const *binds;
    int32_t nbinds;

    /* TLS: both set, or neither.  keyfile may name the certfile when one
     * PEM file holds both.  Under TLS, ALPN offers HTTP/2.  The pair is
     * reloaded when its files change (go/tls_reload.go). */
    const char *certfile;
    const char *keyfile;
    const char *ssl_keyfile_password; /* for a legacy-encrypted PEM key */
    const char *ssl_ca_certs;      /* PEM CAs that sign client certificates */
    int32_t ssl_cert_reqs;         /* client certificates: 0 not asked for,
                                      1 verified if given, 2 required */
    const char *ssl_min_version;   /* "1.2" or "1.3"; NULL: 1.2 */
    const char *ssl_ciphers;       /* Go's TLS 1.2 suite names,
                                      comma-separated; NULL: Go's */
    int32_t http2_cleartext;       /* 1: also HTTP/2 with prior knowledge (h2c) */

    /* Access log: NULL or "" off, "-" standard error, else a file path
     * opened for appending. */
    const char *access_log;
    int32_t access_log_format;     /* a gohttp_log_format */

    /* Trusted proxies: comma-separated IPs and CIDRs, or "*" for any;
     * NULL or "": X-Forwarded-For is never honoured. */
    const char *forwarded_allow_ips;

    /* 1: TCP listeners set SO_REUSEPORT, so that several processes (the
     * workers of one supervisor) may listen on the same address, the
     * kernel spreading connections among them. */
    int32_t reuse_port;

    /* WebSockets (go/asgiws.go). */
    int64_t ws_max_size;           /* bytes per message; 0: 16 MiB */
    int64_t ws_ping_interval_ns;   /* 0: no pings */
    int64_t ws_ping_timeout_ns;    /* 0: a ping waits for its pong forever */
    int32_t ws_per_message_deflate;/* 1: offer permessage-deflate */
    int32_t ws_max_connections;    /* 0: no limit; else 503 beyond it */

    /* HTTP/3 over QUIC (go/http3.go), which needs TLS: 1 serves it on a
     * UDP socket at http3_bind, NULL or "" for the host and port of the
     * first TCP listener, and sets Alt-Svc on TCP responses.  http3_0rtt
     * 1 accepts 0-RTT requests, which an attacker may replay. */
    int32_t http3;
    const char *http3_bind;
    int32_t http3_0rtt;

    /* TCP keep-alive on accepted connections (go/listeners.go): probes
     * after tcp_keepalive seconds of silence, then every tcp_keepalive
     * seconds, 9 of them; 0: none. */
    int32_t tcp_keepalive;
} gohttp_config;

#endif /* GOHTTP_BRIDGE_H */
