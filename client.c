/*
 * client.c: the SMTP client, one outbound connection at a time, an
 * explicit state machine over wire.c:
 *
 *	CONNECT -> GREET -> EHLO (HELO if refused) -> STARTTLS -> EHLO
 *	    -> AUTH -> READY				client_open
 *	READY -> MAIL -> RCPT... -> DATA -> DOT -> READY	client_send
 *	READY -> RSET -> READY				client_reuse
 *	any state still in step -> QUIT			client_close
 *
 * Each command sent is recorded in a queue of pending replies (which
 * command, which recipient), and each reply is taken with the entry it
 * answers (take -> answer). PIPELINING (RFC 2920) only decides when the
 * queue is drained: after MAIL, RCPT... and DATA all went out, or after
 * each one. outcome() is the one place a reply code becomes a delivery
 * outcome.
 *
 * It runs only in a delivery child, never in the daemon's loop, so it may
 * wait, but every wait has a deadline (RFC 5321 4.5.3.2), kept by
 * wire_wait(). remote.c picks the host and reads the results; mime.c
 * turns the df into DATA.
 *
 * Reading order: client_open -> opening; client_send -> answer; then the
 * replies (take), the bytes (cput), TLS.
 */
#include <sys/socket.h>
#include <netinet/in.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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

/* Where the session is; also what a pending reply answers. */
enum cstate {
	C_CLOSED, C_GREET, C_EHLO, C_HELO, C_STARTTLS, C_AUTH, C_READY,
	C_MAIL, C_RCPT, C_DATA, C_DOT, C_RSET, C_QUIT,
	C_LOST		/* out of step (dead, mid-DATA): no QUIT */
};

#define MAXPEND	64	/* replies awaited; then one is taken first */

struct pend {
	int what;	/* enum cstate: the command */
	int i;		/* C_RCPT: which recipient of the transaction */
};

static struct {
	int state;	/* enum cstate */
	int tlsmode, verify;
	const char *tlsname, *cred;
	struct wire w;		/* in TLS when w.eng is set */
	time_t deadline;
	unsigned ext;
	struct pend q[MAXPEND];
	int qhead, qlen;
	char text[REPLYLEN];	/* the last reply */
	char host[256];		/* for logs and Remote-MTA */
	char key[128];		/* what a kept connection goes to */
	char tlsinfo[160];
	char in[4096];
	char out[16384];
} cl;	/* zeroed: a big initialised struct would sit in the binary */

/* The transaction client_send runs, as its replies come in. */
static struct tx {
	const int *idx;
	int n, *res;
	char (*replies)[REPLYLEN];
	int mailok, accepted, go;
} tx;

static int opening(int st, const char *user, const char *pass, char *err,
    size_t errlen);
static int auth(const char *user, const char *pass);
static int starttls(char *err, size_t errlen);
static int handshake(char *why, size_t whylen);
static int tlsfail(char *err, size_t errlen, const char *code,
    const char *why);
static int nbconnect(const struct sockaddr_storage *ss);
static int mailfrom(const struct msg *m, const char *sender,
    long long size, int utf8);
static int rcptto(const struct rcpt *r, int i);
static int needutf8(const struct msg *m, const char *sender, const int *idx,
    int n);
static int refuse(const char *why);
static void give(int i, int res, const char *text);
static int command(int what, int i, const char *fmt, ...);
static int take(void);
static int rset(void);
static int settle(void);
static int exchange(int what, const char *fmt, const char *arg);
static int cput(const char *p, size_t n);
static int bodyput(const char *p, size_t n);

/*
 * Connect to one address of host and get a session ready for MAIL.
 * tlsname is the name a verified certificate must carry (host when
 * NULL). With credentials (user) the session must be TLS verified so,
 * whatever tlsmode says: the password never goes to a server that has
 * not proved who it is (an impostor in the path, a spoofed DNS answer).
 * Returns 0, or -1 with err filled: a temporary failure of this host.
 */
