/*
 * mta.c: the top floor: main, the command line and -O, the modes, and
 * the daemon. Nothing calls into this file; it calls every other one
 * (util.c holds what they all share).
 *
 * Start at main(): it picks a mode from argv[0] and the flags (submit a
 * message, list the queue, run the queue, verify addresses, check the
 * aliases) and hands over to the file that owns the work: spool.c for the
 * queue files, deliver.c for queue runs, aliases.c for aliases, local.c
 * for mailboxes, submit.c for a message on stdin (local submission),
 * smtp.c for the server; the daemon's select() loop, its signals and its
 * privileges are here.
 */
#define _GNU_SOURCE	/* pipe2(), accept4() on glibc (the test build) */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
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

static char **savedargv;	/* for the daemon's SIGHUP: our arguments */

/* ---- settings: one table maps each -O name to its variable ---- */

enum { O_STR, O_NUM, O_SIZE, O_DUR, O_LISTEN, O_CHOICE };

/* choices for O_CHOICE, max (the longest value that fits) for the rest */
#define S_LIM_STR(l)		NULL, l
#define S_LIM_LISTEN(l)		NULL, l
#define S_LIM_CHOICE(l)		l, 0
#define S_LIM_NUM(l)		NULL, 0
#define S_LIM_DUR(l)		NULL, 0
#define S_LIM_SIZE(l)		NULL, 0
#define S_OPTION(name, f, kind, def, limit) \
	{ name, O_##kind, &set.f, S_LIM_##kind(limit) },
static const struct option {
	const char *name;
	int type;
	void *var;
	const char *choices;	/* O_CHOICE: the allowed values */
	size_t max;		/* O_STR, O_LISTEN: the longest value */
} options[] = { SETTINGS(S_OPTION) };

/*
 * A number of kind O_NUM, O_DUR (an optional unit s, m, h or d: seconds)
 * or O_SIZE (K, M or G: bytes); numbers and durations fit in 31 bits.
 */
static int
parsenum(const char *s, int kind, long long *v)
{
	static const char *units[] = { [O_NUM] = "", [O_DUR] = "smhd",
	    [O_SIZE] = "KMG" };
	static const long long mult[][4] = { [O_DUR] = { 1, 60, 3600, 86400 },
	    [O_SIZE] = { 1024, 1024 * 1024, 1024 * 1024 * 1024 } };
	char *end;
	const char *u;
	long long n;

	errno = 0;
	n = strtoll(s, &end, 10);
	if (*s < '0' || *s > '9' || errno != 0) {
		return -1;	/* no sign, no space, no overflow */
	}
	if (*end != '\0') {
		if (end[1] != '\0' || (u = strchr(units[kind], *end)) == NULL ||
		    n > 0x7fffffffffffffffLL / mult[kind][u - units[kind]]) {
			return -1;
		}
		n *= mult[kind][u - units[kind]];
	}
	if (kind != O_SIZE && n > 0x7fffffffL) {
		return -1;
	}
	*v = n;
	return 0;
}

/* Is val one of the words of list (one space between each)? */
static int
choice(const char *list, const char *val)
{
	const char *p;
	size_t n;

	for (p = list;; p += n + 1) {
		n = strcspn(p, " ");
		if (n == strlen(val) && strncmp(p, val, n) == 0) {
			return 1;
		}
		if (p[n] == '\0') {
			return 0;
		}
	}
}

/* "Addr=A,Port=P" (either order); the address must be numeric. */
static void
parselisten(const char *spec, struct sockaddr_storage *ss, socklen_t *len)
{
	char buf[256], addr[128] = "127.0.0.1", port[16] = "25", *p, *tok;
	unsigned char a[16];
	int pn, n;

	snprintf(buf, sizeof(buf), "%s", spec);	/* setoption checked */
	for (p = buf; (tok = strtok(p, ",")) != NULL; p = NULL) {
		if (strncasecmp(tok, "Addr=", 5) == 0 &&
		    strlen(tok + 5) < sizeof(addr)) {
			memcpy(addr, tok + 5, strlen(tok + 5) + 1);
		} else if (strncasecmp(tok, "Port=", 5) == 0 &&
		    strlen(tok + 5) < sizeof(port)) {
			memcpy(port, tok + 5, strlen(tok + 5) + 1);
		} else {
			die(EX_USAGE, "DaemonPortOptions %s: unknown '%s'",
			    spec, tok);
		}
	}
	/* numeric: no resolver is linked for this */
	if ((pn = parseport(port)) == -1 || (n = ipaddr(addr, 0, a)) == 0) {
		die(EX_USAGE, "DaemonPortOptions %s: not a numeric address "
		    "and port", spec);
	}
	*len = ipsockaddr(a, n, pn, ss);
}

/* -O Name=Value; every error is fatal with EX_USAGE. */
static void
setoption(const char *arg)
{
	static const char *notnum[] = { [O_NUM] = "a number",
	    [O_SIZE] = "a size (bytes, or a number with K, M or G)",
	    [O_DUR] = "a duration (seconds, or a number with s, m, h or d)" };
	const struct option *o;
	size_t len = strcspn(arg, "=");
	const char *val = arg + len + 1;	/* once the '=' is there */
	struct sockaddr_storage ss;
	socklen_t sl;
	long long n;

	if (arg[len] == '\0') {
		die(EX_USAGE, "-O %s: expected Name=Value", arg);
	}
	for (o = options; o < options + sizeof(options) / sizeof(*o); o++) {
		if (strlen(o->name) == len &&
		    strncasecmp(o->name, arg, len) == 0) {
			break;
		}
	}
	if (o == options + sizeof(options) / sizeof(*o)) {
		die(EX_USAGE, "-O %.*s: unknown setting", (int)len, arg);
	}
	/* max is 0 and choices NULL where they do not apply */
	if (o->max > 0 && strlen(val) > o->max) {
		die(EX_USAGE, "-O %s: longer than %zu characters", o->name,
		    o->max);
	}
	if (o->choices != NULL && !choice(o->choices, val)) {
		die(EX_USAGE, "-O %s: '%s' is not one of: %s", o->name, val,
		    o->choices);
	}
	switch (o->type) {
	case O_NUM:
	case O_SIZE:
	case O_DUR:
		if (parsenum(val, o->type, &n) == -1) {
			die(EX_USAGE, "-O %s: '%s' is not %s", o->name, val,
			    notnum[o->type]);
		}
		if (o->type == O_SIZE) {
			*(long long *)o->var = n;
		} else {
			*(long *)o->var = (long)n;
		}
		break;
	case O_LISTEN:
		if (set.nlisten == MAXLISTEN) {
			die(EX_USAGE, "-O %s: at most %d listeners", o->name,
			    MAXLISTEN);
		}
		parselisten(val, &ss, &sl);
		set.listen[set.nlisten++] = val;
		break;
	default:
		*(const char **)o->var = val;	/* O_STR, O_CHOICE */
	}
}

/*
 * -bO: the settings in force, after -O and the system's defaults, one
 * Name=Value line each in the form -O takes back (sizes in bytes,
 * durations in seconds), like Postfix's postconf. sendmail's -bP, which
 * Exim uses for this, means queue counts there, so mta uses a letter no
 * sendmail mode has.
 */
static int
printsettings(void)
{
	const struct option *o;
	int i;

	for (o = options; o < options + sizeof(options) / sizeof(*o); o++) {
		switch (o->type) {
		case O_NUM:
		case O_DUR:
			printf("%s=%ld\n", o->name, *(long *)o->var);
			break;
		case O_SIZE:
			printf("%s=%lld\n", o->name, *(long long *)o->var);
			break;
		case O_LISTEN:
			for (i = 0; i < set.nlisten; i++) {
				printf("%s=%s\n", o->name, set.listen[i]);
			}
			break;
		default:
			printf("%s=%s\n", o->name, *(const char **)o->var);
		}
	}
	if (fflush(stdout) == EOF || ferror(stdout)) {
		die(EX_IOERR, "-bO: cannot write the settings:");
	}
	return 0;
}

/* Fill in the defaults that depend on the system. */
static void
finishsettings(void)
{
	static struct utsname u;
	struct sockaddr_storage ns;

	if (set.nlisten == 0) {
		set.nlisten = 1;
	}
	if (set.hostname[0] == '\0') {
		set.hostname = uname(&u) == -1 || u.nodename[0] == '\0' ?
		    "localhost" : u.nodename;
	}
	if (set.queuedir[0] == '\0') {
		die(EX_CONFIG, "QueueDirectory is empty");
	}
	if (!WITH_TLS && (strcmp(set.smarthosttls, "require") == 0 ||
	    strcmp(set.smarthosttls, "implicit") == 0)) {
		die(EX_CONFIG, "SmartHostTLS=%s: this mta was built without "
		    "TLS; only none or opportunistic (which then is none)",
		    set.smarthosttls);
	}
	if (set.nameserver[0] != '\0' &&
	    dns_parseserver(set.nameserver, &ns) == -1) {
		die(EX_USAGE, "-O NameServer=%s: expected ip, ip:port or "
		    "[ipv6]:port", set.nameserver);
	}
}

/* ---- the other modes ---- */

static void
verify1(const char *addr, void *arg)
{
	static const char *mailers[] = { [T_MAILBOX] = "local",
	    [T_FILE] = "file", [T_PIPE] = "prog" };
	struct target *t;
	char err[256], host[256] = "";
	int n, i, port, *bad = arg;

	/* addr_parselist hands out valid addresses only */
	if (local_expand(addr, &t, &n, err, sizeof(err)) == -1) {
		printf("%s... %s\n", addr, err);
		(*bad)++;
		return;
	}
	for (i = 0; i < n; i++) {
		const char *a = t[i].addr, *dom = strrchr(a, '@');

		if (t[i].type == T_UNKNOWN) {
			printf("%s... User unknown\n", a);
			(*bad)++;
		} else if (t[i].type != T_REMOTE) {
			printf("%s... deliverable: mailer %s, user %s\n", a,
			    mailers[t[i].type], a);
		} else if (set.smarthost[0] != '\0') {
			splithostport(set.smarthost, host, sizeof(host), &port);
			printf("%s... deliverable: mailer esmtp, host "
			    "[%s]\n", a, host);
		} else {
			printf("%s... deliverable: mailer esmtp, host %s\n", a,
			    dom != NULL ? dom + 1 : "?");
		}
	}
	local_freetargets(t, n);
}

/* -bv */
static int
verify(char **argv, int argc)
{
	int i, bad = 0;

	if (argc == 0) {
		die(EX_USAGE, "-bv: no addresses given");
	}
	for (i = 0; i < argc; i++) {
		if (addr_parselist(argv[i], verify1, &bad) <= 0) {
			printf("%s... Bad address syntax\n", argv[i]);
			bad++;
		}
	}
	return bad > 0 ? EX_NOUSER : 0;
}

/* The queue directory, or exit with code (0: as tempfailcode says). */
static void
openqueue(int code)
{
	if (spool_open() == -1) {
		die(code != 0 ? code : tempfailcode(errno), "cannot open the "
		    "queue directory %s:", set.queuedir);
	}
}

/* The -qINTERVAL (alone, or with -bd/-bD) in seconds; 0 for none. */
static long
interval(void)
{
	long long every = 0;

	if (opt.qarg != NULL && *opt.qarg != '\0' &&
	    (parsenum(opt.qarg, O_DUR, &every) == -1 || every == 0)) {
		die(EX_USAGE, "-q%s: not an interval", opt.qarg);
	}
	return (long)every;
}

/* -q, -qI..., -qR..., -qS...; -qINTERVAL alone: a queue-run daemon. */
static int
queuerun(void)
{
	struct qfilter f = { 0, NULL };
	const char *q = opt.qarg;
	long every;
	pid_t pid;

	if (*q == 'I' || *q == 'R' || *q == 'S') {
		f.kind = *q;
		f.sub = q + 1;
		if (*f.sub == '\0') {
			die(EX_USAGE, "-q%c needs a substring", *q);
		}
	}
	if (*q == '\0' || f.kind != 0) {
		openqueue(0);
		return deliver_run(&f) == -1 ? EX_TEMPFAIL : 0;
	}
	/* -qINTERVAL alone: detach, then be a runner without a daemon */
	every = interval();
	openqueue(EX_CANTCREAT);
	if ((pid = fork()) == -1) {
		die(EX_OSERR, "fork:");
	}
	if (pid == 0) {
		detach();
		logmsg(LOG_INFO, "queue runner started, every %lds", every);
		deliver_runner(-1, every);
		logmsg(LOG_INFO, "queue runner stopped");
		_exit(0);
	}
	return 0;
}

/* ---- the daemon: listeners, privileges, signals, the select() loop ---- */

#if WITH_SERVER		/* to the end of server(): see config.h */

static int lfds[MAXLISTEN];	/* listening sockets */
static int nlfd;
static int sigfd[2] = { -1, -1 };	/* self-pipe: handlers write here */
static int runnerfd = -1;	/* to the root runner: "D<id>\n" lines */
static pid_t runner = -1;
static int handover;		/* SIGHUP child: finish sessions, then exit */
static char selfpath[4096];	/* for SIGHUP: our own image */

static sigset_t daemonsigs;	/* the signals the loop handles */
static sigset_t oldmask;	/* the mask to run with */

static void
onsignal(int sig)
{
	unsigned char c = (unsigned char)sig;
	int e = errno;

	if (write(sigfd[1], &c, 1) == -1) {
		;	/* pipe full: the loop has plenty to read already */
	}
	errno = e;
}

static int
openlistener(const char *spec)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, on = 1;

	parselisten(spec, &ss, &len);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0);
	if (fd == -1) {
		die(EX_OSERR, "socket:");
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (ss.ss_family == AF_INET6) {
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
	}
	if (bind(fd, (struct sockaddr *)&ss, len) == -1 ||
	    listen(fd, SOMAXCONN) == -1) {
		die(EX_UNAVAILABLE, "cannot listen on %s:", spec);
	}
	return fd;
}

