/*
 * client.c: the SMTP client, one outbound connection at a time.
 *
 * It runs only in a delivery child, never in the daemon's loop, so it may
 * wait; but every wait has a deadline (RFC 5321 4.5.3.2), kept by
 * select() in lowread/lowwrite, which BearSSL's sslio also goes through.
 * deliver.c picks the host and reads the results; this file speaks the
 * protocol: greeting, EHLO (HELO if refused), STARTTLS, AUTH, then per
 * message MAIL, RCPT..., DATA (pipelined when offered), and RSET between
 * messages, QUIT at the end.
 */
#include <sys/select.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#if WITH_TLS
#include <bearssl.h>
#endif
#include "mta.h"

/* What the server's EHLO offered. */
enum {
	X_PIPELINING = 1, X_SIZE = 2, X_8BITMIME = 4, X_DSN = 8,
	X_STARTTLS = 16, X_PLAIN = 32, X_LOGIN = 64, X_SMTPUTF8 = 128
};

static struct {
	int open, fd, tls;
	int lost;		/* out of step (dead, mid-DATA): no QUIT */
#if WITH_TLS
	struct tlsclient *t;
	br_sslio_context io;
#endif
	time_t deadline;
	unsigned ext;
	char host[256];		/* for logs and Remote-MTA */
	char key[128];		/* what a kept connection goes to */
	char tlsinfo[160];
	size_t inoff, inlen, outlen;
	char in[4096];
	char out[16384];
} cl;	/* zeroed: a big initialised struct would sit in the binary */

/* ---- bytes, with deadlines ---- */

static int
waitfd(int forwrite)
{
	struct timeval tv;
	fd_set s;
	time_t now;
	int r;

	for (;;) {
		now = time(NULL);
		if (now >= cl.deadline) {
			errno = ETIMEDOUT;
			return -1;
		}
		FD_ZERO(&s);
		FD_SET(cl.fd, &s);
		tv.tv_sec = cl.deadline - now;
		tv.tv_usec = 0;
		r = select(cl.fd + 1, forwrite ? NULL : &s, forwrite ? &s : NULL,
		    NULL, &tv);
		if (r > 0) {
			return 0;
		}
		if (r == -1 && errno != EINTR) {
			return -1;
		}
	}
}

static int
lowread(void *ctx, unsigned char *buf, size_t len)
{
	ssize_t n;

	(void)ctx;
	for (;;) {
		if (waitfd(0) == -1) {
			return -1;
		}
		if ((n = read(cl.fd, buf, len)) > 0) {
			return (int)n;
		}
		if (n == 0) {
			errno = ECONNRESET;	/* the server hung up */
			return -1;
		}
		if (errno != EINTR && errno != EAGAIN) {
			return -1;
		}
	}
}

static int
lowwrite(void *ctx, const unsigned char *buf, size_t len)
{
	ssize_t n;

	(void)ctx;
	for (;;) {
		if (waitfd(1) == -1) {
			return -1;
		}
		if ((n = write(cl.fd, buf, len)) >= 0) {
			return (int)n;
		}
		if (errno != EINTR && errno != EAGAIN) {
			return -1;
		}
	}
}

#if WITH_TLS
/* The buffered commands, through the engine. */
static int
tlswrite(void)
{
	return br_sslio_write_all(&cl.io, cl.out, cl.outlen) == 0 &&
	    br_sslio_flush(&cl.io) == 0 ? 0 : -1;
}

static int
tlsread(void)
{
	return br_sslio_read(&cl.io, cl.in, sizeof(cl.in));
}

/* close_notify (RFC 5246 7.2.1). */
static void
tlsbye(void)
{
	br_sslio_close(&cl.io);
}
#else
/* Built without TLS: cl.tls is never set, so these are never reached. */
#define tlswrite()	(-1)
#define tlsread()	(-1)
#define tlsbye()	((void)0)
#endif

static int
cflush(void)
{
	size_t off = 0;
	int n;

	if (cl.tls) {
		n = tlswrite();
		cl.outlen = 0;
		cl.lost |= n == -1;
		return n;
	}
	while (off < cl.outlen) {
		if ((n = lowwrite(NULL, (unsigned char *)cl.out + off,
		    cl.outlen - off)) == -1) {
			cl.outlen = 0;
			cl.lost = 1;
			return -1;
		}
		off += (size_t)n;
	}
	cl.outlen = 0;
	return 0;
}

static int
cput(const char *p, size_t n)
{
	size_t k;

	while (n > 0) {
		if (cl.outlen == sizeof(cl.out) && cflush() == -1) {
			return -1;
		}
		k = sizeof(cl.out) - cl.outlen;
		k = k < n ? k : n;
		memcpy(cl.out + cl.outlen, p, k);
		cl.outlen += k;
		p += k;
		n -= k;
	}
	return 0;
}

/* Queue one command line (CRLF added); sent at the next flush. */
static int
cmd(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 2) {
		errno = EMSGSIZE;
		return -1;
	}
	/* a CR or LF inside would end the command early (RFC 5321 2.3.8);
	 * the queue file holds none, this keeps it so */
	if (strpbrk(line, "\r\n") != NULL) {
		errno = EINVAL;
		return -1;
	}
	line[n++] = '\r';
	line[n++] = '\n';
	return cput(line, (size_t)n);
}

/* One reply line, CRLF removed; a longer line is cut, not split. */
static int
getline_(char *line, size_t len)
{
	size_t n = 0;
	int r;

	for (;;) {
		if (cl.inoff == cl.inlen) {
			r = cl.tls ? tlsread() :
			    lowread(NULL, (unsigned char *)cl.in, sizeof(cl.in));
			if (r <= 0) {
				return -1;
			}
			cl.inoff = 0;
			cl.inlen = (size_t)r;
		}
		char ch = cl.in[cl.inoff++];

		if (ch == '\n') {
			break;
		}
		if (n + 1 < len && ch != '\r') {
			line[n++] = ch;
		}
	}
	line[n] = '\0';
	return 0;
}