int
client_open(const struct sockaddr_storage *ss, const char *key,
    const char *host, const char *tlsname, int tlsmode, const char *user,
    const char *pass, char *err, size_t errlen)
{
	char why[REPLYLEN];
	int st;

	client_close(1);
	snprintf(cl.key, sizeof(cl.key), "%s", key);
	snprintf(cl.host, sizeof(cl.host), "%s", host);
	cl.tlsinfo[0] = '\0';
	cl.tlsname = tlsname != NULL ? tlsname : host;
	cl.cred = user != NULL ? cl.tlsname : NULL;
	cl.verify = cl.cred != NULL || tlsmode == TLS_REQUIRE ||
	    tlsmode == TLS_IMPLICIT;
	cl.deadline = time(NULL) + CONNECT_TIMEOUT;
	if (nbconnect(ss) == -1) {
		snprintf(err, errlen, "4.4.1 connect to %s: %s", host,
		    strerror(errno));
		return -1;
	}
	cl.deadline = time(NULL) + set.tcommand;
	if (tlsmode == TLS_IMPLICIT && handshake(why, sizeof(why)) == -1) {
		return tlsfail(err, errlen, "4.7.5", why);
	}
	/* the greeting answers the connection, as a reply a command */
	cl.q[0].what = C_GREET;
	cl.qlen = 1;
	cl.tlsmode = tlsmode;
	for (cl.state = C_GREET; cl.state != C_READY; cl.state = st) {
		if ((st = opening(cl.state, user, pass, err, errlen)) == -1) {
			return -1;
		}
	}
	return 0;
}

/* One state of the opening; the next, or -1 with err filled. */
static int
opening(int st, const char *user, const char *pass, char *err,
    size_t errlen)
{
	int code;

	switch (st) {
	case C_GREET:
		st = take() == 220 ? C_EHLO : -1;
		break;
	case C_EHLO:
	case C_HELO:
		cl.ext = 0;
		code = exchange(st, st == C_EHLO ? "EHLO %s" : "HELO %s",
		    set.hostname);
		/* no ESMTP: plain old HELO */
		st = code == 250 ? C_STARTTLS : code >= 500 && st == C_EHLO ?
		    C_HELO : -1;
		break;
	case C_STARTTLS:
		if (cl.w.eng != NULL || (cl.tlsmode == TLS_NONE &&
		    cl.cred == NULL)) {
			return cl.cred != NULL ? C_AUTH : C_READY;
		}
		return starttls(err, errlen);
	case C_AUTH:
		/* verify made TLS a must with credentials: this keeps it so */
		if (cl.w.eng == NULL) {
			return tlsfail(err, errlen, "4.7.4", "no TLS");
		}
		st = auth(user, pass) == 0 ? C_READY : -1;
		break;
	}
	if (st == -1) {
		snprintf(err, errlen, "%s", cl.text);
	}
	return st;
}

/*
 * Send one message to recipients idx[0..n-1] of m. res[i] gets the
 * outcome for m->rcpt[idx[i]] and replies[i] the server's words; a
 * server that took NOTIFY clears N_SUCCESS of what it accepted. Returns
 * 0 if the connection can carry another message, -1 if not.
 */
