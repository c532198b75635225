/*
 * writer.c — the calls into Go of writer.h's response writer.
 *
 * A call that may reach the socket lets go of the caller's lock (the
 * GIL) first, so a slow client does not stall other handlers.  Go
 * buffers the first bytes of a body (net/http's bufferBeforeChunkingSize)
 * without touching the socket: calls that stay within it cannot block,
 * so they keep the lock and skip two handoffs.
 */
#include "writer.h"

#define GO_BODY_BUFFER 2048

/* One call into Go: the call and generation, read while the caller's
 * lock is held, and that lock let go of for a call that may block. */
typedef struct {
    uintptr_t call;
    uint64_t generation;
    int unlocked;
    void *token;   /* what the unlocker's acquire takes back */
} crossing;

static crossing
cross(const gohttp_writer *w, int blocking)
{
    crossing c = {w->call, w->generation,
                  blocking && w->unlocker != NULL, NULL};
    if (c.unlocked) {
        c.token = w->unlocker->release();
    }
    return c;
}

static void
uncross(const gohttp_writer *w, const crossing *c)
{
    if (c->unlocked) {
        w->unlocker->acquire(c->token);
    }
}

gohttp_status
gohttp_writer_commit(gohttp_writer *w, int code, const char *headers,
                     size_t size, const char *body, size_t n,
                     size_t *written, gohttp_error *err)
{
    int sent = 0;
    *written = 0;
    crossing c = cross(w, n > GO_BODY_BUFFER);
    gohttp_status status = gohttp_call_write_header(
        c.call, c.generation, code, (char *)headers, size, (char *)body, n,
        written, &sent, err);
    uncross(w, &c);
    w->written += (int64_t)*written;
    if (sent && gohttp_code_is_final(code)) {
        w->started = 1;   /* even if the body part failed */
    }
    return status;
}

gohttp_status
gohttp_writer_release(gohttp_writer *w, gohttp_error *err)
{
    if (!w->held) {
        return GOHTTP_OK;
    }
    gohttp_reply *reply = w->reply;
    char *buf = w->reply_buf;
    size_t headers_len = reply->header_len, body_len = reply->body_len;
    size_t written = 0;
    int sent = 0;
    int code = reply->status;

    w->held = 0;
    reply->status = 0;   /* Go must not send it again */
    crossing c = cross(w, body_len > GO_BODY_BUFFER);
    gohttp_status status = gohttp_call_write_header(
        c.call, c.generation, code, buf, headers_len, buf + headers_len,
        body_len, &written, &sent, err);
    uncross(w, &c);
    return status;   /* the body was counted in w->written when held */
}

gohttp_status
gohttp_writer_send(gohttp_writer *w, const char *p, size_t n,
                   size_t *written, gohttp_error *err)
{
    *written = 0;
    gohttp_status status = gohttp_writer_release(w, err);
    if (status == GOHTTP_OK && n > 0) {
        crossing c = cross(w, w->written + (int64_t)n > GO_BODY_BUFFER);
        status = gohttp_call_write(c.call, c.generation, (char *)p, n,
                                   written, err);
        uncross(w, &c);
        w->written += (int64_t)*written;
    }
    return status;
}

gohttp_status
gohttp_writer_flush(gohttp_writer *w, gohttp_error *err)
{
    gohttp_status status = gohttp_writer_release(w, err);
    if (status == GOHTTP_OK) {
        crossing c = cross(w, 1);
        status = gohttp_call_flush(c.call, c.generation, err);
        uncross(w, &c);
    }
    return status;
}

gohttp_status
gohttp_writer_send_file(gohttp_writer *w, int fd, int64_t offset,
                        int64_t count, int64_t *written, gohttp_error *err)
{
    *written = 0;
    gohttp_status status = gohttp_writer_release(w, err);
    if (status == GOHTTP_OK) {
        crossing c = cross(w, 1);
        status = gohttp_call_send_file(c.call, c.generation, fd, offset,
                                       count, written, err);
        uncross(w, &c);
        w->written += *written;
    }
    return status;
}
