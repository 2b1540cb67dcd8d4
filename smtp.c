/*
 * smtp.c: the SMTP server. Every connection is a slot (struct conn) with
 * its socket, its line buffers and, after STARTTLS, its BearSSL engine;
 * mta.c's select() loop calls smtp_prepare() to learn which descriptors
 * to watch and smtp_run() to move bytes and run the sessions.
 *
 * Reading order: smtp_run -> step -> conn_io (bytes, plain or TLS, moved
 * by wire.c without blocking) -> input (lines) -> command (the verb
 * table) or dataline (the message, streamed into the df). A finished
 * message waits in P_COMMIT until commitall() stages every message that
 * finished in the same pass; they wait in P_SYNC for one flush of the
 * file system, done by the syncer process (spool.c) while the loop goes
 * on (SPEC "The spool"), and only then are their 250 replies written.
 *
 * A session has two states, and smtp_enter() is the one place that
 * changes either (-v logs each change). Its phase is where the dialogue
 * stands:
 *
 *	INIT -HELO/EHLO-> HELO -MAIL-> MAIL -RCPT-> RCPT -DATA-> DATA
 *	DATA -the final dot-> COMMIT -staged-> SYNC -flushed, 250-> HELO
 *	HELO -AUTH PLAIN-> AUTH_PLAIN -the response-> HELO
 *	HELO -AUTH LOGIN-> AUTH_USER -the user-> AUTH_PASS -password-> HELO
 *
 * RSET, EHLO and a refused message lead back to HELO, STARTTLS to INIT.
 * Its connection's life is where the socket stands:
 *
 *	PLAIN -220 to STARTTLS queued-> STARTTLS -the 220 is out-> TLS
 *	PLAIN -221 or 421 queued-> CLOSING -out-> closed
 *	TLS -221 or 421 queued-> TLSCLOSING -out-> NOTIFIED
 *	NOTIFIED -close_notify is out-> closed
 *
 * The client's side closes on its own (c->w.eof): the lines it sent are
 * still answered, then ours closes too. A timeout or an I/O error
 * closes at once, in any state.
 */
#define _GNU_SOURCE	/* pipe2(), accept4() on glibc (the test build) */
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
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

#include "config.h"
#if WITH_SERVER && WITH_TLS
#include <bearssl.h>
#endif
#include "mta.h"

#if WITH_SERVER		/* the whole file: see config.h */

#define INSIZE		4096	/* input: pipelined commands, data lines */
#define OUTSIZE		2048	/* replies not yet sent */
#define DBUFSIZE	16384	/* message bytes on their way to the df */
#define MAXCMD		512	/* RFC 5321 4.5.3.1.4, with CRLF */
#define MAXERRORS	10	/* then 421 */
#define DATAREADS	8	/* more reads a pass while a message pours in */

/* The two states of the header's diagrams, the connection's life first:
 * smtp_enter() tells them apart by their values. */
enum state {
	/* c->life; from L_TLS on, the bytes go through the engine */
	L_PLAIN,	/* commands read and answered */
	L_STARTTLS,	/* the 220 goes out, then the engine starts */
	L_CLOSING,	/* the last reply goes out, then the close */
	L_TLS,		/* commands read and answered */
	L_TLSCLOSING,	/* the last reply goes out, then close_notify */
	L_NOTIFIED,	/* close_notify goes out, then the close */
	/* c->phase; the AUTH phases come last */
	P_INIT,		/* no HELO/EHLO yet */
	P_HELO,		/* greeted, no transaction */
	P_MAIL,		/* MAIL accepted */
	P_RCPT,		/* at least one RCPT accepted */
	P_DATA,		/* reading the message */
	P_COMMIT,	/* message complete, waiting for the group commit */
	P_SYNC,		/* staged, waiting for the flush of its generation */
	P_AUTH_PLAIN,	/* AUTH PLAIN: waiting for the response */
	P_AUTH_USER,	/* AUTH LOGIN: waiting for the user name */
	P_AUTH_PASS,	/* AUTH LOGIN: waiting for the password */
	NUM_STATES
};

enum {				/* c->flags: what the session is */
	F_EHLO = 1,		/* EHLO, not HELO */
	F_RELAY = 2,		/* may relay: RelayFrom, -bs, or AUTH */
	F_AUTHED = 4,
	F_PIPE = 8		/* -bs on a pipe, not a socket: a local user */
};

enum { DE_NONE, DE_LONG, DE_BIG, DE_IO, DE_FULL };	/* data errors */
/* ... and the refusals they lead to, the format of reject(); %lld is
 * MaxMessageSize, given where DE_BIG may be the error */
static const char *const derrtext[] = {
	NULL,
	"500 5.5.2 Error: line too long",
	"552 5.3.4 Message size exceeds fixed limit of %lld bytes",
	"451 4.3.0 Error: queue file write error",
	"452 4.3.1 Insufficient system storage"
};

struct conn {
	struct wire w;		/* socket, engine, fill of in and out */
	int phase, life, flags;
	int skip;		/* dropping a long line's tail (2: the bytes
				 * dropped ended in CR) */
	time_t deadline, pause;
	int errors, authfails;
	unsigned nmsg, nrcpt;
	long long bytes;	/* message bytes received, all messages */
	char addr[INET6_ADDRSTRLEN];
	char helo[256];
	char authuser[128];
	/* the transaction */
	struct msg m;
	int dffd, derr;
	int bol;		/* the last data line ended in CRLF */
	unsigned gen;		/* P_SYNC: the flush that makes it durable */
	size_t dlen;
	/* an idle session touches only the page the slot starts on: the
	 * fields above, the replies and the start of its input */
	char out[OUTSIZE];
	char in[INSIZE];
	char dbuf[DBUFSIZE];
#if WITH_TLS
	/* last, so that plaintext sessions never touch these pages */
	br_ssl_server_context sc;
	unsigned char iobuf[BR_SSL_BUFSIZE_BIDI];
#endif
};
/* What a reset clears: all but the TLS pages. */
#if WITH_TLS
#define PLAINSIZE	offsetof(struct conn, sc)
#else
#define PLAINSIZE	sizeof(struct conn)
#endif

/* Is the session waiting for the group commit (input held back)? */
static int
committing(const struct conn *c)
{
	return c->phase == P_COMMIT || c->phase == P_SYNC;
}

/* Are commands read (not in STARTTLS's wait or the close's)? */
static int
isopen(const struct conn *c)
{
	return c->life == L_PLAIN || c->life == L_TLS;
}

static int
intls(const struct conn *c)
{
	return c->life >= L_TLS;
}

static const char statename[NUM_STATES][11] = {
	"PLAIN", "STARTTLS", "CLOSING", "TLS", "TLSCLOSING", "NOTIFIED",
	"INIT", "HELO", "MAIL", "RCPT", "DATA", "COMMIT", "SYNC",
	"AUTH_PLAIN", "AUTH_USER", "AUTH_PASS"
};

/* The one place a phase or the connection's life changes. */
static void
smtp_enter(struct conn *c, int state)
{
	int *cur = state < P_INIT ? &c->life : &c->phase;

	if (verbose && *cur != state) {
		logmsg(LOG_DEBUG, "smtp: [%s] %s -> %s", c->addr,
		    statename[*cur], statename[state]);
	}
	*cur = state;
}

/* The phase as the timeout and SIGUSR1 lines name it: AUTH is one. */
static const char *
logphase(const struct conn *c)
{
	return c->phase >= P_AUTH_PLAIN ? "AUTH" : statename[c->phase];
}

