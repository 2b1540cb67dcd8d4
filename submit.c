/*
 * submit.c: local submission, the sendmail command line's main job.
 *
 * submit_run() reads the message from stdin: the header block first (to
 * find -t's recipients, remove Bcc: and see which of Date:, Message-ID:
 * and From: are missing), then the body, streamed into the df as it
 * comes. The message is committed (spool_place) before anything says
 * it was accepted; exit 0 means it is on disk.
 */
#include <sys/types.h>
#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "mta.h"

/* Collects the recipients: each once. */
static void
addone(const char *s, void *arg)
{
	struct strv *sv = arg;
	int i;

	for (i = 0; i < sv->n; i++) {
		if (strcasecmp(sv->v[i], s) == 0) {
			return;		/* a recipient is delivered once */
		}
	}
	strv_add(sv, xstrdup(s));
}

/*
 * Read one input line into *line (LF-terminated unless at EOF). CRLF
 * becomes LF. Returns its length, 0 at the end of the message (EOF, or a
 * lone "." without -i), -1 on a read error.
 */
static ssize_t
readline(char **line, size_t *cap)
{
	ssize_t n;

	errno = 0;
	if ((n = getline(line, cap, stdin)) == -1) {
		return errno != 0 && ferror(stdin) ? -1 : 0;
	}
	if (n >= 2 && (*line)[n - 1] == '\n' && (*line)[n - 2] == '\r') {
		(*line)[n - 2] = '\n';
		(*line)[--n] = '\0';
	}
	if (!opt.iflag && ((n == 2 && strcmp(*line, ".\n") == 0) ||
	    (n == 1 && (*line)[0] == '.'))) {
		return 0;
	}
	return n;
}

/* Does this line start a header field (name, colon)? */
static int
isfield(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n && s[i] != ':'; i++) {
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] > '~') {
			return 0;
		}
	}
	return i > 0 && i < n;
}

/* The header block as read: whole fields, LF line ends. */
struct hdrs {
	char *p;		/* MAXHEADER bytes at most */
	size_t len;
};

/*
 * Read the header block into h. Returns the length of the line that
 * ended it, left in *line (a separator or body text), or 0: no body
 * follows (the input ended).
 */
static ssize_t
readheaders(struct hdrs *h, char **line, size_t *cap)
{
	ssize_t n;

	h->p = xmalloc(MAXHEADER);
	if ((n = readline(line, cap)) > 0 && strncmp(*line, "From ", 5) == 0) {
		n = readline(line, cap);	/* an mbox From_ line: not ours */
	}
	for (; n > 0; n = readline(line, cap)) {
		int cont = (**line == ' ' || **line == '\t') && h->len > 0;

		if (!cont && !isfield(*line, (size_t)n)) {
			return n;
		}
		if (memchr(*line, '\0', (size_t)n) != NULL) {
			die(EX_DATAERR, "NUL byte in the message header");
		}
		if (h->len + (size_t)n + 1 > MAXHEADER) {
			die(EX_DATAERR, "message header longer than %d bytes",
			    MAXHEADER);
		}
		memcpy(h->p + h->len, *line, (size_t)n);
		h->len += (size_t)n;
		if ((*line)[n - 1] != '\n') {
			/* the last header line had no newline: the input ends */
			h->p[h->len++] = '\n';
		}
	}
	if (n == -1) {
		die(EX_IOERR, "reading the message:");
	}
	return 0;
}

/* Iterate over header fields: returns the field length, 0 at the end. */
static size_t
nextfield(const char *p, const char *end)
{
	const char *q = p;

	while (q < end) {
		q = memchr(q, '\n', (size_t)(end - q));
		q = q == NULL ? end : q + 1;
		if (q >= end || (*q != ' ' && *q != '\t')) {
			break;
		}
	}
	return (size_t)(q - p);
}

static int
fieldis(const char *f, size_t len, const char *name)
{
	size_t n = strlen(name);

	return len > n && f[n] == ':' && strncasecmp(f, name, n) == 0;
}

