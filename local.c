/*
 * local.c: aliases and the local mailers.
 *
 * Start at local_expand(): it turns one envelope recipient into targets
 * (mailbox, /file, |command, remote address) through the alias file, which
 * loadaliases() parses once per process; local_checkaliases() runs the same
 * parser for -bi. Then local_deliver(): one message to one target through
 * the mbox, Maildir, file or pipe mailer.
 *
 * A target counts as delivered only when its data is on disk: after fsync of
 * the mbox, or of Maildir's new/ after the rename. An mbox append that fails
 * is cut back to the old length, so no reader ever sees a torn message.
 */
#include <sys/stat.h>
#include <sys/wait.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <syslog.h>
#include <unistd.h>

#include "mta.h"

#ifndef PIPE_TIMEOUT
#define PIPE_TIMEOUT	3600		/* seconds a |command may run */
#endif
#ifndef LOCK_TRIES
#define LOCK_TRIES	10		/* lock attempts, half a second apart */
#endif
#define LOCK_STALE	300		/* a dot-lock older than this is dead */
#define MAXDEPTH	20		/* nested aliases and :include:s */
#define MAXWORK		100000		/* items expanded for one recipient */
#define MAXFILE		(16 << 20)	/* largest alias or :include: file */
#define BUFSZ		65536

struct strv {
	char **v;
	int n, cap;
};

struct alias {
	char *name;
	struct strv item;
	int line;
};

/* One pass over an alias file, to load it or to check it (-bi). */
struct parse {
	const char *path;
	int check;		/* print each error, try the :include:s */
	int nerr;
	struct alias *a;
	int n, cap;
};

/* One recipient being expanded. */
struct exp {
	struct target *t;
	int n, cap;
	const char *stack[MAXDEPTH];	/* aliases and includes in progress */
	int depth;
	long work;
	int loaded, fail;
	char *err;
	size_t errlen;
};

/* The loaded alias file, and its stat to notice an edit. */
static struct {
	char *path;
	struct stat st;
	struct alias *a;
	int n;
} at;

static char ibuf[BUFSZ], obuf[BUFSZ];

/* Room for one more element in a growing array. */
static void *
grow(void *v, int n, int *cap, size_t size)
{
	if (n == *cap) {
		*cap = *cap > 0 ? *cap * 2 : 8;
		v = xrealloc(v, (size_t)*cap * size);
	}
	return v;
}

static void
strv_free(struct strv *sv)
{
	while (sv->n > 0) {
		free(sv->v[--sv->n]);
	}
	free(sv->v);
	sv->v = NULL;
	sv->cap = 0;
}

/* A whole (small) file as a C string, or NULL with errno. */
static char *
readfile(const char *path, struct stat *st)
{
	size_t len = 0, cap = 4096;
	char *buf;
	ssize_t r;
	int fd, e;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
		return NULL;
	}
	buf = xmalloc(cap);
	for (r = fstat(fd, st) == 0 ? 1 : -1; r > 0; ) {
		if (len + 1 == cap) {
			buf = xrealloc(buf, cap *= 2);
		}
		if ((r = read(fd, buf + len, cap - len - 1)) > 0) {
			len += (size_t)r;
		} else if (r < 0 && errno == EINTR) {
			r = 1;
		}
		if (len > MAXFILE) {
			errno = EFBIG;
			r = -1;
		}
	}
	e = errno;
	(void)close(fd);	/* read-only: a close error loses nothing */
	if (r < 0) {
		free(buf);
		errno = e;
		return NULL;
	}
	buf[len] = '\0';
	return buf;
}

/* CR counts as white space, so CRLF files need no special case. */
static char *
trim(char *s)
{
	char *e;

	s += strspn(s, " \t\r");
	for (e = s + strlen(s); e > s && strchr(" \t\r", e[-1]) != NULL; e--) {
		continue;
	}
	*e = '\0';
	return s;
}

/* A blank or comment line: ignored everywhere, even inside an entry. */
static int
skipline(const char *s)
{
	s += strspn(s, " \t\r");
	return *s == '\n' || *s == '\0' || *s == '#';
}

/*
 * Store one item. A wholly quoted item loses its quotes, so that
 * "|cmd with, comma" is a command; a partly quoted one ("a b"@host) is an
 * address and keeps them.
 */
static void
additem(char *raw, struct strv *sv)
{
	char *s = trim(raw), *u, *p;
	const char *q;

	if (*s == '\0') {
		return;
	}
	u = xstrdup(s);
	if (*s == '"') {
		for (p = u, q = s + 1; *q != '\0' && *q != '"'; q++) {
			if (*q == '\\' && q[1] != '\0') {
				q++;
			}
			*p++ = *q;
		}
		if (*q == '"' && q[1] == '\0') {
			*p = '\0';
		} else {
			memcpy(u, s, strlen(s) + 1);
		}
	}
	sv->v = grow(sv->v, sv->n, &sv->cap, sizeof *sv->v);
	sv->v[sv->n++] = u;
}

/* Split at commas outside double quotes; -1 for an unterminated quote. */
static int
splititems(const char *s, struct strv *sv)
{
	char *cur = xmalloc(strlen(s) + 1);
	size_t len = 0;
	int inq = 0;

	for (; *s != '\0'; s++) {
		if (*s == ',' && !inq) {
			cur[len] = '\0';
			additem(cur, sv);
			len = 0;
			continue;
		}
		if (inq && *s == '\\' && s[1] != '\0') {
			cur[len++] = *s++;
		} else if (*s == '"') {
			inq = !inq;
		}
		cur[len++] = *s;
	}
	cur[len] = '\0';
	if (!inq) {
		additem(cur, sv);
	}
	free(cur);
	return inq ? -1 : 0;
}