/* A slot is whole pages, so that each session starts on its own page. */
union slot {
	struct conn c;
	char pages[(sizeof(struct conn) + 4095) / 4096 * 4096];
};
static union slot *slots;	/* nslots slots, mapped at start-up */
static int nslots;
#define SLOT(c)	((size_t)((union slot *)(void *)(c) - slots))
static unsigned char busy[MAXCONN_CAP];	/* slot in use: kept apart so
					 * that a vacant slot is never written */
static unsigned opengen;	/* generation of messages staged now; the
				 * one before is the last asked to flush */
static int inflight;		/* that flush is not answered yet */
static unsigned long nconns, nmsgs, nrejects;	/* since start, SIGUSR1 */

/* Called with each message acknowledged, unlocked, for its delivery: set
 * by mta.c's main() before any session (the daemon's runner, or a
 * child), so that this file calls nothing above it. */
void (*smtp_onqueued)(const char *id);

/* ---- RelayFrom ---- */

struct net {
	int family;
	unsigned char a[16];
	int bits;
};
static struct net nets[32];
static int nnets;

static int
parsenet(const char *s, struct net *n)
{
	char buf[INET6_ADDRSTRLEN + 8], *slash, *end;
	long bits;
	int len;

	if (snprintf(buf, sizeof(buf), "%s", s) >= (int)sizeof(buf)) {
		return -1;	/* cut, "1.2.3.4/240" could become "/24" */
	}
	if ((slash = strchr(buf, '/')) != NULL) {
		*slash++ = '\0';
	}
	if ((len = ipaddr(buf, 0, n->a)) == 0) {
		return -1;
	}
	n->family = len == 4 ? AF_INET : AF_INET6;
	n->bits = len * 8;
	if (slash != NULL) {
		bits = strtol(slash, &end, 10);
		if (*slash == '\0' || *end != '\0' || bits < 0 ||
		    bits > n->bits) {
			return -1;
		}
		n->bits = (int)bits;
	}
	return 0;
}

/* Parse RelayFrom once; a bad entry is a start-up error. */
int
smtp_setrelay(const char *list, char *err, size_t errlen)
{
	char buf[1024], *p, *tok, *save;

	snprintf(buf, sizeof(buf), "%s", list);
	nnets = 0;
	for (p = buf; (tok = strtok_r(p, ", ", &save)) != NULL; p = NULL) {
		if (nnets == (int)(sizeof(nets) / sizeof(*nets)) ||
		    parsenet(tok, &nets[nnets]) == -1) {
			snprintf(err, errlen, "RelayFrom: bad network '%s'",
			    tok);
			return -1;
		}
		nnets++;
	}
	return 0;
}

/* The address bytes of an IPv4 or IPv6 socket address. */
static const unsigned char *
inaddr(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET6) {
		return ((const struct sockaddr_in6 *)ss)->sin6_addr.s6_addr;
	}
	return (const unsigned char *)
	    &((const struct sockaddr_in *)ss)->sin_addr;
}

static int
relayallowed(const struct sockaddr_storage *ss)
{
	const unsigned char *a = inaddr(ss);
	const struct net *n;
	int family = ss->ss_family, full, rest;

	if (family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(
	    &((const struct sockaddr_in6 *)ss)->sin6_addr)) {
		family = AF_INET;
		a += 12;
	}
	for (n = nets; n < nets + nnets; n++) {
		/* the whole bytes of the prefix, then its rest bits (a
		 * whole prefix reads no byte after the address) */
		full = n->bits / 8;
		rest = n->bits % 8;
		if (n->family == family && memcmp(n->a, a, (size_t)full) == 0 &&
		    (rest == 0 || (n->a[full] ^ a[full]) >> (8 - rest) == 0)) {
			return 1;
		}
	}
	return 0;
}

/* ---- replies ---- */

static void
reply(struct conn *c, const char *fmt, ...)
{
	va_list ap;
	size_t room;
	int n;

	/* wire.c empties out (outoff = outlen = 0) once all of it went */
	room = OUTSIZE - c->w.outlen;
	va_start(ap, fmt);
	n = vsnprintf(c->out + c->w.outlen, room > 2 ? room - 2 : 0, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n + 2 >= room) {
		/* input() keeps room for any reply; this is a bug */
		logmsg(LOG_ERR, "smtp: reply buffer overflow for [%s]",
		    c->addr);
		smtp_enter(c, intls(c) ? L_TLSCLOSING : L_CLOSING);
		return;
	}
	c->w.outlen += (size_t)n;
	c->out[c->w.outlen++] = '\r';
	c->out[c->w.outlen++] = '\n';
}

/* A refusal: the reply, a log line, and the error count. */
static void
reject(struct conn *c, const char *cmd, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	reply(c, "%s", text);
	sanitize(text);
	logmsg(LOG_NOTICE, "reject: %s from [%s]: %s", cmd, c->addr, text);
	nrejects++;
	if (++c->errors >= MAXERRORS && isopen(c)) {
		reply(c, "421 4.7.0 %s Error: too many errors", set.hostname);
		smtp_enter(c, intls(c) ? L_TLSCLOSING : L_CLOSING);
	}
}

/* The data error of a failed write to the spool, by errno. */
static int
storeerr(int err)
{
	return err == ENOSPC || err == EDQUOT ? DE_FULL : DE_IO;
}

/* ---- the transaction ---- */

static void
dropmsg(struct conn *c)
{
	if (c->dffd != -1 || c->phase == P_SYNC) {
		/* not acknowledged: the client keeps it, so must not we */
		spool_abort(&c->m, c->dffd);
		c->dffd = -1;
	}
	/* no dlen to clear: received() sets it as the next DATA starts */
	msg_free(&c->m);
	c->derr = DE_NONE;
}

/* Extract the path of "FROM:<path> params" into buf; returns params. */
static char *
path(char *arg, const char *prefix, char *buf, size_t len)
{
	size_t n = strlen(prefix);
	char *p, *end;

	if (strncasecmp(arg, prefix, n) != 0) {
		return NULL;
	}
	p = arg + n + strspn(arg + n, " ");
	if (*p != '<' || (end = strchr(p, '>')) == NULL) {
		return NULL;
	}
	/* a source route, <@a,@b:user@c>: RFC 5321 says ignore it */
	if (p[1] == '@' && (p = memchr(p, ':', (size_t)(end - p))) == NULL) {
		return NULL;
	}
	p++;		/* past the '<', or the route's ':' */
	if (snprintf(buf, len, "%.*s", (int)(end - p), p) >= (int)len) {
		return NULL;	/* too long (no NUL cuts it: command() refused
				 * those) */
	}
	end++;
	if (*end != '\0' && *end != ' ') {
		return NULL;
	}
	return end + strspn(end, " ");
}

/* The parameters of MAIL into m, and the SIZE declared; -1: refused. */
static int
mailparams(struct msg *m, char *params, long long *size)
{
	char *p, *save, *end;

	for (; (p = strtok_r(params, " ", &save)) != NULL; params = NULL) {
		if (strncasecmp(p, "SIZE=", 5) == 0) {
			errno = 0;
			*size = strtoll(p + 5, &end, 10);
			if (*end != '\0' || errno != 0 || *size < 0) {
				return -1;
			}
		} else if (strncasecmp(p, "RET=", 4) == 0 &&
		    dsn_ret(p + 4) != -1) {
			m->ret = dsn_ret(p + 4);
		} else if (strncasecmp(p, "ENVID=", 6) == 0 &&
		    dsn_xtext(p + 6, 100) && m->envid == NULL) {
			m->envid = xstrdup(p + 6);
		} else if (strcasecmp(p, "BODY=7BIT") != 0 &&
		    strcasecmp(p, "BODY=8BITMIME") != 0 &&
		    strcasecmp(p, "SMTPUTF8") != 0 &&
		    strncasecmp(p, "AUTH=", 5) != 0) {
			return -1;
		}
	}
	return 0;
}