/* EHLO keywords, one reply line at a time. */
static void
keyword(const char *kw)
{
	if (strncasecmp(kw, "PIPELINING", 10) == 0) {
		cl.ext |= X_PIPELINING;
	} else if (strncasecmp(kw, "SIZE", 4) == 0) {
		cl.ext |= X_SIZE;
	} else if (strncasecmp(kw, "8BITMIME", 8) == 0) {
		cl.ext |= X_8BITMIME;
	} else if (strcasecmp(kw, "DSN") == 0) {
		cl.ext |= X_DSN;
	} else if (strcasecmp(kw, "STARTTLS") == 0) {
		cl.ext |= X_STARTTLS;
	} else if (strncasecmp(kw, "SMTPUTF8", 8) == 0) {
		cl.ext |= X_SMTPUTF8;
	} else if (strncasecmp(kw, "AUTH", 4) == 0 &&
	    (kw[4] == ' ' || kw[4] == '=')) {
		char buf[256], *p, *save;

		snprintf(buf, sizeof(buf), "%.255s", kw + 5);
		for (p = strtok_r(buf, " ", &save); p != NULL;
		    p = strtok_r(NULL, " ", &save)) {
			if (strcasecmp(p, "PLAIN") == 0) {
				cl.ext |= X_PLAIN;
			} else if (strcasecmp(p, "LOGIN") == 0) {
				cl.ext |= X_LOGIN;
			}
		}
	}
}

/*
 * Read a whole reply, multi-line included; its text ("550 5.1.1 ...",
 * lines joined) goes to text. Returns the code, or -1 if the connection
 * failed (text says why).
 */
static int
reply(char *text, size_t len, int ehlo)
{
	char line[1024];
	size_t n = 0;
	int code = -1, first = 1;

	for (;;) {
		if (getline_(line, sizeof(line)) == -1) {
			snprintf(text, len, "lost connection with %s: %s",
			    cl.host, strerror(errno));
			cl.lost = 1;
			return -1;
		}
		if (strlen(line) < 3 || line[0] < '2' || line[0] > '5' ||
		    (line[3] != ' ' && line[3] != '-' && line[3] != '\0')) {
			snprintf(text, len, "protocol error from %s", cl.host);
			cl.lost = 1;	/* what follows cannot be trusted */
			return -1;
		}
		if (first) {
			code = atoi(line);
		} else if (ehlo) {
			keyword(line + 4);
		}
		if (n < len) {
			n += (size_t)snprintf(text + n, len - n, "%s%s",
			    first ? "" : " ", first ? line : line + 4);
		}
		first = 0;
		if (line[3] != '-') {
			break;
		}
	}
	sanitize(text);	/* to log lines, the qf, DSNs and mailq */
	return code;
}

/* ---- the session ---- */

static int
nbconnect(const struct sockaddr_storage *ss)
{
	socklen_t len = ss->ss_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	int e = 0;
	socklen_t elen = sizeof(e);

	cl.fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (cl.fd == -1) {
		return -1;
	}
	cl.open = 1;
	cl.lost = 0;
	fcntl(cl.fd, F_SETFL, fcntl(cl.fd, F_GETFL) | O_NONBLOCK);
	if (connect(cl.fd, (const struct sockaddr *)ss, len) == 0) {
		return 0;
	}
	if (errno != EINPROGRESS || waitfd(1) == -1) {
		return -1;
	}
	if (getsockopt(cl.fd, SOL_SOCKET, SO_ERROR, &e, &elen) == -1 ||
	    e != 0) {
		errno = e != 0 ? e : errno;
		return -1;
	}
	return 0;
}

/*
 * A session that cannot have the TLS it needs. cred (the SmartHost
 * name) when it was needed for credentials: the log and mailq then say
 * so, not just what failed.
 */
static int
tlsfail(char *err, size_t errlen, const char *code, const char *cred,
    const char *why)
{
	if (cred != NULL) {
		snprintf(err, errlen, "%s credentials for %s are sent only "
		    "over verified TLS: %s", code, cred, why);
	} else {
		snprintf(err, errlen, "%s %s", code, why);
	}
	return -1;
}

static int
ehlo(char *err, size_t errlen)
{
	int code;

	cl.ext = 0;
	if (cmd("EHLO %s", set.hostname) == -1 || cflush() == -1) {
		return -1;
	}
	if ((code = reply(err, errlen, 1)) == 250) {
		return 0;
	}
	if (code < 500) {
		return -1;
	}
	cl.ext = 0;	/* no ESMTP: plain old HELO */
	if (cmd("HELO %s", set.hostname) == -1 || cflush() == -1) {
		return -1;
	}
	return reply(err, errlen, 0) == 250 ? 0 : -1;
}

static void
b64(const unsigned char *p, size_t n, char *out, size_t outlen)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i, o = 0;

	for (i = 0; i < n && o + 5 < outlen; i += 3) {
		unsigned v = (unsigned)p[i] << 16;

		v |= i + 1 < n ? (unsigned)p[i + 1] << 8 : 0;
		v |= i + 2 < n ? (unsigned)p[i + 2] : 0;
		out[o++] = tab[v >> 18 & 63];
		out[o++] = tab[v >> 12 & 63];
		out[o++] = i + 1 < n ? tab[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? tab[v & 63] : '=';
	}
	out[o] = '\0';
}

/* AUTH PLAIN (or LOGIN); the secret is wiped and never logged. */
static int
auth(const char *user, const char *pass, char *err, size_t errlen)
{
	unsigned char raw[600];
	char enc[820];
	size_t ul = strlen(user), pl = strlen(pass);
	int code = -1;

	if (ul + pl + 2 > sizeof(raw)) {
		snprintf(err, errlen, "4.7.0 credentials too long");
		return -1;
	}
	if (cl.ext & X_PLAIN) {
		raw[0] = '\0';
		memcpy(raw + 1, user, ul);
		raw[ul + 1] = '\0';
		memcpy(raw + ul + 2, pass, pl);
		b64(raw, ul + pl + 2, enc, sizeof(enc));
		if (cmd("AUTH PLAIN %s", enc) == 0 && cflush() == 0) {
			code = reply(err, errlen, 0);
		}
	} else if (cl.ext & X_LOGIN) {
		if (cmd("AUTH LOGIN") == 0 && cflush() == 0 &&
		    reply(err, errlen, 0) == 334) {
			b64((const unsigned char *)user, ul, enc, sizeof(enc));
			if (cmd("%s", enc) == 0 && cflush() == 0 &&
			    reply(err, errlen, 0) == 334) {
				b64((const unsigned char *)pass, pl, enc,
				    sizeof(enc));
				if (cmd("%s", enc) == 0 && cflush() == 0) {
					code = reply(err, errlen, 0);
				}
			}
		}
	} else {
		snprintf(err, errlen, "4.7.0 %s offers no AUTH PLAIN or LOGIN",
		    cl.host);
	}
	explicit_bzero(raw, sizeof(raw));
	explicit_bzero(enc, sizeof(enc));
	explicit_bzero(cl.out, sizeof(cl.out));
	return code == 235 ? 0 : -1;
}

/* ---- TLS (RFC 3207), through BearSSL's sslio ---- */

#if WITH_TLS
static int
isaddr(const char *host)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, host, buf) == 1 ||
	    inet_pton(AF_INET6, host, buf) == 1;
}

