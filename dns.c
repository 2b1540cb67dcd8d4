/*
 * dns.c: a small stub resolver of our own, for MX delivery.
 *
 * musl's resolver blocks without a say over timeouts and cannot be
 * pointed at a port, so the delivery child asks the NameServer itself:
 * one question at a time on a connected UDP socket (the kernel drops
 * datagrams from anyone else), DNS_TRIES tries of DNS_TIMEOUT seconds,
 * the same question over TCP when the answer comes back truncated.
 *
 * Start at dns_mx() and dns_addrs(). Every reply goes through
 * dns_parse(), which trusts nothing in the packet; the unit test and the
 * fuzzer call it directly. Names stay in wire form (length-prefixed
 * labels, uncompressed) until they leave this file, so a label holding a
 * dot can never pass for two labels.
 */
#include <sys/socket.h>
#include <sys/types.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "mta.h"

#define DNS_MAXCNAME	8	/* CNAME hops in one lookup */
#define DNS_MAXJUMP	128	/* compression pointers in one name */
#define DNS_MAXRR	64	/* answer records kept; the rest are skipped */
#define DNS_MAXADDR	16	/* addresses kept per family */
#define DNS_QMAX	(12 + 255 + 4)

enum {
	QT_A = 1,
	QT_CNAME = 5,
	QT_MX = 15,
	QT_AAAA = 28,
	QC_IN = 1
};

/* What one reply means (dns_parse), or why there was none. */
enum {
	PR_OK,		/* NOERROR: the records are in the answer */
	PR_NXDOMAIN,	/* the name does not exist */
	PR_FAIL,	/* SERVFAIL, REFUSED or any other RCODE */
	PR_BAD,		/* an answer to our question, but malformed */
	PR_FOREIGN,	/* not an answer to our question: keep waiting */
	PR_TRUNC,	/* TC set: ask again over TCP */
	PR_NONE,	/* no answer: timeout, refused, network error */
	NUM_PR
};

static const char *const prtext[NUM_PR] = {
	"ok", "NXDOMAIN", "server failure", "malformed answer",
	"answer to another question", "truncated", "no answer"
};

struct dnsrr {
	int type;
	int pref;			/* MX */
	unsigned char owner[256];	/* wire form */
	unsigned char target[256];	/* MX exchange or CNAME, wire form */
	unsigned char addr[16];		/* A: 4 octets, AAAA: 16 */
};

struct dnsans {
	int rcode;
	int n;
	struct dnsrr rr[DNS_MAXRR];
};

/* The tests shorten these. */
static int dnstimeout = DNS_TIMEOUT * 1000;	/* ms */
static const char *resolvconf = "/etc/resolv.conf";

/* One buffer for every reply: a TCP answer may be 64 KiB. */
static unsigned char dnsbuf[65535];

static unsigned int
get16(const unsigned char *p)
{
	return (unsigned int)p[0] << 8 | p[1];
}

/*
 * Random bits for query IDs and the MX shuffle. The pool is refilled in
 * a new process, so delivery children forked from one parent never send
 * the same IDs. getentropy() needs Linux 3.17; older appliance kernels
 * still have /dev/urandom.
 */
static uint32_t
rnd(void)
{
	static unsigned char pool[256];
	static size_t left;
	static pid_t pid;
	struct timespec ts;
	ssize_t r = -1;
	int fd;

	if (left < 4 || pid != getpid()) {
		pid = getpid();
		if (getentropy(pool, sizeof(pool)) == 0) {
			r = (ssize_t)sizeof(pool);
		} else if ((fd = open("/dev/urandom",
		    O_RDONLY | O_CLOEXEC)) != -1) {
			r = read(fd, pool, sizeof(pool));
			close(fd);
		}
		left = sizeof(pool);
		if (r != (ssize_t)sizeof(pool)) {
			logmsg(LOG_WARNING, "dns: no random source, "
			    "query IDs are guessable");
			clock_gettime(CLOCK_MONOTONIC, &ts);
			memcpy(pool, &ts, sizeof(ts));
			memcpy(pool + sizeof(ts), &pid, sizeof(pid));
			left = sizeof(ts) + sizeof(pid);	/* only these */
		}
	}
	left -= 4;
	return (uint32_t)get16(pool + left) << 16 | get16(pool + left + 2);
}