static void
c_mail(struct conn *c, char *arg)
{
	char addr[MAXADDR + 1], *params;
	long long size = 0;

	if ((params = path(arg, "FROM:", addr, sizeof(addr))) == NULL ||
	    (addr[0] != '\0' && !addr_valid(addr))) {
		reject(c, "MAIL", "501 5.1.7 Bad sender address syntax");
	} else if (mailparams(&c->m, params, &size) == -1) {
		/* not echoed: the client's bytes stay out of replies */
		reject(c, "MAIL", "555 5.5.4 Unsupported parameter");
	} else if (size > set.maxsize || spool_freespace(size) == -1) {
		reject(c, "MAIL", derrtext[size > set.maxsize ? DE_BIG :
		    DE_FULL], set.maxsize);
	} else {
		c->m.sender = xstrdup(addr);
		smtp_enter(c, P_MAIL);
		reply(c, "250 2.1.0 Ok");
		return;
	}
	msg_free(&c->m);	/* a refused MAIL leaves nothing behind */
}

static int
rcptparams(char *params, int *notify, char **orcpt)
{
	char *p, *save;

	for (; (p = strtok_r(params, " ", &save)) != NULL; params = NULL) {
		if (strncasecmp(p, "NOTIFY=", 7) == 0 && *notify == 0) {
			if ((*notify = dsn_notify(p + 7)) == -1) {
				return -1;
			}
		} else if (strncasecmp(p, "ORCPT=", 6) == 0 && *orcpt == NULL &&
		    strchr(p + 6, ';') != NULL && dsn_xtext(p + 6, 500)) {
			*orcpt = p + 6;
		} else {
			return -1;
		}
	}
	return 0;
}

static void
c_rcpt(struct conn *c, char *arg)
{
	char addr[MAXADDR + 1], local[MAXADDR + 1], *params, *orcpt = NULL;
	const char *dom, *why = NULL;	/* the refusal; %s: the address */
	struct rcpt *r;
	int notify = 0, k, i;

	if ((params = path(arg, "TO:", addr, sizeof(addr))) == NULL ||
	    !addr_valid(addr) || splitaddr(addr, local, sizeof(local),
	    &dom) == -1) {
		why = "501 5.1.3 Bad recipient address syntax";
	} else if (rcptparams(params, &notify, &orcpt) == -1) {
		why = "555 5.5.4 Unsupported parameter";
	} else if (c->m.nrcpt >= set.maxrcpt) {
		why = "452 4.5.3 Too many recipients";
	} else if (dom != NULL && !islocaldomain(dom)) {
		if (!(c->flags & F_RELAY)) {
			why = "554 5.7.1 <%s>: Relaying denied";
		}
	} else if (strcasecmp(local, "postmaster") != 0 &&
	    (k = local_known(addr)) != 1) {
		/* a local domain (or none): postmaster is always there */
		why = k == -1 ? "451 4.3.0 <%s>: Temporary lookup failure" :
		    "550 5.1.1 <%s>: User unknown";
	}
	if (why != NULL) {
		reject(c, "RCPT", why, addr);
		return;
	}
	for (i = 0; i < c->m.nrcpt; i++) {
		if (strcasecmp(c->m.rcpt[i].addr, addr) == 0) {
			break;	/* once is enough */
		}
	}
	if (i == c->m.nrcpt) {
		if ((notify & N_SUCCESS) && !(c->flags & F_RELAY)) {
			/* a client that may not relay could otherwise have
			 * the message bounced, body and all, to a forged
			 * sender: the success DSN returns the headers only */
			c->m.ret = RET_HDRS;
		}
		r = msg_addrcpt(&c->m, addr);
		r->notify = notify;
		r->orcpt = orcpt != NULL ? xstrdup(orcpt) : NULL;
		smtp_enter(c, P_RCPT);
	}
	reply(c, "250 2.1.5 Ok");
}

/* The Received: line every message starts with (RFC 5321 4.4). */
static void
received(struct conn *c)
{
	char date[64], tls[160] = "";
	int n;

	rfc5322date(c->m.arrival, date, sizeof(date));
#if WITH_TLS
	if (intls(c)) {
		char d[128];

		tls_describe(&c->sc.eng, d, sizeof(d));
		snprintf(tls, sizeof(tls), "\n\t(using %s)", d);
	}
#endif
	n = snprintf(c->dbuf, sizeof(c->dbuf), "Received: from %s ([%s])\n"
	    "\tby %s (mta %s) with %sSMTP%s%s id %s%s%s%s%s;\n\t%s\n",
	    c->helo, c->addr, set.hostname, VERSION,
	    (c->flags & F_EHLO) ? "E" : "", intls(c) ? "S" : "",
	    (c->flags & F_AUTHED) ? "A" : "", c->m.id, tls,
	    c->m.nrcpt == 1 ? "\n\tfor <" : "",
	    c->m.nrcpt == 1 ? c->m.rcpt[0].addr : "",
	    c->m.nrcpt == 1 ? ">" : "", date);
	c->dlen = n > 0 && (size_t)n < sizeof(c->dbuf) ? (size_t)n : 0;
}

static void
c_data(struct conn *c, char *arg)
{
	if (*arg != '\0') {
		reject(c, "DATA", "501 5.5.4 Syntax: DATA");
	} else if (c->phase == P_MAIL) {
		reject(c, "DATA", "554 5.5.1 Error: no valid recipients");
	} else if ((c->dffd = spool_create(&c->m)) == -1) {
		logmsg(LOG_ERR, "smtp: cannot create a df in %s: %s",
		    set.queuedir, strerror(errno));
		reject(c, "DATA", derrtext[DE_IO]);
	} else {
		c->m.arrival = time(NULL);	/* (the tf is written later) */
		received(c);
		smtp_enter(c, P_DATA);
		c->bol = 1;
		c->deadline = time(NULL) + set.tdatablock;
		reply(c, "354 End data with <CR><LF>.<CR><LF>");
	}
}

/*
 * The HELO/EHLO argument: a domain or an address literal and nothing
 * else (RFC 5321 4.1.1.1). It goes into Received: and the log, where a
 * space, a TAB or a control byte would forge words; '_' is let through
 * for the hosts that are named so.
 */