static void
aerr(struct parse *p, int line, const char *fmt, ...)
{
	va_list ap;

	p->nerr++;
	if (p->check) {
		fprintf(stderr, "%s:%d: ", p->path, line);
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
}

/* -bi only: what can be said of the items without expanding them. */
static void
checkitems(struct parse *p, const struct strv *sv, int line)
{
	const char *s, *path;
	int i, fd;

	for (i = 0; i < sv->n; i++) {
		s = sv->v[i];
		if (strncasecmp(s, ":include:", 9) == 0) {
			path = s + 9 + strspn(s + 9, " \t");
			if (*path != '/') {
				aerr(p, line, "%s: not an absolute path", s);
			} else if ((fd = open(path, O_RDONLY |
			    O_CLOEXEC)) < 0) {
				aerr(p, line, "%s: %s", s, strerror(errno));
			} else {
				(void)close(fd);	/* a read-only probe */
			}
		} else if ((*s == '|' || *s == '\\') &&
		    s[1 + strspn(s + 1, " \t")] == '\0') {
			aerr(p, line, "\"%s\" names nothing", s);
		} else if (*s != '|' && *s != '/' &&
		    strpbrk(s, " \t") != NULL) {
			aerr(p, line, "space in address \"%s\" (missing "
			    "comma?)", s);
		}
	}
}

/* A linear search: alias files are short, and -bi reports in line order. */
static struct alias *
findalias(struct alias *a, int n, const char *name)
{
	int i;

	for (i = 0; i < n; i++) {
		if (strcasecmp(a[i].name, name) == 0) {
			return &a[i];
		}
	}
	return NULL;
}

/* One logical line "name: item, item" (continuation lines joined). */
static void
parseentry(struct parse *p, char *text, int line)
{
	struct strv sv = { NULL, 0, 0 };
	char *colon = strchr(text, ':'), *name;
	struct alias *a;

	if (colon == NULL) {
		aerr(p, line, "missing colon after the alias name");
		return;
	}
	*colon = '\0';
	if (*(name = trim(text)) == '\0') {
		aerr(p, line, "empty alias name");
	} else if (name[strcspn(name, " \t\"@,")] != '\0') {
		aerr(p, line, "bad alias name \"%s\"", name);
	} else if (splititems(colon + 1, &sv) != 0) {
		aerr(p, line, "unterminated quote");
	} else if (sv.n == 0) {
		aerr(p, line, "empty right-hand side for \"%s\"", name);
	} else if ((a = findalias(p->a, p->n, name)) != NULL) {
		aerr(p, line, "duplicate alias \"%s\" (first on line %d) "
		    "ignored", name, a->line);
	} else {
		if (p->check) {
			checkitems(p, &sv, line);
		}
		p->a = grow(p->a, p->n, &p->cap, sizeof *p->a);
		p->a[p->n].name = xstrdup(name);
		p->a[p->n].item = sv;
		p->a[p->n++].line = line;
		return;
	}
	strv_free(&sv);
}

/*
 * Cut the buffer into entries: an entry starts in column 0 and goes on over
 * the lines that start with white space. Blank and comment lines inside an
 * entry are skipped (Postfix's rule), so they are blanked before joining.
 */
static void
parsebuf(struct parse *p, char *s)
{
	char *nl;
	int lno = 1, start, last;

	for (;; s = nl + 1, lno++) {
		start = lno;
		nl = s + strcspn(s, "\n");
		while (!skipline(s) && *nl == '\n' && nl[1] != '\0' &&
		    (nl[1] == ' ' || nl[1] == '\t' || skipline(nl + 1))) {
			if (skipline(nl + 1)) {
				memset(nl + 1, ' ', strcspn(nl + 1, "\n"));
			}
			*nl = ' ';
			nl += 1 + strcspn(nl + 1, "\n");
			lno++;
		}
		last = *nl == '\0';
		*nl = '\0';
		if (*s == ' ' || *s == '\t') {
			if (!skipline(s)) {
				aerr(p, start, "continuation line without an "
				    "alias name");
			}
		} else if (!skipline(s)) {
			parseentry(p, s, start);
		}
		if (last) {
			return;
		}
	}
}

static void
freealiases(struct alias *a, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		free(a[i].name);
		strv_free(&a[i].item);
	}
	free(a);
}

/*
 * Load set.aliasfile unless the cached copy is still that file: comparing
 * the stat lets a long-running daemon see an edited file. Entries with
 * errors are left out (mta -bi names them).
 */
static int
loadaliases(char *err, size_t errlen)
{
	const char *path = set.aliasfile != NULL ? set.aliasfile : "";
	struct parse p;
	struct stat st;
	char *buf = NULL;

	memset(&st, 0, sizeof st);
	memset(&p, 0, sizeof p);
	if (*path != '\0' && stat(path, &st) != 0 && errno != ENOENT &&
	    errno != ENOTDIR) {
		goto fail;
	}
	if (at.path != NULL && strcmp(at.path, path) == 0 &&
	    at.st.st_dev == st.st_dev && at.st.st_ino == st.st_ino &&
	    at.st.st_size == st.st_size &&
	    at.st.st_mtim.tv_sec == st.st_mtim.tv_sec &&
	    at.st.st_mtim.tv_nsec == st.st_mtim.tv_nsec) {
		return 0;
	}
	if (st.st_ino != 0 && (buf = readfile(path, &st)) == NULL) {
		if (errno != ENOENT) {
			goto fail;
		}
		memset(&st, 0, sizeof st);	/* removed meanwhile: none */
	}
	p.path = path;
	if (buf != NULL) {
		parsebuf(&p, buf);
		free(buf);
	}
	if (p.nerr > 0) {
		logmsg(LOG_ERR, "aliases: %s: %d bad entries ignored (see "
		    "mta -bi)", path, p.nerr);
	}
	freealiases(at.a, at.n);
	free(at.path);
	at.path = xstrdup(path);
	at.st = st;
	at.a = p.a;
	at.n = p.n;
	return 0;
fail:
	(void)snprintf(err, errlen, "4.3.0 alias file %s: %s", path,
	    strerror(errno));
	logmsg(LOG_ERR, "aliases: %s", err);
	return -1;
}

