/*
 * util.c: the ground floor, which every other file stands on and which
 * stands on none of them: the settings in force (their defaults come from
 * config.h's SETTINGS; mta.c parses -O into them), the command line's
 * wishes, logging (logmsg, warn, die), allocation that cannot fail, and
 * the small helpers for addresses, dates and exit codes.
 */
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
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

struct settings set = { SETTINGS(S_DEFAULT) };
int verbose;
const char *progname = "mta";

/* ---- logging and errors ---- */

int logfd = -1;		/* LogFile, or 2 (stderr), or -1 (syslog) */

/*
 * A file that root opens by a name from the settings (LogFile, PidFile)
 * in a folder that someone else may write: never through a symlink, never
 * a FIFO or device, never a hard link to another file, and owned by root,
 * by us or by RunAsUser (the log is given to it), or ELOOP. No O_TRUNC:
 * the caller truncates once the file is known to be the right one.
 */
int
ownfile(const char *path, int flags, mode_t mode)
{
	struct passwd *pw = getpwnam(set.runasuser);
	struct stat st;
	int fd;

	fd = open(path, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC |
	    O_NOCTTY, mode);
	if (fd == -1) {
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_nlink != 1 || (st.st_uid != 0 && st.st_uid != geteuid() &&
	    (pw == NULL || st.st_uid != pw->pw_uid))) {
		close(fd);
		errno = ELOOP;
		return -1;
	}
	return fd;
}

void
openlogfile(void)
{
	if (set.logfile[0] == '\0') {
		openlog("mta", LOG_PID | LOG_NDELAY, LOG_MAIL);
	} else if (strcmp(set.logfile, "-") == 0) {
		logfd = 2;
	} else {
		logfd = ownfile(set.logfile, O_WRONLY | O_APPEND | O_CREAT,
		    0640);
		if (logfd == -1) {
			fprintf(stderr, "%s: LogFile %s: %s\n", progname,
			    set.logfile, strerror(errno));
			logfd = 2;
		}
	}
}

void
logmsg(int pri, const char *fmt, ...)
{
	char line[2048], when[32];
	struct tm tm;
	time_t now;
	va_list ap;
	int n, m;

	va_start(ap, fmt);
	if (logfd == -1) {
		vsyslog(pri, fmt, ap);
		va_end(ap);
		return;
	}
	now = time(NULL);
	localtime_r(&now, &tm);
	strftime(when, sizeof(when), "%b %e %H:%M:%S", &tm);
	n = snprintf(line, sizeof(line), "%s %.255s mta[%ld]: ", when,
	    set.hostname, (long)getpid());
	m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0) {
		return;
	}
	n += m;
	if ((size_t)n > sizeof(line) - 2) {
		n = (int)sizeof(line) - 2;
	}
	line[n++] = '\n';
	/* one write per line, so lines of concurrent processes never mix */
	if (write(logfd, line, (size_t)n) == -1) {
		return;
	}
}

/* A format ending in ':' gets the errno text appended (suckless style). */
static void
vwarn(const char *fmt, va_list ap)
{
	char msg[1024];
	size_t n;
	int e = errno;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	if (n > 0 && msg[n - 1] == ':') {
		snprintf(msg + n, sizeof(msg) - n, " %s", strerror(e));
	}
	fprintf(stderr, "%s: %s\n", progname, msg);
	if (logfd != 2) {
		logmsg(LOG_ERR, "%s", msg);
	}
	errno = e;
}

void
warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
}

void
die(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
	exit(code);
}

void *
xrealloc(void *p, size_t n)
{
	if ((p = realloc(p, n)) == NULL) {
		die(EX_OSERR, "out of memory");
	}
	return p;
}

void *
xmalloc(size_t n)
{
	return xrealloc(NULL, n);
}

void *
xmemdup(const void *p, size_t n)
{
	return memcpy(xmalloc(n), p, n);
}

char *
xstrdup(const char *s)
{
	return xmemdup(s, strlen(s) + 1);
}

/* Room for one more element in a growing array. */
void *
grow(void *v, int n, int *cap, size_t size)
{
	if (n == *cap) {
		*cap = *cap > 0 ? *cap * 2 : 8;
		v = xrealloc(v, (size_t)*cap * size);
	}
	return v;
}