/*
 * TLS on the open connection; a failure leaves it unusable. With verify,
 * the chain must lead to CACertFile and the certificate must carry name:
 * a DNS name, or an address as an iPAddress of its subjectAltName. why
 * gets the reason of a failure, without a status code.
 */
static int
handshake(const char *name, int verify, char *why, size_t whylen)
{
	br_ssl_engine_context *eng;
	char cas[300] = "no usable CA certificate in CACertFile";
	int e, lit;

	if (verify && tls_loadcas(cas, sizeof(cas)) == -1) {
		snprintf(why, whylen, "cannot verify %.200s: %.250s", cl.host,
		    cas);
		return -1;
	}
	/* BearSSL matches DNS names only (and an address is no SNI): an
	 * address literal (SmartHost [192.0.2.1]) is checked after */
	lit = isaddr(name);
	cl.t = tls_client(lit ? NULL : name, verify);
	eng = tls_clientengine(cl.t);
	br_sslio_init(&cl.io, eng, lowread, NULL, lowwrite, NULL);
	cl.tls = 1;
	cl.inoff = cl.inlen = 0;	/* plaintext after STARTTLS is void */
	if (br_sslio_flush(&cl.io) == 0 &&
	    (br_ssl_engine_current_state(eng) & BR_SSL_CLOSED) == 0) {
		if (verify && lit && !tls_certaddr(cl.t, name)) {
			snprintf(why, whylen, "the certificate does not name "
			    "%s", name);
			return -1;
		}
		tls_describe(eng, cl.tlsinfo, sizeof(cl.tlsinfo));
		return 0;
	}
	e = br_ssl_engine_last_error(eng);
	cl.lost = 1;	/* neither TLS nor clear text: nothing to QUIT in */
	snprintf(why, whylen, "TLS handshake with %s failed: %s%s (%d)",
	    cl.host, e == BR_ERR_X509_BAD_SERVER_NAME ? "the certificate "
	    "does not name " : e == BR_ERR_X509_NOT_TRUSTED ?
	    "certificate not trusted by CACertFile" : e == BR_ERR_X509_EXPIRED ?
	    "certificate expired or not yet valid (is the clock right?)" :
	    e >= BR_ERR_X509_OK && e < 64 ? "certificate error" : "TLS error",
	    e == BR_ERR_X509_BAD_SERVER_NAME ? name : "", e);
	return -1;
}

/*
 * STARTTLS, then EHLO again inside. Returns 0 in TLS; 1 still in clear,
 * 2 the handshake failed (why says why in both cases); -1 the session
 * is lost (err says why).
 */
static int
starttls(const char *name, int verify, char *why, size_t whylen,
    char *err, size_t errlen)
{
	int code;

	if ((cl.ext & X_STARTTLS) == 0) {
		snprintf(why, whylen, "%s does not offer STARTTLS", cl.host);
		return 1;
	}
	if (cmd("STARTTLS") == -1 || cflush() == -1) {
		snprintf(err, errlen, "4.4.2 %s: %s", cl.host, strerror(errno));
		return -1;
	}
	if ((code = reply(err, errlen, 0)) == -1) {
		return -1;
	}
	if (code != 220) {
		snprintf(why, whylen, "%s refused STARTTLS: %s", cl.host, err);
		return 1;
	}
	if (handshake(name, verify, why, whylen) == -1) {
		return 2;
	}
	return ehlo(err, errlen);
}
#else
/* Built without TLS: never in TLS, and never a STARTTLS. */
static int
handshake(const char *name, int verify, char *why, size_t whylen)
{
	(void)name;
	(void)verify;
	snprintf(why, whylen, "this mta was built without TLS");
	return -1;
}

static int
starttls(const char *name, int verify, char *why, size_t whylen,
    char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	return handshake(name, verify, why, whylen) == -1 ? 1 : 0;
}
#endif

/*
 * Connect to one address of host and get a session ready for MAIL.
 * tlsname is the name a verified certificate must carry (host when
 * NULL). With credentials (user) the session must be TLS verified so,
 * whatever tlsmode says: the password never goes to a server that has
 * not proved who it is (an impostor in the path, a spoofed DNS answer).
 * Returns 0, or -1 with err filled: a temporary failure of this host.
 */
int
client_open(const struct sockaddr_storage *ss, const char *host,
    const char *tlsname, int tlsmode, const char *user, const char *pass,
    char *err, size_t errlen)
{
	char why[REPLYLEN];
	const char *cred;
	int verify;

	client_close(1);
	snprintf(cl.host, sizeof(cl.host), "%s", host);
	cl.tlsinfo[0] = '\0';
	cl.key[0] = '\0';
	tlsname = tlsname != NULL ? tlsname : host;
	cred = user != NULL ? tlsname : NULL;
	verify = cred != NULL || tlsmode == TLS_REQUIRE ||
	    tlsmode == TLS_IMPLICIT;
	cl.deadline = time(NULL) + CONNECT_TIMEOUT;
	if (nbconnect(ss) == -1) {
		snprintf(err, errlen, "4.4.1 connect to %s: %s", host,
		    strerror(errno));
		return -1;
	}
	cl.deadline = time(NULL) + set.tcommand;
	if (tlsmode == TLS_IMPLICIT &&
	    handshake(tlsname, 1, why, sizeof(why)) == -1) {
		return tlsfail(err, errlen, "4.7.5", cred, why);
	}
	if (reply(err, errlen, 0) != 220 || ehlo(err, errlen) == -1) {
		return -1;
	}
	if (!cl.tls && (tlsmode != TLS_NONE || cred != NULL)) {
		switch (starttls(tlsname, verify, why, sizeof(why), err,
		    errlen)) {
		case -1:
			return -1;
		case 1:
			if (verify) {
				return tlsfail(err, errlen, "4.7.4", cred, why);
			}
			break;	/* opportunistic: in clear (RFC 7435) */
		case 2:
			return tlsfail(err, errlen, "4.7.5", cred, why);
		}
	}
	/* verify made TLS a must with credentials: this only keeps it so */
	if (cred != NULL && !cl.tls) {
		return tlsfail(err, errlen, "4.7.4", cred, "no TLS");
	}
	return cred != NULL ? auth(user, pass, err, errlen) : 0;
}

static int
ascii(const char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s >= 0x80) {
			return 0;
		}
	}
	return 1;
}

/* MasqueradeAs applied to one address: "@domain" keeps the local part. */
static void
masqaddr(const char *old, const char *masq, char *out, size_t len)
{
	char local[MAXADDR + 1];
	const char *dom;

	if (masq[0] == '@' && splitaddr(old, local, sizeof(local), &dom) == 0) {
		snprintf(out, len, "%s%s", local, masq);
	} else {
		snprintf(out, len, "%s", masq[0] == '@' ? masq + 1 : masq);
	}
}