/*
 * The descriptors a SIGHUP hands to the new image (see reexec): flags 0
 * keeps them open across the exec, FD_CLOEXEC closes them on any other.
 */
static void
handedover(int flags)
{
	int i;

	for (i = 0; i < nlfd; i++) {
		fcntl(lfds[i], F_SETFD, flags);
	}
	fcntl(spool_fd(), F_SETFD, flags);
	if (logfd > 2) {	/* never stderr; -1 is syslog */
		fcntl(logfd, F_SETFD, flags);
	}
	fcntl(runnerfd, F_SETFD, flags);	/* -1 (none): EBADF, harmless */
}

/*
 * After SIGHUP the new image finds its descriptors in MTA_FDS:
 * "spool,log,runner,runnerpid,listen..." (-1 for none).
 */
static int
adopt(void)
{
	const char *env = getenv("MTA_FDS");
	long v[3 + MAXLISTEN + 1];
	char *end;
	int n = 0, i;

	if (env == NULL) {
		return 0;
	}
	for (; *env != '\0' && n < (int)(sizeof(v) / sizeof(*v)); n++) {
		v[n] = strtol(env, &end, 10);
		env = *end == ',' ? end + 1 : end;
		if (end == env && *env != '\0') {
			break;
		}
	}
	unsetenv("MTA_FDS");
	if (n < 5) {
		die(EX_SOFTWARE, "MTA_FDS: malformed");
	}
	spool_adopt((int)v[0]);
	if (v[1] > 2) {		/* the predecessor's LogFile (-1: syslog) */
		if (logfd > 2) {
			close(logfd);
		}
		logfd = (int)v[1];
	}
	runnerfd = (int)v[2];
	runner = (pid_t)v[3];
	for (i = 4; i < n && nlfd < MAXLISTEN; i++) {
		lfds[nlfd++] = (int)v[i];
	}
	handedover(FD_CLOEXEC);
	return 1;
}

