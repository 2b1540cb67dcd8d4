/*
 * unit_local.c: named cases for local.c (alias parser, expansion, -bi
 * checks, and the mbox, Maildir, file and pipe mailers). It #includes
 * ../local.c to reach the static functions, and links the program's own
 * ground floor, util.c (logging, allocation, the helpers).
 *
 *	cc -std=c99 -D_DEFAULT_SOURCE -D_XOPEN_SOURCE=700 -g \
 *	    -fsanitize=address,undefined -o unit_local test/unit_local.c util.c
 *
 * Prints "ok - name" or "FAIL - name: why" per case; exits 1 on a failure.
 * Some delivery cases need root (ownership, privilege drop) and are
 * skipped otherwise.
 */
#define PIPE_TIMEOUT	2	/* the timeout case waits this long */
#define LOCK_TRIES	2	/* the locked-mailbox cases wait ~1 s */
#define _GNU_SOURCE	/* local.c's pipe2(), before aliases.c's headers */
/* link: util.c */
#include "../aliases.c"
#include "../local.c"

#include <sys/resource.h>
#include <dirent.h>


static char dir[64];
static int isroot;
static int nfail;

static void
result(const char *name, const char *why)
{
	if (why == NULL) {
		printf("ok - %s\n", name);
	} else {
		printf("FAIL - %s: %s\n", name, why);
		nfail++;
	}
}

static void
putfile(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL || fputs(text, f) == EOF || fclose(f) != 0) {
		die(1, "cannot write %s", path);
	}
}

/* The whole content of a file, or NULL. */
static char *
slurp(const char *path, size_t *len)
{
	struct stat st;
	char *buf;

	if ((buf = readfile(path, 0, &st)) == NULL) {
		return NULL;
	}
	*len = (size_t)st.st_size;
	return buf;
}

/* --- alias expansion --- */

struct xcase {
	const char *name;
	const char *aliases;	/* printf format, %1$s = dir; NULL: none */
	const char *inc;	/* content of dir/inc, or NULL */
	const char *rcpt;
	const char *want;	/* "M:user P:|cmd F:/f R:addr U:x", or TEMP */
};

