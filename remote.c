/*
 * remote.c: where a remote recipient's mail goes and how it gets there.
 *
 * remote_deliver() takes the recipients of one message that share a
 * destination (a domain, or everything when a SmartHost is set), finds
 * the hosts (SmartHost, else MX records by preference, else the domain's
 * own addresses), skips hosts that failed recently (.hoststat in the
 * spool, shared by every runner), and hands the first host that answers
 * to client.c. Each recipient's outcome goes back to deliver.c, which
 * records it.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "mta.h"

#define MAXMX		16	/* MX hosts tried per destination */
#define MAXADDRS	8	/* addresses tried per host */
#define HOSTSTAT	".hoststat"

/* ---- host status: hosts that failed, skipped for HostStatusTimeout ---- */

/* The whole .hoststat file (small: one line a host down), or NULL. */
static char *
readstat(void)
{
	char *buf;
	int fd;

	if ((fd = spool_openfile(HOSTSTAT, O_RDONLY)) == -1) {
		return NULL;
	}
	if ((buf = readall(fd, 65535, NULL)) == NULL) {
		logmsg(LOG_ERR, "remote: %s: %s", HOSTSTAT, strerror(errno));
	}
	close(fd);
	return buf;
}

/*
 * The next entry of the .hoststat text at *p that has not expired,
 * "[addr]:port<TAB>since<TAB>why", split in place: its key, or NULL.
 */
static char *
nextstat(char **p, time_t *since, char **why)
{
	char *line, *t1, *t2;

	while (*p != NULL && **p != '\0') {
		line = *p;
		*p += strcspn(line, "\n");
		if (**p == '\n') {
			*(*p)++ = '\0';
		}
		if ((t1 = strchr(line, '\t')) != NULL &&
		    (t2 = strchr(t1 + 1, '\t')) != NULL &&
		    time(NULL) - (*since = (time_t)atol(t1 + 1)) <
		    set.hoststatus) {
			*t1 = *t2 = '\0';
			*why = t2 + 1;
			sanitize(*why);	/* RunAsUser could have written it */
			return line;
		}
	}
	return NULL;
}

/* Is key ("[addr]:port") marked down and not yet expired? */
static int
hostdown(const char *key, char *why, size_t len)
{
	char *buf = readstat(), *p = buf, *k, *w;
	time_t since;

	while ((k = nextstat(&p, &since, &w)) != NULL && strcmp(k, key) != 0) {
		continue;
	}
	if (k != NULL) {
		snprintf(why, len, "%s", w);
	}
	free(buf);
	return k != NULL;
}

/*
 * Mark key down (why != NULL) or up. The file is rewritten through a
 * rename, so a reader never sees half of it; two runners writing at
 * once may lose one mark, which only costs a connection attempt.
 */
static void
hostmark(const char *key, const char *why)
{
	char *buf = readstat(), *p = buf, *k, *w, tmp[32];
	time_t since;
	FILE *f;
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.%ld", HOSTSTAT, (long)getpid());
	if ((fd = spool_openfile(tmp, O_WRONLY | O_CREAT | O_TRUNC)) == -1 ||
	    (f = fdopen(fd, "w")) == NULL) {
		if (fd != -1) {
			close(fd);
		}
		free(buf);
		return;
	}
	while ((k = nextstat(&p, &since, &w)) != NULL) {
		if (strcmp(k, key) != 0) {	/* the entry we replace */
			fprintf(f, "%s\t%ld\t%s\n", k, (long)since, w);
		}
	}
	if (why != NULL) {
		char s[REPLYLEN];

		snprintf(s, sizeof(s), "%s", why);
		sanitize(s);
		fprintf(f, "%s\t%ld\t%s\n", key, (long)time(NULL), s);
	}
	if (fclose(f) == 0) {
		spool_renamefile(tmp, HOSTSTAT);
	}
	free(buf);
}

/*
 * SIGUSR1 and mailq -v: the hosts currently skipped, a line each:
 * "[addr]:port down since <local time>: why".
 */
void
remote_dumpstat(void (*fn)(const char *line))
{
	char *buf = readstat(), *p = buf, *k, *w, when[32], line[700];
	time_t since;
	struct tm tm;

	while ((k = nextstat(&p, &since, &w)) != NULL) {
		localtime_r(&since, &tm);
		strftime(when, sizeof(when), "%b %e %H:%M:%S", &tm);
		snprintf(line, sizeof(line), "%s down since %s: %s", k, when,
		    w);
		fn(line);
	}
	free(buf);
}