/*
 * A local name in passwd, lower-cased (local parts are case-insensitive
 * here, as in sendmail and Postfix). *pw is NULL for no such user; -1 only
 * when the user database cannot be read.
 */
static int
getuser(const char *name, struct passwd **pw)
{
	char low[256];
	size_t i;

	for (i = 0; name[i] != '\0' && i < sizeof low - 1; i++) {
		low[i] = (char)tolower((unsigned char)name[i]);
	}
	low[i] = '\0';
	errno = 0;
	*pw = name[i] == '\0' ? getpwnam(low) : NULL;
	return *pw == NULL && errno != 0 && errno != ENOENT &&
	    errno != ESRCH && errno != EBADF && errno != EPERM ? -1 : 0;
}

/* A temporary failure of the whole expansion; the first reason is kept. */
static void
tempexp(struct exp *e, const char *fmt, const char *arg)
{
	int n = errno;

	if (!e->fail) {
		(void)snprintf(e->err, e->errlen, fmt, arg, strerror(n));
		logmsg(LOG_ERR, "aliases: %s", e->err);
	}
	e->fail = 1;
}

static void
addtarget(struct exp *e, int type, const char *addr)
{
	int i;

	for (i = 0; i < e->n; i++) {
		if (e->t[i].type == type && (type == T_REMOTE ||
		    type == T_UNKNOWN ? strcasecmp(e->t[i].addr, addr) :
		    strcmp(e->t[i].addr, addr)) == 0) {
			return;
		}
	}
	e->t = grow(e->t, e->n, &e->cap, sizeof *e->t);
	e->t[e->n].type = type;
	e->t[e->n++].addr = xstrdup(addr);
}

/* A mailbox: root always has one, others need a passwd entry. */
static void
addmailbox(struct exp *e, const char *name)
{
	struct passwd *pw;

	if (strcasecmp(name, "root") == 0) {
		addtarget(e, T_MAILBOX, "root");
	} else if (getuser(name, &pw) != 0) {
		tempexp(e, "4.3.0 user database lookup of %s: %s", name);
	} else {
		addtarget(e, pw != NULL ? T_MAILBOX : T_UNKNOWN,
		    pw != NULL ? pw->pw_name : name);
	}
}

static void expanditem(struct exp *, const char *, int);

static int
onstack(const struct exp *e, const char *s)
{
	int i;

	for (i = 0; i < e->depth; i++) {
		if (strcasecmp(e->stack[i], s) == 0) {
			return 1;
		}
	}
	return 0;
}

/*
 * A local name: its alias, else postmaster -> root, else the mailbox. A
 * name met again inside its own expansion means "the mailbox itself" (the
 * usual "bob: bob, bob@elsewhere"); for a non-user that branch is unknown.
 */
static void
expandlocal(struct exp *e, const char *name)
{
	struct alias *a;
	int i;

	if (onstack(e, name)) {
		addmailbox(e, name);
	} else if ((a = findalias(at.a, at.n, name)) == NULL) {
		if (strcasecmp(name, "postmaster") == 0) {
			expandlocal(e, "root");
		} else {
			addmailbox(e, name);
		}
	} else if (e->depth == MAXDEPTH) {
		logmsg(LOG_ERR, "aliases: %s: nested too deeply", name);
		addtarget(e, T_UNKNOWN, name);
	} else {
		e->stack[e->depth++] = a->name;
		for (i = 0; i < a->item.n && !e->fail; i++) {
			expanditem(e, a->item.v[i], 1);
		}
		e->depth--;
	}
}

/* An address: remote ones stay as they are, local ones are expanded. */
static void
expandaddr(struct exp *e, const char *addr, int noalias)
{
	char local[256];
	const char *dom;

	if (splitaddr(addr, local, sizeof local, &dom) != 0 ||
	    local[0] == '\0') {
		addtarget(e, T_UNKNOWN, addr);
	} else if (dom != NULL && !islocaldomain(dom)) {
		addtarget(e, T_REMOTE, addr);
	} else if (noalias) {
		addmailbox(e, local);
	} else if (!e->loaded && loadaliases(e->err, e->errlen) != 0) {
		e->fail = 1;
	} else {
		e->loaded = 1;
		expandlocal(e, local);
	}
}

/*
 * :include:/path: addresses by line or by comma, # comments. Commands and
 * files count only from a file owned by root or by us: whoever can write
 * the file would otherwise run commands as this process.
 */
static void
include(struct exp *e, const char *item)
{
	const char *path = item + 9 + strspn(item + 9, " \t");
	struct strv sv = { NULL, 0, 0 };
	char *buf = NULL, *s;
	struct stat st;
	int i;

	if (onstack(e, item) || e->depth == MAXDEPTH || *path != '/' ||
	    ((buf = readfile(path, &st)) == NULL && (errno == ENOENT ||
	    errno == ENOTDIR))) {
		logmsg(LOG_ERR, "aliases: %s: loop, too deep or no file", item);
		addtarget(e, T_UNKNOWN, item);
		return;
	}
	if (buf == NULL) {
		tempexp(e, "4.3.0 cannot read %s: %s", item);
		return;
	}
	for (s = buf; *s != '\0'; ) {
		if (skipline(s)) {
			memset(s, ' ', strcspn(s, "\n"));
		}
		s += strcspn(s, "\n");
		if (*s == '\n') {
			*s++ = ',';
		}
	}
	if (splititems(buf, &sv) != 0) {
		logmsg(LOG_ERR, "aliases: %s: unterminated quote", path);
		addtarget(e, T_UNKNOWN, item);	/* the sender hears of it */
	}
	e->stack[e->depth++] = item;
	for (i = 0; i < sv.n && !e->fail; i++) {
		expanditem(e, sv.v[i], st.st_uid == 0 ||
		    st.st_uid == geteuid());
	}
	e->depth--;
	strv_free(&sv);
	free(buf);
}

