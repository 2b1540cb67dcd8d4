/*
 * wire.c: one connection's bytes, shared by the server (smtp.c) and the
 * client (client.c): a socket, an optional BearSSL engine (a server's or
 * a client's), and the input and output buffers its owner supplies (so
 * that smtp.c keeps a session's hot bytes on the first page of its slot).
 *
 * Nothing here blocks. wire_io() moves what can move now, in clear or
 * through the engine; wire_wants() says what to wait for; select() waits:
 * mta.c's loop for the server, wire_wait() (util.c's waitfds) for the
 * client, which runs in a delivery child and may wait, but never past a
 * deadline.
 *
 * Reading order: wire_io -> plainio / tlsio; wire_line, wire_put; then
 * wire_wait. It is on the floor above util.c and BearSSL, below both
 * SMTP sides.
 */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#if WITH_TLS
#include <bearssl.h>
#endif
#include "mta.h"

static int plainio(struct wire *w, int canread);
static int tlsio(struct wire *w, int canread);

/* A connection on fd (wfd for writing: only -bs has two), in clear. */
void
wire_init(struct wire *w, int fd, int wfd, char *in, size_t insize,
    char *out, size_t outsize)
{
	*w = (struct wire){ .fd = fd, .wfd = wfd, .in = in, .insize = insize,
	    .out = out, .outsize = outsize };
}

/*
 * Move what can move without waiting: queued output out, and with
 * canread (the socket is readable) input in. -1 when the connection
 * failed (errno says why; ECONNRESET for a TLS session that ended).
 */
int
wire_io(struct wire *w, int canread)
{
	return w->eng != NULL ? tlsio(w, canread) : plainio(w, canread);
}

/* What the connection waits for: WIRE_WRITE, WIRE_READ, both or none. */
unsigned
wire_wants(const struct wire *w)
{
#if WITH_TLS
	if (w->eng != NULL) {
		unsigned st = br_ssl_engine_current_state(w->eng);


		return ((st & BR_SSL_SENDREC) ? WIRE_WRITE : 0) |
		    ((st & BR_SSL_RECVREC) && !w->eof ? WIRE_READ : 0);
	}
#endif
	return (w->outoff < w->outlen ? WIRE_WRITE : 0) |
	    (w->inlen < w->insize && !w->eof ? WIRE_READ : 0);
}

/* Is anything still waiting to go out (replies, records, close_notify)? */
int
wire_pending(const struct wire *w)
{
	/* in clear, wire_wants() says WIRE_WRITE for the first alone */
	return w->outoff < w->outlen || (wire_wants(w) & WIRE_WRITE);
}

/* Queue n bytes for output; -1 (nothing queued) when they do not fit. */
int
wire_put(struct wire *w, const void *p, size_t n)
{
	if (n > w->outsize - w->outlen) {
		return -1;
	}
	memcpy(w->out + w->outlen, p, n);
	w->outlen += n;
	return 0;
}

/*
 * Take one line from the input, without its CR and LF. A line longer
 * than len or than the input buffer is cut, and the rest of it dropped
 * up to its LF. 1: a line; 0: none complete yet.
 */
int
wire_line(struct wire *w, char *line, size_t len)
{
	size_t i, n, end;
	char *nl;
	int tail;

	for (;;) {
		nl = memchr(w->in, '\n', w->inlen);
		if (nl == NULL && w->inlen < w->insize) {
			return 0;
		}
		end = nl != NULL ? (size_t)(nl - w->in) : w->inlen;
		for (i = n = 0; i < end; i++) {
			if (n + 1 < len && w->in[i] != '\r') {
				line[n++] = w->in[i];
			}
		}
		line[n] = '\0';
		i = nl != NULL ? end + 1 : end;
		memmove(w->in, w->in + i, w->inlen - i);
		w->inlen -= i;
		tail = w->skip;
		w->skip = nl == NULL;
		if (!tail) {
			return 1;
		}
		/* the rest of a line already taken cut: dropped */
	}
}

/*
 * Wait until the connection can move bytes, or until deadline, and move
 * them. -1 on failure or at the deadline (errno ETIMEDOUT).
 */