static const struct xcase xcases[] = {
	{ "user without alias", "", NULL, "mail", "M:mail" },
	{ "unknown local user", "", NULL, "nosuch42", "U:nosuch42" },
	{ "unknown local user keeps case", "", NULL, "NoSuch42@localhost",
	    "U:NoSuch42" },
	{ "user name is case-insensitive", "", NULL, "MAIL@Test.Example",
	    "M:mail" },
	{ "root default", "", NULL, "root", "M:root" },
	{ "root@localhost", "", NULL, "root@localhost", "M:root" },
	{ "postmaster defaults to root", "", NULL, "PostMaster", "M:root" },
	{ "postmaster follows root's alias", "root: mail\n", NULL,
	    "postmaster@localhost", "M:mail" },
	{ "remote address unchanged", "", NULL, "Bob@Example.ORG",
	    "R:Bob@Example.ORG" },
	{ "remote needs no alias file", "<dir>", NULL, "bob@example.org",
	    "R:bob@example.org" },
	{ "simple list", "staff: mail, daemon\n", NULL, "staff",
	    "M:mail M:daemon" },
	{ "alias names are case-insensitive", "Staff: mail\n", NULL,
	    "sTAFF@test.example", "M:mail" },
	{ "continuation lines", "list: mail,\n  daemon,\n\tbob@example.org\n"
	    "other: root\n", NULL, "list",
	    "M:mail M:daemon R:bob@example.org" },
	{ "comments and blank lines inside an entry",
	    "# head\n\nlist: mail,\n# daemon,\n\n   root\n", NULL, "list",
	    "M:mail M:root" },
	{ "CRLF file", "list: mail,\r\n daemon\r\n", NULL, "list",
	    "M:mail M:daemon" },
	{ "quoted command with a comma",
	    "prog: \"|/bin/echo a, b\", mail\n", NULL, "prog",
	    "P:|/bin/echo a, b M:mail" },
	{ "escaped quote inside quotes", "q: \"|echo \\\"hi\\\"\"\n", NULL,
	    "q", "P:|echo \"hi\"" },
	{ "unquoted command", "p: |/usr/bin/true -x\n", NULL, "p",
	    "P:|/usr/bin/true -x" },
	{ "file target", "arch: /var/tmp/archive, mail\n", NULL, "arch",
	    "F:/var/tmp/archive M:mail" },
	{ "backslash: mailbox, no expansion",
	    "mail: \\mail, bob@example.org\n", NULL, "mail",
	    "M:mail R:bob@example.org" },
	{ "self reference is the mailbox", "mail: mail, daemon\n", NULL,
	    "mail", "M:mail M:daemon" },
	{ "self reference of a non-user fails that branch",
	    "ghost: ghost, mail\n", NULL, "ghost", "U:ghost M:mail" },
	{ "root self reference", "root: root, mail\n", NULL, "root",
	    "M:root M:mail" },
	{ "cycle a->b->a terminates", "a: b\nb: a\n", NULL, "a", "U:a" },
	{ "cycle through users", "mail: daemon\ndaemon: mail\n", NULL, "mail",
	    "M:mail" },
	{ "postmaster/root cycle", "root: postmaster\n", NULL, "root",
	    "M:root" },
	{ "duplicates removed",
	    "l: mail, MAIL, mail@localhost, \\mail, x@h.org, X@H.ORG\n", NULL,
	    "l", "M:mail R:x@h.org" },
	{ "local domain item", "x: mail@test.example, root@LOCALHOST\n", NULL,
	    "x", "M:mail M:root" },
	{ "nested aliases", "a: b\nb: c, mail\nc: daemon\n", NULL, "a",
	    "M:daemon M:mail" },
	{ "depth limit",
	    "a1: a2\na2: a3\na3: a4\na4: a5\na5: a6\na6: a7\na7: a8\na8: a9\n"
	    "a9: a10\na10: a11\na11: a12\na12: a13\na13: a14\na14: a15\n"
	    "a15: a16\na16: a17\na17: a18\na18: a19\na19: a20\na20: a21\n"
	    "a21: a22\na22: mail\n", NULL, "a1", "U:a21" },
	{ ":include:", "list: :include:%1$s/inc, root\n",
	    "# members\nmail, daemon\n\n  bob@example.org\n\"|cat\"\n", "list",
	    "M:mail M:daemon R:bob@example.org P:|cat M:root" },
	{ ":include: quoted", "list: \":include:%1$s/inc\"\n", "daemon\n",
	    "list", "M:daemon" },
	{ ":include: missing", "list: :include:%1$s/nosuch, mail\n", NULL,
	    "list", NULL },
	{ ":include: of itself", "list: :include:%1$s/inc\n",
	    ":include:%1$s/inc\nmail\n", "list", NULL },
	{ ":include: empty list", "list: :include:%1$s/inc\n", "# nobody\n",
	    "list", "U:list" },
	{ ":include: of a directory is refused (not a regular file)",
	    "list: :include:%1$s\n", NULL, "list", NULL },
	{ "bad entry skipped, others kept",
	    "bad line without colon\ngood: mail\n: empty\nx: \"open\n", NULL,
	    "good", "M:mail" },
	{ "first of two duplicate names wins", "d: mail\nD: daemon\n", NULL,
	    "d", "M:mail" },
	{ "missing alias file: no aliases", NULL, NULL, "mail", "M:mail" },
	{ "unreadable alias file is temporary", "<dir>", NULL, "mail",
	    "TEMP" },
	{ "alias name that is a user", "mail: daemon\n", NULL, "mail",
	    "M:daemon" },
	{ "pipe from an envelope is not a command", "", NULL, "|/bin/sh",
	    "U:|/bin/sh" },
	{ "file from an envelope is not a file", "", NULL,
	    "/etc/passwd@localhost", "U:/etc/passwd" },
};

/* Missing-file and loop cases name paths under dir: build their want. */
static const char *
xwant(const struct xcase *c, char *buf, size_t len)
{
	if (c->want != NULL) {
		return c->want;
	}
	if (strstr(c->aliases, "nosuch") != NULL) {
		snprintf(buf, len, "U::include:%s/nosuch M:mail", dir);
	} else if (strstr(c->aliases, "/inc") == NULL) {
		snprintf(buf, len, "U::include:%s", dir);
	} else {
		snprintf(buf, len, "U::include:%s/inc M:mail", dir);
	}
	return buf;
}

static void
fmtargets(const struct target *t, int n, char *buf, size_t len)
{
	static const char tc[] = "MFPRU";
	size_t o = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; i < n && o < len; i++) {
		o += (size_t)snprintf(buf + o, len - o, "%s%c:%s",
		    i > 0 ? " " : "", tc[t[i].type], t[i].addr);
	}
}