/* Does the header block hold a field of this name? */
static int
hashdr(const struct hdrs *h, const char *name)
{
	const char *p = h->p, *end = h->p + h->len;
	size_t n;

	for (; p < end && (n = nextfield(p, end)) > 0; p += n) {
		if (fieldis(p, n, name)) {
			return 1;
		}
	}
	return 0;
}

/* -t: collect the recipients of To:, Cc:, Bcc: (or their Resent- forms). */
static void
headerrcpts(const struct hdrs *h, struct strv *rcpts)
{
	static const char *all[] = { "To", "Cc", "Bcc", "Resent-To",
	    "Resent-Cc", "Resent-Bcc" };
	const char **names = all, *p = h->p, *end = h->p + h->len;
	char *val;
	size_t n, k;
	int i;

	/* the Resent- fields when there are any, else the others */
	for (i = 3; i < 6; i++) {
		if (hashdr(h, all[i])) {
			names = all + 3;
		}
	}
	for (; p < end && (n = nextfield(p, end)) > 0; p += n) {
		for (i = 0; i < 3; i++) {
			if (!fieldis(p, n, names[i])) {
				continue;
			}
			k = strlen(names[i]) + 1;
			val = xmalloc(n - k + 1);
			memcpy(val, p + k, n - k);
			val[n - k] = '\0';
			if (addr_parselist(val, addone, rcpts) == -1) {
				sanitize(val);
				warn("%s: cannot parse the address list:%s",
				    names[i], val);
			}
			free(val);
		}
	}
}

/* The header block minus Bcc fields, written to the df. */
static void
putheaders(struct wbuf *w, const struct hdrs *h)
{
	const char *p = h->p, *end = h->p + h->len;
	size_t n;

	for (; p < end && (n = nextfield(p, end)) > 0; p += n) {
		/* Bcc recipients must not be shown to anyone, -t or not */
		if (fieldis(p, n, "Bcc") || fieldis(p, n, "Resent-Bcc")) {
			continue;
		}
		wput(w, p, n);
	}
}

/*
 * The envelope sender; the caller's login, and full name for From: (the
 * password file's, cut at its first comma).
 */
static char *
sender(const char **user, const char **gecos)
{
	static char buf[MAXADDR + 1], name[64], full[256];
	struct passwd *pw = getpwuid(getuid());
	const char *g = pw != NULL && pw->pw_gecos != NULL ? pw->pw_gecos : "";

	/* copies: getpwnam() in the alias lookups reuses getpwuid's buffer */
	snprintf(name, sizeof(name), "%s", pw != NULL ? pw->pw_name : "nobody");
	snprintf(full, sizeof(full), "%.*s", (int)strcspn(g, ","), g);
	*user = name;
	*gecos = full;
	if (opt.from == NULL) {
		snprintf(buf, sizeof(buf), "%s@%s", *user, set.hostname);
	} else if (opt.from[0] == '\0') {
		/* -f '' is the null sender, like -f '<>' (Postfix, busybox) */
		buf[0] = '\0';
	} else if (addr_parseone(opt.from, buf, sizeof(buf)) == -1) {
		die(EX_USAGE, "-f %s: not a valid address", opt.from);
	}
	return buf;
}

/*
 * name as an RFC 5322 display name in out: control characters
 * dropped, outer blanks trimmed, and the whole quoted, with a backslash
 * before '"' and '\\', when it holds anything but atext and blanks:
 * "Smith, John" or "Mallory <ceo@bank.test>" stay one name and add no
 * address. Empty when nothing is left; cut at a character, never inside
 * an escape, when out (len 3 or more) is short.
 */
static void
displayname(const char *name, char *out, size_t len)
{
	static const char atext[] = "!#$%&'*+-/=?^_`{|}~ ";
	size_t i, o = 0, end = 0;
	int quote = 0;
	unsigned char c;

	out[o++] = '"';
	for (i = 0; name[i] != '\0' && o + 4 < len; i++) {
		c = (unsigned char)name[i];
		if (c < 0x20 || c == 0x7f || (c == ' ' && o == 1)) {
			continue;
		}
		if (!isalnum(c) && c < 0x80 && strchr(atext, c) == NULL) {
			quote = 1;
		}
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
		}
		out[o++] = (char)c;
		end = c == ' ' ? end : o;
	}
	o = end;
	if (o <= 1) {
		*out = '\0';
	} else if (quote) {
		out[o++] = '"';
		out[o] = '\0';
	} else {
		memmove(out, out + 1, o - 1);
		out[o - 1] = '\0';
	}
}