static int
helovalid(const char *s)
{
	size_t n = strlen(s), label;
	unsigned char a[16];

	if (n == 0 || n > 255) {
		return 0;
	}
	if (s[0] == '[') {
		/* [IPv4] or [IPv6:...]: an IPv6 address carries its tag
		 * (RFC 5321 4.1.3) */
		return n >= 3 && ipaddr(s, 1, a) ==
		    (strncasecmp(s + 1, "IPv6:", 5) == 0 ? 16 : 4);
	}
	/* labels of 1 to 63 bytes, each ended by a dot or the end; a
	 * trailing dot leaves an empty label */
	for (;; s += label + 1) {
		label = strspn(s, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_");
		if (label == 0 || label > 63) {
			return 0;
		}
		if (s[label] != '.') {
			return s[label] == '\0';
		}
	}
}

/* The part HELO and EHLO share; -1 after a syntax error reply. */
static int
hello(struct conn *c, char *arg, int ehlo)
{
	size_t n = strlen(arg);

	while (n > 0 && arg[n - 1] == ' ') {
		arg[--n] = '\0';	/* trailing spaces are no second word */
	}
	if (!helovalid(arg)) {
		reject(c, ehlo ? "EHLO" : "HELO", "501 5.5.4 Syntax: %s "
		    "domain or address literal", ehlo ? "EHLO" : "HELO");
		return -1;
	}
	dropmsg(c);
	memcpy(c->helo, arg, n + 1);
	c->flags = ehlo ? c->flags | F_EHLO : c->flags & ~F_EHLO;
	smtp_enter(c, P_HELO);
	return 0;
}

static void
c_helo(struct conn *c, char *arg)
{
	if (hello(c, arg, 0) == 0) {
		reply(c, "250 %s", set.hostname);
	}
}

static void
c_ehlo(struct conn *c, char *arg)
{
	if (hello(c, arg, 1) == -1) {
		return;
	}
	reply(c, "250-%s Hello %s [%s]\r\n250-PIPELINING\r\n250-SIZE %lld\r\n"
	    "250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250-DSN\r\n%s%s"
	    "250 SMTPUTF8", set.hostname, c->helo, c->addr, set.maxsize,
	    tls_haveserver() && !intls(c) && c->w.wfd == c->w.fd ?
	    "250-STARTTLS\r\n" : "", intls(c) && set.authusers[0] != '\0' ?
	    "250-AUTH PLAIN LOGIN\r\n" : "");
}

static void
c_rset(struct conn *c, char *arg)
{
	(void)arg;
	dropmsg(c);
	if (c->phase != P_INIT) {
		smtp_enter(c, P_HELO);
	}
}

static void
c_quit(struct conn *c, char *arg)
{
	(void)arg;
	smtp_enter(c, intls(c) ? L_TLSCLOSING : L_CLOSING);
}

static void
c_help(struct conn *c, char *arg)
{
	(void)arg;
	reply(c, "214-2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT");
	reply(c, "214 2.0.0 VRFY HELP%s%s", tls_haveserver() ? " STARTTLS" :
	    "", set.authusers[0] != '\0' ? " AUTH" : "");
}

static void
c_starttls(struct conn *c, char *arg)
{
	if (!tls_haveserver() || c->w.wfd != c->w.fd) {
		reject(c, "STARTTLS", "454 4.7.0 TLS not available");
	} else if (intls(c)) {
		reject(c, "STARTTLS", "503 5.5.1 Error: TLS already active");
	} else if (*arg != '\0') {
		reject(c, "STARTTLS", "501 5.5.4 Syntax: STARTTLS");
	} else {
		reply(c, "220 2.0.0 Ready to start TLS");
		smtp_enter(c, L_STARTTLS);
	}
}

#if WITH_TLS
/* ---- AUTH (RFC 4954), only inside TLS ---- */

/* Decode base64 into out, NUL-terminated; returns the length (below
 * outlen) or -1. Padding ends it: nothing may follow, so no bytes hide
 * behind an '='. */
static int
b64decode(const char *s, unsigned char *out, size_t outlen)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *d;
	size_t n = 0;
	unsigned v = 0;
	int bits = 0;

	for (; *s != '\0' && *s != '='; s++) {
		if ((d = strchr(tab, *s)) == NULL) {	/* *s is no NUL */
			return -1;
		}
		v = (v << 6) | (unsigned)(d - tab);
		if ((bits += 6) >= 8) {
			bits -= 8;
			if (n + 1 == outlen) {
				return -1;
			}
			out[n++] = (unsigned char)(v >> bits);
		}
	}
	if (strspn(s, "=") != strlen(s) || strlen(s) > 2) {
		return -1;
	}
	out[n] = '\0';
	return (int)n;
}

/*
 * Check user and password against AuthUsersFile (user:crypt-hash). An
 * unknown user's password is checked against the file's first SHA-512
 * hash instead (its rounds, so the refusal costs as much time as a wrong
 * password: no user probing), or else the default rounds.
 */
static int
checkpass(const char *user, const char *pass)
{
	char line[512], dummy[128] = "$6$DummySaltForTim", *colon;
	char *hash = NULL, *h;
	FILE *f;
	int first = 1, ok;

	if ((f = fopen(set.authusers, "re")) == NULL) {
		logmsg(LOG_ERR, "smtp: AuthUsersFile %s: %s", set.authusers,
		    strerror(errno));
		return 0;
	}
	while (hash == NULL && fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		if ((colon = strchr(line, ':')) == NULL) {
			continue;
		}
		*colon++ = '\0';
		if (first && strncmp(colon, "$6$", 3) == 0) {
			snprintf(dummy, sizeof(dummy), "%s", colon);
			first = 0;
		}
		if (strcmp(line, user) == 0) {
			hash = colon;
		}
	}
	h = sha512crypt(pass, hash != NULL ? hash : dummy);
	ok = hash != NULL && h != NULL && strcmp(h, hash) == 0;
	explicit_bzero(line, sizeof(line));
	explicit_bzero(dummy, sizeof(dummy));
	fclose(f);
	return ok;
}

/* The end of a checked exchange for c->authuser: 235, or 535 and a
 * guesser slowed down (each failure waits longer for the next command). */
static void
authdone(struct conn *c, int ok, const char *why)
{
	smtp_enter(c, P_HELO);
	sanitize(c->authuser);
	if (ok) {
		c->flags |= F_AUTHED | F_RELAY;
		logmsg(LOG_INFO, "smtp: [%s] authenticated as %s", c->addr,
		    c->authuser);
		reply(c, "235 2.7.0 Authentication successful");
		return;
	}
	c->authfails++;
	c->pause = time(NULL) + (c->authfails < 5 ? c->authfails : 5);
	reject(c, "AUTH", "535 5.7.8 Authentication credentials invalid");
	logmsg(LOG_WARNING, "smtp: [%s] authentication failed for user %s%s",
	    c->addr, c->authuser, why);
	c->authuser[0] = '\0';
}

/* A malformed or aborted response ends the exchange, nothing checked. */
static void
authbad(struct conn *c, const char *why)
{
	smtp_enter(c, P_HELO);
	c->authuser[0] = '\0';
	reject(c, "AUTH", "%s", why);
}

/*
 * AUTH PLAIN's single response (RFC 4616), decoded (n bytes at zid):
 * [authzid] NUL authcid NUL passwd, exactly three fields, user and
 * password not empty. We act for nobody else: the authzid is empty or
 * the user's own.
 */
static void
authplain(struct conn *c, char *zid, size_t n)
{
	char *user, *pass, *end = zid + n;
	int other;

	user = memchr(zid, '\0', n);
	pass = user != NULL && user < end ?
	    memchr(user + 1, '\0', (size_t)(end - user - 1)) : NULL;
	if (pass == NULL || pass == end) {
		authbad(c, "501 5.5.2 Invalid AUTH PLAIN response");
	} else if (user++, pass++, strlen(pass) != (size_t)(end - pass)) {
		authbad(c, "501 5.5.2 Invalid AUTH PLAIN response: data after "
		    "the password");
	} else if (*user == '\0' || *pass == '\0') {
		authbad(c, "501 5.5.2 Invalid AUTH PLAIN response: empty user "
		    "or password");
	} else {
		/* another's authzid is not worth a crypt: refused */
		other = *zid != '\0' && strcmp(zid, user) != 0;
		snprintf(c->authuser, sizeof(c->authuser), "%s", user);
		authdone(c, !other && checkpass(user, pass), other ?
		    " (authorization identity differs)" : "");
	}
}