/* Append s, which the vector owns from now on. */
void
strv_add(struct strv *sv, char *s)
{
	sv->v = grow(sv->v, sv->n, &sv->cap, sizeof(*sv->v));
	sv->v[sv->n++] = s;
}

void
strv_free(struct strv *sv)
{
	while (sv->n > 0) {
		free(sv->v[--sv->n]);
	}
	free(sv->v);
	*sv = (struct strv){ NULL, 0, 0 };
}

/* ---- small helpers shared by the other files ---- */

/* All of p to fd, or -1 with errno (EIO if the file takes nothing). */
int
writeall(int fd, const void *p, size_t n)
{
	const char *b = p;
	ssize_t w;

	while (n > 0) {
		if ((w = write(fd, b, n)) < 0 && errno == EINTR) {
			continue;
		}
		if (w <= 0) {
			errno = w == 0 ? EIO : errno;
			return -1;
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

void
wflush(struct wbuf *w)
{
	if (w->err == 0 && writeall(w->fd, w->buf, w->n) == -1) {
		w->err = errno;
	}
	w->n = 0;
}

void
wput(struct wbuf *w, const char *p, size_t len)
{
	size_t k;

	w->total += (long long)len;
	for (; len > 0; p += k, len -= k) {
		if (w->n == sizeof(w->buf)) {
			wflush(w);
		}
		k = sizeof(w->buf) - w->n < len ? sizeof(w->buf) - w->n : len;
		memcpy(w->buf + w->n, p, k);
		w->n += k;
	}
}

void
wputs(struct wbuf *w, const char *s)
{
	wput(w, s, strlen(s));
}

/*
 * The rest of an open file as a C string (*len bytes before the NUL, if
 * len is not NULL), or NULL with errno: EFBIG past max bytes, since a
 * cut file would be taken for the whole one.
 */
char *
readall(int fd, size_t max, size_t *len)
{
	size_t n = 0, cap = 4096;
	char *buf = xmalloc(cap);
	ssize_t r;

	for (;;) {
		if (n + 1 == cap) {
			buf = xrealloc(buf, cap *= 2);
		}
		if ((r = read(fd, buf + n, cap - n - 1)) > 0 &&
		    (n += (size_t)r) > max) {
			errno = EFBIG;
			r = -1;
		}
		if (r == 0 || (r == -1 && errno != EINTR)) {
			break;
		}
	}
	if (r == -1) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	if (len != NULL) {
		*len = n;
	}
	return buf;
}

/* Is domain one of ours: HostName, localhost, or in LocalDomains? */
int
islocaldomain(const char *domain)
{
	const char *p = set.localdomains;
	size_t n;

	if (strcasecmp(domain, set.hostname) == 0 ||
	    strcasecmp(domain, "localhost") == 0) {
		return 1;
	}
	while (*p != '\0') {
		p += strspn(p, ", ");
		n = strcspn(p, ", ");
		if (n > 0 && strlen(domain) == n &&
		    strncasecmp(domain, p, n) == 0) {
			return 1;
		}
		p += n;
	}
	return 0;
}

/*
 * Split an envelope address at its last '@' (a quoted local part may hold
 * one): the local part is copied to local, *domain points into addr, or
 * is NULL when there is no domain.
 */
int
splitaddr(const char *addr, char *local, size_t llen, const char **domain)
{
	const char *at = strrchr(addr, '@');
	size_t n = at != NULL ? (size_t)(at - addr) : strlen(addr);

	if (n >= llen) {
		return -1;
	}
	snprintf(local, llen, "%.*s", (int)n, addr);
	*domain = at != NULL ? at + 1 : NULL;
	return 0;
}

void
rfc5322date(time_t t, char *buf, size_t len)
{
	struct tm tm;

	localtime_r(&t, &tm);
	if (strftime(buf, len, "%a, %d %b %Y %H:%M:%S %z", &tm) == 0) {
		buf[0] = '\0';
	}
}

/*
 * Make untrusted text safe for one log or qf line: C0 controls and DEL
 * become spaces; the C1 controls U+0080..U+009F (which a terminal may
 * obey as escapes) and every byte that is not part of well-formed UTF-8
 * (overlong forms and surrogates included) become '?'. Other UTF-8 is
 * kept.
 */
void
sanitize(char *s)
{
	static const unsigned long least[] = { 0, 0x80, 0x800, 0x10000 };
	unsigned char *p = (unsigned char *)s;
	unsigned long c;
	int i, n;

	while (*p != '\0') {
		if (*p < 0x80) {
			*p = *p < 0x20 || *p == 0x7f ? ' ' : *p;
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

/* ---- numeric addresses and ports ---- */

/*
 * A numeric address, "192.0.2.1" or "2001:db8::1", or with lit also an
 * address literal of RFC 5321 4.1.3, "[192.0.2.1]" or "[IPv6:2001:db8::1]"
 * (the tag is not required here). Its bytes into a (room for 16):
 * returns 4, 16, or 0 when s is none of these.
 */
int
ipaddr(const char *s, int lit, unsigned char *a)
{
	char buf[INET6_ADDRSTRLEN + 8];
	size_t n = strlen(s);

	if (lit && s[0] == '[') {
		if (n < 2 || s[n - 1] != ']' || n - 2 >= sizeof(buf)) {
			return 0;
		}
		snprintf(buf, sizeof(buf), "%.*s", (int)(n - 2), s + 1);
		s = strncasecmp(buf, "IPv6:", 5) == 0 ? buf + 5 : buf;
	}
	if (inet_pton(AF_INET, s, a) == 1) {
		return 4;
	}
	return inet_pton(AF_INET6, s, a) == 1 ? 16 : 0;
}

/* The socket address of an address of alen bytes and port; its length. */
socklen_t
ipsockaddr(const unsigned char *a, int alen, int port,
    struct sockaddr_storage *ss)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (alen == 4) {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		memcpy(&in->sin_addr, a, 4);
		return sizeof(*in);
	}
	in6->sin6_family = AF_INET6;
	in6->sin6_port = htons((uint16_t)port);
	memcpy(&in6->sin6_addr, a, 16);
	return sizeof(*in6);
}

/* A port: 1 to 65535, decimal digits only; else -1. */
int
parseport(const char *s)
{
	unsigned long p;
	char *end;

	p = strtoul(s, &end, 10);
	return *s < '0' || *s > '9' || *end != '\0' || p == 0 || p > 65535 ?
	    -1 : (int)p;
}

/*
 * "host", "host:port", "[host]:port", "[host]" or a bare IPv6 address
 * (two colons or more): the host into host, the port into *port when
 * one is given. Returns 1 when the host was in brackets, 0 when not, -1
 * for bad syntax.
 */
int
splithostport(const char *spec, char *host, size_t hlen, int *port)
{
	const char *end, *p = NULL;
	int br = *spec == '[';

	if (br) {
		if ((end = strchr(++spec, ']')) == NULL ||
		    (end[1] != '\0' && end[1] != ':')) {
			return -1;
		}
		p = end[1] == ':' ? end + 2 : NULL;
	} else if ((end = strchr(spec, ':')) != NULL &&
	    strchr(end + 1, ':') == NULL) {
		p = end + 1;
	} else {
		end = spec + strlen(spec);
	}
	if ((size_t)(end - spec) >= hlen ||
	    (p != NULL && (*port = parseport(p)) == -1)) {
		return -1;
	}
	snprintf(host, hlen, "%.*s", (int)(end - spec), spec);
	return br;
}

/*
 * The enhanced status code (RFC 3463) of a reply, "550 5.1.1 ..." or
 * "5.1.1 ...", into code; 0 when it has none.
 */
int
enhcode(const char *reply, char *code, size_t len)
{
	const char *p = reply;
	size_t n;

	if (strlen(p) > 4 && p[3] == ' ' && p[0] >= '2' && p[0] <= '5') {
		p += 4;
	}
	n = strspn(p, "0123456789.");
	if (n < 5 || n >= len || p[0] < '2' || p[0] > '5' || p[1] != '.') {
		return 0;
	}
	snprintf(code, len, "%.*s", (int)n, p);
	return 1;
}

/*
 * fn for each open descriptor but the walk's own, read from /proc/self/fd
 * (a loop to RLIMIT_NOFILE would cost milliseconds); -1 without /proc.
 */
int
eachfd(void (*fn)(int fd, void *arg), void *arg)
{
	struct dirent *e;
	DIR *d;

	if ((d = opendir("/proc/self/fd")) == NULL) {
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d)) {
			fn(atoi(e->d_name), arg);
		}
	}
	closedir(d);
	return 0;
}

static void
closeone(int fd, void *arg)
{
	const int *keep = arg;

	if (fd > 2 && fd != keep[0] && fd != keep[1]) {
		(void)close(fd);
	}
}

/*
 * Close every descriptor above 2 but keep1 and keep2 (-1 for none),
 * whatever a caller left open without O_CLOEXEC.
 */
void
closefds(int keep1, int keep2)
{
	int keep[2] = { keep1, keep2 }, fd;
	long max;

	if (eachfd(closeone, keep) == -1) {
		max = sysconf(_SC_OPEN_MAX);
		for (fd = 3; fd < (max > 0 && max < 65536 ? max : 65536);
		    fd++) {
			closeone(fd, keep);
		}
	}
}

/*
 * Wait at most ms milliseconds for rfd to be readable or wfd writable
 * (-1: not watched; with neither, a nap): select(), as the daemon loop
 * and wire.c wait. The number ready; 0 when the time is up or a signal
 * came (the caller reads its clock and waits again); -1 with errno, and
 * EMFILE for a descriptor an fd_set cannot hold.
 */
int
waitfds(int rfd, int wfd, long long ms)
{
	struct timeval tv = { (time_t)(ms / 1000),
	    (suseconds_t)(ms % 1000 * 1000) };
	fd_set r, w;
	int n;

	if (rfd >= FD_SETSIZE || wfd >= FD_SETSIZE) {
		errno = EMFILE;
		return -1;
	}
	FD_ZERO(&r);
	FD_ZERO(&w);
	if (rfd >= 0) {
		FD_SET(rfd, &r);
	}
	if (wfd >= 0) {
		FD_SET(wfd, &w);
	}
	n = select((rfd > wfd ? rfd : wfd) + 1, &r, &w, NULL, &tv);
	return n == -1 && errno == EINTR ? 0 : n;
}

/* waitpid, again after a signal. */
pid_t
reap(pid_t pid, int *st, int flags)
{
	pid_t w;

	while ((w = waitpid(pid, st, flags)) == -1 && errno == EINTR) {
		continue;
	}
	return w;
}

/* A child that ended badly, in the log: by a signal, or with exits also
 * by a status other than 0. who prefixes the line. */
void
logchild(const char *who, pid_t pid, int st, int exits)
{
	if (WIFSIGNALED(st) || (exits && WIFEXITED(st) &&
	    WEXITSTATUS(st) != 0)) {
		logmsg(LOG_NOTICE, "%schild %ld %s %d", who, (long)pid,
		    WIFSIGNALED(st) ? "killed by signal" :
		    "exited with status", WIFSIGNALED(st) ? WTERMSIG(st) :
		    WEXITSTATUS(st));
	}
}

/*
 * A background process: its own session, stdio on /dev/null, so that a
 * caller reading our output through a pipe is not kept waiting for it.
 */
void
detach(void)
{
	int fd;

	setsid();
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		dup2(fd, 0);
		dup2(fd, 1);
		if (logfd != 2) {
			dup2(fd, 2);
		}
		if (fd > 2) {
			close(fd);
		}
	}
}

/* What the command line asked for. */
struct cmdline opt = { .mode = 'm', .dmode = 'b' };

/* The exit code for a spool that cannot be used: 73, or 75 if it may pass. */
int
tempfailcode(int e)
{
	switch (e) {
	case EACCES:
	case EPERM:
	case EROFS:
	case ENOENT:
	case ENOTDIR:
		return EX_CANTCREAT;
	}
	return EX_TEMPFAIL;
}