static void
writepid(pid_t pid)
{
	char buf[32];
	int fd, n;

	if (set.pidfile[0] == '\0') {
		return;
	}
	fd = ownfile(set.pidfile, O_WRONLY | O_CREAT, 0644);
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)pid);
	if (fd == -1 || ftruncate(fd, 0) == -1 ||
	    write(fd, buf, (size_t)n) != n || close(fd) == -1) {
		warn("PidFile %s:", set.pidfile);
	}
}

/* Started as root: from here on RunAsUser, for good. */
static void
droppriv(void)
{
	struct passwd *pw;

	if (getuid() != 0 || strcmp(set.runasuser, "root") == 0) {
		return;
	}
	if ((pw = getpwnam(set.runasuser)) == NULL) {
		die(EX_NOUSER, "RunAsUser %s: no such user", set.runasuser);
	}
	/* the daemon writes the spool and the log as that user */
	if (spool_chown(pw->pw_uid, pw->pw_gid) == -1 ||
	    (logfd > 2 && fchown(logfd, pw->pw_uid, pw->pw_gid) == -1)) {
		die(EX_OSERR, "cannot give the spool or log to %s:",
		    set.runasuser);
	}
	if (setgroups(0, NULL) == -1 || setgid(pw->pw_gid) == -1 ||
	    setuid(pw->pw_uid) == -1) {
		die(EX_OSERR, "cannot become %s:", set.runasuser);
	}
	if (setuid(0) != -1 || geteuid() == 0) {
		die(EX_SOFTWARE, "dropped to %s but root can be regained",
		    set.runasuser);
	}
}