/* "From: Name <a@b>" becomes "From: Name <masq>"; -1 leaves it alone. */
static int
masqfrom(const char *f, size_t len, const char *masq, char *out,
    size_t outlen)
{
	char val[1024], old[MAXADDR + 1], neu[MAXADDR + 1], *lt, *gt;

	if (len <= 5 || len - 5 >= sizeof(val)) {
		return -1;
	}
	memcpy(val, f + 5, len - 5);
	val[len - 5] = '\0';
	if (val[len - 6] == '\n') {
		val[len - 6] = '\0';
	}
	if ((lt = strrchr(val, '<')) != NULL &&
	    (gt = strchr(lt, '>')) != NULL) {
		*gt = '\0';
		masqaddr(lt + 1, masq, neu, sizeof(neu));
		*lt = '\0';
		snprintf(out, outlen, "From:%s<%s>%s\n", val, neu, gt + 1);
		return 0;
	}
	if (addr_parseone(val, old, sizeof(old)) == -1) {
		return -1;
	}
	masqaddr(old, masq, neu, sizeof(neu));
	snprintf(out, outlen, "From: %s\n", neu);
	return 0;
}

/* MAIL FROM with the parameters the server understands. */
static int
mailfrom(const struct msg *m, const char *sender, long long size, int utf8)
{
	char params[256] = "";
	size_t n = 0;

	if (cl.ext & X_SIZE) {
		n += (size_t)snprintf(params + n, sizeof(params) - n,
		    " SIZE=%lld", size);
	}
	if (cl.ext & X_8BITMIME) {
		n += (size_t)snprintf(params + n, sizeof(params) - n,
		    " BODY=8BITMIME");
	}
	if ((cl.ext & X_DSN) && m->ret != RET_DEFAULT) {
		n += (size_t)snprintf(params + n, sizeof(params) - n, " RET=%s",
		    m->ret == RET_FULL ? "FULL" : "HDRS");
	}
	if ((cl.ext & X_DSN) && m->envid != NULL && n < sizeof(params)) {
		n += (size_t)snprintf(params + n, sizeof(params) - n,
		    " ENVID=%s", m->envid);
	}
	if (utf8 && n < sizeof(params)) {
		snprintf(params + n, sizeof(params) - n, " SMTPUTF8");
	}
	return cmd("MAIL FROM:<%s>%s", sender, params);
}

static int
rcptto(const struct rcpt *r)
{
	char params[600] = "";
	size_t n = 0;

	if ((cl.ext & X_DSN) && r->notify != 0) {
		n += (size_t)snprintf(params, sizeof(params), " NOTIFY=%s%s%s%s",
		    (r->notify & N_NEVER) ? "NEVER" : "",
		    (r->notify & N_SUCCESS) ? "SUCCESS" : "",
		    (r->notify & N_SUCCESS) && (r->notify & (N_FAILURE |
		    N_DELAY)) ? "," : "",
		    (r->notify & N_FAILURE) ? ((r->notify & N_DELAY) ?
		    "FAILURE,DELAY" : "FAILURE") : (r->notify & N_DELAY) ?
		    "DELAY" : "");
	}
	if ((cl.ext & X_DSN) && r->orcpt != NULL && n < sizeof(params)) {
		snprintf(params + n, sizeof(params) - n, " ORCPT=%s", r->orcpt);
	}
	return cmd("RCPT TO:<%s>%s", r->addr, params);
}

/*
 * Message bytes on the wire: LF becomes CRLF, a line starting with a dot
 * gets another (RFC 5321 4.5.2), a line longer than 998 octets is broken
 * (RFC 5322 2.1.1). *col carries the position in the line across calls.
 *
 * The df's line ends are LF alone, so any CR in it is text, and would go
 * out bare, which RFC 5321 2.3.8 forbids: a receiver may take it for a
 * line end and see "\r.\r" or "x\r.\ny" end the DATA early (SMTP
 * smuggling: what follows would be read as commands). It goes out as a
 * space: no line, header field or dot line can start where the message
 * had none, and the MasqueradeAs rewrite sees the fields the next hop
 * sees. Dot-stuffing and the SIZE count are unchanged by it.
 */
static int
wire(const char *buf, size_t n, size_t *col)
{
	char line[8], *o, ch;
	size_t i;

	for (i = 0; i < n; i++) {
		o = line;
		ch = buf[i] == '\r' ? ' ' : buf[i];
		if (ch == '\n') {
			*o++ = '\r';
			*o++ = '\n';
			*col = 0;
		} else {
			if (*col == 998) {
				*o++ = '\r';
				*o++ = '\n';
				*col = 0;
			}
			if (*col == 0 && ch == '.') {
				*o++ = '.';
			}
			*o++ = ch;
			(*col)++;
		}
		if (cput(line, (size_t)(o - line)) == -1) {
			return -1;
		}
	}
	return 0;
}

/* ---- what the message needs of the server ---- */

/*
 * One pass over the df: the LF count (SIZE is counted with CRLF), and
 * whether any byte has the high bit set, anywhere (*any8) and in the
 * top-level header block (*hdr8). With full == 0 only the header block
 * is read (*any8 and *lines then cover that much).
 */
static void
scan(int dffd, int full, long long *lines, int *any8, int *hdr8)
{
	char buf[IOBUF];
	off_t off = 0;
	ssize_t r, i;
	int inhdr = 1, nl = 1;

	*lines = 0;
	*any8 = *hdr8 = 0;
	while ((full || inhdr) &&
	    (r = pread(dffd, buf, sizeof(buf), off)) > 0) {
		for (i = 0; i < r; i++) {
			if (buf[i] == '\n') {
				(*lines)++;
				inhdr &= !nl;	/* an empty line ends them */
				nl = 1;
				continue;
			}
			nl = 0;
			if ((unsigned char)buf[i] >= 0x80) {
				*any8 = 1;
				*hdr8 |= inhdr;
			}
		}
		off += r;
	}
}

/* Does any address of the transaction need SMTPUTF8 (RFC 6531 3.4)? */
static int
needutf8(const struct msg *m, const char *sender, const int *idx, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		if (!ascii(m->rcpt[idx[i]].addr)) {
			return 1;
		}
	}
	return !ascii(sender);
}