int
client_send(struct msg *m, int dffd, const int *idx, int n, int *res,
    char (*replies)[REPLYLEN], const char *masq)
{
	char sender[MAXADDR + 1], why[REPLYLEN];
	int i, pipe = (cl.ext & X_PIPELINING) != 0;
	int any8, hdr8, utf8, conv, lost;
	long long size;

	tx = (struct tx){ .idx = idx, .n = n, .res = res, .replies = replies };
	mime_masqaddr(m->sender, masq, sender, sizeof(sender));
	/* RFC 6531 3.2: without SMTPUTF8 a UTF-8 address may not go out,
	 * and nothing can stand in for it: the message fails, as in Postfix */
	if ((utf8 = needutf8(m, sender, idx, n)) && !(cl.ext & X_SMTPUTF8)) {
		snprintf(why, sizeof(why), "5.6.7 SMTPUTF8 is required, but "
		    "was not offered by host %s", cl.host);
		return refuse(why);
	}
	mime_scan(dffd, (cl.ext & (X_SIZE | X_8BITMIME)) != X_8BITMIME, &size,
	    &any8, &hdr8);
	size += m->size;
	/* UTF-8 header fields (RFC 6532) are for SMTPUTF8 sessions; to a
	 * server without it they go as they always did (legacy 8-bit) */
	utf8 |= hdr8 && (cl.ext & X_SMTPUTF8);
	if ((conv = any8 && !(cl.ext & X_8BITMIME)) &&
	    mime_7bitsize(dffd, masq, cl.host, &size, why, sizeof(why)) == -1) {
		return refuse(why);
	}
	cl.deadline = time(NULL) + set.tcommand;
	cl.state = C_MAIL;
	/* without PIPELINING, each command after the reply before it */
	if (mailfrom(m, sender, size, utf8) == -1 ||
	    (!pipe && settle() == -1)) {
		goto broken;
	}
	for (i = 0; i < n && (pipe || tx.mailok); i++) {
		if (rcptto(&m->rcpt[idx[i]], i) == -1 ||
		    (!pipe && settle() == -1)) {
			goto broken;	/* a reply would be missing: desync */
		}
	}
	if (((pipe || tx.accepted > 0) && command(C_DATA, 0, "DATA") == -1) ||
	    settle() == -1) {
		goto broken;
	}
	if (tx.go && tx.accepted == 0) {
		/* 354 with nothing to send after all */
		command(C_DOT, 0, ".");
		settle();
	}
	if (tx.accepted == 0) {
		return rset();
	}
	cl.deadline = time(NULL) + set.tdatablock;
	cl.state = C_LOST;	/* until the final reply: a QUIT would be text */
	if (mime_send(dffd, masq, conv, bodyput) == -1 ||
	    command(C_DOT, 0, ".") == -1 || cput(NULL, 0) == -1) {
		goto broken;
	}
	/* RFC 5321 4.5.3.2.6: the final reply may take 10 minutes */
	cl.deadline = time(NULL) + 2 * set.tcommand;
	lost = take() == -1;
	for (i = 0; i < n; i++) {
		if (res[i] == D_OK && lost) {
			give(i, D_TEMP, "4.4.2 connection lost after the final "
			    "dot");
		} else if (res[i] == D_OK && (cl.ext & X_DSN)) {
			/* RFC 3461 5.2.2: the next hop reports success now */
			m->rcpt[idx[i]].notify &= ~N_SUCCESS;
		}
	}
	if (lost) {
		return -1;
	}
	cl.state = C_READY;
	return 0;
broken:
	snprintf(why, sizeof(why), "4.4.2 %s: %s", cl.host, strerror(errno));
	refuse(why);	/* every recipient, temporarily */
	return -1;
}

/* The one map from a reply to an outcome: the code ok expects, or not. */
static int
outcome(int code, int ok)
{
	return code / 100 == ok / 100 ? D_OK : code / 100 == 5 ? D_PERM :
	    D_TEMP;
}

static void
give(int i, int res, const char *text)
{
	tx.res[i] = res;
	snprintf(tx.replies[i], REPLYLEN, "%s", text);
}

/* What a reply of the transaction means, by the command it answers. */
static void
answer(const struct pend *p, int code)
{
	int i;

	switch (p->what) {
	case C_MAIL:
		/* every recipient gets MAIL's outcome until its own RCPT
		 * answers */
		tx.mailok = code / 100 == 2;
		for (i = 0; i < tx.n; i++) {
			give(i, tx.mailok ? D_TEMP : outcome(code, 250),
			    tx.mailok ? "4.4.2 no reply to RCPT" : cl.text);
		}
		return;
	case C_RCPT:
		if (tx.mailok) {	/* else pipelined behind a refused MAIL */
			give(p->i, outcome(code, 250), cl.text);
			tx.accepted += tx.res[p->i] == D_OK;
		}
		return;
	case C_DATA:
		if ((tx.go = code == 354)) {
			return;
		}
		/* the accepted recipients get DATA's outcome */
		tx.accepted = 0;
		/* FALLTHROUGH */
	case C_DOT:
		for (i = 0; i < tx.n; i++) {
			if (tx.res[i] == D_OK) {
				give(i, outcome(code, p->what == C_DATA ? 354 :
				    250), cl.text);
			}
		}
	}
}