static void
xcase(const struct xcase *c, int idx)
{
	char path[256], inc[256], text[4096], got[4096], want[512], err[256];
	char why[8192];
	const char *w;
	struct target *t;
	int n;

	snprintf(path, sizeof path, "%s/aliases.%d", dir, idx);
	if (c->aliases == NULL) {
		set.aliasfile = path;		/* never written */
	} else if (strcmp(c->aliases, "<dir>") == 0) {
		set.aliasfile = dir;
	} else {
		snprintf(text, sizeof text, c->aliases, dir);
		putfile(path, text);
		set.aliasfile = path;
	}
	if (c->inc != NULL) {
		snprintf(text, sizeof text, c->inc, dir);
		snprintf(inc, sizeof inc, "%s/inc", dir);
		putfile(inc, text);
	}
	if (local_expand(c->rcpt, &t, &n, err, sizeof err) != 0) {
		snprintf(got, sizeof got, "TEMP");
		if (err[0] != '4') {
			snprintf(got, sizeof got, "TEMP without a 4.x.x "
			    "reason: %s", err);
		}
	} else {
		fmtargets(t, n, got, sizeof got);
		local_freetargets(t, n);
	}
	w = xwant(c, want, sizeof want);
	snprintf(why, sizeof why, "got \"%s\", want \"%s\"", got, w);
	result(c->name, strcmp(got, w) == 0 ? NULL : why);
}

static void
knowncases(void)
{
	static const struct {
		const char *addr;
		int want;
	} cc[] = {
		{ "mail", 1 }, { "ROOT@localhost", 1 }, { "nosuch42", 0 },
		{ "bob@example.org", 1 }, { "nosuch42@localhost", 0 },
	};
	char why[256];
	size_t i;
	int got;

	for (i = 0; i < sizeof cc / sizeof cc[0]; i++) {
		got = local_known(cc[i].addr);
		snprintf(why, sizeof why, "local_known(\"%s\") = %d, want "
		    "%d", cc[i].addr, got, cc[i].want);
		result("local_known", got == cc[i].want ? NULL : why);
	}
}

/* --- local_checkaliases (-bi) --- */

struct ccase {
	const char *name;
	const char *text;	/* printf format, %1$s = dir */
	int nerr;
	const char *err;	/* expected in stderr, or NULL */
	const char *out;	/* expected in stdout */
};

static const struct ccase ccases[] = {
	{ "-bi quoted name refused",
	    "# c\nroot: mail\nlist: a,\n  b\n\"x\": y\n",
	    1, ":5: bad alias name", ": 2 aliases" },
	{ "-bi good file", "root: mail\nlist: a,\n  b, \"|cmd, x\"\n", 0,
	    NULL, ": 2 aliases" },
	{ "-bi missing colon", "root: mail\nlist mail\n", 1,
	    ":2: missing colon", ": 1 aliases" },
	{ "-bi empty name", "  \n: mail\n", 1, ":2: empty alias name",
	    ": 0 aliases" },
	{ "-bi empty right-hand side", "a:\n# c\nb: x\n", 1,
	    ":1: empty right-hand side", ": 1 aliases" },
	{ "-bi unterminated quote", "a: \"|cmd,\n  x\nb: c\n", 1,
	    ":1: unterminated quote", ": 1 aliases" },
	{ "-bi unreadable include", "a: :include:%1$s/nosuch\n", 1,
	    ":1: :include:", ": 1 aliases" },
	{ "-bi relative include", "a: :include:inc\n", 1,
	    "not an absolute path", ": 1 aliases" },
	{ "-bi readable include", "a: :include:%1$s/inc\n", 0, NULL,
	    ": 1 aliases" },
	{ "-bi continuation first", " x\na: b\n", 1, ":1: continuation",
	    ": 1 aliases" },
	{ "-bi duplicate", "a: b\nc: d\nA: e\n", 1, ":3: duplicate",
	    ": 2 aliases" },
	{ "-bi missing comma", "a: b c\n", 1, ":1: space in address",
	    ": 1 aliases" },
	{ "-bi empty command", "a: |, b\n", 1, ":1: \"|\" names nothing",
	    ": 1 aliases" },
	{ "-bi error line numbers after continuations",
	    "a: b,\n c,\n d\n\nbad\n", 1, ":5: missing colon",
	    ": 1 aliases" },
};