/* The runner keeps root for local delivery; we talk to it by a pipe. */
static void
startrunner(long every)
{
	int p[2];

	/*
	 * close-on-exec: no |program of the runner's inherits it;
	 * non-blocking: a full pipe must not stall the daemon (the runner
	 * reads only after pselect and takes EAGAIN as nothing yet)
	 */
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) == -1) {
		die(EX_OSERR, "pipe:");
	}
	if ((runner = fork()) == -1) {
		die(EX_OSERR, "fork:");
	}
	if (runner == 0) {
		close(p[1]);
		for (int i = 0; i < nlfd; i++) {
			close(lfds[i]);
		}
		_exit(deliver_runner(p[0], every));
	}
	close(p[0]);
	runnerfd = p[1];
}

/* smtp.c's smtp_onqueued: a message was committed; have it delivered
 * at once. */
static void
daemon_queued(const char *id)
{
	char line[QIDLEN + 2];
	int n;

	if (opt.dmode == 'q') {
		return;		/* -odq: the queue runs deliver it */
	}
	if (runnerfd == -1) {
		deliver_spawn(id);
		return;
	}
	n = snprintf(line, sizeof(line), "D%s\n", id);
	if (write(runnerfd, line, (size_t)n) != n) {
		/* a full pipe: the runner will sweep the queue instead */
		if (write(runnerfd, "Q\n", 2) == -1) {
			logmsg(LOG_NOTICE, "%s: runner busy, left queued", id);
		}
	}
}