/* RSET between two messages on one connection. */
static int
rset(void)
{
	cl.deadline = time(NULL) + set.tcommand;
	cl.state = C_RSET;
	if (exchange(C_RSET, "RSET", NULL) != 250) {
		return -1;
	}
	cl.state = C_READY;
	return 0;
}

/*
 * The connection client_open made for key (address, port, TLS mode,
 * user), for the next message that goes there, once an RSET shows it is
 * still alive. A session that failed was closed, which forgot its key.
 */
int
client_reuse(const char *key)
{
	/* key is never empty: an empty cl.key (none kept) matches nothing */
	if (cl.state != C_READY || strcmp(cl.key, key) != 0) {
		return -1;
	}
	if (rset() == -1) {
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
	if (cl.state == C_CLOSED) {
		return;
	}
	if (polite && cl.state != C_LOST) {
		/* commands queued and never sent are void */
		cl.w.outlen = cl.w.outoff = 0;
		cl.qlen = 0;
		cl.deadline = time(NULL) + 10;
		cl.state = C_QUIT;
		exchange(C_QUIT, "QUIT", NULL);
		if (cl.w.eng != NULL) {
			wire_close(&cl.w);
			cput(NULL, 0);
		}
	}
	close(cl.w.fd);
	cl.state = C_CLOSED;
	cl.key[0] = '\0';	/* the queue is reset by the next nbconnect */
}

/* ---- the opening's steps ---- */

/* EHLO keywords, one reply line at a time (n counts the NUL of the
 * ones that must match whole). */
static void
keyword(const char *kw)
{
	static const struct {
		char kw[11];
		unsigned char n, bit;
	} tab[] = {
		{ "PIPELINING", 10, X_PIPELINING }, { "SIZE", 4, X_SIZE },
		{ "8BITMIME", 8, X_8BITMIME }, { "DSN", 4, X_DSN },
		{ "STARTTLS", 9, X_STARTTLS }, { "SMTPUTF8", 8, X_SMTPUTF8 }
	};
	const char *p;
	size_t i, n;

	for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		if (strncasecmp(kw, tab[i].kw, tab[i].n) == 0) {
			cl.ext |= tab[i].bit;
		}
	}
	if (strncasecmp(kw, "AUTH", 4) != 0 || (kw[4] != ' ' && kw[4] != '=')) {
		return;
	}
	/* the mechanisms, a word each */
	for (p = kw + 5; *p != '\0'; p += n + strspn(p + n, " ")) {
		n = strcspn(p, " ");
		if (n == 5 && strncasecmp(p, "PLAIN", 5) == 0) {
			cl.ext |= X_PLAIN;
		} else if (n == 5 && strncasecmp(p, "LOGIN", 5) == 0) {
			cl.ext |= X_LOGIN;
		}
	}
}

/* AUTH PLAIN (or LOGIN), -1 with cl.text saying why not; the secret is
 * wiped and never logged. */
static int
auth(const char *user, const char *pass)
{
	unsigned char raw[600];
	char enc[820];
	size_t ul = strlen(user), pl = strlen(pass);
	int code = -1;

	if (ul + pl + 2 > sizeof(raw)) {
		snprintf(cl.text, sizeof(cl.text), "4.7.0 credentials too "
		    "long");
		return -1;
	}
	if (cl.ext & X_PLAIN) {
		raw[0] = '\0';
		memcpy(raw + 1, user, ul);
		raw[ul + 1] = '\0';
		memcpy(raw + ul + 2, pass, pl);
		mime_b64(raw, ul + pl + 2, enc, sizeof(enc));
		code = exchange(C_AUTH, "AUTH PLAIN %s", enc);
	} else if (cl.ext & X_LOGIN) {
		if (exchange(C_AUTH, "AUTH LOGIN", NULL) == 334) {
			mime_b64((const unsigned char *)user, ul, enc,
			    sizeof(enc));
			if (exchange(C_AUTH, "%s", enc) == 334) {
				mime_b64((const unsigned char *)pass, pl, enc,
				    sizeof(enc));
				code = exchange(C_AUTH, "%s", enc);
			}
		}
	} else {
		snprintf(cl.text, sizeof(cl.text), "4.7.0 %s offers no AUTH "
		    "PLAIN or LOGIN", cl.host);
	}
	explicit_bzero(raw, sizeof(raw));
	explicit_bzero(enc, sizeof(enc));
	explicit_bzero(cl.out, sizeof(cl.out));
	return code == 235 ? 0 : -1;
}