/* One response of an AUTH exchange: after a 334, or given with AUTH. */
static void
authresp(struct conn *c, const char *b64)
{
	unsigned char buf[512];
	int n;

	n = b64decode(b64, buf, c->phase == P_AUTH_PLAIN ? sizeof(buf) : 256);
	if (n == -1) {
		authbad(c, "501 5.5.2 Invalid base64 data");
	} else if (c->phase == P_AUTH_PLAIN) {
		authplain(c, (char *)buf, (size_t)n);
	} else if (n == 0 || memchr(buf, '\0', (size_t)n) != NULL ||
	    (c->phase == P_AUTH_USER && (size_t)n >= sizeof(c->authuser))) {
		/* LOGIN as PLAIN: no NUL inside, nothing cut off, nothing
		 * empty */
		authbad(c, "501 5.5.2 Invalid AUTH LOGIN response");
	} else if (c->phase == P_AUTH_USER) {
		memcpy(c->authuser, buf, (size_t)n + 1);
		smtp_enter(c, P_AUTH_PASS);
		reply(c, "334 UGFzc3dvcmQ6");
	} else {
		authdone(c, checkpass(c->authuser, (char *)buf), "");
	}
	explicit_bzero(buf, sizeof(buf));
}

/* A line in an AUTH phase: a response, or "*" to give up. */
static void
authline(struct conn *c, char *line)
{
	if (strcmp(line, "*") == 0) {
		authbad(c, "501 5.0.0 Authentication aborted");
	} else {
		authresp(c, line);
	}
}
#else
/* Built without TLS: intls() is never true, so c_auth() refuses AUTH and
 * no AUTH phase is entered; no password crosses the wire in clear. */
#define authresp(c, resp)	((void)0)
#define authline(c, line)	((void)0)
#endif

static void
c_auth(struct conn *c, char *arg)
{
	char *resp = strchr(arg, ' ');

	if (resp != NULL) {
		*resp++ = '\0';
	}
	if (!intls(c) || set.authusers[0] == '\0') {
		reject(c, "AUTH", "503 5.5.1 Error: authentication not "
		    "enabled");
	} else if (c->flags & F_AUTHED) {
		reject(c, "AUTH", "503 5.5.1 Error: already authenticated");
	} else if (strcasecmp(arg, "PLAIN") == 0) {
		smtp_enter(c, P_AUTH_PLAIN);
		if (resp != NULL && strcmp(resp, "=") != 0) {
			authresp(c, resp);
		} else {
			reply(c, "334 ");
		}
	} else if (strcasecmp(arg, "LOGIN") == 0) {
		smtp_enter(c, P_AUTH_USER);
		if (resp != NULL) {
			authline(c, resp);
		} else {
			reply(c, "334 VXNlcm5hbWU6");
		}
	} else {
		reject(c, "AUTH", "504 5.5.4 Unrecognized authentication type");
	}
}

/* ---- commands ---- */

#define PH(p)	(1 << (p))
static const struct verb {
	const char *name;
	int phases;		/* where it is allowed; elsewhere 503 */
	void (*fn)(struct conn *, char *);	/* NULL: nothing to do */
	const char *done;	/* NULL, or the reply after fn; %s: our name */
} verbs[] = {
	{ "EHLO", ~0, c_ehlo, NULL },
	{ "HELO", ~0, c_helo, NULL },
	{ "MAIL", PH(P_HELO), c_mail, NULL },
	{ "RCPT", PH(P_MAIL) | PH(P_RCPT), c_rcpt, NULL },
	{ "DATA", PH(P_MAIL) | PH(P_RCPT), c_data, NULL },
	{ "RSET", ~0, c_rset, "250 2.0.0 Ok" },
	{ "NOOP", ~0, NULL, "250 2.0.0 Ok" },
	{ "QUIT", ~0, c_quit, "221 2.0.0 %s closing connection" },
	{ "VRFY", ~0, NULL, "252 2.5.2 Cannot VRFY user, but will accept "
	    "message and attempt delivery" },
	{ "HELP", ~0, c_help, NULL },
	{ "STARTTLS", PH(P_INIT) | PH(P_HELO), c_starttls, NULL },
	{ "AUTH", PH(P_HELO), c_auth, NULL },
};
#define NVERBS	(sizeof(verbs) / sizeof(*verbs))

static void
command(struct conn *c, char *line, size_t len)
{
	const struct verb *v;
	size_t n;
	char *arg;

	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) {
		line[--len] = '\0';
	}
	if (memchr(line, '\0', len) != NULL) {
		reject(c, "command", "500 5.5.2 Error: NUL byte in command");
		return;
	}
	if (c->phase >= P_AUTH_PLAIN) {
		authline(c, line);
		return;
	}
	n = strcspn(line, " ");
	arg = line + n + strspn(line + n, " ");
	line[n] = '\0';
	for (v = verbs; v < verbs + NVERBS; v++) {
		if (strcasecmp(line, v->name) == 0) {
			break;
		}
	}
	if (v == verbs + NVERBS) {
		reject(c, "command", "500 5.5.1 Error: command not recognized");
		return;
	}
	if (!(v->phases & PH(c->phase))) {
		reject(c, v->name, "503 5.5.1 Error: bad sequence of commands");
		return;
	}
	if (v->fn != NULL) {
		v->fn(c, arg);
	}
	if (v->done != NULL) {
		reply(c, v->done, set.hostname);
	}
}

/* ---- DATA ---- */

static void
dflush(struct conn *c)
{
	if (c->derr == DE_NONE && writeall(c->dffd, c->dbuf, c->dlen) == -1) {
		c->derr = storeerr(errno);
	}
	c->dlen = 0;
}

/* The final dot: refuse, or queue the message for the group commit. */
static void
enddata(struct conn *c)
{
	dflush(c);
	if (c->derr == DE_NONE && spool_freespace(0) == 0) {
		smtp_enter(c, P_COMMIT);
		return;
	}
	reject(c, "DATA", derrtext[c->derr != DE_NONE ? c->derr : DE_FULL],
	    set.maxsize);
	dropmsg(c);
	smtp_enter(c, P_HELO);
}

static void
dataline(struct conn *c, char *line, size_t len)
{
	int crlf = len >= 2 && line[len - 2] == '\r', bol = c->bol;

	c->deadline = time(NULL) + set.tdatablock;
	c->bol = crlf;
	/*
	 * Only <CRLF>.<CRLF> ends the data: a dot line with a bare LF, or
	 * after one, is text (the SMTP smuggling attacks of 2023). -bs on
	 * a local pipe takes LF alone, as a local user's lines end.
	 */
	if (line[0] == '.' && ((len == 3 && crlf && bol) ||
	    (len == 2 && line[1] == '\n' && (c->flags & F_PIPE)))) {
		enddata(c);
		return;
	}
	if (len > MAXLINE) {
		c->derr = DE_LONG;
	}
	if (line[0] == '.') {
		line++;		/* dot-stuffing, RFC 5321 4.5.2 */
		len--;
	}
	if (crlf) {
		line[len - 2] = '\n';	/* the spool keeps LF line ends */
		len--;
	}
	c->m.size += (off_t)len;	/* spool_place() sets the df's own size */
	c->bytes += (long long)len;
	if (c->m.size > set.maxsize) {
		c->derr = DE_BIG;
	}
	/* a line is at most INSIZE < DBUFSIZE; after a data error the
	 * bytes only pass through dbuf, dflush() drops them */
	if (c->dlen + len > sizeof(c->dbuf)) {
		dflush(c);
	}
	memcpy(c->dbuf + c->dlen, line, len);
	c->dlen += len;
}

/* ---- input: whole lines out of the input buffer ---- */