static long long
nowms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Octets of a wire name, the root label included. */
static size_t
namelen(const unsigned char *w)
{
	size_t n = 0;

	while (w[n] != 0) {
		n += w[n] + 1;
	}
	return n + 1;
}

/* Names compare without regard to ASCII case (RFC 4343); mta never
 * calls setlocale, so tolower() is the C locale's, ASCII only. */
static int
namecmp(const unsigned char *a, const unsigned char *b)
{
	size_t n = namelen(a), i;

	if (namelen(b) != n) {
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (tolower(a[i]) != tolower(b[i])) {
			return -1;
		}
	}
	return 0;
}

/* "example.org" or "example.org." to wire form; -1 if it cannot be one. */
static int
mkname(const char *s, unsigned char *out)
{
	size_t n = 0, l;

	if (*s == '\0' || strcmp(s, ".") == 0) {
		return -1;
	}
	while (*s != '\0') {
		l = strcspn(s, ".");
		if (l == 0 || l > 63 || n + l + 1 > 254) {
			return -1;
		}
		out[n] = (unsigned char)l;
		memcpy(out + n + 1, s, l);
		n += l + 1;
		s += l + (s[l] == '.');
	}
	out[n++] = 0;
	return (int)n;
}

/*
 * Wire name to text without the final dot (the root is ""). Strict: only
 * what a host name may hold, else -1; otherwise odd octets become '?',
 * for log lines.
 */
static int
totext(const unsigned char *w, char *out, int strict)
{
	size_t n = 0, i;
	unsigned int l;
	int c;

	while ((l = *w++) != 0) {
		for (i = 0; i < l; i++) {
			c = w[i];
			if (!isalnum(c) && c != '-' && c != '_') {
				if (strict) {
					return -1;
				}
				c = '?';
			}
			out[n++] = (char)c;
		}
		out[n++] = '.';
		w += l;
	}
	out[n - (n > 0)] = '\0';
	return 0;
}

/*
 * Copies the name at *off in pkt to out, uncompressed, and moves *off
 * past it. -1 for anything RFC 1035 does not allow: a pointer outside
 * the packet, more than DNS_MAXJUMP pointers (a loop), the label types
 * 0x40 and 0x80 (a length over 63), a name over 255 octets.
 */
static int
getname(const unsigned char *pkt, size_t len, size_t *off,
    unsigned char *out)
{
	size_t pos = *off, n = 0;
	unsigned int l;
	int jumps = 0;

	for (;;) {
		if (pos >= len) {
			return -1;
		}
		l = pkt[pos];
		if ((l & 0xc0) == 0xc0) {
			if (pos + 1 >= len || ++jumps > DNS_MAXJUMP) {
				return -1;
			}
			if (jumps == 1) {
				*off = pos + 2;
			}
			pos = (l & 0x3f) << 8 | pkt[pos + 1];
			continue;
		}
		/* the root label must still fit after a label */
		if ((l & 0xc0) != 0 || pos + l + 1 > len ||
		    (l != 0 && n + l + 1 > 254)) {
			return -1;
		}
		memcpy(out + n, pkt + pos, l + 1);
		n += l + 1;
		pos += l + 1;
		if (l == 0) {
			if (jumps == 0) {
				*off = pos;
			}
			return 0;
		}
	}
}

static size_t
mkquery(unsigned char *q, unsigned int id, const unsigned char *name,
    int qtype)
{
	size_t n = namelen(name);

	memset(q, 0, 16 + n);
	q[0] = id >> 8;
	q[1] = id & 0xff;
	q[2] = 0x01;	/* RD: the NameServer recurses for us */
	q[5] = 1;	/* QDCOUNT */
	memcpy(q + 12, name, n);
	q[12 + n] = (unsigned char)(qtype >> 8);
	q[13 + n] = qtype & 0xff;
	q[15 + n] = QC_IN;
	return 16 + n;
}

/*
 * The answer section: A, AAAA, MX and CNAME records of class IN, their
 * RDATA checked against its RDLENGTH; other records are stepped over.
 */
static int
answers(const unsigned char *pkt, size_t len, size_t off, unsigned int an,
    struct dnsans *a)
{
	struct dnsrr spare, *rr;
	unsigned int i, rdlen;
	size_t at;