/* Run local_checkaliases with stdout and stderr captured in files. */
static int
capture(const char *path, char *out, char *err, size_t len)
{
	char po[128], pe[128];
	int so, se, fo, fe, r;
	size_t n;
	char *b;

	snprintf(po, sizeof po, "%s/stdout", dir);
	snprintf(pe, sizeof pe, "%s/stderr", dir);
	fflush(stdout);
	fflush(stderr);
	so = dup(1);
	se = dup(2);
	fo = open(po, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	fe = open(pe, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	dup2(fo, 1);
	dup2(fe, 2);
	r = local_checkaliases(path);
	fflush(stdout);
	fflush(stderr);
	dup2(so, 1);
	dup2(se, 2);
	close(so);
	close(se);
	close(fo);
	close(fe);
	b = slurp(po, &n);
	snprintf(out, len, "%s", b != NULL ? b : "");
	free(b);
	b = slurp(pe, &n);
	snprintf(err, len, "%s", b != NULL ? b : "");
	free(b);
	return r;
}

static void
ccase(const struct ccase *c)
{
	char path[256], text[1024], out[2048], err[2048], why[4200];
	int r;

	snprintf(path, sizeof path, "%s/inc", dir);
	putfile(path, "x\n");
	snprintf(path, sizeof path, "%s/check", dir);
	snprintf(text, sizeof text, c->text, dir);
	putfile(path, text);
	r = capture(path, out, err, sizeof out);
	snprintf(why, sizeof why, "returned %d (want %d), stdout \"%s\", "
	    "stderr \"%s\"", r, c->nerr, out, err);
	result(c->name, r == c->nerr && strstr(out, c->out) != NULL &&
	    (c->err == NULL ? err[0] == '\0' : strstr(err, c->err) != NULL) ?
	    NULL : why);
}

/* --- delivery --- */

#define ARRIVAL	1795624800	/* Wed Nov 25 16:40:00 2026 UTC */

static struct msg m;
static int dffd = -1;
static char reply[512];

/* A df with this content, and m describing it. */
static void
setdf(const char *content, size_t len, const char *sender)
{
	char path[128];

	snprintf(path, sizeof path, "%s/df", dir);
	if (dffd >= 0) {
		close(dffd);
	}
	dffd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (dffd < 0 || writeall(dffd, content, len) != 0) {
		die(1, "cannot write the df");
	}
	memset(&m, 0, sizeof m);
	m.sender = (char *)sender;
	m.arrival = ARRIVAL;
	m.size = (off_t)len;
	m.lockfd = -1;
}

static int
deliver(int type, const char *addr)
{
	struct target t;

	t.type = type;
	t.addr = (char *)addr;
	reply[0] = '\0';
	return local_deliver(&t, &m, dffd, reply, sizeof reply);
}

static char why[8192];

/* Expect outcome s and a reply that starts with pre. */
static const char *
expect(int got, int s, const char *pre)
{
	if (got != s || strncmp(reply, pre, strlen(pre)) != 0) {
		snprintf(why, sizeof why, "status %d reply \"%s\", want %d "
		    "\"%s...\"", got, reply, s, pre);
		return why;
	}
	return NULL;
}

static const char *
filehas(const char *path, const char *want, size_t wlen)
{
	size_t n;
	char *b = slurp(path, &n);

	if (b == NULL || n != wlen || memcmp(b, want, wlen) != 0) {
		snprintf(why, sizeof why, "%s holds \"%.3000s\", want "
		    "\"%.3000s\"", path, b != NULL ? b : "(nothing)", want);
		free(b);
		return why;
	}
	free(b);
	return NULL;
}

static const char mbox1[] =
    "From a@b.c Wed Nov 25 16:40:00 2026\n"
    "Return-Path: <a@b.c>\n"
    "Subject: x\n\n>From me\n>>From you\nFromage\n>>>From x\n"
    "From\n>From\n end\n\n";

static const char *
d_mbox(void)
{
	static const char df[] = "Subject: x\n\nFrom me\n>From you\n"
	    "Fromage\n>>From x\nFrom\n>From\n end";
	char path[128];
	struct stat st;
	const char *r;

	setdf(df, sizeof df - 1, "a@b.c");
	snprintf(path, sizeof path, "%s/mail/mail", dir);
	if ((r = expect(deliver(T_MAILBOX, "mail"), D_OK,
	    "2.0.0 delivered to mailbox")) != NULL ||
	    (r = filehas(path, mbox1, sizeof mbox1 - 1)) != NULL) {
		return r;
	}
	if (stat(path, &st) != 0 || (st.st_mode & 0777) != 0600 ||
	    (isroot && st.st_uid != 8)) {
		return "new mailbox not 0600 or not owned by its user";
	}
	snprintf(path, sizeof path, "%s/mail/mail.lock", dir);
	return access(path, F_OK) == 0 ? "dot-lock left behind" : NULL;
}

static const char *
d_append(void)
{
	static const char df[] = "Subject: y\n\nbody\n";
	char path[128], want[1024];
	const char *r;

	setdf(df, sizeof df - 1, "");
	snprintf(path, sizeof path, "%s/mail/mail", dir);
	snprintf(want, sizeof want, "%sFrom MAILER-DAEMON Wed Nov 25 16:40:00 "
	    "2026\nReturn-Path: <>\nSubject: y\n\nbody\n\n", mbox1);
	if ((r = expect(deliver(T_MAILBOX, "mail"), D_OK, "2.0.0")) != NULL) {
		return r;
	}
	return filehas(path, want, strlen(want));
}

/* "From " split across the 64 KiB read buffer boundary. */
static const char *
d_boundary(void)
{
	size_t n = BUFSZ + 100;
	char *df = xmalloc(n), *got, path[128];
	const char *r = NULL;
	size_t len;

	memset(df, 'a', n);
	memcpy(df + BUFSZ - 4, "\n>>From x\n", 10);	/* "From" straddles */
	df[n - 1] = '\n';
	setdf(df, n, "a@b.c");
	snprintf(path, sizeof path, "%s/bnd", dir);
	if ((r = expect(deliver(T_FILE, path), D_OK, "2.0.0")) != NULL) {
		free(df);
		return r;
	}
	got = slurp(path, &len);
	if (got == NULL || strstr(got, "\n>>>From x\n") == NULL ||
	    len != strlen("From a@b.c Wed Nov 25 16:40:00 2026\n"
	    "Return-Path: <a@b.c>\n") + n + 2) {
		r = "quoting across the buffer boundary is wrong";
	}
	free(got);
	free(df);
	return r;
}

static const char *
d_maildir(void)
{
	static const char df[] = "Subject: m\n\nFrom here\n";
	static const char want[] = "Return-Path: <a@b.c>\nSubject: m\n\n"
	    "From here\n";
	char path[256], file[512];
	struct dirent *de;
	struct stat st;
	const char *r;
	DIR *d;
	int n = 0;

	set.mailboxformat = "maildir";
	setdf(df, sizeof df - 1, "a@b.c");
	r = expect(deliver(T_MAILBOX, "daemon"), D_OK, "2.0.0");
	set.mailboxformat = "mbox";
	if (r != NULL) {
		return r;
	}
	snprintf(path, sizeof path, "%s/mail/daemon/new", dir);
	if ((d = opendir(path)) == NULL) {
		return "no new/";
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] != '.') {
			n++;
			snprintf(file, sizeof file, "%s/%s", path, de->d_name);
		}
	}
	closedir(d);
	if (n != 1) {
		return "not exactly one file in new/";
	}
	if ((r = filehas(file, want, sizeof want - 1)) != NULL) {
		return r;
	}
	if (stat(file, &st) != 0 || (isroot && st.st_uid != 1)) {
		return "maildir file not owned by the user";
	}
	snprintf(path, sizeof path, "%s/mail/daemon/cur", dir);
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode) &&
	    (st.st_mode & 0777) == 0700 ? NULL : "no cur/ 0700";
}