static void
input(struct conn *c)
{
	size_t off = 0, len;
	char *nl = c->in;	/* NULL once a partial line stops the loop */

	while (off < c->w.inlen && isopen(c) &&
	    !committing(c) && OUTSIZE - c->w.outlen > 1024 &&
	    c->pause <= time(NULL)) {
		nl = memchr(c->in + off, '\n', c->w.inlen - off);
		if (nl == NULL) {
			break;	/* a partial line: wait for its end */
		}
		len = (size_t)(nl - (c->in + off)) + 1;
		if (c->skip != 0) {
			/* the tail of a long line: in DATA, how it ends
			 * says if the next line starts after a CRLF */
			c->bol = (len >= 2 && nl[-1] == '\r') ||
			    (len == 1 && c->skip == 2);
			c->skip = 0;
		} else if (c->phase == P_DATA) {
			dataline(c, c->in + off, len);
		} else if (len > MAXCMD) {
			reject(c, "command", derrtext[DE_LONG]);
		} else {
			c->deadline = time(NULL) + set.tcommand;
			command(c, c->in + off, len);
		}
		off += len;
	}
	if (nl == NULL && off == 0 && c->w.inlen == INSIZE) {
		/* no line end in a full buffer: the line is too long */
		if (c->phase == P_DATA) {
			c->derr = DE_LONG;
		} else if (c->skip == 0) {
			reject(c, "command", derrtext[DE_LONG]);
		}
		c->skip = c->in[INSIZE - 1] == '\r' ? 2 : 1;
		c->bol = 0;	/* inside a line: no line start */
		off = c->w.inlen;
	}
	memmove(c->in, c->in + off, c->w.inlen - off);
	c->w.inlen -= off;
}

/* ---- slots ---- */

int
smtp_init(void)
{
	struct rlimit rl;
	rlim_t fds = MAXCONN_CAP;	/* the sessions the descriptors allow */

	/* each takes its socket and, in DATA, its df; FD_RESERVE stays for
	 * the spool, the log, the listeners, the runner and a refusal's
	 * accept. At least one. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur != RLIM_INFINITY) {
		fds = rl.rlim_cur >= FD_RESERVE + 2 ?
		    (rl.rlim_cur - FD_RESERVE) / 2 : 1;
	}
	nslots = set.maxconn < MAXCONN_CAP ? (int)set.maxconn : MAXCONN_CAP;
	if ((rlim_t)nslots > fds) {
		nslots = (int)fds;
		logmsg(LOG_WARNING, "smtp: %d sessions at most, not %ld: the "
		    "descriptor limit (RLIMIT_NOFILE) is low", nslots,
		    set.maxconn);
	}
	if (nslots < 1) {
		nslots = 1;
	}
	/* fresh pages: untouched slots cost address space, not memory */
	slots = mmap(NULL, (size_t)nslots * sizeof(*slots), PROT_READ |
	    PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return slots == MAP_FAILED ? -1 : 0;	/* then mta.c dies */
}

/* Return a slot to vacant: files removed unless committed, fd closed. */
static void
conn_reset(struct conn *c, int keepfiles)
{
	if (!busy[SLOT(c)]) {
		return;
	}
	if (!keepfiles) {
		logmsg(LOG_INFO, "disconnect from [%s] helo=%s msgs=%u "
		    "rcpts=%u errors=%d%s", c->addr, c->helo[0] != '\0' ?
		    c->helo : "-", c->nmsg, c->nrcpt, c->errors,
		    intls(c) ? " tls=yes" : "");
		dropmsg(c);
	} else if (c->dffd != -1) {
		close(c->dffd);
	}
	msg_free(&c->m);	/* empty after dropmsg(); else its lock goes */
	if (c->w.wfd != c->w.fd) {
		/* -bs: the descriptors are shared with our caller */
		fcntl(c->w.fd, F_SETFL, fcntl(c->w.fd, F_GETFL) & ~O_NONBLOCK);
		fcntl(c->w.wfd, F_SETFL,
		    fcntl(c->w.wfd, F_GETFL) & ~O_NONBLOCK);
		close(c->w.wfd);
	}
	close(c->w.fd);
	explicit_bzero(c->authuser, sizeof(c->authuser));
	/* the TLS pages stay untouched: the next STARTTLS resets them */
	memset(c, 0, PLAINSIZE);
	c->w.fd = c->w.wfd = c->dffd = -1;
	msg_init(&c->m);
	busy[SLOT(c)] = 0;
}

static struct conn *
vacant(void)
{
	unsigned char *p = memchr(busy, 0, (size_t)nslots);

	return p != NULL ? &slots[p - busy].c : NULL;
}

/* The busy slots in turn: for (i = 0; (c = each(&i)) != NULL; ) */
static struct conn *
each(int *i)
{
	while (*i < nslots && !busy[*i]) {
		(*i)++;
	}
	return *i < nslots ? &slots[(*i)++].c : NULL;
}

/* How many sessions there are from addr (NULL: any) in phase (-1: any). */
static int
sessions(const char *addr, int phase)
{
	int i, n = 0;

	for (i = 0; i < nslots; i++) {
		n += busy[i] && (addr == NULL ||
		    strcmp(slots[i].c.addr, addr) == 0) &&
		    (phase == -1 || slots[i].c.phase == phase);
	}
	return n;
}

int
smtp_count(void)
{
	return sessions(NULL, -1);
}

static void
peername(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	if (inet_ntop(ss->ss_family, inaddr(ss), buf, (socklen_t)len) == NULL) {
		snprintf(buf, len, "unknown");
	}
}

/* Refuse a connection we cannot serve, without ever waiting on it. */
static void
refuse(int fd, const char *why)
{
	char msg[512];	/* HostName is at most 255 bytes */

	snprintf(msg, sizeof(msg), "421 4.7.0 %s %s, try again later\r\n",
	    set.hostname, why);
	/* never blocks (EAGAIN ends it); a client gone already is told
	 * nothing */
	(void)writeall(fd, msg, strlen(msg));
	/* unread input would turn the close into a reset that may destroy
	 * the 421 before the client reads it */
	shutdown(fd, SHUT_WR);
	while (read(fd, msg, sizeof(msg)) > 0) {
		;
	}
	close(fd);
}

static void
greet(struct conn *c, int fd, int wfd)
{
	busy[SLOT(c)] = 1;
	wire_init(&c->w, fd, wfd, c->in, INSIZE, c->out, OUTSIZE);
	c->dffd = -1;
	c->phase = P_INIT;	/* a new session starts: no change to log */
	c->deadline = time(NULL) + set.tcommand;
	msg_init(&c->m);
	nconns++;
	reply(c, "220 %s ESMTP mta", set.hostname);
}

/*
 * A log line that a flood could repeat many times a second: once per
 * LOGEVERY seconds, saying how many were left out meanwhile.
 */
#define LOGEVERY	60
struct ratelog {
	time_t last;
	unsigned long skipped;
};

static int
ratelog(struct ratelog *r, time_t now, char *more, size_t len)
{
	if (r->last != 0 && now - r->last < LOGEVERY && now >= r->last) {
		r->skipped++;
		return 0;
	}
	more[0] = '\0';
	if (r->skipped > 0) {
		snprintf(more, len, " (and %lu more like it in %lld s)",
		    r->skipped, (long long)(now - r->last));
	}
	r->last = now;
	r->skipped = 0;
	return 1;
}

static time_t acceptpause;	/* out of descriptors: listeners rest */

/* Are the listeners to be watched now? (see smtp_accept) */
int
smtp_accepting(time_t now)
{
	return acceptpause == 0 || now >= acceptpause;
}

/*
 * Take every pending connection from a listening socket. Out of
 * descriptors, a listener would stay readable and the loop spin: the
 * listeners rest a second instead, the clients wait in the backlog.
 */
void
smtp_accept(int lfd)
{
	static struct ratelog errlog, fulllog, iplog;
	struct sockaddr_storage ss;
	socklen_t len;
	struct conn *c;
	char addr[INET6_ADDRSTRLEN], more[64];
	time_t now = time(NULL);
	int fd, full;

	if (!smtp_accepting(now)) {
		return;
	}
	acceptpause = 0;
	for (;;) {
		len = sizeof(ss);
		if ((fd = accept4(lfd, (struct sockaddr *)&ss, &len,
		    SOCK_CLOEXEC | SOCK_NONBLOCK)) == -1) {
			if (errno == EAGAIN || errno == EINTR ||
			    errno == ECONNABORTED) {
				return;
			}
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				acceptpause = now + 1;
			}
			if (ratelog(&errlog, now, more, sizeof(more))) {
				logmsg(LOG_ERR, "smtp: accept: %s%s%s",
				    strerror(errno), acceptpause != 0 ?
				    ", not accepting for a second" : "", more);
			}
			return;
		}
		peername(&ss, addr, sizeof(addr));
		full = fd >= FD_SETSIZE - FD_RESERVE || (c = vacant()) == NULL;
		if (full || sessions(addr, -1) >= set.maxperip) {
			if (ratelog(full ? &fulllog : &iplog, now, more,
			    sizeof(more))) {
				logmsg(LOG_NOTICE, "reject: connect from [%s]: "
				    "too many connections%s%s", addr, full ? "" :
				    " from this address", more);
			}
			refuse(fd, full ? "Error: too many connections" :
			    "Error: too many connections from your address");
			continue;
		}
		memcpy(c->addr, addr, sizeof(addr));
		greet(c, fd, fd);
		c->flags |= relayallowed(&ss) ? F_RELAY : 0;
		logmsg(LOG_INFO, "connect from [%s]", addr);
	}
}