static void
reapkids(void)
{
	pid_t pid;
	int st;

	while ((pid = reap(-1, &st, WNOHANG)) > 0) {
		if (pid == runner) {
			logmsg(LOG_ALERT, "queue runner %ld exited (status "
			    "%d); deliveries now start from the daemon",
			    (long)pid, st);
			runner = -1;
			close(runnerfd);
			runnerfd = -1;
		} else {
			logchild("", pid, st, 0);
		}
	}
}

/*
 * SIGHUP: run our image again with the same arguments. The sessions in
 * progress go on in a child that no longer listens; the listening
 * sockets, the spool, the log and the runner pass to the new image by
 * descriptor, so no connection is refused meanwhile. If anything stops
 * the exec, this process simply goes on.
 */
static void
reexec(void)
{
	char env[256];
	size_t n;
	pid_t pid;
	int i;

	if (selfpath[0] == '\0' || access(selfpath, X_OK) == -1 ||
	    (tls_haveserver() && (access(set.servercert, R_OK) == -1 ||
	    access(set.serverkey, R_OK) == -1))) {
		logmsg(LOG_ALERT, "SIGHUP: cannot re-execute %s: %s; the "
		    "daemon goes on as it was", selfpath[0] != '\0' ?
		    selfpath : "(unknown path)", strerror(errno));
		return;
	}
	if (smtp_count() > 0) {
		if ((pid = fork()) == -1) {
			logmsg(LOG_ALERT, "SIGHUP: fork: %s; not restarting",
			    strerror(errno));
			return;
		}
		if (pid == 0) {
			while (nlfd > 0) {
				close(lfds[--nlfd]);
			}
			handover = 1;
			smtp_handover();
			return;
		}
		smtp_forget();
	}
	/* at most 4 + MAXLISTEN numbers: they always fit */
	n = (size_t)snprintf(env, sizeof(env), "%d,%d,%d,%ld", spool_fd(),
	    logfd, runnerfd, (long)runner);
	for (i = 0; i < nlfd; i++) {
		n += (size_t)snprintf(env + n, sizeof(env) - n, ",%d", lfds[i]);
	}
	handedover(0);
	setenv("MTA_FDS", env, 1);
	logmsg(LOG_INFO, "SIGHUP: re-executing %s", selfpath);
	/*
	 * Until the new image has its handlers, a signal would kill it:
	 * block them across the exec (the mask and anything pending
	 * survive it); the new image unblocks once it is ready.
	 */
	sigprocmask(SIG_BLOCK, &daemonsigs, NULL);
	execv(selfpath, savedargv);
	sigprocmask(SIG_SETMASK, &oldmask, NULL);
	logmsg(LOG_ALERT, "SIGHUP: cannot re-execute %s: %s; the daemon goes "
	    "on", selfpath, strerror(errno));
	unsetenv("MTA_FDS");
	handedover(FD_CLOEXEC);
}

