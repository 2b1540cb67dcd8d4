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

#include <bearssl.h>

#include "config.h"
#include "mta.h"

/* What the server's EHLO offered. */
enum {
	X_PIPELINING = 1, X_SIZE = 2, X_8BITMIME = 4, X_DSN = 8,
	X_STARTTLS = 16, X_PLAIN = 32, X_LOGIN = 64, X_SMTPUTF8 = 128
};

static struct {
	int open, fd, tls;
	struct tlsclient *t;
	br_sslio_context io;
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

static int
cflush(void)
{
	size_t off = 0;
	int n;

	if (cl.tls) {
		n = br_sslio_write_all(&cl.io, cl.out, cl.outlen) == 0 &&
		    br_sslio_flush(&cl.io) == 0 ? 0 : -1;
		cl.outlen = 0;
		return n;
	}
	while (off < cl.outlen) {
		if ((n = lowwrite(NULL, (unsigned char *)cl.out + off,
		    cl.outlen - off)) == -1) {
			cl.outlen = 0;
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
			r = cl.tls ? br_sslio_read(&cl.io, cl.in, sizeof(cl.in)) :
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
 * Reply text goes to log lines, the queue file, DSNs and mailq. Besides
 * the ASCII controls (sanitize), the C1 controls U+0080..U+009F (which
 * some terminals obey as escapes) and every byte that is not part of
 * valid UTF-8 become '?'.
 */
static void
cleantext(char *s)
{
	static const unsigned long least[] = { 0, 0x80, 0x800, 0x10000 };
	unsigned char *p = (unsigned char *)s;
	unsigned long c;
	int i, n;

	sanitize(s);
	while (*p != '\0') {
		if (*p < 0x80) {
			p++;
			continue;
		}
		n = *p >= 0xc2 && *p <= 0xdf ? 1 : *p >= 0xe0 && *p <= 0xef ?
		    2 : *p >= 0xf0 && *p <= 0xf4 ? 3 : 0;
		c = *p & (0x3f >> n);
		for (i = 1; i <= n && (p[i] & 0xc0) == 0x80; i++) {
			c = c << 6 | (p[i] & 0x3f);
		}
		if (n == 0 || i <= n || c < least[n] || c > 0x10ffff ||
		    (c >= 0xd800 && c <= 0xdfff) || c <= 0x9f) {
			*p++ = '?';	/* its continuation bytes follow suit */
			continue;
		}
		p += n + 1;
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
			return -1;
		}
		if (strlen(line) < 3 || line[0] < '2' || line[0] > '5' ||
		    (line[3] != ' ' && line[3] != '-' && line[3] != '\0')) {
			snprintf(text, len, "protocol error from %s", cl.host);
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
	cleantext(text);
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

/* RFC 1870: SIZE is the size on the wire, where every LF is CRLF. */
static long long
countlf(int dffd)
{
	char buf[IOBUF];
	long long n = 0;
	off_t off = 0;
	ssize_t r, i;

	while ((r = pread(dffd, buf, sizeof(buf), off)) > 0) {
		for (i = 0; i < r; i++) {
			n += buf[i] == '\n';
		}
		off += r;
	}
	return n;
}

/* MAIL FROM with the parameters the server understands. */
static int
mailfrom(const struct msg *m, const char *sender, long long lines)
{
	char params[256] = "";
	size_t n = 0;

	if (cl.ext & X_SIZE) {
		n += (size_t)snprintf(params + n, sizeof(params) - n,
		    " SIZE=%lld", (long long)m->size + lines);
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
	if ((cl.ext & X_SMTPUTF8) && !ascii(sender) && n < sizeof(params)) {
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
	if (n == -1 || (col > 0 && cput("\r\n", 2) == -1)) {
		return -1;
	}
	return cput(".\r\n", 3);
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
	char *end, *p;

	if (masq == NULL || (n = pread(dffd, hdr, MAXHEADER, 0)) <= 0) {
		return 0;
	}
	hdr[n] = '\0';
	if ((end = strstr(hdr, "\n\n")) == NULL) {
		return 0;	/* no header block we can see whole: leave it */
	}
	end[1] = '\0';
	for (p = hdr; p != NULL && *p != '\0'; ) {
		char *next = strchr(p, '\n');

		while (next != NULL && (next[1] == ' ' || next[1] == '\t')) {
			next = strchr(next + 1, '\n');
		}
		next = next != NULL ? next + 1 : NULL;
		if (strncasecmp(p, "From:", 5) == 0) {
			char field[1400];

			if (masqfrom(p, next != NULL ? (size_t)(next - p) :
			    strlen(p), masq, field, sizeof(field)) == 0) {
				if (wire(field, strlen(field), col) == -1) {
					return -1;
				}
				p = next;
				continue;
			}
		}
		if (wire(p, next != NULL ? (size_t)(next - p) : strlen(p),
		    col) == -1) {
			return -1;
		}
		p = next;
	}
	return (off_t)(end + 1 - hdr);
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
	size_t col = 0;
	off_t body;

	if (masq != NULL) {
		masqaddr(m->sender, masq, sender, sizeof(sender));
	} else {
		snprintf(sender, sizeof(sender), "%s", m->sender);
	}
	cl.deadline = time(NULL) + set.tcommand;
	if (mailfrom(m, sender, (cl.ext & X_SIZE) ? countlf(dffd) : 0) == -1 ||
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
	if ((body = sendheaders(dffd, masq, &col)) == -1 ||
	    sendbody(dffd, body, col) == -1 || cflush() == -1) {
		goto broken;
	}
	/* RFC 5321 4.5.3.2.6: the final reply may take 10 minutes */
	cl.deadline = time(NULL) + 2 * set.tcommand;
	code = reply(text, sizeof(text), 0);
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
		client_close(0);
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

/* QUIT (when polite) and close. */
void
client_close(int polite)
{
	char text[REPLYLEN];

	if (!cl.open) {
		return;
	}
	if (polite) {
		cl.deadline = time(NULL) + 10;
		if (cmd("QUIT") == 0 && cflush() == 0) {
			reply(text, sizeof(text), 0);
		}
		if (cl.tls) {
			br_sslio_close(&cl.io);
		}
	}
	close(cl.fd);
	cl.open = 0;
	cl.tls = 0;
	cl.key[0] = '\0';
	cl.inoff = cl.inlen = cl.outlen = 0;
}