/*
 * -bs: one session on stdin and stdout. On a socket of any family
 * (inetd, socat, stunnel, a supervisor) it is a network client under
 * RelayFrom; an AF_UNIX peer has no address, so it is in no RelayFrom
 * network and shows as [unix]. On a pipe or a terminal, a local user.
 */
struct conn *
smtp_stdio(void)
{
	struct conn *c = &slots[0].c;
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct stat st;

	fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
	fcntl(1, F_SETFL, fcntl(1, F_GETFL) | O_NONBLOCK);
	greet(c, 0, 1);
	if ((fstat(0, &st) == 0 && S_ISSOCK(st.st_mode)) ||
	    getsockname(0, (struct sockaddr *)&ss, &len) == 0) {
		len = sizeof(ss);
		memset(&ss, 0, sizeof(ss));
		if (getpeername(0, (struct sockaddr *)&ss, &len) == 0 &&
		    (ss.ss_family == AF_INET || ss.ss_family == AF_INET6)) {
			peername(&ss, c->addr, sizeof(c->addr));
			c->flags |= relayallowed(&ss) ? F_RELAY : 0;
		} else {
			snprintf(c->addr, sizeof(c->addr), "%s",
			    ss.ss_family == AF_UNIX ? "unix" : "socket");
		}
		logmsg(LOG_INFO, "connect from [%s] (-bs)", c->addr);
	} else {
		snprintf(c->addr, sizeof(c->addr), "127.0.0.1");
		c->flags |= F_RELAY | F_PIPE;
	}
	return c;
}

/* ---- bytes: wire.c moves them, plain or through the engine ---- */

/* The 220 to STARTTLS is out: the engine takes over (RFC 3207). There is
 * no message to drop (STARTTLS is taken in INIT and HELO only) and no
 * line being skipped (input() stopped after the command's line end). */
#if WITH_TLS
static void
starttls(struct conn *c)
{
	smtp_enter(c, L_TLS);
	smtp_enter(c, P_INIT);	/* RFC 3207 4.2: forget the HELO */
	c->helo[0] = '\0';
	tls_serverinit(&c->sc, c->iobuf, sizeof(c->iobuf));
	/* pipelined plaintext after STARTTLS is discarded */
	wire_tls(&c->w, &c->sc.eng);
}
#else
/* Built without TLS: L_STARTTLS is never entered. */
#define starttls(c)	((void)0)
#endif

/* Move what can move now; when the connection failed, -1, and the
 * session is closed (its slot vacant). */
static int
conn_io(struct conn *c, int canread)
{
	if (wire_io(&c->w, canread) == 0) {
		return 0;
	}
#if WITH_TLS
	if (intls(c) && br_ssl_engine_last_error(&c->sc.eng) != BR_ERR_OK) {
		logmsg(LOG_NOTICE, "smtp: [%s] TLS error %d", c->addr,
		    br_ssl_engine_last_error(&c->sc.eng));
	}
#endif
	conn_reset(c, 0);
	return -1;
}

/* ---- the loop's side ---- */

/* Watch what this session is waiting for. */
void
smtp_prepare(fd_set *rfds, fd_set *wfds, int *maxfd, time_t *next)
{
	struct conn *c;
	unsigned st;
	int i;

	if (inflight && syncer_fd() != -1) {
		FD_SET(syncer_fd(), rfds);
		*maxfd = syncer_fd() > *maxfd ? syncer_fd() : *maxfd;
	}
	if (acceptpause != 0 && acceptpause < *next) {
		*next = acceptpause;	/* then the listeners are back */
	}
	for (i = 0; (c = each(&i)) != NULL; ) {
		if (c->pause > 0 && c->pause < *next) {
			*next = c->pause;
		}
		if (c->deadline < *next) {
			*next = c->deadline;
		}
		st = wire_wants(&c->w);
		if (st & WIRE_WRITE) {
			FD_SET(c->w.wfd, wfds);
		}
		if (st & WIRE_READ) {
			FD_SET(c->w.fd, rfds);
		}
		/* wfd is fd, or -bs's stdout (1) to its stdin (0): never less */
		*maxfd = c->w.wfd > *maxfd ? c->w.wfd : *maxfd;
	}
}

/* One pass over one session. */
static void
step(struct conn *c, int readable, time_t now)
{
	int reads, again = 0;

	if (conn_io(c, readable) == -1) {
		return;
	}
	for (reads = 0; c->pause <= now; reads += again) {
		size_t before = c->w.inlen, left;

		/* a message coming in faster than we read: the last read
		 * filled the buffer, so read on here (a few times, to be fair
		 * to the others) rather than after a select() every INSIZE */
		again = c->phase == P_DATA && before == c->w.insize &&
		    reads < DATAREADS;
		c->pause = 0;
		input(c);
		left = c->w.inlen;
		if (!committing(c) && conn_io(c, again) == -1) {
			return;
		}
		/* go on while the replies went out and input() has more to
		 * take: a line, or a full buffer. Under TLS the engine
		 * refills the buffer without a read, and a session whose
		 * buffer is full asks select() for nothing: left full, it
		 * would wait for its timeout */
		if (committing(c) || wire_pending(&c->w) ||
		    (left == before && c->w.inlen == left) ||
		    (c->w.inlen < c->w.insize &&
		    memchr(c->in, '\n', c->w.inlen) == NULL)) {
			break;
		}
	}
	if (c->life == L_STARTTLS && !wire_pending(&c->w)) {
		starttls(c);
		if (conn_io(c, 0) == -1) {
			return;
		}
	}
	if (c->life == L_TLSCLOSING && !wire_pending(&c->w)) {
		/* a TLS session ends with close_notify (RFC 5246 7.2.1):
		 * the close below once it is out, or cannot go */
		smtp_enter(c, L_NOTIFIED);
		wire_close(&c->w);
		if (conn_io(c, 0) == -1 || wire_pending(&c->w)) {
			return;
		}
	}
	if (!wire_pending(&c->w) && (c->life == L_CLOSING ||
	    c->life == L_NOTIFIED || (c->w.eof && !committing(c) &&
	    memchr(c->in, '\n', c->w.inlen) == NULL))) {
		/* closed, or the client left: a partial line is no command */
		conn_reset(c, 0);
		return;
	}
	if (now >= c->deadline && !committing(c)) {
		logmsg(LOG_NOTICE, "smtp: timeout after %s from [%s]",
		    logphase(c), c->addr);
		reply(c, "421 4.4.2 %s Error: timeout exceeded", set.hostname);
		(void)conn_io(c, 0);
		conn_reset(c, 0);	/* if conn_io has not */
	}
}