/*
 * The From: we add follows the envelope, as Postfix's does: the -F name,
 * else the caller's full name from the password file (gecos, from
 * sender()), before the envelope sender (with our domain if it has none);
 * just MAILER-DAEMON for the null sender.
 */
static void
addfrom(struct wbuf *w, const char *sender, const char *gecos)
{
	char dn[2 * 256 + 3], line[sizeof(dn) + MAXADDR + 256 + 16];
	const char *at = strrchr(sender, '@');
	int bare = at == NULL || strchr(at, '"') != NULL;	/* "a@b" */
	const char *name = opt.fullname != NULL ? opt.fullname : gecos;

	if (sender[0] == '\0') {
		wputs(w, "From: MAILER-DAEMON\n");
		return;
	}
	displayname(name, dn, sizeof(dn));
	snprintf(line, sizeof(line), "From: %s%s%s%s%s%s\n", dn,
	    dn[0] != '\0' ? " <" : "", sender,
	    bare ? "@" : "", bare ? set.hostname : "",
	    dn[0] != '\0' ? ">" : "");
	wputs(w, line);
}

/* Received:, the header, and the fields a message must have. */
static void
writehead(struct wbuf *w, const struct hdrs *h, const struct msg *m,
    const char *gecos)
{
	char date[64], line[1024];

	rfc5322date(m->arrival, date, sizeof(date));
	snprintf(line, sizeof(line), "Received: by %s (mta %s, from userid "
	    "%ld)\n\tid %s; %s\n", set.hostname, VERSION, (long)getuid(),
	    m->id, date);
	wputs(w, line);
	putheaders(w, h);
	if (!hashdr(h, "Date")) {
		snprintf(line, sizeof(line), "Date: %s\n", date);
		wputs(w, line);
	}
	if (!hashdr(h, "Message-ID")) {
		snprintf(line, sizeof(line), "Message-ID: <%s@%s>\n", m->id,
		    set.hostname);
		wputs(w, line);
	}
	if (!hashdr(h, "From")) {
		addfrom(w, m->sender, gecos);
	}
}

/*
 * The body, streamed from stdin to the df, from the line of n bytes in
 * *line that ended the header block (none when n is 0).
 */
static void
writebody(struct wbuf *w, ssize_t n, char **line, size_t *cap)
{
	if (n == 0) {
		return;
	}
	/* that line: a separator, or body text that needs one before it */
	if (n != 1 || **line != '\n') {
		wputs(w, "\n");
	}
	do {
		wput(w, *line, (size_t)n);
	} while (w->total <= set.maxsize && (n = readline(line, cap)) > 0);
	if (n == -1) {
		w->err = errno != 0 ? errno : EIO;
	}
}

/* DSN parameters from -N, -R, -V: RFC 3461's rules, as for SMTP. */
static void
dsnparams(struct msg *m, int *notify)
{
	*notify = 0;
	if (opt.notify != NULL && (*notify = dsn_notify(opt.notify)) == -1) {
		die(EX_USAGE, "-N %s: expected never, or "
		    "success,failure,delay", opt.notify);
	}
	if (opt.ret != NULL && (m->ret = dsn_ret(opt.ret)) == -1) {
		die(EX_USAGE, "-R %s: expected full or hdrs", opt.ret);
	}
	if (opt.envid != NULL) {
		if (!dsn_xtext(opt.envid, 100)) {
			die(EX_USAGE, "-V %s: not a valid ENVID", opt.envid);
		}
		m->envid = xstrdup(opt.envid);
	}
}

/*
 * Check each recipient; the good ones go into m. An unknown local user
 * or a malformed address is reported and left out. Returns the number
 * of bad ones.
 */