/*
 * STARTTLS (RFC 3207), then EHLO again inside. A server without it, or
 * one that refuses it, leaves opportunistic TLS in clear (RFC 7435).
 */
static int
starttls(char *err, size_t errlen)
{
	char why[REPLYLEN];
	int code;

	if (!WITH_TLS) {
		handshake(why, sizeof(why));	/* it says why not */
	} else if ((cl.ext & X_STARTTLS) == 0) {
		snprintf(why, sizeof(why), "%s does not offer STARTTLS",
		    cl.host);
	} else if ((code = exchange(C_STARTTLS, "STARTTLS", NULL)) == -1) {
		snprintf(err, errlen, "%s", cl.text);
		return -1;
	} else if (code != 220) {
		snprintf(why, sizeof(why), "%.200s refused STARTTLS: %.280s", cl.host,
		    cl.text);
	} else if (handshake(why, sizeof(why)) == -1) {
		return tlsfail(err, errlen, "4.7.5", why);
	} else {
		return C_EHLO;
	}
	if (cl.verify) {
		return tlsfail(err, errlen, "4.7.4", why);
	}
	return C_READY;
}

/*
 * A session that cannot have the TLS it needs. With credentials (the
 * SmartHost's name in cl.cred) the log and mailq say so, not just what
 * failed.
 */
static int
tlsfail(char *err, size_t errlen, const char *code, const char *why)
{
	if (cl.cred != NULL) {
		snprintf(err, errlen, "%s credentials for %s are sent only "
		    "over verified TLS: %s", code, cl.cred, why);
	} else {
		snprintf(err, errlen, "%s %s", code, why);
	}
	return -1;
}

static int
nbconnect(const struct sockaddr_storage *ss)
{
	socklen_t len = ss->ss_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	socklen_t elen = sizeof(int);
	int fd, e = 0, n = 0;

	if ((fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0)) == -1) {
		return -1;
	}
	wire_init(&cl.w, fd, fd, cl.in, sizeof(cl.in), cl.out,
	    sizeof(cl.out));
	cl.state = C_LOST;	/* not in step until the greeting */
	cl.qhead = cl.qlen = 0;
	if (connect(fd, (const struct sockaddr *)ss, len) == 0) {
		return 0;
	}
	if (errno != EINPROGRESS) {
		return -1;
	}
	/* writable: the connect() has ended, and SO_ERROR says how */
	while (n == 0 && time(NULL) < cl.deadline) {
		n = waitfds(-1, fd,
		    (long long)(cl.deadline - time(NULL)) * 1000);
	}
	if (n == 0) {
		errno = ETIMEDOUT;
	}
	if (n <= 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) == -1) {
		return -1;
	}
	errno = e;
	return e != 0 ? -1 : 0;
}

/* ---- the transaction's commands ---- */

/* Does any address of the transaction need SMTPUTF8 (RFC 6531 3.4)? */
static int
needutf8(const struct msg *m, const char *sender, const int *idx, int n)
{
	const char *a;
	int i;

	for (i = 0; i < n; i++) {
		a = m->rcpt[idx[i]].addr;
		if (mime_has8(a, strlen(a))) {
			return 1;
		}
	}
	return mime_has8(sender, strlen(sender));
}