static const char *
d_devnull(void)
{
	setdf("x\n", 2, "a@b.c");
	return expect(deliver(T_FILE, "/dev/null"), D_OK, "2.0.0");
}

static const char *
d_symlink(void)
{
	char path[128];

	snprintf(path, sizeof path, "%s/mail/daemon2", dir);
	if (symlink("/etc/passwd", path) != 0) {
		return "cannot make the symlink";
	}
	set.mailboxformat = "mbox";
	setdf("x\n", 2, "a@b.c");
	/* daemon2 is not a user: deliver straight to the file target */
	return expect(deliver(T_FILE, path), D_TEMP, "4.3.0 cannot open");
}

static const char *
d_owner(void)
{
	char path[128];
	int fd;

	if (!isroot) {
		return NULL;
	}
	snprintf(path, sizeof path, "%s/mail/daemon", dir);
	snprintf(why, sizeof why, "%s.maildir", path);
	(void)rename(path, why);
	if ((fd = open(path, O_WRONLY | O_CREAT, 0600)) < 0 ||
	    fchown(fd, 8, 8) != 0 || close(fd) != 0) {
		return "cannot make the foreign mailbox";
	}
	setdf("x\n", 2, "a@b.c");
	return expect(deliver(T_MAILBOX, "daemon"), D_TEMP, "4.2.0 mailbox");
}

/* A file size limit makes the append fail half-way: cut back to before. */
static const char *
d_truncate(void)
{
	char path[128], *df;
	struct rlimit rl;
	struct stat st, st2;
	size_t n = 300000;
	pid_t pid;
	int status;

	snprintf(path, sizeof path, "%s/mail/mail", dir);
	if (stat(path, &st) != 0) {
		return "no mailbox";
	}
	df = xmalloc(n);
	memset(df, 'b', n);
	setdf(df, n, "a@b.c");
	free(df);
	fflush(stdout);
	if ((pid = fork()) == 0) {
		signal(SIGXFSZ, SIG_IGN);
		rl.rlim_cur = rl.rlim_max = (rlim_t)st.st_size + 70000;
		setrlimit(RLIMIT_FSIZE, &rl);
		_exit(expect(deliver(T_MAILBOX, "mail"), D_TEMP, "4.3.0 "
		    "cannot write") == NULL ? 0 : 1);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid ||
	    !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		return "the delivery did not fail with 4.3.0";
	}
	if (stat(path, &st2) != 0 || st2.st_size != st.st_size) {
		return "mailbox not cut back";
	}
	return NULL;
}