static void
logstat(const char *line)
{
	logmsg(LOG_INFO, "state: host %s", line);
}

static void
logfdname(int fd, void *arg)
{
	char path[64], target[256];
	ssize_t n;

	(void)arg;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if ((n = readlink(path, target, sizeof(target) - 1)) > 0) {
		target[n] = '\0';
		logmsg(LOG_INFO, "state: fd %d: %s", fd, target);
	}
}

static void
dumpstate(void)
{
	logmsg(LOG_INFO, "state: dumping on SIGUSR1, HostName %s, pid %ld%s",
	    set.hostname, (long)getpid(), handover ? " (finishing old "
	    "sessions after SIGHUP)" : "");
	logmsg(LOG_INFO, "state: queue runner pid %ld", (long)runner);
	smtp_dump();
	remote_dumpstat(logstat);
	eachfd(logfdname, NULL);
	logmsg(LOG_INFO, "state: end of dump");
}

/* Act on what the handlers wrote to the self-pipe. */
static void
signals(void)
{
	unsigned char buf[64];
	ssize_t n, i;

	while ((n = read(sigfd[0], buf, sizeof(buf))) > 0) {
		for (i = 0; i < n; i++) {
			switch (buf[i]) {
			case SIGTERM:
			case SIGINT:
				logmsg(LOG_INFO, "stopping on signal %d",
				    buf[i]);
				smtp_shutdown();
				exit(0);
			case SIGHUP:
				if (!handover) {
					reexec();
				}
				break;
			case SIGUSR1:
				dumpstate();
				break;
			case SIGCHLD:
				reapkids();
				break;
			}
		}
	}
}

/* Handlers on, and the signals unblocked (see reexec()). */
static void
catchsignals(void)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1,
	    SIGCHLD };
	struct sigaction sa = { .sa_handler = onsignal,
	    .sa_flags = SA_RESTART };
	size_t i;

	if (pipe2(sigfd, O_CLOEXEC | O_NONBLOCK) == -1) {
		die(EX_OSERR, "pipe:");
	}
	sigemptyset(&daemonsigs);
	/* what the mask should be once ready: unblocked, whatever exec
	 * handed over */
	sigprocmask(SIG_BLOCK, NULL, &oldmask);
	for (i = 0; i < sizeof(sigs) / sizeof(*sigs); i++) {
		sigaddset(&daemonsigs, sigs[i]);
		sigdelset(&oldmask, sigs[i]);
		sigaction(sigs[i], &sa, NULL);
	}
	sigprocmask(SIG_SETMASK, &oldmask, NULL);
}

/* The one select() loop: listeners, sessions, signals. */
static void
serve(void)
{
	fd_set r, w;
	struct timeval tv;
	time_t now, next;
	int maxfd, i;

	for (;;) {
		FD_ZERO(&r);
		FD_ZERO(&w);
		FD_SET(sigfd[0], &r);
		maxfd = sigfd[0];
		now = time(NULL);
		for (i = 0; i < nlfd && smtp_accepting(now); i++) {
			/* not while out of descriptors (smtp_accept) */
			FD_SET(lfds[i], &r);
			maxfd = lfds[i] > maxfd ? lfds[i] : maxfd;
		}
		next = now + 3600;
		smtp_prepare(&r, &w, &maxfd, &next);
		tv.tv_sec = next > now ? next - now : 0;
		tv.tv_usec = next > now ? 0 : 100000;
		if (select(maxfd + 1, &r, &w, NULL, &tv) == -1) {
			if (errno != EINTR) {
				logmsg(LOG_ERR, "select: %s", strerror(errno));
			}
			continue;
		}
		if (FD_ISSET(sigfd[0], &r)) {
			signals();
		}
		for (i = 0; i < nlfd; i++) {
			if (FD_ISSET(lfds[i], &r)) {
				smtp_accept(lfds[i]);
			}
		}
		smtp_run(&r, &w);
		if ((handover || nlfd == 0) && smtp_count() == 0) {
			exit(0);	/* -bs done, or the old sessions are */
		}
	}
}