/* MAIL FROM with the parameters the server understands. */
static int
mailfrom(const struct msg *m, const char *sender, long long size, int utf8)
{
	char sz[32] = "";
	int dsn = (cl.ext & X_DSN) != 0;

	if (cl.ext & X_SIZE) {
		snprintf(sz, sizeof(sz), " SIZE=%lld", size);
	}
	return command(C_MAIL, 0, "MAIL FROM:<%s>%s%s%s%s%s%s", sender, sz,
	    (cl.ext & X_8BITMIME) ? " BODY=8BITMIME" : "",
	    !dsn || m->ret == RET_DEFAULT ? "" : m->ret == RET_FULL ?
	    " RET=FULL" : " RET=HDRS", dsn && m->envid != NULL ? " ENVID=" : "",
	    dsn && m->envid != NULL ? m->envid : "", utf8 ? " SMTPUTF8" : "");
}

static int
rcptto(const struct rcpt *r, int i)
{
	const char *orcpt = (cl.ext & X_DSN) ? r->orcpt : NULL;
	char notify[32];

	/* no bits: "" */
	dsn_notifystr((cl.ext & X_DSN) ? r->notify : 0, notify, sizeof(notify));
	return command(C_RCPT, i, "RCPT TO:<%s>%s%s%s%s", r->addr,
	    notify[0] != '\0' ? " NOTIFY=" : "", notify,
	    orcpt != NULL ? " ORCPT=" : "", orcpt != NULL ? orcpt : "");
}

/*
 * Every recipient fails alike (5xx for good, else for now): before MAIL,
 * when the session stays usable (0), or when it broke.
 */
static int
refuse(const char *why)
{
	int i;

	for (i = 0; i < tx.n; i++) {
		give(i, why[0] == '5' ? D_PERM : D_TEMP, why);
	}
	return 0;
}

/* ---- commands and their replies ---- */

/*
 * Queue one command line (CRLF added), and the reply it waits for:
 * what (enum cstate), i (C_RCPT: the recipient). Sent at the next wait;
 * with MAXPEND replies awaited, the oldest is taken first.
 */
static int
command(int what, int i, const char *fmt, ...)
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
	/* take() frees one place in the queue, or fails */
	if (cl.qlen == MAXPEND && take() == -1) {
		return -1;
	}
	cl.q[(cl.qhead + cl.qlen) % MAXPEND] = (struct pend){ what, i };
	cl.qlen++;
	return cput(line, (size_t)n);
}

/* One command, and its reply's code (-1: the session is lost). */
static int
exchange(int what, const char *fmt, const char *arg)
{
	return command(what, 0, fmt, arg) == -1 ? -1 : take();
}

/* Take every reply still awaited. */
static int
settle(void)
{
	while (cl.qlen > 0) {
		if (take() == -1) {
			return -1;
		}
	}
	return 0;
}

/*
 * Read a whole reply, multi-line included, into cl.text ("550 5.1.1
 * ...", lines joined; a line too long is cut, not split), for the oldest
 * command awaiting one. Returns the code, or -1 if the connection failed
 * (cl.text says why): then it is out of step.
 */
static int
take(void)
{
	struct pend p = cl.q[cl.qhead];
	char line[1024], *rest;
	size_t n = 0, len = sizeof(cl.text);	/* n == 0: the first line */
	int code = -1;

	cl.qhead = (cl.qhead + 1) % MAXPEND;
	cl.qlen--;
	for (;;) {
		/* each wait sends what is queued first (wire_wait) */
		while (wire_line(&cl.w, line, sizeof(line)) == 0) {
			if (wire_wait(&cl.w, cl.deadline) == -1) {
				snprintf(cl.text, len, "lost connection with "
				    "%s: %s", cl.host, strerror(errno));
				cl.state = C_LOST;
				return -1;
			}
		}
		if (strlen(line) < 3 || line[0] < '2' || line[0] > '5' ||
		    (line[3] != ' ' && line[3] != '-' && line[3] != '\0')) {
			snprintf(cl.text, len, "protocol error from %s",
			    cl.host);
			cl.state = C_LOST;	/* what follows cannot be trusted */
			return -1;
		}
		rest = line + (line[3] ? 4 : 3);	/* a bare "250" ends too */
		if (n == 0) {
			code = atoi(line);
			n = (size_t)snprintf(cl.text, len, "%.3s", line);
		} else if (p.what == C_EHLO) {
			keyword(rest);
		}
		if (*rest && n < len) {
			n += (size_t)snprintf(cl.text + n, len - n, " %s", rest);
		}
		if (line[3] != '-') {
			break;
		}
	}
	sanitize(cl.text);	/* to log lines, the qf, DSNs and mailq */
	answer(&p, code);
	return code;
}