	for (i = 0; i < an; i++, off += rdlen) {
		rr = a->n < DNS_MAXRR ? &a->rr[a->n] : &spare;
		if (getname(pkt, len, &off, rr->owner) == -1 ||
		    off + 10 > len) {
			return PR_BAD;
		}
		rr->type = (int)get16(pkt + off);
		rdlen = get16(pkt + off + 8);
		off += 10;
		if (off + rdlen > len) {
			return PR_BAD;
		}
		at = off;
		/* another class than IN is stepped over, as other types are */
		switch (get16(pkt + off - 8) == QC_IN ? rr->type : 0) {
		case QT_A:
		case QT_AAAA:
			if (rdlen != (rr->type == QT_A ? 4u : 16u)) {
				return PR_BAD;
			}
			memcpy(rr->addr, pkt + off, rdlen);
			break;
		case QT_MX:
			if (rdlen < 3) {
				return PR_BAD;
			}
			rr->pref = (int)get16(pkt + off);
			at += 2;
			/* FALLTHROUGH */
		case QT_CNAME:
			if (getname(pkt, len, &at, rr->target) == -1 ||
			    at != off + rdlen) {
				return PR_BAD;
			}
			break;
		default:
			continue;
		}
		a->n += rr != &spare;
	}
	return PR_OK;
}

/*
 * Reads one reply to the question (qname in wire form, qtype, IN) sent
 * with id. Only the answer section is read: we take no referrals and no
 * glue. Returns a PR_ value.
 */
static int
dns_parse(const unsigned char *pkt, size_t len, unsigned int id,
    const unsigned char *qname, int qtype, struct dnsans *a)
{
	unsigned char name[256];
	unsigned int flags;
	size_t off = 12;

	a->n = 0;
	/* not our ID, not a reply (QR), or not opcode QUERY */
	if (len < 12 || get16(pkt) != id ||
	    ((flags = get16(pkt + 2)) & 0xf800) != 0x8000) {
		return PR_FOREIGN;
	}
	a->rcode = flags & 0x0f;
	/* FORMERR and REFUSED may come without the question */
	if (get16(pkt + 4) == 0 && a->rcode != 0) {
		return PR_FAIL;
	}
	if (get16(pkt + 4) != 1) {
		return PR_FOREIGN;
	}
	/* our ID from our server, but broken: no use waiting for more */
	if (getname(pkt, len, &off, name) == -1 || off + 4 > len) {
		return PR_BAD;
	}
	if (namecmp(name, qname) != 0 ||
	    get16(pkt + off) != (unsigned int)qtype ||
	    get16(pkt + off + 2) != QC_IN) {
		return PR_FOREIGN;
	}
	if ((flags & 0x0200) != 0) {
		return PR_TRUNC;
	}
	if (a->rcode != 0) {
		return a->rcode == 3 ? PR_NXDOMAIN : PR_FAIL;
	}
	return answers(pkt, len, off + 4, get16(pkt + 6), a);
}

/* 1 when fd is ready (for output if out), 0 at the deadline, -1 on error. */
static int
waitfd(int fd, int out, long long deadline)
{
	long long left;
	int r;

	while ((left = deadline - nowms()) > 0) {
		if ((r = waitfds(out ? -1 : fd, out ? fd : -1, left)) != 0) {
			return r;
		}
	}
	return 0;
}