/* One right-hand side item. */
static void
expanditem(struct exp *e, const char *item, int trusted)
{
	if (++e->work > MAXWORK) {
		errno = E2BIG;
		tempexp(e, "4.3.0 alias expansion too large at %s: %s", item);
	} else if (*item == '|' || *item == '/') {
		if (!trusted || item[1 + strspn(item + 1, " \t")] == '\0') {
			logmsg(LOG_ERR, "aliases: \"%s\" refused (empty, or "
			    "from an :include: of another user)", item);
			addtarget(e, T_UNKNOWN, item);
		} else {
			addtarget(e, *item == '|' ? T_PIPE : T_FILE, item);
		}
	} else if (strncasecmp(item, ":include:", 9) == 0) {
		include(e, item);
	} else {
		expandaddr(e, item + (*item == '\\'), *item == '\\');
	}
}

int
local_expand(const char *rcpt, struct target **t, int *n, char *err,
    size_t errlen)
{
	struct exp e;

	memset(&e, 0, sizeof e);
	e.err = err;
	e.errlen = errlen;
	*t = NULL;
	*n = 0;
	expandaddr(&e, rcpt, 0);
	if (e.fail) {
		local_freetargets(e.t, e.n);
		return -1;
	}
	if (e.n == 0) {
		/* an empty :include: list; mail is never dropped silently */
		logmsg(LOG_ERR, "aliases: %s expands to nothing", rcpt);
		addtarget(&e, T_UNKNOWN, rcpt);
	}
	*t = e.t;
	*n = e.n;
	return 0;
}

void
local_freetargets(struct target *t, int n)
{
	while (n > 0) {
		free(t[--n].addr);
	}
	free(t);
}

int
local_classify(const char *addr)
{
	char local[256];
	const char *dom;
	struct passwd *pw;

	if (splitaddr(addr, local, sizeof local, &dom) != 0 ||
	    local[0] == '\0') {
		return T_UNKNOWN;
	}
	if (dom != NULL && !islocaldomain(dom)) {
		return T_REMOTE;
	}
	if (strcasecmp(local, "root") == 0 ||
	    strcasecmp(local, "postmaster") == 0 || getuser(local, &pw) != 0) {
		return T_MAILBOX;	/* a lookup error: let delivery say */
	}
	return pw != NULL ? T_MAILBOX : T_UNKNOWN;
}

int
local_checkaliases(const char *path)
{
	struct parse p;
	struct stat st;
	char *buf;

	if ((buf = readfile(path, &st)) == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return 1;
	}
	memset(&p, 0, sizeof p);
	p.path = path;
	p.check = 1;
	parsebuf(&p, buf);
	free(buf);
	printf("%s: %d aliases\n", path, p.n);
	if (fflush(stdout) == EOF) {
		p.nerr++;
	}
	freealiases(p.a, p.n);
	return p.nerr;
}

/* --- the mailers --- */

/* Buffered output to one descriptor; the first write error sticks. */
struct out {
	int fd;
	int err;
	size_t len;
};

/* For descriptors whose close cannot lose data (read-only, pipes). */
static void
xclose(int fd)
{
	if (fd >= 0) {
		(void)close(fd);
	}
}

static int
setreply(char *reply, size_t rlen, int s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(reply, rlen, fmt, ap);	/* a cut reply still works */
	va_end(ap);
	return s;
}

/* A system call failed: log it and defer (storage errors are temporary). */
static int
tempfail(char *reply, size_t rlen, const char *what, const char *path)
{
	int e = errno;

	logmsg(LOG_ERR, "local: %s %s: %s", what, path, strerror(e));
	return setreply(reply, rlen, D_TEMP, "%s %s %s: %s",
	    e == ENOSPC || e == EDQUOT ? "4.2.2" : "4.3.0", what, path,
	    strerror(e));
}