/* ---- credentials ---- */

/*
 * AuthInfoFile, opened so that nobody but its owner can have swapped it
 * for something else: not through a symbolic link, a regular file (a
 * FIFO would hang the runner), owned by root or by us, readable by
 * nobody else. NULL with err filled when it may not be used; *absent
 * set (and NULL) when there is none, which means no credentials.
 */
static FILE *
openauth(int *absent, char *err, size_t errlen)
{
	const char *fn = set.authinfofile, *why = NULL;
	char owner[64];
	struct stat st;
	FILE *f;
	int fd;

	fd = open(fn, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if ((*absent = fd == -1 && errno == ENOENT)) {
		return NULL;
	}
	if (fd == -1 && errno == ELOOP) {
		why = "is a symbolic link";
	} else if (fd == -1 || fstat(fd, &st) == -1) {
		why = NULL;	/* errno says it */
	} else if (!S_ISREG(st.st_mode)) {
		why = "is not a regular file";
	} else if (st.st_uid != 0 && st.st_uid != geteuid()) {
		snprintf(owner, sizeof(owner), "is owned by uid %ld, neither "
		    "root nor us", (long)st.st_uid);
		why = owner;
	} else if ((st.st_mode & 077) != 0) {
		why = "is readable by group or others";
	} else if ((f = fdopen(fd, "r")) != NULL) {
		return f;
	}
	if (why != NULL) {
		snprintf(err, errlen, "4.7.0 AuthInfoFile %s %s: not using it",
		    fn, why);
	} else {
		snprintf(err, errlen, "4.7.0 AuthInfoFile %s: %s", fn,
		    strerror(errno));
	}
	if (fd != -1) {
		close(fd);
	}
	return NULL;
}

/* Cut s after its first word: the next word (past blanks), or NULL when
 * there is no blank after the first. */
static char *
cutword(char *s)
{
	s += strcspn(s, " \t");
	if (*s == '\0') {
		return NULL;
	}
	*s++ = '\0';
	return s + strspn(s, " \t");
}

/*
 * AuthInfoFile: "host user password" (the password is the rest of the
 * line). Returns 0 with user/pass set, 1 when there are none for host,
 * -1 when the file may not be used (err says why).
 */
static int
authinfo(const char *host, char *user, size_t ulen, char *pass, size_t plen,
    char *err, size_t errlen)
{
	char line[1024], iobuf[4096], *h, *u, *p;
	FILE *f;
	int found = 1, absent;

	if ((f = openauth(&absent, err, errlen)) == NULL) {
		return absent ? 1 : -1;
	}
	/* our buffer, wiped after: not stdio's, freed with the passwords */
	setvbuf(f, iobuf, _IOFBF, sizeof(iobuf));
	while (found == 1 && fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		h = line + strspn(line, " \t");
		if (*h == '#' || (u = cutword(h)) == NULL ||
		    (p = cutword(u)) == NULL) {
			continue;	/* a comment, or not three words */
		}
		if (strcmp(h, "*") == 0 || strcasecmp(h, host) == 0) {
			snprintf(user, ulen, "%s", u);
			snprintf(pass, plen, "%s", p);
			found = 0;
		}
	}
	fclose(f);
	explicit_bzero(line, sizeof(line));
	explicit_bzero(iobuf, sizeof(iobuf));
	return found;
}

/* ---- routes ---- */

struct route {
	struct mxhost mx[MAXMX];
	int nmx, port, tls, smart;	/* nmx 0: name alone (no MX) */
	char name[256];		/* the SmartHost (for AuthInfoFile) or domain */
};

/*
 * SmartHost "host", "host:port" or "[host]:port" (brackets: no MX
 * lookup). Any DNS failure is temporary here: a box that is offline must
 * keep its mail, never bounce it.
 */
static int
smartroute(struct route *rt, char *err, size_t errlen)
{
	const char *s = set.smarthost, *t = set.smarthosttls;
	int derr, br;

	rt->smart = 1;
	/* SmartHostTLS: implicit, opportunistic, none, else require */
	rt->tls = strcmp(t, "implicit") == 0 ? TLS_IMPLICIT :
	    strcmp(t, "opportunistic") == 0 ? TLS_OPPORTUNISTIC :
	    strcmp(t, "none") == 0 ? TLS_NONE : TLS_REQUIRE;
	rt->port = rt->tls == TLS_IMPLICIT ? 465 : 25;
	if ((br = splithostport(s, rt->name, sizeof(rt->name),
	    &rt->port)) == -1) {
		snprintf(err, errlen, "4.3.5 SmartHost %s: bad syntax", s);
		return -1;
	}
	/* brackets: no MX lookup */
	if (!br && (rt->nmx = dns_mx(rt->name, rt->mx, MAXMX, &derr)) == -1) {
		snprintf(err, errlen, "4.4.3 DNS lookup of SmartHost %s "
		    "failed", rt->name);
		return -1;
	}
	return 0;
}

/* MX hosts of domain, or the domain itself (RFC 5321 5.1). */
static int
mxroute(struct route *rt, const char *domain, char *err, size_t errlen)
{
	int derr, k;

	rt->tls = TLS_OPPORTUNISTIC;	/* RFC 7435 */
	rt->port = (int)set.smtpport;
	snprintf(rt->name, sizeof(rt->name), "%s", domain);
	if ((rt->nmx = dns_mx(domain, rt->mx, MAXMX, &derr)) == -1) {
		snprintf(err, errlen, derr == DNS_NULLMX ? "5.1.10 %s does not "
		    "accept mail (null MX)" : derr == DNS_PERM ? "5.1.2 domain "
		    "%s not found" : "4.4.3 DNS lookup of %s failed", domain);
		return derr == DNS_TEMP ? -1 : -2;
	}
	if (rt->nmx == 0) {
		return 0;
	}
	/*
	 * RFC 5321 5.1: we are one of the MX hosts (an MX naming us would
	 * loop the mail): only better ones count. dns_mx() sorts by
	 * preference, so they are those before the first of ours, less any
	 * of its preference just before it. dns.c gives the names without
	 * the final dot, so our hostname compares as it is.
	 */
	for (k = 0; k < rt->nmx && !islocaldomain(rt->mx[k].host); k++) {
		continue;
	}
	while (k > 0 && k < rt->nmx && rt->mx[k - 1].pref == rt->mx[k].pref) {
		k--;
	}
	if ((rt->nmx = k) == 0) {
		snprintf(err, errlen, "5.4.6 MX of %s points back to this host "
		    "(mail loop)", domain);
		return -2;
	}
	return 0;
}

/* Give ss the port, and name it in key as .hoststat does: [addr]:port. */
static void
atport(struct sockaddr_storage *ss, int port, char *key, size_t len)
{
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	char a[INET6_ADDRSTRLEN];
	const void *p = &in->sin_addr;

	if (ss->ss_family == AF_INET6) {
		in6->sin6_port = htons((uint16_t)port);
		p = &in6->sin6_addr;
	} else {
		in->sin_port = htons((uint16_t)port);
	}
	if (inet_ntop(ss->ss_family, p, a, sizeof(a)) == NULL) {
		snprintf(a, sizeof(a), "?");
	}
	snprintf(key, len, "[%s]:%d", a, port);
}

/*
 * One transaction on an open connection; the outcomes in res, replies
 * (and a recipient a next hop with DSN took no longer asks us for
 * SUCCESS).
 */
static void
transact(struct msg *m, int dffd, const int *idx, int n, int *res,
    char (*replies)[REPLYLEN])
{
	/* MasqueradeAs applies to relayed mail, never to bounces */
	const char *masq = set.masquerade[0] != '\0' && m->sender[0] != '\0' ?
	    set.masquerade : NULL;

	/* a connection still in step is kept for the next message */
	if (client_send(m, dffd, idx, n, res, replies, masq) == -1) {
		client_close(1);	/* QUIT, unless it is out of step */
	}
}

/*
 * Try every address of every host until one takes the transaction: 0, or
 * -2 nowhere to deliver, -1 no host took it, -3 none was tried, every
 * host with an address being marked down.
 */
static int
tryhosts(struct msg *m, int dffd, const int *idx, int n, struct route *rt,
    const char *user, const char *pass, char *err, size_t errlen,
    int *res, char (*replies)[REPLYLEN], char *relay)
{
	struct sockaddr_storage ss[MAXADDRS];
	char key[INET6_ADDRSTRLEN + 16], ckey[600];
	/* a domain without MX: its own address records, else nowhere */
	int i, j, nss, derr, implicit = rt->nmx == 0 && !rt->smart;
	int down = 0, tried = 0;

	if (rt->nmx == 0) {	/* no MX: the name's own addresses */
		snprintf(rt->mx[0].host, sizeof(rt->mx[0].host), "%s",
		    rt->name);
		rt->nmx = 1;
	}
	for (i = 0; i < rt->nmx; i++) {
		if ((nss = dns_addrs(rt->mx[i].host, ss, MAXADDRS, &derr)) <= 0) {
			if (implicit && (nss == 0 || derr == DNS_PERM)) {
				/* no MX and no address: nowhere to deliver */
				snprintf(err, errlen, "5.1.2 domain %s has no "
				    "MX and no address", rt->mx[i].host);
				return -2;
			}
			snprintf(err, errlen, "4.4.3 no address for %s",
			    rt->mx[i].host);
			tried++;	/* not known down: a deferral to record */
			continue;
		}
		for (j = 0; j < nss; j++) {
			atport(&ss[j], rt->port, key, sizeof(key));
			snprintf(relay, RELAYLEN, "%s%s", rt->mx[i].host, key);
			snprintf(ckey, sizeof(ckey), "%s %d %s", relay, rt->tls,
			    user != NULL ? user : "-");
			if (client_reuse(ckey) == 0) {
				transact(m, dffd, idx, n, res, replies);
				return 0;
			}
			if (hostdown(key, err, errlen)) {
				down++;
				continue;
			}
			tried++;
			if (verbose) {
				printf("%s... Connecting to %s via esmtp...\n",
				    m->rcpt[idx[0]].addr, relay);
				fflush(stdout);
			}
			/* credentials go to the SmartHost as configured: a
			 * certificate for an MX host found for it would let a
			 * spoofed DNS answer take them */
			if (client_open(&ss[j], ckey, rt->mx[i].host,
			    rt->smart && user != NULL ? rt->name : NULL,
			    rt->tls, user, pass, err, errlen) == -1) {
				/* a refused AUTH or EHLO still ends in QUIT */
				client_close(1);
				/* a host that did not answer is remembered */
				if (strncmp(err, "4.4.1", 5) == 0 ||
				    strncmp(err, "421", 3) == 0) {
					hostmark(key, err);
				}
				continue;
			}
			if (client_tlsinfo()[0] != '\0') {
				logmsg(LOG_INFO, "%s: TLS to %s: %s", m->id,
				    relay, client_tlsinfo());
			}
			transact(m, dffd, idx, n, res, replies);
			return 0;
		}
	}
	return down > 0 && tried == 0 ? -3 : -1;
}

/*
 * Deliver recipients idx[0..n-1] of m, which share a destination. Every
 * one of them gets an outcome: res[i] and replies[i], and relay names the
 * host that gave them ("" for none); deliver.c records them. Nonzero
 * when nothing was tried because every host is marked down (each outcome
 * is then the deferral the host status holds).
 */
int
remote_deliver(struct msg *m, int dffd, const int *idx, int n, int *res,
    char (*replies)[REPLYLEN], char *relay)
{
	struct route rt = { .nmx = 0 };	/* each route sets what is its own */
	char err[REPLYLEN] = "4.4.0 no host to try", user[256], pass[512];
	const char *dom = strrchr(m->rcpt[idx[0]].addr, '@');
	int i, r, cred = 1;

	if (set.smarthost[0] != '\0') {
		r = smartroute(&rt, err, sizeof(err));
		if (r == 0 && (cred = authinfo(rt.name, user, sizeof(user), pass,
		    sizeof(pass), err, sizeof(err))) == -1) {
			r = -1;
		}
	} else {
		r = mxroute(&rt, dom != NULL ? dom + 1 : "", err, sizeof(err));
	}
	if (r == 0) {
		r = tryhosts(m, dffd, idx, n, &rt, cred == 0 ? user : NULL,
		    cred == 0 ? pass : NULL, err, sizeof(err), res, replies,
		    relay);
	}
	explicit_bzero(pass, sizeof(pass));
	if (r == 0) {
		return 0;
	}
	snprintf(relay, RELAYLEN, "%s", rt.nmx > 0 ? rt.mx[0].host :
	    dom != NULL ? dom + 1 : "");
	for (i = 0; i < n; i++) {
		res[i] = r == -2 ? D_PERM : D_TEMP;
		snprintf(replies[i], REPLYLEN, "%s", err);
	}
	return r == -3;
}