/* Another process holds the fcntl lock: defer after LOCK_TRIES. */
static const char *
d_locked(void)
{
	char path[128], c;
	struct flock fl;
	int p[2], fd, s;
	pid_t pid;

	snprintf(path, sizeof path, "%s/mail/mail", dir);
	setdf("x\n", 2, "a@b.c");
	if (pipe(p) != 0) {
		return "pipe";
	}
	fflush(stdout);
	if ((pid = fork()) == 0) {
		memset(&fl, 0, sizeof fl);
		fl.l_type = F_WRLCK;
		fd = open(path, O_RDWR);
		if (fd < 0 || fcntl(fd, F_SETLK, &fl) != 0) {
			_exit(1);
		}
		(void)write(p[1], "x", 1);
		pause();
		_exit(0);
	}
	close(p[1]);
	if (read(p[0], &c, 1) != 1) {
		return "locker failed";
	}
	close(p[0]);
	s = deliver(T_MAILBOX, "mail");
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return expect(s, D_TEMP, "4.2.0 mailbox locked");
}

static const char *
d_dotlock(void)
{
	char lock[128];
	struct timespec old[2] = { { 1000, 0 }, { 1000, 0 } };
	const char *r;

	snprintf(lock, sizeof lock, "%s/mail/mail.lock", dir);
	putfile(lock, "1\n");
	setdf("x\n", 2, "a@b.c");
	if ((r = expect(deliver(T_MAILBOX, "mail"), D_TEMP,
	    "4.2.0 mailbox locked")) != NULL) {
		return r;
	}
	utimensat(AT_FDCWD, lock, old, 0);
	if ((r = expect(deliver(T_MAILBOX, "mail"), D_OK, "2.0.0")) != NULL) {
		return r;
	}
	return access(lock, F_OK) == 0 ? "stale lock not removed" : NULL;
}

static const char *
d_pipe(void)
{
	static const char df[] = "Subject: p\n\nFrom x\n";
	static const char want[] = "Return-Path: <a@b.c>\nSubject: p\n\n"
	    "From x\n";
	char cmd[256], path[128];
	const char *r;

	set.runasuser = "root";
	snprintf(path, sizeof path, "%s/piped", dir);
	snprintf(cmd, sizeof cmd, "|cat > %s", path);
	setdf(df, sizeof df - 1, "a@b.c");
	if ((r = expect(deliver(T_PIPE, cmd), D_OK, "2.0.0 delivered to "
	    "command")) != NULL) {
		return r;
	}
	return filehas(path, want, sizeof want - 1);
}

static const char *
d_pipefail(void)
{
	setdf("x\n", 2, "a@b.c");
	return expect(deliver(T_PIPE, "|echo; echo oops; echo more; exit 3"),
	    D_PERM, "5.3.0 command exited with status 3: oops");
}

static const char *
d_pipetemp(void)
{
	setdf("x\n", 2, "a@b.c");
	return expect(deliver(T_PIPE, "|exit 75"), D_TEMP,
	    "4.3.0 command exited with status 75");
}

static const char *
d_pipesignal(void)
{
	setdf("x\n", 2, "a@b.c");
	return expect(deliver(T_PIPE, "|kill -9 $$"), D_TEMP,
	    "4.3.0 command killed by signal 9");
}

/* A command that reads nothing of a big message, and one that floods. */
static const char *
d_pipebig(void)
{
	size_t n = 3 << 20;
	char *df = xmalloc(n);
	const char *r;

	memset(df, 'z', n);
	setdf(df, n, "a@b.c");
	free(df);
	if ((r = expect(deliver(T_PIPE, "|exit 0"), D_OK, "2.0.0")) != NULL) {
		return r;
	}
	if ((r = expect(deliver(T_PIPE, "|head -c 100 >/dev/null"), D_OK,
	    "2.0.0")) != NULL) {
		return r;
	}
	return expect(deliver(T_PIPE, "|yes | head -c 2000000; "
	    "wc -c | tr -d ' '; exit 1"), D_PERM,
	    "5.3.0 command exited with status 1: y");
}

static const char *
d_pipesize(void)
{
	setdf("12345\n", 6, "a@b.c");
	return expect(deliver(T_PIPE, "|wc -c | tr -d ' '; exit 9"), D_PERM,
	    "5.3.0 command exited with status 9: 27");
}

