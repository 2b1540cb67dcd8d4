/*
 * aliases.c: the alias file and what a local recipient expands to.
 *
 * Start at local_expand(): it turns one envelope recipient into targets
 * (mailbox, /file, |command, remote address) through the alias file, which
 * loadaliases() parses once per process (again when the file changes);
 * local_checkaliases() runs the same parser for -bi. Only an alias's
 * right-hand side can name a file or a command, never an envelope
 * address. local.c delivers to the targets.
 *
 * Trust only narrows: every step of an expansion carries a flag, and once
 * a file on the way (the alias file, an :include:) could have been written
 * by someone other than root, nothing below it may name a file or a
 * program, not even an alias re-entered by name. Mailboxes and remote
 * addresses still work. The same files always give the same targets:
 * deliver.c expands a recipient again to check an alias target before it
 * runs it.
 */
#include <sys/stat.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <unistd.h>

#include "mta.h"

#define MAXDEPTH	20		/* nested aliases and :include:s */
#define MAXWORK		100000		/* items expanded for one recipient */
#define MAXFILE		(16 << 20)	/* largest alias or :include: file */
#define MAXLINKS	8		/* symbolic links followed by safepath */


struct alias {
	char *name;
	struct strv item;
	int line;
};

/* One pass over an alias file, to load it or to check it (-bi). */
struct parse {
	const char *path;
	int check;		/* print each error, try the :include:s */
	const char *distrust;	/* -bi: why its files and programs fail */
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
	int trusted;	/* its files and programs count */
	int warned;	/* its distrust is logged once per load */
} at;

/*
 * A whole (small) file as a C string, or NULL with errno. flags adds to
 * the open: O_NOFOLLOW for an :include:, which must then also be a regular
 * file (EINVAL), so that a FIFO or a device cannot stall or flood us.
 */
static char *
readfile(const char *path, int flags, struct stat *st)
{
	char *buf;
	int fd, e;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | flags)) < 0) {
		return NULL;
	}
	if (fstat(fd, st) != 0) {
		buf = NULL;
	} else if ((flags & O_NOFOLLOW) && !S_ISREG(st->st_mode)) {
		errno = EINVAL;
		buf = NULL;
	} else {
		buf = readall(fd, MAXFILE, NULL);
	}
	e = errno;
	(void)close(fd);	/* read-only: a close error loses nothing */
	errno = e;
	return buf;
}

/*
 * Whose files may name files and programs: root's, and our own when we are
 * neither root nor RunAsUser (a user's private mta can do nothing its user
 * could not). RunAsUser's files never count, whatever our identity, so that
 * the daemon's "is this a local user" check agrees with root's runner.
 */
static int
trusteduid(uid_t uid)
{
	/* RunAsUser's uid, 0 for none (or root); -1 until looked up */
	static uid_t ruid = (uid_t)-1;
	struct passwd *pw;

	if (uid == 0) {
		return 1;
	}
	if (uid != geteuid()) {
		return 0;
	}
	if (ruid == (uid_t)-1) {
		pw = getpwnam(set.runasuser);
		ruid = pw != NULL ? pw->pw_uid : 0;
	}
	return uid != ruid;	/* uid is not 0 here: ruid 0 never matches */
}

/* safepath's "no": why is fmt with path and the text of err. */
static int
unsafe(char *why, size_t len, const char *fmt, const char *path, int err)
{
	(void)snprintf(why, len, fmt, path, strerror(err));
	return 0;
}

/*
 * One step of local_safepath: each directory up to path's last component
 * (and that too if all) must belong to root or owner and be writable by
 * no one else unless sticky; each symbolic link on the way must belong to
 * root or owner, and what it points to is checked the same way.
 */