static int
writeall(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, p, n)) < 0 && errno == EINTR) {
			continue;
		}
		if (w <= 0) {
			errno = w == 0 ? EIO : errno;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void
oflush(struct out *o)
{
	if (o->err == 0 && writeall(o->fd, obuf, o->len) != 0) {
		o->err = errno;
	}
	o->len = 0;
}

static void
oput(struct out *o, const char *p, size_t n)
{
	size_t k;

	for (; n > 0; p += k, n -= k) {
		k = BUFSZ - o->len < n ? BUFSZ - o->len : n;
		memcpy(obuf + o->len, p, k);
		if ((o->len += k) == BUFSZ) {
			oflush(o);
		}
	}
}

/* The '>'s and the part of "From " held back at the start of a line. */
static void
pending(struct out *o, size_t *nq, size_t *nf)
{
	for (; *nq > 0; (*nq)--) {
		oput(o, ">", 1);
	}
	oput(o, "From ", *nf);
	*nf = 0;
}

/*
 * Copy the df to o, with mboxrd quoting if asked: a line that matches
 * ^>*From  gets one more '>'. The line-start state (nq '>'s, then nf bytes
 * of "From ") survives buffer boundaries. Returns the last byte ('\n' for
 * an empty df), or -1 if the df cannot be read or has the wrong size.
 */
static int
copydf(struct out *o, const struct msg *m, int dffd, int quote)
{
	size_t nq = 0, nf = 0, i, j;
	const char *nl;
	int bol = 1, last = '\n';
	off_t off = 0;
	ssize_t r;

	while ((r = pread(dffd, ibuf, BUFSZ, off)) > 0) {
		off += r;
		last = (unsigned char)ibuf[r - 1];
		for (i = 0; i < (size_t)r && quote; ) {
			if (!bol) {
				nl = memchr(ibuf + i, '\n', (size_t)r - i);
				j = nl != NULL ? (size_t)(nl - ibuf) + 1 :
				    (size_t)r;
				oput(o, ibuf + i, j - i);
				i = j;
				bol = nl != NULL;
			} else if (nf == 0 && ibuf[i] == '>') {
				nq++, i++;
			} else if (ibuf[i] == "From "[nf]) {
				i++;
				if (++nf == 5) {
					oput(o, ">", 1);
					pending(o, &nq, &nf);
					bol = 0;
				}
			} else {
				pending(o, &nq, &nf);
				bol = 0;
			}
		}
		if (!quote) {
			oput(o, ibuf, (size_t)r);
		}
	}
	pending(o, &nq, &nf);
	if (r == 0 && m->size > 0 && off != m->size) {
		errno = EINVAL;		/* a damaged spool: do not guess */
		return -1;
	}
	return r < 0 ? -1 : last;
}

/* The envelope sender for a header or From_ line: no control bytes. */
static void
cleansender(const struct msg *m, char *buf, size_t len, int forfrom)
{
	const char *s = m->sender != NULL ? m->sender : "";
	size_t i;

	if (forfrom && *s == '\0') {
		s = "MAILER-DAEMON";
	}
	for (i = 0; s[i] != '\0' && i < len - 1; i++) {
		buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ||
		    (forfrom && s[i] == ' ') ? '_' : s[i];
	}
	buf[i] = '\0';
}

static void
putreturnpath(struct out *o, const struct msg *m)
{
	char s[1024];

	cleansender(m, s, sizeof s, 0);
	oput(o, "Return-Path: <", 14);
	oput(o, s, strlen(s));
	oput(o, ">\n", 2);
}

/* An mbox being appended to: a user's, or a /file from the aliases. */
struct mbox {
	const char *path;
	uid_t uid;		/* the user, who owns a new mailbox */
	gid_t gid;
	int isfile;		/* from the aliases: any owner, devices too */
	int fd;
	int dev;		/* a character device (/dev/null): just write */
	int dotlock;		/* we made lock */
	char lock[PATH_MAX];
};

/*
 * Open for append, creating it 0600. O_NOFOLLOW and the link count stop
 * whoever can write the spool from pointing us at another file; as root, an
 * existing mailbox must belong to its user (or root).
 */
static int
openmbox(struct mbox *b, char *reply, size_t rlen)
{
	int fl = O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY;
	int made = 1, root = geteuid() == 0;
	struct stat st;

	if ((b->fd = open(b->path, fl | O_CREAT | O_EXCL, 0600)) < 0 &&
	    errno == EEXIST) {
		made = 0;
		b->fd = open(b->path, fl);
	}
	if (b->fd < 0 || fstat(b->fd, &st) != 0) {
		return tempfail(reply, rlen, "cannot open", b->path);
	}
	if (b->isfile && S_ISCHR(st.st_mode)) {
		b->dev = 1;
	} else if (!S_ISREG(st.st_mode) || st.st_nlink != 1 || (!made &&
	    root && !b->isfile && st.st_uid != b->uid && st.st_uid != 0)) {
		logmsg(LOG_ERR, "local: %s: not a file with one link owned "
		    "by its user; left alone", b->path);
		return setreply(reply, rlen, D_TEMP, "4.2.0 mailbox %s is "
		    "unsafe (type, links or owner)", b->path);
	} else if (made && root && !b->isfile &&
	    fchown(b->fd, b->uid, b->gid) != 0) {
		(void)unlink(b->path);	/* else it stays root's */
		return tempfail(reply, rlen, "cannot chown", b->path);
	}
	return D_OK;
}

/*
 * Does the dot-lock name a process of this machine that no longer runs?
 * (A lock made by a killed runner must not hold mail for LOCK_STALE.)
 */
static int
deadholder(const char *lock)
{
	char buf[32], *end;
	ssize_t n;
	long pid;
	int fd;

	if ((fd = open(lock, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		return 0;
	}
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0) {
		return 0;
	}
	buf[n] = '\0';
	pid = strtol(buf, &end, 10);
	return pid > 0 && (*end == '\n' || *end == '\0') &&
	    kill((pid_t)pid, 0) == -1 && errno == ESRCH;
}

/*
 * path.lock, made O_EXCL: D_OK, a D_TEMP/D_PERM failure, or -1 while
 * another process holds it. One older than LOCK_STALE, or naming a dead
 * process, is broken. Where we may not create files (a /file in a directory we
 * cannot write), fcntl alone has to do.
 */
static int
dotlock(struct mbox *b, char *reply, size_t rlen)
{
	struct stat st;
	int fd;

	if (snprintf(b->lock, sizeof b->lock, "%s.lock", b->path) >=
	    (int)sizeof b->lock) {
		return setreply(reply, rlen, D_PERM, "5.3.0 path too long");
	}
	if ((fd = open(b->lock, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) >= 0) {
		char pid[24];
		int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());

		b->dotlock = 1;
		/* the pid lets the next runner see that we died holding it */
		return write(fd, pid, (size_t)n) == n && close(fd) == 0 ?
		    D_OK : tempfail(reply, rlen, "cannot create", b->lock);
	}
	if (errno == EACCES || errno == EPERM || errno == EROFS) {
		return D_OK;
	}
	if (errno != EEXIST) {
		return tempfail(reply, rlen, "cannot create", b->lock);
	}
	if (lstat(b->lock, &st) != 0 || (time(NULL) - st.st_mtime <=
	    LOCK_STALE && !deadholder(b->lock))) {
		return -1;
	}
	logmsg(LOG_INFO, "local: breaking stale lock %s", b->lock);
	if (unlink(b->lock) != 0 && errno != ENOENT) {
		return tempfail(reply, rlen, "cannot remove", b->lock);
	}
	return dotlock(b, reply, rlen);
}

/* fcntl and dot-lock, for MUAs that know only one of them. */
static int
lockmbox(struct mbox *b, char *reply, size_t rlen)
{
	struct timespec nap = { 0, 500000000L };
	struct flock fl;
	int i, s = -1;

	memset(&fl, 0, sizeof fl);
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	for (i = 0; i <= LOCK_TRIES && s == -1; i++) {
		if (i > 0) {
			(void)nanosleep(&nap, NULL);
		}
		if (fcntl(b->fd, F_SETLK, &fl) == 0) {
			s = dotlock(b, reply, rlen);	/* fcntl lock kept */
		} else if (errno != EACCES && errno != EAGAIN &&
		    errno != EINTR) {
			return tempfail(reply, rlen, "cannot lock", b->path);
		}
	}
	return s != -1 ? s : setreply(reply, rlen, D_TEMP, "4.2.0 mailbox "
	    "locked");
}

/* "From sender date", Return-Path, the quoted df, and a blank line. */
static int
writembox(struct mbox *b, const struct msg *m, int dffd)
{
	struct out o = { b->fd, 0, 0 };
	char from[1024], date[64];
	time_t t = m->arrival > 0 ? m->arrival : time(NULL);
	struct tm tm;
	int last;

	cleansender(m, from, sizeof from, 1);
	if (localtime_r(&t, &tm) == NULL ||
	    strftime(date, sizeof date, "%a %b %e %H:%M:%S %Y", &tm) == 0) {
		errno = EINVAL;
		return -1;
	}
	oput(&o, "From ", 5);
	oput(&o, from, strlen(from));
	oput(&o, " ", 1);
	oput(&o, date, strlen(date));
	oput(&o, "\n", 1);
	putreturnpath(&o, m);
	if ((last = copydf(&o, m, dffd, 1)) < 0) {
		return -1;
	}
	oput(&o, "\n\n", last == '\n' ? 1 : 2);
	oflush(&o);
	errno = o.err;
	return o.err != 0 ? -1 : 0;
}

/*
 * Lock, note the size, append, fsync. On any failure the file is cut back
 * to the noted size, so the mailbox never holds part of a message.
 */
static int
mboxdeliver(struct mbox *b, const struct msg *m, int dffd, char *reply,
    size_t rlen)
{
	struct stat st;
	int s, e;

	b->fd = -1;
	st.st_size = 0;
	if ((s = openmbox(b, reply, rlen)) != D_OK ||
	    (!b->dev && (s = lockmbox(b, reply, rlen)) != D_OK)) {
		goto out;
	}
	if (!b->dev && fstat(b->fd, &st) != 0) {
		s = tempfail(reply, rlen, "cannot stat", b->path);
	} else if (writembox(b, m, dffd) != 0 ||
	    (!b->dev && fsync(b->fd) != 0)) {
		e = errno;
		if (!b->dev && (ftruncate(b->fd, st.st_size) != 0 ||
		    fsync(b->fd) != 0)) {
			logmsg(LOG_ERR, "local: %s: cannot cut back to %lld "
			    "bytes, the mailbox may be damaged: %s", b->path,
			    (long long)st.st_size, strerror(errno));
		}
		errno = e;
		s = tempfail(reply, rlen, "cannot write", b->path);
	} else {
		s = setreply(reply, rlen, D_OK, "2.0.0 delivered to %s",
		    b->isfile ? "file" : "mailbox");
	}
out:
	/* after the fsync a close error is unlikely, but still defers */
	if (b->fd >= 0 && close(b->fd) != 0 && s == D_OK) {
		s = tempfail(reply, rlen, "cannot close", b->path);
	}
	if (b->dotlock && unlink(b->lock) != 0) {
		logmsg(LOG_ERR, "local: cannot remove %s: %s", b->lock,
		    strerror(errno));
	}
	return s;
}

/*
 * mkdir 0700 (given to the user when we are root), then open it. A new
 * directory is fsynced into its parent, or a crash could lose it with the
 * mail inside.
 */
static int
opendirmk(int at, const char *name, uid_t uid, gid_t gid)
{
	int made, fd, e;

	if (!(made = mkdirat(at, name, 0700) == 0) && errno != EEXIST) {
		return -1;
	}
	fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0 && made && ((geteuid() == 0 && fchown(fd, uid, gid) != 0)
	    || (at != AT_FDCWD && fsync(at) != 0))) {
		e = errno;
		(void)close(fd);	/* read-only */
		errno = e;
		return -1;
	}
	return fd;
}

/* time.M<usec>P<pid>Q<n>.<host>, '/' and ':' escaped as Maildir says. */
static void
uniquename(char *buf, size_t len)
{
	static unsigned q;
	const char *h = set.hostname != NULL ? set.hostname : "localhost";
	struct timespec ts;
	size_t n;

	(void)clock_gettime(CLOCK_REALTIME, &ts);
	n = (size_t)snprintf(buf, len, "%lld.M%ldP%ldQ%u.",
	    (long long)ts.tv_sec, ts.tv_nsec / 1000, (long)getpid(), ++q);
	for (; *h != '\0' && n + 5 < len; h++) {
		n += (size_t)snprintf(buf + n, len - n, *h == '/' ? "\\057" :
		    *h == ':' ? "\\072" : "%c", *h);
	}
}

/* Write the copy in tmp/, fsync, rename into new/, fsync new/. */
static int
maildirfile(int tmp, int new, const char *name, const struct msg *m,
    int dffd, uid_t uid, gid_t gid)
{
	struct out o = { -1, 0, 0 };

	if ((o.fd = openat(tmp, name, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) < 0) {
		return -1;
	}
	if (geteuid() == 0 && fchown(o.fd, uid, gid) != 0) {
		o.err = errno;
	}
	putreturnpath(&o, m);
	if (copydf(&o, m, dffd, 0) < 0 && o.err == 0) {
		o.err = errno;
	}
	oflush(&o);
	if (o.err == 0 && fsync(o.fd) != 0) {
		o.err = errno;
	}
	if (close(o.fd) != 0 && o.err == 0) {
		o.err = errno;
	}
	if (o.err == 0 && renameat(tmp, name, new, name) == 0) {
		return fsync(new);
	}
	o.err = o.err != 0 ? o.err : errno;
	(void)unlinkat(tmp, name, 0);	/* clean up; o.err is the cause */
	errno = o.err;
	return -1;
}

static int
maildir(const char *dir, uid_t uid, gid_t gid, const struct msg *m,
    int dffd, char *reply, size_t rlen)
{
	static const char *const sub[] = { "tmp", "new", "cur" };
	int fd[4] = { -1, -1, -1, -1 }, i, s = D_OK;
	char name[256];

	fd[0] = opendirmk(AT_FDCWD, dir, uid, gid);
	for (i = 0; i < 3 && fd[i] >= 0; i++) {
		fd[i + 1] = opendirmk(fd[0], sub[i], uid, gid);
	}
	uniquename(name, sizeof name);
	if (fd[3] < 0 || maildirfile(fd[1], fd[2], name, m, dffd, uid,
	    gid) != 0) {
		s = tempfail(reply, rlen, "cannot deliver to", dir);
	}
	for (i = 0; i < 4; i++) {
		xclose(fd[i]);
	}
	return s == D_OK ? setreply(reply, rlen, D_OK, "2.0.0 delivered to "
	    "maildir") : s;
}

/* A user's mailbox: MailSpool/user, an mbox or a Maildir. */
static int
mailbox(const char *user, const struct msg *m, int dffd, char *reply,
    size_t rlen)
{
	struct mbox b;
	struct passwd *pw;
	char path[PATH_MAX];

	memset(&b, 0, sizeof b);
	if (*user == '\0' || *user == '.' || strchr(user, '/') != NULL) {
		return setreply(reply, rlen, D_PERM, "5.1.3 bad mailbox name");
	}
	if (strcmp(user, "root") != 0) {
		if (getuser(user, &pw) != 0) {
			return tempfail(reply, rlen, "cannot look up", user);
		}
		if (pw == NULL) {
			return setreply(reply, rlen, D_PERM, "5.1.1 user "
			    "unknown");
		}
		b.uid = pw->pw_uid;
		b.gid = pw->pw_gid;
	}
	if (mkdir(set.mailspool, 0755) != 0 && errno != EEXIST) {
		return tempfail(reply, rlen, "cannot create", set.mailspool);
	}
	if (snprintf(path, sizeof path, "%s/%s", set.mailspool, user) >=
	    (int)sizeof path) {
		return setreply(reply, rlen, D_PERM, "5.3.0 path too long");
	}
	if (set.mailboxformat != NULL &&
	    strcmp(set.mailboxformat, "maildir") == 0) {
		return maildir(path, b.uid, b.gid, m, dffd, reply, rlen);
	}
	b.path = path;
	return mboxdeliver(&b, m, dffd, reply, rlen);
}

/* A |command being fed the message while its output is collected. */
struct cmd {
	int in;			/* our end of its stdin; -1 when done */
	int out;		/* our end of its output; -1 at EOF */
	off_t off;		/* next df offset to read */
	size_t pos, len;	/* unwritten bytes in ibuf */
	char text[512];		/* the start of its output, for the reply */
	size_t n;
};

/*
 * In the child: the message on stdin, output to the pipe, a small clean
 * environment, and RunAsUser's identity when we are root. Errors before
 * exec go to the pipe, so they end up in the reply.
 */
static void
runchild(const char *cmd, const struct msg *m, const char *rcpt, int in,
    int out)
{
	char sender[1100], recipient[1100];
	char *argv[] = { "sh", "-c", (char *)cmd, NULL };
	char *env[] = { "PATH=/usr/bin:/bin", "SHELL=/bin/sh", sender,
	    recipient, NULL };
	const char *ru = set.runasuser != NULL ? set.runasuser : "nobody";
	struct passwd *pw = NULL;
	sigset_t none;
	int sig;

	(void)setpgid(0, 0);	/* a timeout kills what it started too */
	for (sig = 1; sig < 32; sig++) {
		(void)signal(sig, SIG_DFL);	/* the ignored SIGPIPE too */
	}
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	if (geteuid() == 0 && strcmp(ru, "root") != 0 &&
	    (pw = getpwnam(ru)) == NULL) {
		pw = getpwnam("nobody");
	}
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0 ||
	    chdir("/") != 0 || (geteuid() == 0 && strcmp(ru, "root") != 0 &&
	    (pw == NULL || setgroups(1, &pw->pw_gid) != 0 ||
	    setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0 ||
	    (pw->pw_uid != 0 && setuid(0) == 0)))) {
		dprintf(out, "mta: cannot set up the command as %s\n", ru);
		_exit(EX_TEMPFAIL);
	}
	cleansender(m, sender + 7, sizeof sender - 7, 0);
	memcpy(sender, "SENDER=", 7);
	(void)snprintf(recipient, sizeof recipient, "RECIPIENT=%s", rcpt);
	execve("/bin/sh", argv, env);
	dprintf(1, "mta: cannot run /bin/sh: %s\n", strerror(errno));
	_exit(EX_TEMPFAIL);
}

/* Write what the pipe takes, refilling ibuf from the df; -1: df error. */
static int
feed(struct cmd *c, int dffd)
{
	ssize_t r;

	while (c->in >= 0) {
		if (c->pos == c->len) {
			if ((r = pread(dffd, ibuf, BUFSZ, c->off)) <= 0) {
				xclose(c->in);	/* EOF for the command */
				c->in = -1;
				return r < 0 ? -1 : 0;
			}
			c->off += r;
			c->pos = 0;
			c->len = (size_t)r;
		}
		if ((r = write(c->in, ibuf + c->pos, c->len - c->pos)) < 0) {
			if (errno != EAGAIN && errno != EINTR) {
				/* EPIPE: it wants no more; its status says */
				xclose(c->in);
				c->in = -1;
			}
			return 0;
		}
		c->pos += (size_t)r;
	}
	return 0;
}

/* Keep the start of the output, discard the rest. */
static void
drain(struct cmd *c)
{
	char junk[4096];
	size_t room;
	ssize_t r;

	while (c->out >= 0) {
		room = sizeof c->text - 1 - c->n;
		r = read(c->out, room > 0 ? c->text + c->n : junk,
		    room > 0 ? room : sizeof junk);
		if (r > 0) {
			c->n += room > 0 ? (size_t)r : 0;
		} else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
			xclose(c->out);
			c->out = -1;
		} else if (errno == EAGAIN) {
			return;
		}
	}
}