int
wire_wait(struct wire *w, time_t deadline)
{
	time_t now = time(NULL);
	unsigned st;
	int n;

	if (now >= deadline) {
		errno = ETIMEDOUT;
		return -1;
	}
	/* what can move now (queued output into the engine) moves first */
	if (wire_io(w, 0) == -1) {
		return -1;
	}
	if ((st = wire_wants(w)) == 0) {
		errno = ECONNRESET;
		return w->eof ? -1 : 0;
	}
	/* the client's socket does not block: a read that finds nothing
	 * when only the write side was ready is harmless */
	n = waitfds((st & WIRE_READ) ? w->fd : -1,
	    (st & WIRE_WRITE) ? w->wfd : -1,
	    (long long)(deadline - now) * 1000);
	return n <= 0 ? n : wire_io(w, (st & WIRE_READ) != 0);
}

/* ---- in clear ---- */

static int
plainio(struct wire *w, int canread)
{
	ssize_t n;

	while (w->outoff < w->outlen) {
		n = write(w->wfd, w->out + w->outoff, w->outlen - w->outoff);
		if (n == -1) {
			if (errno == EINTR) {
				continue;
			}
			return errno == EAGAIN ? 0 : -1;
		}
		w->outoff += (size_t)n;
	}
	w->outoff = w->outlen = 0;
	if (canread && w->inlen < w->insize && !w->eof) {
		n = read(w->fd, w->in + w->inlen, w->insize - w->inlen);
		if (n == 0) {
			w->eof = 1;
		} else if (n > 0) {
			w->inlen += (size_t)n;
		} else if (errno != EAGAIN && errno != EINTR) {
			return -1;
		}
	}
	return 0;
}

/* ---- through the TLS engine ---- */

#if WITH_TLS
/* From now on the bytes go through eng (a server's or a client's, set
 * up and reset by its owner); input read in clear is void (RFC 3207). */
void
wire_tls(struct wire *w, void *eng)
{
	w->eng = eng;
	w->inlen = 0;
	w->skip = 0;
}

/* Queue close_notify (RFC 5246 7.2.1). */
void
wire_close(struct wire *w)
{
	br_ssl_engine_close(w->eng);
}

static int
tlsio(struct wire *w, int canread)
{
	br_ssl_engine_context *e = w->eng;
	unsigned char *b;
	unsigned st;
	size_t n;
	ssize_t r;

	for (;;) {
		st = br_ssl_engine_current_state(e);
		if (st & BR_SSL_CLOSED) {
			errno = ECONNRESET;
			return -1;
		}
		if (st & BR_SSL_SENDREC) {
			b = br_ssl_engine_sendrec_buf(e, &n);
			if ((r = write(w->wfd, b, n)) > 0) {
				br_ssl_engine_sendrec_ack(e, (size_t)r);
				continue;
			}
			if (r == -1 && errno != EAGAIN && errno != EINTR) {
				return -1;
			}
		}
		if ((st & BR_SSL_RECVAPP) && w->inlen < w->insize) {
			b = br_ssl_engine_recvapp_buf(e, &n);
			n = n < w->insize - w->inlen ? n : w->insize - w->inlen;
			memcpy(w->in + w->inlen, b, n);
			w->inlen += n;
			br_ssl_engine_recvapp_ack(e, n);
			continue;
		}
		if ((st & BR_SSL_SENDAPP) && w->outoff < w->outlen) {
			b = br_ssl_engine_sendapp_buf(e, &n);
			n = n < w->outlen - w->outoff ? n :
			    w->outlen - w->outoff;
			memcpy(b, w->out + w->outoff, n);
			br_ssl_engine_sendapp_ack(e, n);
			w->outoff += n;
			if (w->outoff == w->outlen) {
				w->outoff = w->outlen = 0;
			}
			br_ssl_engine_flush(e, 0);
			continue;
		}
		if ((st & BR_SSL_RECVREC) && canread) {
			b = br_ssl_engine_recvrec_buf(e, &n);
			if ((r = read(w->fd, b, n)) > 0) {
				br_ssl_engine_recvrec_ack(e, (size_t)r);
				continue;
			}
			if (r == 0) {
				w->eof = 1;
				return 0;
			}
			if (errno != EAGAIN && errno != EINTR) {
				return -1;
			}
			canread = 0;
		}
		return 0;
	}
}
#else
/* Built without TLS: eng is never set, so this is never reached. */
static int
tlsio(struct wire *w, int canread)
{
	return plainio(w, canread);
}
#endif