static const char *
d_pipeenv(void)
{
	setdf("x\n", 2, "<>\nX");
	return expect(deliver(T_PIPE, "|echo \"$SENDER|$PATH|$(pwd)|$HOME\";"
	    " exit 64"), D_PERM, "5.3.0 command exited with status 64: <>_X|"
	    "/usr/bin:/bin|/|");
}

static const char *
d_pipetimeout(void)
{
	time_t t0 = time(NULL);
	const char *r;

	setdf("x\n", 2, "a@b.c");
	r = expect(deliver(T_PIPE, "|sleep 30 & sleep 30"), D_TEMP,
	    "4.3.0 command timed out");
	return r == NULL && time(NULL) - t0 > 10 ? "took too long" : r;
}

static const char *
d_pipedrop(void)
{
	if (!isroot) {
		return NULL;
	}
	setdf("x\n", 2, "a@b.c");
	set.runasuser = "nosuchuser42";
	return expect(deliver(T_PIPE, "|id -u; id -G; exit 1"), D_PERM,
	    "5.3.0 command exited with status 1: 65534");
}

static const char *
d_unknown(void)
{
	const char *r;

	setdf("x\n", 2, "a@b.c");
	if ((r = expect(deliver(T_UNKNOWN, "nosuch42"), D_PERM,
	    "5.1.1 user unknown")) != NULL ||
	    (r = expect(deliver(T_MAILBOX, "nosuch42"), D_PERM,
	    "5.1.1 user unknown")) != NULL ||
	    (r = expect(deliver(T_MAILBOX, "../etc"), D_PERM, "5.1.3")) !=
	    NULL) {
		return r;
	}
	return expect(deliver(T_REMOTE, "bob@example.org"), D_TEMP,
	    "4.3.0 not a local target");
}

static const char *
d_badsize(void)
{
	char path[128];
	struct stat st, st2;
	const char *r;

	snprintf(path, sizeof path, "%s/mail/root", dir);
	setdf("x\n", 2, "a@b.c");
	if ((r = expect(deliver(T_MAILBOX, "root"), D_OK, "2.0.0")) != NULL) {
		return r;
	}
	stat(path, &st);
	m.size = 5;
	r = expect(deliver(T_MAILBOX, "root"), D_TEMP, "4.3.0 cannot write");
	stat(path, &st2);
	if (r == NULL && st.st_size != st2.st_size) {
		r = "not cut back";
	}
	return r;
}

/* Expand rcpt with the current alias file into buf ("TEMP" on -1). */
static const char *
expandto(const char *rcpt, char *buf, size_t len)
{
	struct target *t;
	char err[256];
	int n;

	if (local_expand(rcpt, &t, &n, err, sizeof err) != 0) {
		snprintf(buf, len, "TEMP");
		return buf;
	}
	fmtargets(t, n, buf, len);
	local_freetargets(t, n);
	return buf;
}

static const char *
x_untrusted(void)
{
	char path[128], inc[128], text[256], got[512];

	if (!isroot) {
		return NULL;
	}
	snprintf(path, sizeof path, "%s/aliases.untrusted", dir);
	snprintf(inc, sizeof inc, "%s/inc.untrusted", dir);
	snprintf(text, sizeof text, "l: :include:%s\n", inc);
	putfile(path, text);
	putfile(inc, "mail, \"|cat\", /tmp/x\n");
	if (chown(inc, 65534, 65534) != 0) {
		return "chown";
	}
	set.aliasfile = path;
	expandto("l", got, sizeof got);
	snprintf(why, sizeof why, "got \"%s\"", got);
	return strcmp(got, "M:mail U:|cat U:/tmp/x") == 0 ? NULL : why;
}

static const char *
x_reload(void)
{
	char path[128], got[512];

	snprintf(path, sizeof path, "%s/aliases.reload", dir);
	putfile(path, "a: mail\n");
	set.aliasfile = path;
	if (strcmp(expandto("a", got, sizeof got), "M:mail") != 0) {
		return "first load";
	}
	putfile(path, "a: daemon, root\n");
	snprintf(why, sizeof why, "got \"%s\" after the edit", got);
	return strcmp(expandto("a", got, sizeof got), "M:daemon M:root") ==
	    0 ? NULL : why;
}