static pid_t
reap(pid_t pid, int *status, int flags)
{
	pid_t w;

	while ((w = waitpid(pid, status, flags)) < 0 && errno == EINTR) {
		continue;
	}
	return w;
}

/*
 * Feed the command and read its output at the same time (either side may
 * fill a pipe while we wait on the other) until it exits. After
 * PIPE_TIMEOUT, or when the df cannot be read, its process group is
 * killed. Returns 0 when it exited, 1 on timeout, -1 on an error (errno).
 */
static int
waitcmd(pid_t pid, struct cmd *c, int dffd, int *status)
{
	time_t end = time(NULL) + PIPE_TIMEOUT;
	struct pollfd pf[2];
	int np, r = 0, e, nap = 10;
	pid_t w;

	while ((w = reap(pid, status, WNOHANG)) == 0) {
		if (r < 0 || time(NULL) >= end) {
			e = errno;
			(void)kill(-pid, SIGKILL);
			(void)kill(pid, SIGKILL);
			(void)reap(pid, status, 0);
			errno = e;
			return r < 0 ? -1 : 1;
		}
		np = 0;
		if (c->out >= 0) {
			pf[np].fd = c->out;
			pf[np++].events = POLLIN;
		}
		if (c->in >= 0) {
			pf[np].fd = c->in;
			pf[np++].events = POLLOUT;
		}
		/* output closed: it is probably exiting, so look soon */
		(void)poll(pf, (nfds_t)np, c->out >= 0 ? 1000 : nap);
		nap = c->out >= 0 || nap >= 500 ? nap : nap * 2;
		drain(c);
		r = feed(c, dffd);
	}
	drain(c);
	return w < 0 ? -1 : 0;
}