/*
 * ---- 8BITMIME downgrade (RFC 6152 3) ----
 *
 * A server that does not offer 8BITMIME gets 7-bit data only, so 8-bit
 * content is converted on the way out, as Postfix does: the MIME
 * structure is walked line by line from the df (multipart boundaries,
 * nested multiparts, message/rfc822 parts); a part whose body holds
 * 8-bit bytes is re-encoded, quoted-printable when it is text, else
 * base64, and its Content-Transfer-Encoding replaced; the composite
 * parts around it are declared 7bit. What cannot be converted without
 * changing the message's meaning fails for good (5.6.3): 8-bit bytes in
 * a header (raw UTF-8 names and subjects; RFC 2047 would have to guess
 * a charset), in a preamble or epilogue, in a part already declared
 * quoted-printable or base64, or in a composite that may not be encoded.
 *
 * The same walk runs twice: first dry, counting the bytes (SIZE) and
 * finding any such failure before MAIL; then for real, into the DATA.
 * Nothing is buffered but one header block and one line piece.
 */

#define MAXDEPTH	16	/* nested multiparts */
#define PIECE		4096	/* longest line piece handled at once */

struct rd {			/* a line reader over the df */
	int fd, eof;
	off_t base;		/* df offset of buf[0] */
	size_t pos, len;
	char *buf;
	size_t cap;
};

enum { E_COPY, E_QP, E_B64 };

static struct {
	struct rd rd;
	int dry, fail;
	long long size;		/* bytes out, LF counted as CRLF */
	size_t col;		/* wire()'s column */
	const char *masq;
	int depth;
	char bnd[MAXDEPTH][72];
	int digest[MAXDEPTH];	/* multipart/digest: parts default rfc822 */
	int mode, nlpend;	/* the body being sent; a CRLF held back */
	unsigned char acc[3];	/* base64: bytes not yet encoded */
	int nacc;
	size_t ocol;		/* column in the encoded output */
	char why[REPLYLEN];
} cv;

/*
 * The next piece of a line: at most PIECE bytes, without its LF; *eol
 * tells whether the line ends there. 0 at the end of the df, -1 on a
 * read error.
 */
static int
rdpiece(struct rd *r, char **p, size_t *n, int *eol)
{
	char *nl;
	ssize_t k;

	for (;;) {
		nl = memchr(r->buf + r->pos, '\n', r->len - r->pos);
		if (nl != NULL && (size_t)(nl - (r->buf + r->pos)) <= PIECE) {
			*p = r->buf + r->pos;
			*n = (size_t)(nl - *p);
			*eol = 1;
			r->pos += *n + 1;
			return 1;
		}
		if (r->len - r->pos >= PIECE || (r->eof && r->len > r->pos)) {
			*p = r->buf + r->pos;
			*n = r->len - r->pos < PIECE ? r->len - r->pos : PIECE;
			*eol = 0;
			r->pos += *n;
			return 1;
		}
		if (r->eof) {
			return 0;
		}
		memmove(r->buf, r->buf + r->pos, r->len - r->pos);
		r->base += (off_t)r->pos;
		r->len -= r->pos;
		r->pos = 0;
		k = pread(r->fd, r->buf + r->len, r->cap - r->len,
		    r->base + (off_t)r->len);
		if (k == -1) {
			return -1;
		}
		r->eof = k == 0;
		r->len += (size_t)k;
	}
}

static int
has8(const char *p, size_t n)
{
	while (n-- > 0) {
		if ((unsigned char)*p++ >= 0x80) {
			return 1;
		}
	}
	return 0;
}

static int
cvfail(const char *what)
{
	if (!cv.fail) {
		snprintf(cv.why, sizeof(cv.why), "5.6.3 %s does not offer "
		    "8BITMIME and the message has 8-bit data %s, which cannot "
		    "be converted to 7 bits", cl.host, what);
	}
	cv.fail = 1;
	return -1;
}

static int
out(const char *p, size_t n)
{
	size_t i;

	if (cv.dry) {
		for (i = 0; i < n; i++) {
			cv.size += 1 + (p[i] == '\n');
		}
		return 0;
	}
	return wire(p, n, &cv.col);
}

/* Is this line a boundary of an enclosing multipart? Its level, or -1;
 * *close set for the closing one ("--b--"). */
static int
boundary(const char *p, size_t n, int *close)
{
	size_t bl, i;
	int k;

	if (n < 3 || p[0] != '-' || p[1] != '-') {
		return -1;
	}
	for (k = cv.depth - 1; k >= 0; k--) {
		bl = strlen(cv.bnd[k]);
		if (n < bl + 2 || memcmp(p + 2, cv.bnd[k], bl) != 0) {
			continue;
		}
		i = bl + 2;
		*close = n >= i + 2 && p[i] == '-' && p[i + 1] == '-';
		for (i += *close ? 2 : 0; i < n && (p[i] == ' ' ||
		    p[i] == '\t'); i++)
			;
		if (i == n) {
			return k;
		}
	}
	return -1;
}

/* The unfolded value of header field name in the block h, or "". */
static void
hvalue(const char *h, const char *name, char *val, size_t len)
{
	size_t nl = strlen(name), o = 0;
	const char *p;

	val[0] = '\0';
	for (p = h; *p != '\0'; p = strchr(p, '\n') + 1) {
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			for (p += nl + 1; *p != '\0' && o + 1 < len; p++) {
				if (*p == '\n' && p[1] != ' ' && p[1] != '\t') {
					break;
				}
				if (*p != '\n') {
					val[o++] = *p;
				}
			}
			val[o] = '\0';
			return;
		}
		if (strchr(p, '\n') == NULL) {
			return;
		}
	}
}

/* Content-Type's type/subtype, lower case, and its boundary parameter. */
static void
ctype(const char *v, char *type, size_t tlen, char *bnd, size_t blen)
{
	const char *p = v + strspn(v, " \t"), *q;
	size_t n = strcspn(p, " \t;("), i;

	n = n < tlen ? n : tlen - 1;
	for (i = 0; i < n; i++) {
		type[i] = (char)tolower((unsigned char)p[i]);
	}
	type[n] = '\0';
	bnd[0] = '\0';
	for (q = strchr(p, ';'); q != NULL; q = strchr(q + 1, ';')) {
		p = q + 1 + strspn(q + 1, " \t");
		if (strncasecmp(p, "boundary", 8) != 0) {
			continue;
		}
		p += 8 + strspn(p + 8, " \t");
		if (*p++ != '=') {
			continue;
		}
		p += strspn(p, " \t");
		n = *p == '"' ? strcspn(++p, "\"") : strcspn(p, " \t;");
		if (n > 0 && n < blen && n <= 70) {	/* RFC 2046 5.1.1 */
			memcpy(bnd, p, n);
			bnd[n] = '\0';
		}
		return;
	}
}