/*
 * A message the spool could not take (err: the errno) gets its 451 or
 * 452, and goes; a staged one (P_SYNC) with its files.
 */
static void
storefail(struct conn *c, const char *what, int err)
{
	logmsg(LOG_ERR, "%s: smtp: %s: %s", c->m.id, what, strerror(err));
	reject(c, "DATA", derrtext[storeerr(err)]);
	dropmsg(c);
	smtp_enter(c, P_HELO);
}

/* The flush of generation g is over, r what it returned (0: durable;
 * else spool.c left the flush's errno behind, if any): the replies. */
static void
flushed(unsigned g, int r)
{
	char id[QIDLEN];
	struct conn *c;
	int err = r == 0 ? 0 : errno != 0 ? errno : EIO, i;

	for (i = 0; (c = each(&i)) != NULL; ) {
		if (c->phase != P_SYNC || c->gen > g) {
			continue;
		}
		if (err != 0) {
			storefail(c, "the flush failed", err);
		} else {
			smtp_enter(c, P_HELO);
			logmsg(LOG_INFO, "%s: from=<%s>, size=%lld, nrcpts=%d, "
			    "proto=%sSMTP, helo=%s, relay=[%s]", c->m.id,
			    c->m.sender, (long long)c->m.size, c->m.nrcpt,
			    (c->flags & F_EHLO) ? "E" : "", c->helo, c->addr);
			reply(c, "250 2.0.0 Ok: queued as %s", c->m.id);
			c->nmsg++;
			c->nrcpt += (unsigned)c->m.nrcpt;
			nmsgs++;
			memcpy(id, c->m.id, sizeof(id));
			dropmsg(c);	/* unlocks it for the runner */
			smtp_onqueued(id);
		}
	}
	if (err != 0) {
		spool_abortdone();	/* storefail() removed the files */
	}
}

/* A flush in flight: the syncer's answer, waited for if need be (never
 * a second flush, see syncer_done), and its replies. */
static void
syncwait(void)
{
	if (inflight) {
		inflight = 0;
		errno = 0;
		flushed(opengen - 1, syncer_done());
	}
}

/* Flush what is staged: by the syncer if there is one, else here and
 * now, and reply. */
static void
askflush(void)
{
	if (inflight) {
		return;		/* the next flush starts when this one ends */
	}
	opengen++;	/* what is staged from now on waits for the next */
	inflight = syncer_ask() == 0;
	if (!inflight) {
		errno = 0;
		flushed(opengen - 1, syncer_flush());
	}
}

/*
 * Stage every message that finished in this pass (tf renamed to qf, no
 * flush) and have them flushed together (SPEC "The spool", second
 * form). Their 250s go out only when that flush is over; meanwhile the
 * loop serves the other sessions. A message that cannot be staged gets
 * its own 4xx at once.
 */
static void
commitall(void)
{
	struct conn *c;
	int i, n = 0;

	for (i = 0; (c = each(&i)) != NULL; ) {
		if (c->phase != P_COMMIT) {
			continue;
		}
		if (syncer_stage(&c->m, c->dffd) == -1) {
			c->dffd = -1;
			storefail(c, "cannot stage", errno);
			continue;
		}
		c->dffd = -1;
		smtp_enter(c, P_SYNC);
		c->gen = opengen;
		n++;
	}
	if (n > 0) {
		askflush();
	}
}

/*
 * SIGHUP, in the child that keeps the old sessions, and SIGTERM: no
 * syncer from now on. A flush in flight is answered by the syncer,
 * waited for: never done a second time (see syncer_done). What was
 * staged after it is flushed here and now.
 */
void
smtp_handover(void)
{
	syncwait();
	syncer_drop();
	if (sessions(NULL, P_SYNC) > 0) {
		askflush();	/* no syncer now: flushed here and now */
	}
}

void
smtp_run(fd_set *rfds, fd_set *wfds)
{
	time_t now = time(NULL);
	struct conn *c;
	int i, again;

	(void)wfds;
	if (syncer_fd() != -1 && FD_ISSET(syncer_fd(), rfds)) {
		/* reply to the generation flushed, start the next one */
		syncwait();
		if (sessions(NULL, P_SYNC) > 0) {
			askflush();	/* staged meanwhile */
		}
	}
	for (i = 0; (c = each(&i)) != NULL; ) {
		step(c, FD_ISSET(c->w.fd, rfds), now);
	}
	commitall();
	/* sessions that had pipelined commands behind their message */
	do {
		for (i = 0; (c = each(&i)) != NULL; ) {
			if (!committing(c)) {
				step(c, 0, now);
			}
		}
		/* commitall() just left none: these are this round's */
		again = sessions(NULL, P_COMMIT) > 0;
		commitall();
	} while (again);
}

/* SIGTERM: 421 to idle sessions; abandon messages in flight. */
void
smtp_shutdown(void)
{
	struct conn *c;
	int i;

	/* what is staged is flushed and acknowledged before we go, as
	 * SIGHUP's child does: the client was told nothing yet, and the
	 * message must not stay behind unacknowledged */
	smtp_handover();
	for (i = 0; (c = each(&i)) != NULL; ) {
		if (c->phase != P_DATA) {
			reply(c, "421 4.3.2 %s Service shutting down",
			    set.hostname);
			(void)conn_io(c, 0);
		}
		conn_reset(c, 0);	/* if conn_io has not */
	}
}

/* SIGHUP, in the process that execs: the sessions now belong to the
 * child that keeps serving them, so only the descriptors go. */
void
smtp_forget(void)
{
	int i;

	for (i = 0; i < nslots; i++) {
		conn_reset(&slots[i].c, 1);
	}
}

/* SIGUSR1 */
void
smtp_dump(void)
{
	struct conn *c;
	int i;

	logmsg(LOG_INFO, "state: %d session(s), since start: %lu "
	    "connections, %lu messages, %lu rejects", smtp_count(),
	    nconns, nmsgs, nrejects);
	for (i = 0; (c = each(&i)) != NULL; ) {
		logmsg(LOG_INFO, "state: session fd=%d peer=[%s] helo=%s "
		    "phase=%s bytes=%lld msgs=%u tls=%s%s", c->w.fd, c->addr,
		    c->helo[0] != '\0' ? c->helo : "-", logphase(c),
		    c->bytes, c->nmsg, intls(c) ? "yes" : "no",
		    (c->flags & F_AUTHED) ? " auth=yes" : "");
	}
}
#endif /* WITH_SERVER */