/* A non-blocking socket connected (or connecting) to ns; -1 if none. */
static int
dial(const struct sockaddr_storage *ns, int type)
{
	socklen_t len = ns->ss_family == AF_INET6 ?
	    sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	int fd;

	fd = socket(ns->ss_family, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd != -1 && connect(fd, (const struct sockaddr *)ns, len) == -1 &&
	    errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * DNS_TRIES tries, each waiting dnstimeout for our answer. The ID stays
 * the same, so a late answer to an earlier try still counts; answers to
 * other questions are dropped and the wait goes on.
 */
static int
udp(const struct sockaddr_storage *ns, const unsigned char *q, size_t qlen,
    const unsigned char *name, int qtype, struct dnsans *a)
{
	long long deadline;
	ssize_t n;
	int fd, try, r = PR_NONE;

	if ((fd = dial(ns, SOCK_DGRAM)) == -1) {
		return PR_NONE;
	}
	for (try = 0; try < DNS_TRIES && r == PR_NONE; try++) {
		if (send(fd, q, qlen, 0) != (ssize_t)qlen) {
			continue;	/* e.g. ECONNREFUSED from the last try */
		}
		deadline = nowms() + dnstimeout;
		while (r == PR_NONE && waitfd(fd, 0, deadline) == 1) {
			n = recv(fd, dnsbuf, sizeof(dnsbuf), 0);
			if (n == -1 && errno != EAGAIN && errno != EINTR) {
				break;	/* ICMP unreachable: next try */
			}
			if (n > 0) {
				r = dns_parse(dnsbuf, (size_t)n, get16(q),
				    name, qtype, a);
				r = r == PR_FOREIGN ? PR_NONE : r;
			}
		}
	}
	close(fd);
	return r;
}

/* Moves exactly n octets before the deadline, or -1. */
static int
stream(int fd, unsigned char *buf, size_t n, int out, long long deadline)
{
	size_t done = 0;
	ssize_t r;

	while (done < n) {
		if (waitfd(fd, out, deadline) != 1) {
			return -1;
		}
		r = out ? send(fd, buf + done, n - done, MSG_NOSIGNAL) :
		    recv(fd, buf + done, n - done, 0);
		if ((r == 0 && !out) ||
		    (r == -1 && errno != EAGAIN && errno != EINTR)) {
			return -1;	/* closed early, or an error */
		}
		done += r > 0 ? (size_t)r : 0;
	}
	return 0;
}

/*
 * One try over TCP: q carries the 2-octet length prefix already. The
 * reply's prefix is read over it, after the query has gone; the query's
 * ID behind it stays.
 */
static int
tcp(const struct sockaddr_storage *ns, unsigned char *q, size_t qlen,
    const unsigned char *name, int qtype, struct dnsans *a)
{
	long long deadline = nowms() + dnstimeout;
	int fd, r = PR_NONE;

	if ((fd = dial(ns, SOCK_STREAM)) == -1) {
		return PR_NONE;
	}
	if (stream(fd, q, qlen, 1, deadline) == 0 &&
	    stream(fd, q, 2, 0, deadline) == 0 &&
	    stream(fd, dnsbuf, get16(q), 0, deadline) == 0) {
		r = dns_parse(dnsbuf, get16(q), get16(q + 2), name, qtype, a);
		/* nothing else comes on this stream */
		r = r == PR_FOREIGN || r == PR_TRUNC ? PR_BAD : r;
	}
	close(fd);
	return r;
}

/* Asks ns one question: 0 with the records in *a, DNS_PERM or DNS_TEMP. */
static int
query(const struct sockaddr_storage *ns, const unsigned char *name,
    int qtype, struct dnsans *a)
{
	unsigned char q[2 + DNS_QMAX];
	char host[256], addr[INET6_ADDRSTRLEN], why[32];
	const void *ip;
	size_t qlen;
	int r;

	a->rcode = -1;	/* for the log line when no reply came */
	qlen = mkquery(q + 2, rnd() & 0xffff, name, qtype);
	q[0] = (unsigned char)(qlen >> 8);
	q[1] = qlen & 0xff;
	r = udp(ns, q + 2, qlen, name, qtype, a);
	if (r == PR_TRUNC) {
		r = tcp(ns, q, qlen + 2, name, qtype, a);
	}
	if (r == PR_OK || r == PR_NXDOMAIN) {
		return r == PR_OK ? 0 : DNS_PERM;
	}
	totext(name, host, 0);
	ip = ns->ss_family == AF_INET6 ?
	    (const void *)&((const struct sockaddr_in6 *)ns)->sin6_addr :
	    (const void *)&((const struct sockaddr_in *)ns)->sin_addr;
	inet_ntop(ns->ss_family, ip, addr, sizeof(addr));
	snprintf(why, sizeof(why), "rcode %d", a->rcode);
	logmsg(LOG_NOTICE, "dns: %s type %d: %s from %s", host, qtype,
	    r == PR_FAIL ? why : prtext[r], addr);
	return DNS_TEMP;
}

/*
 * Follows the CNAMEs of the answer from name (updated in place) to the
 * name that owns records of qtype, or to the end of the chain. Returns
 * how many records of qtype it owns, or -1 past DNS_MAXCNAME hops, which
 * *hops counts over every query of one lookup.
 */
static int
chase(const struct dnsans *a, unsigned char *name, int qtype, int *hops)
{
	int i, n, moved;

	do {
		n = moved = 0;
		for (i = 0; i < a->n; i++) {
			n += a->rr[i].type == qtype &&
			    namecmp(a->rr[i].owner, name) == 0;
		}
		for (i = 0; i < a->n && n == 0 && !moved; i++) {
			if (a->rr[i].type == QT_CNAME &&
			    namecmp(a->rr[i].owner, name) == 0) {
				if (++*hops > DNS_MAXCNAME) {
					return -1;
				}
				memcpy(name, a->rr[i].target,
				    namelen(a->rr[i].target));
				moved = 1;
			}
		}
	} while (moved);
	return n;
}

/*
 * name/qtype with its CNAMEs followed, asking again for a chain that
 * ends in a CNAME whose target the answer left out. 0 with the records
 * in *a owned by name (updated), or DNS_TEMP / DNS_PERM.
 */
static int
lookup(const struct sockaddr_storage *ns, unsigned char *name, int qtype,
    struct dnsans *a)
{
	int hops = 0, before, n, s;

	for (;;) {
		if ((s = query(ns, name, qtype, a)) != 0) {
			return s;
		}
		before = hops;
		if ((n = chase(a, name, qtype, &hops)) == -1) {
			logmsg(LOG_NOTICE, "dns: CNAME chain too long");
			return DNS_TEMP;
		}
		if (n > 0 || hops == before) {	/* not moved by a CNAME */
			return 0;
		}
	}
}

/*
 * NameServer syntax: "ip", "ip:port", "[ipv6]:port" or a bare IPv6
 * address. Also for mta.c, to refuse a bad -O NameServer at start-up.
 */
int
dns_parseserver(const char *spec, struct sockaddr_storage *ss)
{
	char ip[INET6_ADDRSTRLEN];
	unsigned char a[16];
	int port = 53, n;

	if (splithostport(spec, ip, sizeof(ip), &port) == -1 ||
	    (n = ipaddr(ip, 0, a)) == 0) {
		return -1;
	}
	ipsockaddr(a, n, port, ss);
	return 0;
}

/*
 * NameServer, else the first usable "nameserver" line of resolv.conf
 * (read each time: DHCP may rewrite it under a running daemon), else
 * 127.0.0.1. Read with read(2), no stdio in the delivery path; one past
 * 64 KiB is an error, not cut.
 */
static int
getserver(struct sockaddr_storage *ns)
{
	char ip[INET6_ADDRSTRLEN], *buf = NULL, *p;
	unsigned char a[16];
	size_t len;
	int fd, k;

	if (*set.nameserver != '\0') {
		if (dns_parseserver(set.nameserver, ns) == 0) {
			return 0;
		}
		logmsg(LOG_ERR, "dns: NameServer %s: not ip[:port]",
		    set.nameserver);
		return -1;
	}
	if ((fd = open(resolvconf, O_RDONLY | O_CLOEXEC)) != -1) {
		if ((buf = readall(fd, 65536, NULL)) == NULL) {
			logmsg(LOG_ERR, "dns: %s: %s", resolvconf,
			    strerror(errno));
		}
		close(fd);
	}
	for (p = buf; p != NULL; p = strchr(p, '\n')) {
		p += strspn(p, "\n \t");
		if (strncmp(p, "nameserver", 10) != 0 ||
		    (p[10] != ' ' && p[10] != '\t')) {
			continue;
		}
		p += 10 + strspn(p + 10, " \t");
		len = strcspn(p, " \t\r\n#;");
		if (len < sizeof(ip)) {
			snprintf(ip, sizeof(ip), "%.*s", (int)len, p);
			if ((k = ipaddr(ip, 0, a)) != 0) {
				ipsockaddr(a, k, 53, ns);
				free(buf);
				return 0;
			}
		}
	}
	free(buf);
	return dns_parseserver("127.0.0.1", ns);
}

/*
 * The MX hosts of one answer, by preference; equal preferences in random
 * order (each sorted in by its preference and, below it, 32 random bits).
 * A lone "0 ." is a null MX; a "." among real hosts is skipped, as are
 * names no host can have.
 */
static int
mxlist(const struct dnsans *a, const unsigned char *owner,
    struct mxhost *mx, int max, int *err)
{
	int idx[DNS_MAXRR], i, j, n = 0, got = 0, null = 0;
	uint64_t key[DNS_MAXRR], k;

	for (i = 0; i < a->n; i++) {
		if (a->rr[i].type != QT_MX ||
		    namecmp(a->rr[i].owner, owner) != 0) {
			continue;
		}
		k = (uint64_t)a->rr[i].pref << 32 | rnd();
		for (j = n++; j > 0 && key[j - 1] > k; j--) {
			key[j] = key[j - 1];
			idx[j] = idx[j - 1];
		}
		key[j] = k;
		idx[j] = i;
	}
	for (i = 0; i < n && got < max; i++) {
		if (a->rr[idx[i]].target[0] == 0) {
			null = 1;
		} else if (totext(a->rr[idx[i]].target, mx[got].host, 1) == 0) {
			mx[got++].pref = a->rr[idx[i]].pref;
		}
	}
	if (got == 0 && n > 0) {
		*err = null && n == 1 ? DNS_NULLMX : DNS_TEMP;
		return -1;
	}
	return got;
}

/*
 * MX lookup: the number of hosts (at most max), 0 when the domain has no
 * MX (the caller then tries its A/AAAA, RFC 5321 5.1), or -1 with *err.
 * An address literal has no MX either.
 */
int
dns_mx(const char *domain, struct mxhost *mx, int max, int *err)
{
	struct sockaddr_storage ns;
	struct dnsans a;
	unsigned char name[256];

	*err = 0;
	if (domain[0] == '[') {
		return 0;
	}
	if (mkname(domain, name) == -1) {
		*err = DNS_PERM;
		return -1;
	}
	if (getserver(&ns) == -1 ||
	    (*err = lookup(&ns, name, QT_MX, &a)) != 0) {
		*err = *err != 0 ? *err : DNS_TEMP;
		return -1;
	}
	return mxlist(&a, name, mx, max, err);
}

/* The addresses of qtype owned by name, at most DNS_MAXADDR. */
static int
addrlist(const struct dnsans *a, const unsigned char *name, int qtype,
    struct sockaddr_storage *out)
{
	int i, n = 0;

	for (i = 0; i < a->n && n < DNS_MAXADDR; i++) {
		if (a->rr[i].type != qtype ||
		    namecmp(a->rr[i].owner, name) != 0) {
			continue;
		}
		ipsockaddr(a->rr[i].addr, qtype == QT_A ? 4 : 16, 0,
		    &out[n++]);
	}
	return n;
}

/*
 * AAAA and A of host, interleaved IPv6 first (v6, v4, v6, ...: a box
 * without working IPv6 loses at most one attempt per host), port 0. A
 * failed query does not hide the other family's addresses; without any,
 * a temporary failure wins over NXDOMAIN.
 */
int
dns_addrs(const char *host, struct sockaddr_storage *ss, int max, int *err)
{
	static const int qtype[2] = { QT_AAAA, QT_A };
	struct sockaddr_storage ns, list[2][DNS_MAXADDR];
	struct dnsans a;
	unsigned char name[256], orig[256];
	int got[2] = { 0, 0 }, s[2], f, i, n = 0;

	*err = 0;
	/* "[192.0.2.1]", "[IPv6:2001:db8::1]" (RFC 5321 4.1.3), or bare */
	if (max > 0 && (n = ipaddr(host, 1, name)) != 0) {
		ipsockaddr(name, n, 0, ss);
		return 1;
	}
	if (host[0] == '[' || mkname(host, orig) == -1) {
		*err = DNS_PERM;
		return -1;
	}
	if (getserver(&ns) == -1) {
		*err = DNS_TEMP;
		return -1;
	}
	for (f = 0; f < 2; f++) {
		memcpy(name, orig, namelen(orig));
		if ((s[f] = lookup(&ns, name, qtype[f], &a)) == 0) {
			got[f] = addrlist(&a, name, qtype[f], list[f]);
		}
	}
	for (i = 0; i < 2 * DNS_MAXADDR && n < max; i++) {
		if (i / 2 < got[i % 2]) {
			ss[n++] = list[i % 2][i / 2];
		}
	}
	if (n == 0 && (s[0] != 0 || s[1] != 0)) {
		*err = s[0] == DNS_TEMP || s[1] == DNS_TEMP ? DNS_TEMP :
		    DNS_PERM;
		return -1;
	}
	return n;
}