/* Header fields one at a time; From: masqueraded, CTE dropped (drop). */
static int
emitheaders(char *h, const char *masq, int drop)
{
	char *p, *next, field[1400];
	size_t len;

	for (p = h; *p != '\0'; p = next) {
		next = strchr(p, '\n');
		while (next != NULL && (next[1] == ' ' || next[1] == '\t')) {
			next = strchr(next + 1, '\n');
		}
		next = next != NULL ? next + 1 : p + strlen(p);
		len = (size_t)(next - p);
		if (drop && strncasecmp(p, "Content-Transfer-Encoding:",
		    26) == 0) {
			continue;
		}
		if (masq != NULL && strncasecmp(p, "From:", 5) == 0 &&
		    masqfrom(p, len, masq, field, sizeof(field)) == 0) {
			if (out(field, strlen(field)) == -1) {
				return -1;
			}
			continue;
		}
		if (out(p, len) == -1) {
			return -1;
		}
	}
	return 0;
}

/* Does the body from here to the next enclosing boundary have 8 bits? */
static int
body8(void)
{
	static char buf[2 * PIECE];
	struct rd r = { cv.rd.fd, 0, cv.rd.base + (off_t)cv.rd.pos, 0, 0,
	    buf, sizeof(buf) };
	char *p;
	size_t n;
	int eol, bol = 1, close, got;

	while ((got = rdpiece(&r, &p, &n, &eol)) == 1) {
		if (bol && boundary(p, n, &close) != -1) {
			return 0;
		}
		if (has8(p, n)) {
			return 1;
		}
		bol = eol;
	}
	return got;
}