static int
safepath(const char *path, uid_t owner, int all, int depth, char *why,
    size_t len)
{
	char p[PATH_MAX], lnk[PATH_MAX], to[PATH_MAX];
	struct stat st;
	size_t i, n = strlen(path);
	ssize_t k;
	int last;

	if (*path != '/' || n >= sizeof p || depth > MAXLINKS) {
		return unsafe(why, len, "%s: %s", path, *path != '/' ? EINVAL :
		    n >= sizeof p ? ENAMETOOLONG : ELOOP);
	}
	memcpy(p, path, n + 1);
	for (i = 1; i <= n; i++) {
		if (i < n && (p[i] != '/' || p[i - 1] == '/')) {
			continue;	/* not the end of a component */
		}
		last = path[i + strspn(path + i, "/")] == '\0';
		p[i] = '\0';
		if (lstat(p, &st) != 0) {
			if (last && !all && errno == ENOENT) {
				return 1;	/* about to be created */
			}
			return unsafe(why, len, "%s: %s", p, errno);
		}
		if (S_ISLNK(st.st_mode)) {
			if (st.st_uid != 0 && st.st_uid != owner) {
				return unsafe(why, len, "%s: symbolic link of "
				    "another user (%s)", p, EPERM);
			}
			if ((k = readlink(p, lnk, sizeof lnk - 1)) < 0) {
				return unsafe(why, len, "%s: %s", p, errno);
			}
			lnk[k] = '\0';
			if ((size_t)snprintf(to, sizeof to, "%.*s/%s", *lnk ==
			    '/' ? 0 : (int)(strrchr(p, '/') - p), p, lnk) >=
			    sizeof to) {
				return unsafe(why, len, "%s: %s", p,
				    ENAMETOOLONG);
			}
			if (!safepath(to, owner, all || !last, depth + 1, why,
			    len)) {
				return 0;
			}
		} else if (last && !all) {
			return 1;	/* the file itself: the caller's part */
		} else if (!S_ISDIR(st.st_mode) || (st.st_uid != 0 &&
		    st.st_uid != owner) || ((st.st_mode & (S_IWGRP |
		    S_IWOTH)) != 0 && (st.st_mode & S_ISVTX) == 0)) {
			return unsafe(why, len, "%s: directory of another user "
			    "or writable by others (%s)", p, EPERM);
		}
		p[i] = path[i];
	}
	return 1;
}

/*
 * Can only root and owner change which file path names? sendmail's
 * safefile rule. The last component is checked only if it is a symbolic
 * link (the caller judges the file); one that does not exist is fine.
 * On 0, why says what is wrong.
 */
int
local_safepath(const char *path, uid_t owner, char *why, size_t len)
{
	return safepath(path, owner, 0, 0, why, len);
}

/*
 * May what st describes (opened as path) name files and programs? A
 * regular file with one link, of a trusted owner, written by no one else,
 * on a safe path.
 */