/* ---- bytes, through wire.c, with deadlines ---- */

/*
 * n bytes at p queued, waiting for room; p NULL: everything queued out
 * (TLS records too). A failure leaves the session out of step.
 */
static int
cput(const char *p, size_t n)
{
	while (p != NULL ? wire_put(&cl.w, p, n) == -1 : wire_pending(&cl.w)) {
		if (wire_wait(&cl.w, cl.deadline) == -1) {
			cl.state = C_LOST;
			return -1;
		}
	}
	return 0;
}

/* The message's bytes: each wait for room has Timeout.datablock
 * (RFC 5321 4.5.3.2.5: per block, not for the whole message). */
static int
bodyput(const char *p, size_t n)
{
	if (n > cl.w.outsize - cl.w.outlen) {
		cl.deadline = time(NULL) + set.tdatablock;
	}
	return cput(p, n);
}

/* ---- TLS (RFC 3207): the client's engine on the wire ---- */

#if WITH_TLS
/*
 * TLS on the open connection; a failure leaves it unusable. With verify,
 * the chain must lead to CACertFile and the certificate must carry
 * cl.tlsname: a DNS name, or an address as an iPAddress of its
 * subjectAltName. why gets the reason of a failure, without a status
 * code.
 */
static int
handshake(char *why, size_t whylen)
{
	br_ssl_engine_context *eng;
	struct tlsclient *t;
	char cas[300] = "no usable CA certificate in CACertFile";
	const char *name = cl.tlsname;
	unsigned char a[16];
	unsigned st;
	int e, lit;

	if (cl.verify && tls_loadcas(cas, sizeof(cas)) == -1) {
		snprintf(why, whylen, "cannot verify %.200s: %.250s", cl.host,
		    cas);
		return -1;
	}
	/* BearSSL matches DNS names only (and an address is no SNI): an
	 * address literal (SmartHost [192.0.2.1]) is checked after */
	lit = ipaddr(name, 0, a) != 0;
	t = tls_client(lit ? NULL : name, cl.verify);
	eng = tls_clientengine(t);
	wire_tls(&cl.w, eng);
	cl.state = C_LOST;	/* neither TLS nor clear text until done */
	while (((st = br_ssl_engine_current_state(eng)) & (BR_SSL_SENDAPP |
	    BR_SSL_CLOSED)) == 0 && wire_wait(&cl.w, cl.deadline) == 0)
		;
	if ((st & BR_SSL_SENDAPP) && !(st & BR_SSL_CLOSED)) {
		if (cl.verify && lit && !tls_certaddr(t, name)) {
			snprintf(why, whylen, "the certificate does not name "
			    "%s", name);
			return -1;
		}
		tls_describe(eng, cl.tlsinfo, sizeof(cl.tlsinfo));
		cl.state = C_EHLO;
		return 0;
	}
	e = br_ssl_engine_last_error(eng);
	e = e == BR_ERR_OK ? BR_ERR_IO : e;
	snprintf(why, whylen, "TLS handshake with %s failed: %s%s (%d)",
	    cl.host, e == BR_ERR_X509_BAD_SERVER_NAME ? "the certificate "
	    "does not name " : e == BR_ERR_X509_NOT_TRUSTED ?
	    "certificate not trusted by CACertFile" : e == BR_ERR_X509_EXPIRED ?
	    "certificate expired or not yet valid (is the clock right?)" :
	    e >= BR_ERR_X509_OK && e < 64 ? "certificate error" : "TLS error",
	    e == BR_ERR_X509_BAD_SERVER_NAME ? name : "", e);
	return -1;
}
#else
/* Built without TLS: never in TLS. */
static int
handshake(char *why, size_t whylen)
{
	snprintf(why, whylen, "this mta was built without TLS");
	return -1;
}
#endif