/* Settings the server needs, checked before anything listens. */
static void
serverconfig(void)
{
	char err[512];

	if (smtp_setrelay(set.relayfrom, err, sizeof(err)) == -1) {
		die(EX_CONFIG, "%s", err);
	}
#if WITH_TLS
	if ((set.servercert[0] != '\0') != (set.serverkey[0] != '\0')) {
		die(EX_CONFIG, "ServerCertFile and ServerKeyFile go together");
	}
	if (set.servercert[0] != '\0' &&
	    tls_loadserver(set.servercert, set.serverkey, err,
	    sizeof(err)) == -1) {
		die(EX_CONFIG, "TLS: %s", err);
	}
#else
	/* what they ask for cannot be had: better no server than a
	 * server that silently lacks it */
	if (set.servercert[0] != '\0' || set.serverkey[0] != '\0' ||
	    set.authusers[0] != '\0') {
		die(EX_CONFIG, "%s: this mta was built without TLS, so "
		    "without STARTTLS and AUTH", set.servercert[0] != '\0' ?
		    "ServerCertFile" : set.serverkey[0] != '\0' ?
		    "ServerKeyFile" : "AuthUsersFile");
	}
#endif
	if (smtp_init() == -1) {
		die(EX_OSERR, "cannot allocate %ld sessions:", set.maxconn);
	}
	if (getuid() == 0 && strcmp(set.runasuser, "root") != 0 &&
	    getpwnam(set.runasuser) == NULL) {
		die(EX_NOUSER, "RunAsUser %s: no such user", set.runasuser);
	}
}

/*
 * -bs: one session on stdin/stdout (inetd, tests). -bd, -bD: the SMTP
 * daemon, in the background or not, with a -qINTERVAL queue run.
 */
static int
server(void)
{
	long every = opt.mode != 's' ? interval() : 0;	/* -qINTERVAL */
	pid_t pid;
	int i;

	serverconfig();
	if (opt.mode == 's') {
		openqueue(EX_CANTCREAT);
		catchsignals();
		smtp_stdio();
		serve();	/* it never returns */
	}
	if (adopt()) {
		logmsg(LOG_INFO, "restarted after SIGHUP, pid %ld",
		    (long)getpid());
	} else {
		openqueue(EX_CANTCREAT);
		for (i = 0; i < set.nlisten; i++) {
			lfds[nlfd++] = openlistener(set.listen[i]);
		}
		if (opt.mode == 'd') {
			if ((pid = fork()) == -1) {
				die(EX_OSERR, "fork:");
			}
			if (pid > 0) {
				/* written before we return, so that the caller
				 * can signal the daemon at once */
				writepid(pid);
				return 0;
			}
			detach();
		} else {
			writepid(getpid());
		}
		spool_recover();
		startrunner(every);
		droppriv();
		logmsg(LOG_INFO, "starting daemon (mta %s), pid %ld",
		    VERSION, (long)getpid());
	}
	/* readlink adds no NUL, but selfpath is static (zeroed) and read
	 * once, and its last byte is never filled */
	if (readlink("/proc/self/exe", selfpath, sizeof(selfpath) - 1) == -1) {
		selfpath[0] = '\0';	/* reexec() then knows no path */
	}
	if (syncer_start() == -1) {
		logmsg(LOG_NOTICE, "no syncer (%s): flushing in the loop",
		    strerror(errno));
	}
	catchsignals();
	serve();
	return 0;
}

#endif /* WITH_SERVER */

static void
usage(const char *why)
{
	die(EX_USAGE, "%s\nusage: %s [-t] [-i] [-f sender] [-F name] "
	    "[-odb|-odi|-odq] [-O Name=Value] [recipient ...]\n"
	    "       %s -bp | -bv addr... | -bi | -bO | -q[I|R|S sub] | "
	    "-qINTERVAL\n"
	    "       %s %s| -d0.1", why, progname, progname, progname,
	    WITH_SERVER ? "-bd | -bD [-qINTERVAL] | -bs " : "");
}

/* -o options: the ones sendmail scripts use; the rest is an error. */
static void
ooption(const char *a)
{
	if (strcmp(a, "i") == 0) {
		opt.iflag = 1;
	} else if (a[0] == 'd' && a[1] != '\0' && a[2] == '\0' &&
	    strchr("ibqw", a[1]) != NULL) {
		opt.dmode = a[1] == 'w' ? 'b' : a[1];
	} else if ((a[0] == 'e' && a[1] != '\0' && a[2] == '\0' &&
	    strchr("mpqwe", a[1]) != NULL) || strcmp(a, "m") == 0) {
		/* -oeX: errors are always returned by mail; -om, "me too":
		 * the sender is never dropped anyway */
	} else {
		usage("unknown -o option");
	}
}