static int
pipecloexec(int p[2])
{
	if (pipe(p) != 0) {
		p[0] = p[1] = -1;
		return -1;
	}
	/* cannot fail on descriptors just made */
	(void)fcntl(p[0], F_SETFD, FD_CLOEXEC);
	(void)fcntl(p[1], F_SETFD, FD_CLOEXEC);
	return 0;
}

/* The exit status as an outcome: EX_TEMPFAIL and signals are temporary. */
static int
cmdstatus(int status, struct cmd *c, char *reply, size_t rlen)
{
	char *s = c->text, *p;
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 0;

	c->text[c->n] = '\0';
	s += strspn(s, " \t\r\n");
	s[strcspn(s, "\r\n")] = '\0';
	for (p = s; *p != '\0'; p++) {
		*p = isprint((unsigned char)*p) ? *p : ' ';
	}
	if (WIFSIGNALED(status)) {
		return setreply(reply, rlen, D_TEMP, "4.3.0 command killed by "
		    "signal %d%s%s", WTERMSIG(status), *s != '\0' ? ": " : "",
		    s);
	}
	if (code == 0) {
		return setreply(reply, rlen, D_OK, "2.0.0 delivered to "
		    "command");
	}
	return setreply(reply, rlen, code == EX_TEMPFAIL ? D_TEMP : D_PERM,
	    "%s command exited with status %d%s%s", code == EX_TEMPFAIL ?
	    "4.3.0" : "5.3.0", code, *s != '\0' ? ": " : "", s);
}