static int
addrcpts(struct msg *m, const struct strv *rcpts, int notify)
{
	int i, bad = 0;

	for (i = 0; i < rcpts->n; i++) {
		const char *a = rcpts->v[i];
		/* local_known -1, aliases unreadable now: queue it, decide
		 * later */
		const char *why = !addr_valid(a) ? "Bad address syntax" :
		    local_known(a) == 0 ? "User unknown" : NULL;

		if (why != NULL) {
			fprintf(stderr, "%s... %s\n", a, why);
			bad++;
		} else {
			msg_addrcpt(m, a)->notify = notify;
		}
	}
	return bad;
}

/* sendmail [flags] [recipients]: read, spool, commit, exit 0. */
int
submit_run(char **argv, int argc)
{
	static struct wbuf w;
	struct strv rcpts = { NULL, 0, 0 };
	struct hdrs h = { NULL, 0 };
	struct msg m;
	const char *user, *gecos;
	char *line = NULL;
	size_t cap = 0;
	ssize_t first;
	int i, bad, notify;

	msg_init(&m);
	for (i = 0; i < argc; i++) {
		if (addr_parselist(argv[i], addone, &rcpts) <= 0) {
			die(EX_NOUSER, "%s... Bad address syntax", argv[i]);
		}
	}
	if (!opt.tflag && rcpts.n == 0) {
		die(EX_USAGE, "Recipient names must be specified");
	}
	m.sender = xstrdup(sender(&user, &gecos));
	dsnparams(&m, &notify);
	if (spool_open() == -1) {
		die(tempfailcode(errno), "cannot open the queue directory "
		    "%s:", set.queuedir);
	}
	if (spool_freespace(0) == -1) {
		die(EX_TEMPFAIL, "not enough free space in %s (MinFreeSpace "
		    "%lld bytes); try again later", set.queuedir, set.minfree);
	}
	first = readheaders(&h, &line, &cap);
	if (opt.tflag) {
		headerrcpts(&h, &rcpts);
		if (rcpts.n == 0) {
			die(EX_USAGE, "No recipient addresses found in header");
		}
	}
	bad = addrcpts(&m, &rcpts, notify);
	if (m.nrcpt == 0) {
		die(EX_NOUSER, "no valid recipients, message not queued");
	}
	m.arrival = time(NULL);
	if ((w.fd = spool_create(&m)) == -1) {
		die(tempfailcode(errno), "cannot create a file in %s:",
		    set.queuedir);
	}
	writehead(&w, &h, &m, gecos);
	writebody(&w, first, &line, &cap);
	wflush(&w);
	if (w.total > set.maxsize) {
		spool_abort(&m, w.fd);
		die(EX_DATAERR, "message larger than MaxMessageSize (%lld "
		    "bytes), not queued", set.maxsize);
	}
	if (w.err != 0) {
		spool_abort(&m, w.fd);
		errno = w.err;
		die(EX_TEMPFAIL, "%s: writing the message to %s, not "
		    "queued:", m.id, set.queuedir);
	}
	if (spool_freespace(0) == -1) {
		spool_abort(&m, w.fd);
		die(EX_TEMPFAIL, "not enough free space in %s (MinFreeSpace "
		    "%lld bytes), not queued; try again later", set.queuedir,
		    set.minfree);
	}
	if (spool_place(&m, w.fd, 1) == -1) {
		die(EX_TEMPFAIL, "%s: cannot commit the message to %s, not "
		    "queued:", m.id, set.queuedir);
	}
	logmsg(LOG_INFO, "%s: from=<%s>, size=%lld, nrcpts=%d, relay=%s@"
	    "localhost", m.id, m.sender, (long long)m.size, m.nrcpt, user);
	if (verbose) {
		printf("%s: queued\n", m.id);
		fflush(stdout);
	}
	/* after the commit: deliver now, in the background, or not at all */
	if (opt.dmode == 'i') {
		deliver_one(m.id);
	} else if (opt.dmode != 'q') {
		deliver_spawn(m.id);
	}
	strv_free(&rcpts);
	free(h.p);
	free(line);
	msg_free(&m);
	return bad > 0 ? EX_NOUSER : 0;
}