static const char b64tab[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Quoted-printable (RFC 2045 6.7): lines of at most 76, soft breaks. */
static int
qp(const char *p, size_t n, int eol)
{
	static const char hex[] = "0123456789ABCDEF";
	char o[PIECE * 4];
	size_t k = 0, i, t;
	unsigned char ch;
	int enc;

	for (i = 0; i < n; i++) {
		ch = (unsigned char)p[i];
		/* whitespace at a line's end would be lost in transport */
		enc = ch == '=' || ch > 126 || (ch < 32 && ch != '\t') ||
		    ((ch == ' ' || ch == '\t') && eol && i == n - 1);
		t = enc ? 3 : 1;
		if (cv.ocol + t > 75) {
			o[k++] = '=';
			o[k++] = '\n';
			cv.ocol = 0;
		}
		if (enc) {
			o[k++] = '=';
			o[k++] = hex[ch >> 4];
			o[k++] = hex[ch & 15];
		} else {
			o[k++] = (char)ch;
		}
		cv.ocol += t;
	}
	if (eol) {
		o[k++] = '\n';
		cv.ocol = 0;
	}
	return out(o, k);
}

/* Base64 (RFC 2045 6.8), lines of 76; fin pads the last quantum. */
static int
b64feed(const char *p, size_t n, int fin)
{
	char o[PIECE * 2];
	size_t k = 0, i;
	unsigned v;

	for (i = 0; i < n || (fin && cv.nacc > 0); i++) {
		int have = cv.nacc;

		if (i < n) {
			cv.acc[cv.nacc++] = (unsigned char)p[i];
			if (cv.nacc < 3) {
				continue;
			}
			have = 3;
		}
		v = (unsigned)cv.acc[0] << 16 | (have > 1 ?
		    (unsigned)cv.acc[1] << 8 : 0) | (have > 2 ? cv.acc[2] : 0);
		o[k++] = b64tab[v >> 18 & 63];
		o[k++] = b64tab[v >> 12 & 63];
		o[k++] = have > 1 ? b64tab[v >> 6 & 63] : '=';
		o[k++] = have > 2 ? b64tab[v & 63] : '=';
		cv.nacc = 0;
		if ((cv.ocol += 4) >= 76) {
			o[k++] = '\n';
			cv.ocol = 0;
		}
	}
	if (fin && cv.ocol > 0) {
		o[k++] = '\n';
		cv.ocol = 0;
	}
	return out(o, k);
}

/* A body line piece, in the current part's encoding. */
static int
bodypiece(const char *p, size_t n, int eol)
{
	switch (cv.mode) {
	case E_QP:
		return qp(p, n, eol);
	case E_B64:
		/* the LF of a line is CRLF in the canonical form, except
		 * the last one, which belongs to the boundary after it */
		if (cv.nlpend && b64feed("\r\n", 2, 0) == -1) {
			return -1;
		}
		cv.nlpend = eol;
		return b64feed(p, n, 0);
	}
	if (has8(p, n)) {
		return cvfail("in a MIME preamble or epilogue");
	}
	return out(p, n) == 0 && (!eol || out("\n", 1) == 0) ? 0 : -1;
}

/* The current part ends (a boundary, or the end: atend). */
static int
endpart(int atend)
{
	int r = 0;

	if (cv.mode == E_B64) {
		if (atend && cv.nlpend) {
			r = b64feed("\r\n", 2, 0);
		}
		r = r == 0 ? b64feed(NULL, 0, 1) : -1;
	} else if (cv.mode == E_QP && cv.ocol > 0) {
		r = out("\n", 1);
	}
	cv.mode = E_COPY;
	cv.nlpend = cv.nacc = 0;
	cv.ocol = 0;
	return r;
}

/*
 * The header block of an entity has been read into h: send it as its
 * body will need it, and set up for that body. top: the message's own
 * header block (MasqueradeAs, MIME-Version). Returns 1 when another
 * header block follows (message/rfc822), 0 for a body, -1 on failure.
 */
static int
entity(char *h, int top)
{
	char v[1024], type[128], bnd[72], *enc;
	int dig = cv.depth > 0 && cv.digest[cv.depth - 1], b8, drop = 0;
	int next = 0, composite;

	if (has8(h, strlen(h))) {
		return cvfail("in a header");
	}
	hvalue(h, "Content-Type", v, sizeof(v));
	ctype(v, type, sizeof(type), bnd, sizeof(bnd));
	if (type[0] == '\0') {
		snprintf(type, sizeof(type), "%s", dig ? "message/rfc822" :
		    "text/plain");
	}
	hvalue(h, "Content-Transfer-Encoding", v, sizeof(v));
	enc = v + strspn(v, " \t");
	cv.mode = E_COPY;
	composite = strncmp(type, "multipart/", 10) == 0 ||
	    strcmp(type, "message/rfc822") == 0;
	if (composite && strcmp(type, "message/rfc822") == 0) {
		drop = next = 1;	/* its own header block follows */
	} else if (composite && bnd[0] != '\0' && cv.depth < MAXDEPTH) {
		snprintf(cv.bnd[cv.depth], sizeof(cv.bnd[0]), "%s", bnd);
		cv.digest[cv.depth++] = strcmp(type, "multipart/digest") == 0;
		drop = 1;		/* a composite is 7bit once converted */
	} else if ((b8 = body8()) == -1) {
		return -1;
	} else if (b8 && (composite || strncmp(type, "message/", 8) == 0)) {
		return cvfail("in a part that may not be encoded");
	} else if (b8 && (strncasecmp(enc, "quoted-printable", 16) == 0 ||
	    strncasecmp(enc, "base64", 6) == 0)) {
		return cvfail("in a part declared encoded");
	} else if (b8) {
		cv.mode = strncmp(type, "text/", 5) == 0 ? E_QP : E_B64;
		drop = 1;
	}
	if (emitheaders(h, top ? cv.masq : NULL, drop) == -1) {
		return -1;
	}
	if (top) {
		hvalue(h, "MIME-Version", v, sizeof(v));
		if (v[0] == '\0' && out("MIME-Version: 1.0\n", 18) == -1) {
			return -1;
		}
	}
	if (cv.mode != E_COPY && out(cv.mode == E_QP ?
	    "Content-Transfer-Encoding: quoted-printable\n" :
	    "Content-Transfer-Encoding: base64\n", cv.mode == E_QP ? 44 :
	    34) == -1) {
		return -1;
	}
	return out("\n", 1) == -1 ? -1 : next;
}

/*
 * The whole df, converted to 7 bits, through wire() (dry: only counted
 * in cv.size). -1 with cv.fail set: it cannot be converted (cv.why);
 * -1 without: an I/O error.
 */
static int
downgrade(int dffd, const char *masq, int dry)
{
	static char hdr[MAXHEADER + 1], rbuf[IOBUF];
	size_t hl = 0, n;
	char *p;
	int inhdr = 1, top = 1, bol = 1, wasbol, eol, got, k, close, r;

	memset(&cv, 0, sizeof(cv));
	cv.rd.fd = dffd;
	cv.rd.buf = rbuf;
	cv.rd.cap = sizeof(rbuf);
	cv.dry = dry;
	cv.masq = masq;
	while ((got = rdpiece(&cv.rd, &p, &n, &eol)) == 1) {
		k = bol && cv.depth > 0 ? boundary(p, n, &close) : -1;
		wasbol = bol;
		bol = eol;
		if (inhdr) {
			if (k == -1 && !(wasbol && eol && n == 0)) {
				if (hl + n + 1 > MAXHEADER) {
					return cvfail("in a header block too "
					    "large to convert");
				}
				memcpy(hdr + hl, p, n);
				hl += n;
				hdr[hl] = '\n';
				hl += eol;
				continue;
			}
			hdr[hl] = '\0';
			if ((r = entity(hdr, top)) == -1) {
				return -1;
			}
			top = hl = 0;
			inhdr = r == 1;
			if (k == -1) {
				continue;	/* the empty line: sent */
			}
		}
		if (k != -1) {
			if (endpart(0) == -1 || out(p, n) == -1 ||
			    out("\n", 1) == -1) {
				return -1;
			}
			cv.depth = close ? k : k + 1;
			inhdr = !close;
			continue;
		}
		if (bodypiece(p, n, eol) == -1) {
			return -1;
		}
	}
	if (got == -1) {
		return -1;
	}
	if (inhdr) {
		hdr[hl] = '\0';
		if (entity(hdr, top) == -1) {
			return -1;
		}
	}
	return endpart(1);
}

/* The end of the data: the last line ended, then the final dot. */
static int
enddata(size_t col)
{
	if (col > 0 && cput("\r\n", 2) == -1) {
		return -1;
	}
	return cput(".\r\n", 3);
}

/* The rest of the df from offset from, then the final dot. */
static int
sendbody(int dffd, off_t from, size_t col)
{
	char buf[IOBUF];
	ssize_t n;

	while ((n = pread(dffd, buf, sizeof(buf), from)) > 0) {
		if (wire(buf, (size_t)n, &col) == -1) {
			return -1;
		}
		from += n;
	}
	return n == -1 ? -1 : enddata(col);
}

/*
 * MasqueradeAs: the From: header's address becomes the masquerade
 * address ("@domain": only the domain), its display name kept. Writes
 * the header block (up to the blank line); returns the offset where the
 * body starts, or -1.
 */
static off_t
sendheaders(int dffd, const char *masq, size_t *col)
{
	static char hdr[MAXHEADER + 1];
	ssize_t n;
	char *end;

	if (masq == NULL || (n = pread(dffd, hdr, MAXHEADER, 0)) <= 0) {
		return 0;
	}
	hdr[n] = '\0';
	if ((end = strstr(hdr, "\n\n")) == NULL) {
		return 0;	/* no header block we can see whole: leave it */
	}
	end[1] = '\0';
	memset(&cv, 0, sizeof(cv));
	cv.col = *col;
	if (emitheaders(hdr, masq, 0) == -1) {
		return -1;
	}
	*col = cv.col;
	return (off_t)(end + 1 - hdr);
}

/* Every recipient fails alike before MAIL; the session stays usable. */
static int
refuse(int n, int *res, char (*replies)[REPLYLEN], const char *why)
{
	int i;

	for (i = 0; i < n; i++) {
		res[i] = why[0] == '5' ? D_PERM : D_TEMP;
		snprintf(replies[i], REPLYLEN, "%s", why);
	}
	return 0;
}

/*
 * Send one message to recipients idx[0..n-1] of m. res[i] gets the
 * outcome for m->rcpt[idx[i]] and replies[i] the server's words.
 * Returns 0 if the connection can carry another message, -1 if not.
 */
int
client_send(const struct msg *m, int dffd, const int *idx, int n, int *res,
    char (*replies)[REPLYLEN], const char *masq)
{
	char text[REPLYLEN], sender[MAXADDR + 1];
	int i, code, mailok, accepted = 0, pipe = (cl.ext & X_PIPELINING) != 0;
	int any8, hdr8, utf8, conv;
	long long size;
	size_t col = 0;
	off_t body;

	if (masq != NULL) {
		masqaddr(m->sender, masq, sender, sizeof(sender));
	} else {
		snprintf(sender, sizeof(sender), "%s", m->sender);
	}
	/* RFC 6531 3.2: without SMTPUTF8 a UTF-8 address may not go out,
	 * and nothing can stand in for it: the message fails, as in Postfix */
	if ((utf8 = needutf8(m, sender, idx, n)) && !(cl.ext & X_SMTPUTF8)) {
		snprintf(text, sizeof(text), "5.6.7 SMTPUTF8 is required, but "
		    "was not offered by host %s", cl.host);
		return refuse(n, res, replies, text);
	}
	scan(dffd, (cl.ext & (X_SIZE | X_8BITMIME)) != X_8BITMIME, &size,
	    &any8, &hdr8);
	size += m->size;
	/* UTF-8 header fields (RFC 6532) are for SMTPUTF8 sessions; to a
	 * server without it they go as they always did (legacy 8-bit) */
	utf8 |= hdr8 && (cl.ext & X_SMTPUTF8);
	if ((conv = any8 && !(cl.ext & X_8BITMIME))) {
		if (downgrade(dffd, masq, 1) == -1) {
			if (!cv.fail) {
				snprintf(cv.why, sizeof(cv.why), "4.3.0 cannot "
				    "read the message: %s", strerror(errno));
			}
			snprintf(text, sizeof(text), "%s", cv.why);
			return refuse(n, res, replies, text);
		}
		size = cv.size;
	}
	cl.deadline = time(NULL) + set.tcommand;
	if (mailfrom(m, sender, size, utf8) == -1 ||
	    (!pipe && cflush() == -1)) {
		goto broken;
	}
	for (i = 0; i < n && pipe; i++) {
		if (rcptto(&m->rcpt[idx[i]]) == -1) {
			goto broken;	/* a reply would be missing: desync */
		}
	}
	if (pipe && (cmd("DATA") == -1 || cflush() == -1)) {
		goto broken;
	}
	if ((code = reply(text, sizeof(text), 0)) == -1) {
		goto broken;
	}
	/* every recipient gets MAIL's outcome until its own RCPT answers */
	mailok = code / 100 == 2;
	for (i = 0; i < n; i++) {
		res[i] = mailok ? D_TEMP : code / 100 == 5 ? D_PERM : D_TEMP;
		snprintf(replies[i], REPLYLEN, "%s", mailok ?
		    "4.4.2 no reply to RCPT" : text);
	}
	for (i = 0; i < n && (pipe || mailok); i++) {
		if (!pipe && (rcptto(&m->rcpt[idx[i]]) == -1 ||
		    cflush() == -1)) {
			goto broken;
		}
		if ((code = reply(text, sizeof(text), 0)) == -1) {
			goto broken;
		}
		if (!mailok) {
			continue;	/* pipelined behind a refused MAIL */
		}
		res[i] = code / 100 == 2 ? D_OK : code / 100 == 5 ? D_PERM :
		    D_TEMP;
		snprintf(replies[i], REPLYLEN, "%s", text);
		accepted += res[i] == D_OK;
	}
	if (!pipe && accepted > 0 && (cmd("DATA") == -1 || cflush() == -1)) {
		goto broken;
	}
	if (pipe || accepted > 0) {
		if ((code = reply(text, sizeof(text), 0)) == -1) {
			goto broken;
		}
		if (code != 354) {
			for (i = 0; i < n; i++) {
				if (res[i] == D_OK) {
					res[i] = code / 100 == 5 ? D_PERM :
					    D_TEMP;
					snprintf(replies[i], REPLYLEN, "%s",
					    text);
				}
			}
			accepted = 0;
		} else if (accepted == 0) {
			cput(".\r\n", 3);	/* nothing to send after all */
			cflush();
			reply(text, sizeof(text), 0);
		}
	}
	if (accepted == 0) {
		return cmd("RSET") == 0 && cflush() == 0 &&
		    reply(text, sizeof(text), 0) == 250 ? 0 : -1;
	}
	cl.deadline = time(NULL) + set.tdatablock;
	cl.lost = 1;	/* until the final reply: a QUIT would be text */
	if (conv) {
		if (downgrade(dffd, masq, 0) == -1 || enddata(cv.col) == -1 ||
		    cflush() == -1) {
			goto broken;
		}
	} else if ((body = sendheaders(dffd, masq, &col)) == -1 ||
	    sendbody(dffd, body, col) == -1 || cflush() == -1) {
		goto broken;
	}
	/* RFC 5321 4.5.3.2.6: the final reply may take 10 minutes */
	cl.deadline = time(NULL) + 2 * set.tcommand;
	if ((code = reply(text, sizeof(text), 0)) != -1) {
		cl.lost = 0;
	}
	for (i = 0; i < n; i++) {
		if (res[i] == D_OK) {
			res[i] = code / 100 == 2 ? D_OK : code / 100 == 5 ?
			    D_PERM : D_TEMP;
			snprintf(replies[i], REPLYLEN, "%s", code == -1 ?
			    "4.4.2 connection lost after the final dot" : text);
		}
	}
	return code == -1 ? -1 : 0;
broken:
	for (i = 0; i < n; i++) {
		res[i] = D_TEMP;
		snprintf(replies[i], REPLYLEN, "4.4.2 %s: %s", cl.host,
		    strerror(errno));
	}
	return -1;
}

/* RSET between two messages on one connection. */
int
client_rset(void)
{
	char text[REPLYLEN];

	cl.deadline = time(NULL) + set.tcommand;
	return cmd("RSET") == 0 && cflush() == 0 &&
	    reply(text, sizeof(text), 0) == 250 ? 0 : -1;
}

/*
 * Keep the connection for the next message that goes to key (address,
 * port, TLS mode, user); client_reuse() takes it back after an RSET
 * shows it is still alive.
 */
void
client_keep(const char *key)
{
	snprintf(cl.key, sizeof(cl.key), "%s", key);
}

int
client_reuse(const char *key)
{
	if (!cl.open || cl.key[0] == '\0' || strcmp(cl.key, key) != 0) {
		return -1;
	}
	if (client_rset() == -1) {
		client_close(1);
		return -1;
	}
	return 0;
}

const char *
client_tlsinfo(void)
{
	return cl.tlsinfo;
}

/* Did the server take DSN parameters (so it reports, not us)? */
int
client_dsn(void)
{
	return (cl.ext & X_DSN) != 0;
}

/*
 * QUIT and close (RFC 5321 4.1.1.10): every session that is still in
 * step ends so, whatever went wrong in it (a refused AUTH, EHLO or
 * MAIL, a bad RSET). polite == 0, or a session out of step (the peer
 * gone, a reply that made no sense, a DATA cut short, a failed TLS
 * handshake), only closes: a QUIT there would be read as message text
 * or garbage.
 */
void
client_close(int polite)
{
	char text[REPLYLEN];

	if (!cl.open) {
		return;
	}
	if (polite && !cl.lost) {
		cl.outlen = 0;	/* commands queued and never sent: void */
		cl.deadline = time(NULL) + 10;
		if (cmd("QUIT") == 0 && cflush() == 0) {
			reply(text, sizeof(text), 0);
		}
		if (cl.tls) {
			tlsbye();
		}
	}
	close(cl.fd);
	cl.open = 0;
	cl.tls = 0;
	cl.key[0] = '\0';
	cl.inoff = cl.inlen = cl.outlen = 0;
}