static int
pipedeliver(const struct target *t, const struct msg *m, int dffd,
    char *reply, size_t rlen)
{
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, status = 0, r;
	struct cmd c;
	pid_t pid;

	if (pipecloexec(in) != 0 || pipecloexec(out) != 0 ||
	    (pid = fork()) < 0) {
		r = tempfail(reply, rlen, "cannot start", t->addr);
		xclose(in[0]);
		xclose(in[1]);
		xclose(out[0]);
		xclose(out[1]);
		return r;
	}
	if (pid == 0) {
		runchild(t->addr + (*t->addr == '|'), m, t->addr, in[0],
		    out[1]);
	}
	(void)setpgid(pid, 0);	/* as the child does: no race with kill */
	xclose(in[0]);
	xclose(out[1]);
	memset(&c, 0, sizeof c);
	c.in = in[1];
	c.out = out[0];
	(void)fcntl(c.in, F_SETFL, O_NONBLOCK);	/* valid fds: cannot fail */
	(void)fcntl(c.out, F_SETFL, O_NONBLOCK);
	cleansender(m, obuf, 1024, 0);	/* obuf is unused while piping */
	c.len = (size_t)snprintf(ibuf, BUFSZ, "Return-Path: <%s>\n", obuf);
	r = waitcmd(pid, &c, dffd, &status);
	xclose(c.in);
	xclose(c.out);
	if (r == 1) {
		return setreply(reply, rlen, D_TEMP, "4.3.0 command timed out "
		    "after %d s", PIPE_TIMEOUT);
	}
	if (r < 0) {
		return tempfail(reply, rlen, "lost the message or the process "
		    "of", t->addr);
	}
	return cmdstatus(status, &c, reply, rlen);
}

int
local_deliver(const struct target *t, const struct msg *m, int dffd,
    char *reply, size_t rlen)
{
	struct mbox b;

	switch (t->type) {
	case T_MAILBOX:
		return mailbox(t->addr, m, dffd, reply, rlen);
	case T_FILE:
		if (*t->addr != '/') {
			return setreply(reply, rlen, D_PERM, "5.3.0 %s is not "
			    "an absolute path", t->addr);
		}
		memset(&b, 0, sizeof b);
		b.path = t->addr;
		b.isfile = 1;
		return mboxdeliver(&b, m, dffd, reply, rlen);
	case T_PIPE:
		return pipedeliver(t, m, dffd, reply, rlen);
	case T_UNKNOWN:
		return setreply(reply, rlen, D_PERM, "5.1.1 user unknown");
	default:
		return setreply(reply, rlen, D_TEMP, "4.3.0 not a local "
		    "target");
	}
}