static int
filetrusted(const char *path, const struct stat *st, char *why,
    size_t len)
{
	const char *bad = NULL;

	if (!S_ISREG(st->st_mode)) {
		bad = "not a regular file";
	} else if (st->st_nlink != 1) {
		bad = "more than one link";
	} else if (!trusteduid(st->st_uid)) {
		bad = "not owned by root";
	} else if ((st->st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		bad = "writable by group or others";
	} else {
		return local_safepath(path, st->st_uid, why, len);
	}
	(void)snprintf(why, len, "%s: %s", path, bad);
	return 0;
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
	strv_add(sv, u);
}

/*
 * Split s in place at commas outside double quotes; -1 for an
 * unterminated quote.
 */
static int
splititems(char *s, struct strv *sv)
{
	char *item = s;
	int inq = 0;

	for (; *s != '\0'; s++) {
		if (*s == ',' && !inq) {
			*s = '\0';
			additem(item, sv);
			item = s + 1;
		} else if (inq && *s == '\\' && s[1] != '\0') {
			s++;
		} else if (*s == '"') {
			inq = !inq;
		}
	}
	if (!inq) {
		additem(item, sv);
	}
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

/* -bi: an :include: is refused, untrusted (a note only) or fine. */
static void
checkinclude(struct parse *p, const char *item, int line)
{
	const char *path = item + 9 + strspn(item + 9, " \t");
	char *buf = NULL, why[PATH_MAX + 100];
	struct stat st;

	if (*path != '/') {
		aerr(p, line, "%s: not an absolute path", item);
	} else if ((buf = readfile(path, O_NOFOLLOW | O_NONBLOCK,
	    &st)) == NULL) {
		aerr(p, line, "%s: %s", item, errno == ELOOP ? "a symbolic "
		    "link (refused)" : errno == EINVAL ? "not a regular file "
		    "(refused)" : strerror(errno));
	} else if (!filetrusted(path, &st, why, sizeof why)) {
		fprintf(stderr, "%s:%d: note: %s is untrusted (%s): files and "
		    "programs in it will be refused\n", p->path, line, item,
		    why);
	}
	free(buf);
}

/* -bi only: what can be said of the items without expanding them. */
static void
checkitems(struct parse *p, const struct strv *sv, int line)
{
	const char *s;
	int i;

	for (i = 0; i < sv->n; i++) {
		s = sv->v[i];
		if (strncasecmp(s, ":include:", 9) == 0) {
			checkinclude(p, s, line);
		} else if ((*s == '|' || *s == '\\') &&
		    s[1 + strspn(s + 1, " \t")] == '\0') {
			aerr(p, line, "\"%s\" names nothing", s);
		} else if ((*s == '|' || *s == '/') && p->distrust != NULL) {
			aerr(p, line, "\"%s\" will be refused: %s", s,
			    p->distrust);
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
		if (!skipline(s) && (*s == ' ' || *s == '\t')) {
			aerr(p, start, "continuation line without an alias "
			    "name");
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
 * May the alias file name files and programs? Judged on every load, as a
 * chmod does not make it look edited; the distrust is logged once.
 */
static void
aliastrust(const char *path, const struct stat *st)
{
	char why[PATH_MAX + 100];

	at.trusted = st->st_ino == 0 || filetrusted(path, st, why,
	    sizeof why);
	if (!at.trusted && !at.warned) {
		logmsg(LOG_ERR, "aliases: %s: untrusted (%s): the files and "
		    "programs it names are refused", path, why);
	}
	at.warned = !at.trusted;
}

/* A temporary failure of the whole expansion; the first reason is kept. */
static void
tempexp(struct exp *e, const char *fmt, const char *arg)
{
	if (!e->fail) {
		(void)snprintf(e->err, e->errlen, fmt, arg, strerror(errno));
		logmsg(LOG_ERR, "aliases: %s", e->err);
	}
	e->fail = 1;
}

/*
 * Load set.aliasfile unless the cached copy is still that file: comparing
 * the stat lets a long-running daemon see an edited file. Entries with
 * errors are left out (mta -bi names them); a file that cannot be read
 * fails the expansion (tempexp).
 */
static int
loadaliases(struct exp *e)
{
	const char *path = set.aliasfile;
	struct parse p = { .path = path };
	struct stat st = { 0 };		/* none yet: st_ino 0 */
	char *buf = NULL;

	if (*path != '\0' && stat(path, &st) != 0 && errno != ENOENT &&
	    errno != ENOTDIR) {
		goto fail;
	}
	if (at.path != NULL && strcmp(at.path, path) == 0 &&
	    at.st.st_dev == st.st_dev && at.st.st_ino == st.st_ino &&
	    at.st.st_size == st.st_size &&
	    at.st.st_mtim.tv_sec == st.st_mtim.tv_sec &&
	    at.st.st_mtim.tv_nsec == st.st_mtim.tv_nsec) {
		aliastrust(path, &st);	/* a chmod leaves mtime alone */
		return 0;
	}
	if (st.st_ino != 0 && (buf = readfile(path, 0, &st)) == NULL &&
	    errno != ENOENT) {
		goto fail;
	}
	if (buf != NULL) {
		parsebuf(&p, buf);
		free(buf);
	} else {
		memset(&st, 0, sizeof st);	/* none, or removed meanwhile */
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
	at.warned = 0;
	aliastrust(path, &st);
	return 0;
fail:
	tempexp(e, "4.3.0 alias file %s: %s", path);
	return -1;
}

/*
 * A local name in passwd, lower-cased (local parts are case-insensitive
 * here, as in sendmail and Postfix). *pw is NULL for no such user; -1 only
 * when the user database cannot be read.
 */
int
local_getuser(const char *name, struct passwd **pw)
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
	} else if (local_getuser(name, &pw) != 0) {
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
 * An alias reached from an untrusted file stays untrusted.
 */
static void
expandlocal(struct exp *e, const char *name, int trusted)
{
	struct alias *a;
	int i;

	if (onstack(e, name)) {
		addmailbox(e, name);
	} else if ((a = findalias(at.a, at.n, name)) == NULL) {
		if (strcasecmp(name, "postmaster") == 0) {
			expandlocal(e, "root", trusted);
		} else {
			addmailbox(e, name);
		}
	} else if (e->depth == MAXDEPTH) {
		logmsg(LOG_ERR, "aliases: %s: nested too deeply", name);
		addtarget(e, T_UNKNOWN, name);
	} else {
		e->stack[e->depth++] = a->name;
		for (i = 0; i < a->item.n && !e->fail; i++) {
			expanditem(e, a->item.v[i], trusted && at.trusted);
		}
		e->depth--;
	}
}

/* An address: remote ones stay as they are, local ones are expanded. */
static void
expandaddr(struct exp *e, const char *addr, int noalias, int trusted)
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
	} else if (e->loaded || loadaliases(e) == 0) {
		e->loaded = 1;
		expandlocal(e, local, trusted);
	}
}

/*
 * :include:/path: addresses by line or by comma, # comments. The file is
 * opened without following a symbolic link and must be a regular file,
 * else the item is refused (an unknown recipient: the sender hears of it).
 * Its files and programs count only if we came here trusted and
 * filetrusted() says the file could be written by root alone; otherwise
 * its addresses still work.
 */
static void
include(struct exp *e, const char *item, int trusted)
{
	const char *path = item + 9 + strspn(item + 9, " \t");
	struct strv sv = { NULL, 0, 0 };
	char *buf = NULL, *s, *end, why[PATH_MAX + 100];
	const char *bad = NULL;
	struct stat st;
	int i;

	if (onstack(e, item) || e->depth == MAXDEPTH) {
		bad = "a loop or nested too deeply";
	} else if (*path != '/') {
		bad = "not an absolute path";
	} else if ((buf = readfile(path, O_NOFOLLOW | O_NONBLOCK,
	    &st)) == NULL) {
		bad = errno == ELOOP ? "a symbolic link" : errno == EINVAL ?
		    "not a regular file" : errno == ENOENT ||
		    errno == ENOTDIR ? "no such file" : NULL;
		if (bad == NULL) {
			tempexp(e, "4.3.0 cannot read %s: %s", item);
			return;
		}
	}
	if (bad != NULL) {
		logmsg(LOG_ERR, "aliases: %s: refused: %s", item, bad);
		addtarget(e, T_UNKNOWN, item);
		return;
	}
	if (trusted && !filetrusted(path, &st, why, sizeof why)) {
		logmsg(LOG_NOTICE, "aliases: %s: untrusted (%s): no files or "
		    "programs from it", item, why);
		trusted = 0;
	}
	for (s = strtok_r(buf, "\n", &end); s != NULL;
	    s = strtok_r(NULL, "\n", &end)) {
		if (!skipline(s) && splititems(s, &sv) != 0) {
			logmsg(LOG_ERR, "aliases: %s: unterminated quote",
			    path);
			addtarget(e, T_UNKNOWN, item);	/* the sender hears */
		}
	}
	e->stack[e->depth++] = item;
	for (i = 0; i < sv.n && !e->fail; i++) {
		expanditem(e, sv.v[i], trusted);
	}
	e->depth--;
	strv_free(&sv);
	free(buf);
}

/* One right-hand side item; trusted: may it name a file or a program. */
static void
expanditem(struct exp *e, const char *item, int trusted)
{
	if (++e->work > MAXWORK) {
		errno = E2BIG;
		tempexp(e, "4.3.0 alias expansion too large at %s: %s", item);
	} else if (*item == '|' || *item == '/') {
		if (!trusted || item[1 + strspn(item + 1, " \t")] == '\0') {
			logmsg(LOG_ERR, "aliases: \"%s\" refused (%s)", item,
			    trusted ? "empty" : "from an untrusted alias or "
			    ":include: file");
			addtarget(e, T_UNKNOWN, item);
		} else {
			addtarget(e, *item == '|' ? T_PIPE : T_FILE, item);
		}
	} else if (strncasecmp(item, ":include:", 9) == 0) {
		include(e, item, trusted);
	} else {
		expandaddr(e, item + (*item == '\\'), *item == '\\', trusted);
	}
}

/*
 * The targets of rcpt in *t, *n (at least one: the caller frees them), or
 * -1 with err saying why they cannot be known now (*t, *n are not set).
 */
int
local_expand(const char *rcpt, struct target **t, int *n, char *err,
    size_t errlen)
{
	struct exp e = { .err = err, .errlen = errlen };

	expandaddr(&e, rcpt, 0, 1);
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

/* Is addr someone we deliver to? 1 yes, 0 no, -1 cannot tell now. */
int
local_known(const char *addr)
{
	struct target *t;
	char err[256];
	int n, i, known = 0;

	if (local_expand(addr, &t, &n, err, sizeof(err)) == -1) {
		return -1;
	}
	for (i = 0; i < n; i++) {
		known |= t[i].type != T_UNKNOWN;
	}
	local_freetargets(t, n);
	return known;
}

int
local_checkaliases(const char *path)
{
	char *buf, why[PATH_MAX + 100];
	struct parse p = { .path = path, .check = 1 };
	struct stat st;

	if ((buf = readfile(path, 0, &st)) == NULL) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return 1;
	}
	if (!filetrusted(path, &st, why, sizeof why)) {
		p.distrust = why;
	}
	parsebuf(&p, buf);
	free(buf);
	printf("%s: %d aliases\n", path, p.n);
	if (fflush(stdout) == EOF) {
		p.nerr++;
	}
	freealiases(p.a, p.n);
	return p.nerr;
}