/*
 * -d0.1, as sendmail has it: the version and what is compiled in (the
 * profile, config.h), then exit. mta has no other debug output.
 */
static void
dflag(const char *v)
{
	if (strcmp(v, "0") != 0 && strncmp(v, "0.", 2) != 0) {
		usage("-d: only -d0.1 (version and profile) is known");
	}
	printf("Version %s\n Compiled with:%s%s\n", VERSION,
	    WITH_SERVER ? " SERVER" : "", WITH_TLS ? " TLS" : "");
	exit(fflush(stdout) == 0 ? 0 : EX_IOERR);
}

/* One cluster of flags, getopt style ("-ti", "-odq", "-fme"). */
static void
flag(char **argv, int *i)
{
	const char *p = argv[*i] + 1, *v;

	for (; *p != '\0'; p++) {
		switch (*p) {
		case 't': opt.tflag = 1; continue;
		case 'i': opt.iflag = 1; continue;
		case 'v': verbose = 1; continue;
		case 'm': case 'n': case 'U': continue;	/* compatibility */
		case 'q':
			if (opt.mode != 'd' && opt.mode != 'D') {
				opt.mode = 'q';
			}
			opt.qarg = p + 1;
			return;
		}
		/* the rest take a value: "-fx" or "-f x" (argv ends in NULL) */
		v = p[1] != '\0' ? p + 1 : argv[++*i];
		if (v == NULL) {
			usage("an option is missing its value");
		}
		switch (*p) {
		case 'b':
			/* "-b ''": strchr would find the NUL, v[1] is past it */
			if (*v == '\0' || v[1] != '\0' ||
			    strchr("mdDspviO", *v) == NULL) {
				usage("unknown -b mode");
			}
			opt.mode = *v;
			break;
		case 'o': ooption(v); break;
		case 'O': setoption(v); break;
		case 'f': case 'r': opt.from = v; break;
		case 'F': opt.fullname = v; break;
		case 'N': opt.notify = v; break;
		case 'R': opt.ret = v; break;
		case 'V': opt.envid = v; break;
		case 'd': dflag(v); break;
		case 'B': case 'h': case 'L': case 'C': break;
		default:
			usage("unknown option");
		}
		return;
	}
}

int
main(int argc, char **argv)
{
	const char *base;
	int i;

	umask(077);
	signal(SIGPIPE, SIG_IGN);
	savedargv = argv;
	base = strrchr(argv[0], '/');
	base = base != NULL ? base + 1 : argv[0];
	if (strcmp(base, "mailq") == 0) {
		opt.mode = 'p';
	} else if (strcmp(base, "newaliases") == 0) {
		opt.mode = 'i';
	}
	progname = *base != '\0' ? base : "mta";
	for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1] != '\0';
	    i++) {
		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		}
		flag(argv, &i);
	}
	finishsettings();
	if (opt.mode == 'O') {
		return printsettings();
	}
#if WITH_SERVER
	smtp_onqueued = daemon_queued;
	if ((opt.mode == 'd' || opt.mode == 'D') && getenv("MTA_FDS") == NULL) {
		/* nothing of our caller but the log; before the log opens */
		closefds(logfd, -1);
	}
#endif
	openlogfile();
	if (verbose && opt.dmode == 'b') {
		opt.dmode = 'i';	/* -v shows the delivery, so wait for it */
	}
	switch (opt.mode) {
	case 'm':
		return submit_run(argv + i, argc - i);
	case 'p':
		openqueue(EX_CANTCREAT);
		return mailq_print() == -1 ? EX_IOERR : 0;
	case 'v':
		return verify(argv + i, argc - i);
	case 'i':
		return local_checkaliases(set.aliasfile) > 0 ? EX_DATAERR : 0;
	case 'q':
		return queuerun();
	case 'd':
	case 'D':
	case 's':
#if WITH_SERVER
		return server();
#else
		die(EX_UNAVAILABLE, "-b%c: this mta was built without the SMTP "
		    "server (send-only)%s", opt.mode, opt.mode == 's' ? "" :
		    "; a queue runner alone is -qINTERVAL");
#endif
	}
	return EX_SOFTWARE;
}