/* Each level names the next one ten times: 10^7 items, shallow. */
static const char *
x_work(void)
{
	char path[128], text[4096], got[512];
	size_t o = 0;
	int i;

	for (i = 0; i < 7; i++) {
		o += (size_t)snprintf(text + o, sizeof text - o, "l%d: "
		    "l%d,l%d,l%d,l%d,l%d,l%d,l%d,l%d,l%d,l%d\n", i, i + 1,
		    i + 1, i + 1, i + 1, i + 1, i + 1, i + 1, i + 1, i + 1,
		    i + 1);
	}
	snprintf(text + o, sizeof text - o, "l7: mail\n");
	snprintf(path, sizeof path, "%s/aliases.work", dir);
	putfile(path, text);
	set.aliasfile = path;
	snprintf(why, sizeof why, "got \"%s\"", expandto("l0", got,
	    sizeof got));
	return strcmp(got, "TEMP") == 0 ? NULL : why;
}

static const char *
c_missing(void)
{
	char out[1024], err[1024], path[128];

	snprintf(path, sizeof path, "%s/nosuch", dir);
	if (capture(path, out, err, sizeof out) != 1 ||
	    strstr(err, "No such file") == NULL) {
		return "no error for a missing file";
	}
	return NULL;
}

static const struct {
	const char *name;
	const char *(*fn)(void);
} dcases[] = {
	{ "aliases: :include: of another user gives no commands",
	    x_untrusted },
	{ "aliases: an edited file is reloaded", x_reload },
	{ "aliases: expansion work is capped", x_work },
	{ "-bi missing file", c_missing },
	{ "mbox: From_ line, Return-Path, mboxrd quoting, new box", d_mbox },
	{ "mbox: append, null sender", d_append },
	{ "mbox: quoting across the read buffer", d_boundary },
	{ "maildir: tmp, new, cur; content; owner", d_maildir },
	{ "file: /dev/null", d_devnull },
	{ "file: symlink refused", d_symlink },
	{ "mbox: foreign owner refused", d_owner },
	{ "mbox: failed append is cut back", d_truncate },
	{ "mbox: fcntl lock held elsewhere", d_locked },
	{ "mbox: dot-lock held, then stale", d_dotlock },
	{ "mbox: df size mismatch defers", d_badsize },
	{ "pipe: message on stdin", d_pipe },
	{ "pipe: exit 3 is permanent, first line kept", d_pipefail },
	{ "pipe: exit 75 is temporary", d_pipetemp },
	{ "pipe: signal is temporary", d_pipesignal },
	{ "pipe: unread input, flooding output", d_pipebig },
	{ "pipe: Return-Path is part of stdin", d_pipesize },
	{ "pipe: environment and cwd", d_pipeenv },
	{ "pipe: timeout kills the group", d_pipetimeout },
	{ "pipe: drops to nobody", d_pipedrop },
	{ "unknown and remote targets", d_unknown },
};

/* Open descriptors, to catch leaks in the mailers. */
static int
nfds(void)
{
	int fd, n = 0;

	for (fd = 0; fd < 1024; fd++) {
		n += fcntl(fd, F_GETFD) != -1;
	}
	return n;
}

int
main(void)
{
	char path[128];
	size_t i;
	int fds;

	signal(SIGPIPE, SIG_IGN);	/* as mta.c does */
	/* the log: stderr with UNIT_VERBOSE, else nowhere (never syslog) */
	logfd = getenv("UNIT_VERBOSE") != NULL ? 2 :
	    open("/dev/null", O_WRONLY | O_CLOEXEC);
	setenv("TZ", "UTC", 1);
	tzset();
	isroot = geteuid() == 0;
	snprintf(dir, sizeof dir, "/tmp/unit_local.XXXXXX");
	if (mkdtemp(dir) == NULL) {
		die(1, "mkdtemp");
	}
	set.hostname = "test.example";
	set.localdomains = "test.example,localhost";
	set.mailboxformat = "mbox";
	snprintf(path, sizeof path, "%s/mail", dir);
	set.mailspool = xstrdup(path);
	set.runasuser = "nobody";
	for (i = 0; i < sizeof xcases / sizeof xcases[0]; i++) {
		xcase(&xcases[i], (int)i);
	}
	knowncases();
	for (i = 0; i < sizeof ccases / sizeof ccases[0]; i++) {
		ccase(&ccases[i]);
	}
	fds = nfds();
	for (i = 0; i < sizeof dcases / sizeof dcases[0]; i++) {
		result(dcases[i].name, dcases[i].fn());
	}
	if (dffd >= 0) {
		close(dffd);
	}
	result("no descriptor leaked", nfds() == fds ? NULL :
	    "descriptors left open");
	freealiases(at.a, at.n);
	free(at.path);
	free((char *)set.mailspool);
	if (nfail == 0 && getenv("UNIT_KEEP") == NULL) {
		snprintf(path, sizeof path, "rm -rf '%s'", dir);
		(void)system(path);
	}
	printf("%d failed\n", nfail);
	return nfail > 0;
}
