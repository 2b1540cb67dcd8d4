/*
 * unit_dns.c: the resolver of dns.c, which it reaches by including it.
 *
 * First crafted replies fed to dns_parse() and the list builders: every
 * malformed or foreign packet must be refused, never half read. Then an
 * end-to-end part: a small DNS server of our own in a forked child on
 * 127.0.0.1 (UDP and TCP on one port) answers according to the name
 * asked, so that timeouts, retries, answers to other questions,
 * truncation with the TCP fallback and CNAME re-queries are seen from
 * dns_mx() and dns_addrs() as the delivery code calls them.
 * Prints "ok - name" or "FAIL - name: ..." and exits 1 on any failure.
 */
#include <sys/wait.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

/* link: util.c */
#include "../dns.c"

static int failed;

static void
result(const char *name, int good, const char *why)
{
	if (good) {
		printf("ok - %s\n", name);
	} else {
		printf("FAIL - %s: %s\n", name, why);
		failed = 1;
	}
	fflush(stdout);
}

/* A packet under construction. */
struct pk {
	unsigned char b[8192];
	size_t n;
};

#define ID	0x1234
#define RESP	0x8180		/* QR, RD, RA, NOERROR */

static void
put(struct pk *p, const void *d, size_t n)
{
	memcpy(p->b + p->n, d, n);
	p->n += n;
}

static void
put16(struct pk *p, unsigned int v)
{
	unsigned char b[2] = { v >> 8, v & 0xff };

	put(p, b, 2);
}

/* Uncompressed; "." is the root. */
static void
putname(struct pk *p, const char *s)
{
	unsigned char w[256];

	if (strcmp(s, ".") == 0) {
		put(p, "", 1);
		return;
	}
	if (mkname(s, w) == -1) {
		abort();
	}
	put(p, w, namelen(w));
}

static void
putptr(struct pk *p, unsigned int off)
{
	put16(p, 0xc000 | off);
}

static void
hdr(struct pk *p, unsigned int id, unsigned int flags, unsigned int an)
{
	p->n = 0;
	put16(p, id);
	put16(p, flags);
	put16(p, 1);
	put16(p, an);
	put16(p, 0);
	put16(p, 0);
}

static void
quest(struct pk *p, const char *name, int type)
{
	putname(p, name);
	put16(p, (unsigned int)type);
	put16(p, QC_IN);
}

/* After the owner: type, class IN, TTL; returns where RDLENGTH goes. */
static size_t
rrhead(struct pk *p, int type)
{
	size_t at;

	put16(p, (unsigned int)type);
	put16(p, QC_IN);
	put16(p, 0);
	put16(p, 300);
	at = p->n;
	put16(p, 0);
	return at;
}

static void
rrend(struct pk *p, size_t at)
{
	size_t n = p->n - at - 2;

	p->b[at] = (unsigned char)(n >> 8);
	p->b[at + 1] = n & 0xff;
}

static void
mxrr(struct pk *p, unsigned int pref, const char *host)
{
	size_t at;

	putptr(p, 12);
	at = rrhead(p, QT_MX);
	put16(p, pref);
	putname(p, host);
	rrend(p, at);
}

static void
arr(struct pk *p, const char *owner, int type, const char *addr)
{
	unsigned char b[16];
	size_t at;

	putname(p, owner);
	at = rrhead(p, type);
	inet_pton(type == QT_A ? AF_INET : AF_INET6, addr, b);
	put(p, b, type == QT_A ? 4 : 16);
	rrend(p, at);
}

static void
cnamerr(struct pk *p, const char *owner, const char *target)
{
	size_t at;

	putname(p, owner);
	at = rrhead(p, QT_CNAME);
	putname(p, target);
	rrend(p, at);
}

static struct dnsans A;

static int
parse(const struct pk *p, const char *qname, int qtype)
{
	unsigned char w[256];

	if (mkname(qname, w) == -1) {
		abort();
	}
	return dns_parse(p->b, p->n, ID, w, qtype, &A);
}

static int
mxof(const char *qname, struct mxhost *mx, int max, int *err)
{
	unsigned char w[256];

	mkname(qname, w);
	*err = 0;
	return mxlist(&A, w, mx, max, err);
}

/* "m10.example.org 10, m20... 20" for messages */
static const char *
mxtext(const struct mxhost *mx, int n)
{
	static char buf[1024];
	size_t len = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; i < n && len < sizeof(buf) - 300; i++) {
		len += (size_t)snprintf(buf + len, sizeof(buf) - len,
		    "%s %d, ", mx[i].host, mx[i].pref);
	}
	return buf;
}

static void
mxcases(void)
{
	struct mxhost mx[8];
	struct pk p;
	size_t name1, at;
	int n, err, i, seen[4] = { 0 }, sorted = 1, first = 1;

	/* compressed owner and exchange; one exchange points into another */
	hdr(&p, ID, RESP, 2);
	quest(&p, "example.org", QT_MX);
	putptr(&p, 12);
	at = rrhead(&p, QT_MX);
	put16(&p, 20);
	name1 = p.n;
	put(&p, "\3mx1", 4);
	putptr(&p, 12);
	rrend(&p, at);
	putptr(&p, 12);
	at = rrhead(&p, QT_MX);
	put16(&p, 10);
	put(&p, "\1a", 2);
	putptr(&p, (unsigned int)name1);
	rrend(&p, at);
	result("mx: compressed answer parses", parse(&p, "example.org",
	    QT_MX) == PR_OK && A.n == 2, "parse");
	n = mxof("example.org", mx, 8, &err);
	result("mx: compression pointers followed", n == 2 &&
	    strcmp(mx[0].host, "a.mx1.example.org") == 0 && mx[0].pref == 10 &&
	    strcmp(mx[1].host, "mx1.example.org") == 0, mxtext(mx, n));
	result("mx: question matched without regard to case",
	    parse(&p, "EXAMPLE.Org.", QT_MX) == PR_OK, "case");

	hdr(&p, ID, RESP, 3);
	quest(&p, "example.org", QT_MX);
	mxrr(&p, 30, "m30.example.org");
	mxrr(&p, 10, "m10.example.org");
	mxrr(&p, 20, "m20.example.org");
	parse(&p, "example.org", QT_MX);
	n = mxof("example.org", mx, 8, &err);
	result("mx: sorted by preference", n == 3 && mx[0].pref == 10 &&
	    mx[1].pref == 20 && mx[2].pref == 30 &&
	    strcmp(mx[2].host, "m30.example.org") == 0, mxtext(mx, n));
	n = mxof("example.org", mx, 2, &err);
	result("mx: max keeps the best", n == 2 && mx[0].pref == 10 &&
	    mx[1].pref == 20, mxtext(mx, n));

	hdr(&p, ID, RESP, 5);
	quest(&p, "example.org", QT_MX);
	mxrr(&p, 10, "b0.example.org");
	mxrr(&p, 10, "b1.example.org");
	mxrr(&p, 5, "best.example.org");
	mxrr(&p, 10, "b2.example.org");
	mxrr(&p, 10, "b3.example.org");
	parse(&p, "example.org", QT_MX);
	for (i = 0; i < 400; i++) {
		n = mxof("example.org", mx, 8, &err);
		first &= n == 5 && strcmp(mx[0].host, "best.example.org") == 0;
		sorted &= mx[1].pref == 10 && mx[4].pref == 10;
		if (n == 5 && mx[1].host[0] == 'b' && mx[1].host[1] >= '0' &&
		    mx[1].host[1] <= '3') {
			seen[mx[1].host[1] - '0']++;
		}
	}
	result("mx: shuffle keeps the best first", first && sorted,
	    mxtext(mx, n));
	result("mx: equal preferences shuffled", seen[0] > 0 && seen[1] > 0 &&
	    seen[2] > 0 && seen[3] > 0, "one host never came first");

	hdr(&p, ID, RESP, 1);
	quest(&p, "example.org", QT_MX);
	mxrr(&p, 0, ".");
	parse(&p, "example.org", QT_MX);
	n = mxof("example.org", mx, 8, &err);
	result("mx: null MX", n == -1 && err == DNS_NULLMX, mxtext(mx, n));
	hdr(&p, ID, RESP, 2);
	quest(&p, "example.org", QT_MX);
	mxrr(&p, 0, ".");
	mxrr(&p, 10, "mx.example.org");
	parse(&p, "example.org", QT_MX);
	n = mxof("example.org", mx, 8, &err);
	result("mx: a null MX among others is skipped", n == 1 &&
	    strcmp(mx[0].host, "mx.example.org") == 0, mxtext(mx, n));

	hdr(&p, ID, RESP, 1);
	quest(&p, "example.org", QT_MX);
	putptr(&p, 12);
	at = rrhead(&p, QT_MX);
	put16(&p, 10);
	put(&p, "\4b d!\0", 6);
	rrend(&p, at);
	result("mx: odd exchange name parses", parse(&p, "example.org",
	    QT_MX) == PR_OK, "parse");
	n = mxof("example.org", mx, 8, &err);
	result("mx: only an unusable host is temporary", n == -1 &&
	    err == DNS_TEMP, mxtext(mx, n));

	hdr(&p, ID, RESP, 0);
	quest(&p, "example.org", QT_MX);
	parse(&p, "example.org", QT_MX);
	result("mx: no MX is 0", mxof("example.org", mx, 8, &err) == 0 &&
	    err == 0, "nodata");
}

/* Header and question variations that must not count as our answer. */
static void
headercases(void)
{
	struct pk p;

	hdr(&p, ID, RESP | 3, 0);
	quest(&p, "example.org", QT_MX);
	result("rcode: NXDOMAIN", parse(&p, "example.org", QT_MX) ==
	    PR_NXDOMAIN, "rcode 3");
	hdr(&p, ID, RESP | 2, 0);
	quest(&p, "example.org", QT_MX);
	result("rcode: SERVFAIL", parse(&p, "example.org", QT_MX) == PR_FAIL,
	    "rcode 2");
	hdr(&p, ID, RESP | 5, 0);
	quest(&p, "example.org", QT_MX);
	result("rcode: REFUSED", parse(&p, "example.org", QT_MX) == PR_FAIL,
	    "rcode 5");
	hdr(&p, ID, RESP | 5, 0);
	p.b[5] = 0;
	result("rcode: REFUSED without question", parse(&p, "example.org",
	    QT_MX) == PR_FAIL, "qdcount 0");
	hdr(&p, ID, RESP | 0x0200, 0);
	quest(&p, "example.org", QT_MX);
	result("tc: truncated", parse(&p, "example.org", QT_MX) == PR_TRUNC,
	    "tc");

	hdr(&p, ID + 1, RESP, 0);
	quest(&p, "example.org", QT_MX);
	result("foreign: other ID", parse(&p, "example.org", QT_MX) ==
	    PR_FOREIGN, "id");
	hdr(&p, ID, RESP, 0);
	quest(&p, "example.com", QT_MX);
	result("foreign: other name", parse(&p, "example.org", QT_MX) ==
	    PR_FOREIGN, "name");
	result("foreign: other type", parse(&p, "example.com", QT_A) ==
	    PR_FOREIGN, "type");
	hdr(&p, ID, RESP, 0);
	putname(&p, "example.org");
	put16(&p, QT_MX);
	put16(&p, 3);
	result("foreign: other class", parse(&p, "example.org", QT_MX) ==
	    PR_FOREIGN, "class");
	hdr(&p, ID, RESP & ~0x8000u, 0);
	quest(&p, "example.org", QT_MX);
	result("foreign: a query, not a reply", parse(&p, "example.org",
	    QT_MX) == PR_FOREIGN, "qr");
	hdr(&p, ID, RESP | 0x1000, 0);
	quest(&p, "example.org", QT_MX);
	result("foreign: opcode 2", parse(&p, "example.org", QT_MX) ==
	    PR_FOREIGN, "opcode");
	hdr(&p, ID, RESP, 0);
	p.b[5] = 2;
	quest(&p, "example.org", QT_MX);
	quest(&p, "example.org", QT_MX);
	result("foreign: two questions", parse(&p, "example.org", QT_MX) ==
	    PR_FOREIGN, "qdcount 2");
	hdr(&p, ID, RESP, 0);
	putptr(&p, 12);
	put16(&p, QT_MX);
	put16(&p, QC_IN);
	result("malformed: question name loops", parse(&p, "example.org",
	    QT_MX) == PR_BAD, "loop");
	hdr(&p, ID, RESP, 0);
	putname(&p, "example.org");
	put16(&p, QT_MX);
	result("malformed: question cut short", parse(&p, "example.org",
	    QT_MX) == PR_BAD, "short");
	p.n = 11;
	result("foreign: short header", parse(&p, "example.org", QT_MX) ==
	    PR_FOREIGN, "11 octets");
}

/* A reply with the given owner bytes for one A record. */
static int
withowner(const void *owner, size_t n)
{
	struct pk p;
	size_t at;

	hdr(&p, ID, RESP, 1);
	quest(&p, "example.org", QT_A);
	put(&p, owner, n);
	at = rrhead(&p, QT_A);
	put(&p, "\300\0\2\1", 4);
	rrend(&p, at);
	return parse(&p, "example.org", QT_A);
}

static void
namecases(void)
{
	unsigned char big[400], w[256];
	char name[300];
	struct pk p;
	size_t i, full, at, prev;
	int bad = 0;

	result("name: pointer to itself", withowner("\300\35", 2) == PR_BAD,
	    "loop");
	/* owner at 29: a label, then a pointer back to the label */
	result("name: pointer loop through a label",
	    withowner("\1x\300\35", 4) == PR_BAD, "loop");
	result("name: pointer out of the packet", withowner("\377\377", 2) ==
	    PR_BAD, "0x3fff");
	result("name: pointer cut in half", withowner("\300", 1) == PR_BAD,
	    "half");
	result("name: label of 64 (type 0x40)", withowner("\100x", 2) ==
	    PR_BAD, "0x40");
	result("name: label type 0x80", withowner("\200x", 2) == PR_BAD,
	    "0x80");
	/* three labels of 63 and one of 61: 255 octets, the most allowed */
	for (i = 0; i < 4; i++) {
		big[i * 64] = i < 3 ? 63 : 61;
		memset(big + i * 64 + 1, 'a', 63);
	}
	big[3 * 64 + 62] = 0;
	result("name: 255 octets", withowner(big, 255) == PR_OK &&
	    namelen(A.rr[0].owner) == 255, "255");
	big[3 * 64] = 62;
	big[254] = 'a';
	big[255] = 0;
	result("name: 256 octets", withowner(big, 256) == PR_BAD, "256");
	/* 321 octets only through pointers: five blocks after the record,
	 * each a label of 63 and a pointer to the block before */
	big[254] = 'a';
	hdr(&p, ID, RESP, 1);
	quest(&p, "example.org", QT_A);
	putptr(&p, 0);
	at = rrhead(&p, QT_A);
	put(&p, "\300\0\2\1", 4);
	rrend(&p, at);
	prev = p.n;
	put(&p, big, 64);
	put(&p, "", 1);
	for (i = 1; i < 5; i++) {
		at = p.n;
		put(&p, big, 64);
		putptr(&p, (unsigned int)prev);
		prev = at;
	}
	p.b[29] = (unsigned char)(0xc0 | prev >> 8);
	p.b[30] = prev & 0xff;
	result("name: over 255 through pointers", parse(&p, "example.org",
	    QT_A) == PR_BAD, "long");

	memset(name, 'a', 64);
	name[64] = '\0';
	result("mkname: label of 64", mkname(name, w) == -1, name);
	result("mkname: empty label", mkname("a..b", w) == -1, "a..b");
	result("mkname: root alone", mkname(".", w) == -1 &&
	    mkname("", w) == -1, "root");
	for (i = 0; i < 253; i += 2) {
		name[i] = 'a';
		name[i + 1] = '.';
	}
	name[253] = '\0';
	result("mkname: 253 characters", mkname(name, w) == 255, name);
	name[253] = 'a';
	name[254] = '\0';
	result("mkname: 254 characters", mkname(name, w) == -1, name);

	/* every prefix of a good reply is refused */
	hdr(&p, ID, RESP, 2);
	quest(&p, "example.org", QT_MX);
	mxrr(&p, 10, "mx1.example.org");
	mxrr(&p, 20, "mx2.example.org");
	full = p.n;
	for (i = 0; i < full; i++) {
		p.n = i;
		if (parse(&p, "example.org", QT_MX) == PR_OK) {
			bad++;
		}
	}
	p.n = full;
	result("truncated: every prefix refused", bad == 0 &&
	    parse(&p, "example.org", QT_MX) == PR_OK, "a prefix passed");
	p.b[7] = 3;
	result("truncated: ANCOUNT beyond the records", parse(&p,
	    "example.org", QT_MX) == PR_BAD, "ancount");
}

/* Records whose RDATA does not agree with its length. */
static void
rdatacases(void)
{
	struct sockaddr_storage ss[DNS_MAXADDR];
	struct pk p;
	size_t at;
	unsigned char w[256];
	char buf[64];
	int i;

	hdr(&p, ID, RESP, 1);
	quest(&p, "h.example.org", QT_A);
	putptr(&p, 12);
	at = rrhead(&p, QT_A);
	put(&p, "\300\0\2\1\5", 5);
	rrend(&p, at);
	result("rdata: A of 5 octets", parse(&p, "h.example.org", QT_A) ==
	    PR_BAD, "a5");
	hdr(&p, ID, RESP, 1);
	quest(&p, "h.example.org", QT_AAAA);
	putptr(&p, 12);
	at = rrhead(&p, QT_AAAA);
	put(&p, "\300\0\2\1", 4);
	rrend(&p, at);
	result("rdata: AAAA of 4 octets", parse(&p, "h.example.org",
	    QT_AAAA) == PR_BAD, "aaaa4");
	hdr(&p, ID, RESP, 1);
	quest(&p, "h.example.org", QT_AAAA);
	arr(&p, "h.example.org", QT_AAAA, "2001:db8::25");
	mkname("h.example.org", w);
	result("rdata: AAAA", parse(&p, "h.example.org", QT_AAAA) == PR_OK &&
	    addrlist(&A, w, QT_AAAA, ss) == 1 && ss[0].ss_family == AF_INET6 &&
	    inet_ntop(AF_INET6, &((struct sockaddr_in6 *)ss)->sin6_addr, buf,
	    sizeof(buf)) != NULL && strcmp(buf, "2001:db8::25") == 0, buf);

	hdr(&p, ID, RESP, 1);
	quest(&p, "example.org", QT_MX);
	putptr(&p, 12);
	at = rrhead(&p, QT_MX);
	put16(&p, 10);
	putname(&p, "mx.example.org");
	rrend(&p, at);
	p.b[at + 1] -= 3;	/* the name runs past RDLENGTH */
	result("rdata: MX name past RDLENGTH", parse(&p, "example.org",
	    QT_MX) == PR_BAD, "mx");
	p.b[at + 1] += 13;
	result("rdata: RDLENGTH past the packet", parse(&p, "example.org",
	    QT_MX) == PR_BAD, "rdlength");
	p.b[at + 1] = 2;
	p.n = at + 4;
	result("rdata: MX of 2 octets", parse(&p, "example.org", QT_MX) ==
	    PR_BAD, "mx2");

	/* types and classes we do not keep are stepped over */
	hdr(&p, ID, RESP, 3);
	quest(&p, "example.org", QT_MX);
	putptr(&p, 12);
	at = rrhead(&p, 16);
	put(&p, "\5hello", 6);
	rrend(&p, at);
	putptr(&p, 12);
	at = rrhead(&p, QT_MX);
	p.b[at - 7] = 3;	/* class CH */
	put16(&p, 1);
	putname(&p, "chaos.example.org");
	rrend(&p, at);
	mxrr(&p, 10, "mx.example.org");
	result("rdata: TXT and class CH skipped", parse(&p, "example.org",
	    QT_MX) == PR_OK && A.n == 1 && A.rr[0].pref == 10, "skip");

	hdr(&p, ID, RESP, 100);
	quest(&p, "many.example.org", QT_A);
	for (i = 0; i < 100; i++) {
		putptr(&p, 12);
		at = rrhead(&p, QT_A);
		put(&p, "\300\0\2", 3);
		put(&p, (unsigned char[]){ (unsigned char)i }, 1);
		rrend(&p, at);
	}
	mkname("many.example.org", w);
	result("rdata: records past DNS_MAXRR dropped", parse(&p,
	    "many.example.org", QT_A) == PR_OK && A.n == DNS_MAXRR &&
	    addrlist(&A, w, QT_A, ss) == DNS_MAXADDR, "many");
}

static void
cnamecases(void)
{
	struct sockaddr_storage ss[DNS_MAXADDR];
	unsigned char w[256];
	char buf[64], want[64];
	struct pk p;
	int hops = 0, n, i;

	hdr(&p, ID, RESP, 4);
	quest(&p, "www.example.org", QT_A);
	cnamerr(&p, "www.example.org", "a.example.net");
	arr(&p, "other.example.org", QT_A, "192.0.2.99");
	cnamerr(&p, "A.example.NET", "b.example.net");
	arr(&p, "b.example.net", QT_A, "192.0.2.1");
	mkname("www.example.org", w);
	n = parse(&p, "www.example.org", QT_A) == PR_OK ?
	    chase(&A, w, QT_A, &hops) : -2;
	totext(w, buf, 0);
	result("cname: A through a chain of two", n == 1 && hops == 2 &&
	    strcmp(buf, "b.example.net") == 0 &&
	    addrlist(&A, w, QT_A, ss) == 1 &&
	    ((struct sockaddr_in *)ss)->sin_addr.s_addr ==
	    htonl(0xc0000201), buf);

	hdr(&p, ID, RESP, 1);
	quest(&p, "www.example.org", QT_A);
	cnamerr(&p, "www.example.org", "gone.example.net");
	mkname("www.example.org", w);
	hops = 0;
	n = parse(&p, "www.example.org", QT_A) == PR_OK ?
	    chase(&A, w, QT_A, &hops) : -2;
	totext(w, buf, 0);
	result("cname: chain without data ends at the target", n == 0 &&
	    strcmp(buf, "gone.example.net") == 0, buf);

	hdr(&p, ID, RESP, 2);
	quest(&p, "a.example.org", QT_A);
	cnamerr(&p, "a.example.org", "b.example.org");
	cnamerr(&p, "b.example.org", "a.example.org");
	mkname("a.example.org", w);
	hops = 0;
	result("cname: loop", parse(&p, "a.example.org", QT_A) == PR_OK &&
	    chase(&A, w, QT_A, &hops) == -1, "loop");

	for (n = 8; n <= 9; n++) {
		hdr(&p, ID, RESP, (unsigned int)n + 1);
		quest(&p, "c0.example.org", QT_A);
		for (i = 0; i < n; i++) {
			snprintf(buf, sizeof(buf), "c%d.example.org", i);
			snprintf(want, sizeof(want), "c%d.example.org", i + 1);
			cnamerr(&p, buf, want);
		}
		arr(&p, want, QT_A, "192.0.2.8");
		mkname("c0.example.org", w);
		hops = 0;
		i = parse(&p, "c0.example.org", QT_A) == PR_OK ?
		    chase(&A, w, QT_A, &hops) : -2;
		result(n == 8 ? "cname: 8 hops followed" :
		    "cname: 9 hops refused", n == 8 ? i == 1 : i == -1, buf);
	}
}

static int
serverport(const struct sockaddr_storage *ss)
{
	return ntohs(ss->ss_family == AF_INET6 ?
	    ((const struct sockaddr_in6 *)ss)->sin6_port :
	    ((const struct sockaddr_in *)ss)->sin_port);
}

/* The address of ss, whatever its port. */
static int
isaddr(const struct sockaddr_storage *ss, const char *want)
{
	char buf[INET6_ADDRSTRLEN];
	const void *ip;

	if (ss->ss_family == AF_INET6) {
		ip = &((const struct sockaddr_in6 *)ss)->sin6_addr;
	} else {
		ip = &((const struct sockaddr_in *)ss)->sin_addr;
	}
	return inet_ntop(ss->ss_family, ip, buf, sizeof(buf)) != NULL &&
	    strcmp(buf, want) == 0;
}

static void
numericcases(void)
{
	static const struct {
		const char *in, *out;
	} good[] = {
		{ "192.0.2.7", "192.0.2.7" },
		{ "[192.0.2.7]", "192.0.2.7" },
		{ "2001:db8::1", "2001:db8::1" },
		{ "[IPv6:2001:db8::1]", "2001:db8::1" },
		{ "[ipv6:::1]", "::1" },
	};
	static const char *const bad[] = {
		"[nonsense]", "[192.0.2.7", "[]", "[IPv6:192.0.2.300]"
	};
	struct sockaddr_storage ss[4];
	char name[128];
	size_t i;
	int n, err;

	/* nothing listens there: a query would fail, not pass */
	set.nameserver = "127.0.0.1:9";
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		n = dns_addrs(good[i].in, ss, 4, &err);
		snprintf(name, sizeof(name), "numeric: %s", good[i].in);
		result(name, n == 1 && isaddr(&ss[0], good[i].out) &&
		    serverport(&ss[0]) == 0, "address");
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = dns_addrs(bad[i], ss, 4, &err);
		snprintf(name, sizeof(name), "numeric: %s refused", bad[i]);
		result(name, n == -1 && err == DNS_PERM, "accepted");
	}
	result("numeric: a literal has no MX",
	    dns_mx("[192.0.2.7]", NULL, 0, &err) == 0, "mx");
}

static void
servercases(void)
{
	static const struct {
		const char *spec, *addr;
		int port;
	} good[] = {
		{ "192.0.2.53", "192.0.2.53", 53 },
		{ "192.0.2.53:5353", "192.0.2.53", 5353 },
		{ "[2001:db8::53]:5300", "2001:db8::53", 5300 },
		{ "[2001:db8::53]", "2001:db8::53", 53 },
		{ "2001:db8::53", "2001:db8::53", 53 },
	};
	static const char *const bad[] = {
		"", "ns.example.org", "192.0.2.53:", "192.0.2.53:0",
		"192.0.2.53:65536", "192.0.2.53:53x", "[2001:db8::53",
		"[2001:db8::53]x", "192.0.2.53:-1", "[2001:db8::53]:+5"
	};
	static const char conf[] = "# test\nsearch example.org\n"
	    "nameserver fe80::1%eth0\n  nameserver\t192.0.2.54 # comment\n"
	    "nameserver 192.0.2.55\n";
	struct sockaddr_storage ss;
	char name[128], path[] = "/tmp/unit_dns.XXXXXX";
	size_t i;
	int fd, ok, err;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(name, sizeof(name), "nameserver: %s", good[i].spec);
		ok = dns_parseserver(good[i].spec, &ss) == 0;
		result(name, ok && serverport(&ss) == good[i].port &&
		    isaddr(&ss, good[i].addr), "parse");
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(name, sizeof(name), "nameserver: '%s' refused",
		    bad[i]);
		result(name, dns_parseserver(bad[i], &ss) == -1, "accepted");
	}

	fd = mkstemp(path);
	if (fd == -1 || write(fd, conf, strlen(conf)) !=
	    (ssize_t)strlen(conf)) {
		result("resolv.conf: written", 0, strerror(errno));
		return;
	}
	close(fd);
	set.nameserver = "";
	resolvconf = path;
	ok = getserver(&ss) == 0 && serverport(&ss) == 53;
	result("resolv.conf: first usable nameserver", ok &&
	    isaddr(&ss, "192.0.2.54"), "192.0.2.54");
	resolvconf = "/nonexistent/resolv.conf";
	ok = getserver(&ss) == 0 && serverport(&ss) == 53;
	result("resolv.conf: missing means 127.0.0.1", ok &&
	    isaddr(&ss, "127.0.0.1"), "127.0.0.1");
	set.nameserver = "nonsense";
	result("nameserver: a bad NameServer is a temporary failure",
	    dns_mx("example.org", NULL, 0, &err) == -1 && err == DNS_TEMP,
	    "nonsense");
	unlink(path);
}

/*
 * The end-to-end server. What it answers depends on the first label of
 * the name asked:
 *   mx        MX 10 mx1.test, 20 mx2.test
 *   nomx      no MX; AAAA ::5 ::6, A 127.0.0.5 127.0.0.6
 *   nullmx    MX 0 .
 *   nx, fail  NXDOMAIN, SERVFAIL
 *   silent    never answers, counts the queries; count: A 10.0.0.<count>
 *   drop1     drops the first query, answers the second: A 127.0.0.7
 *   foreign   an answer with another ID, then one to another question,
 *             then A 127.0.0.8
 *   tc        over UDP only TC; over TCP 40 A records (> 512 octets)
 *   tcpdown   TC over UDP, and TCP closes without an answer
 *   alias     CNAME real.test, without its data; real: A 127.0.0.9
 *   loop      CNAME loop2.test; loop2: CNAME loop.test
 *   garbage   a record whose owner is a pointer loop
 * Any other name: NXDOMAIN.
 */
static int silent, drops;

/* Names that exist: asked for a type they lack, they get NODATA. */
static int
exists(const char *label)
{
	static const char *const names[] = {
		"mx", "nomx", "nullmx", "count", "drop1", "foreign", "tc",
		"tcpdown", "alias", "real", "loop", "loop2", "garbage"
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(label, names[i]) == 0) {
			return 1;
		}
	}
	return 0;
}

/* The records for label/type; 0 with p left as it is for NODATA. */
static void
records(struct pk *p, const char *label, int type, int overtcp)
{
	char ip[32];
	int i;

	if (strcmp(label, "mx") == 0 && type == QT_MX) {
		mxrr(p, 20, "mx2.test");
		mxrr(p, 10, "mx1.test");
	} else if (strcmp(label, "nomx") == 0 && type != QT_MX) {
		arr(p, "nomx.test", type, type == QT_A ? "127.0.0.5" : "::5");
		arr(p, "nomx.test", type, type == QT_A ? "127.0.0.6" : "::6");
	} else if (strcmp(label, "nullmx") == 0 && type == QT_MX) {
		mxrr(p, 0, ".");
	} else if (strcmp(label, "count") == 0 && type == QT_A) {
		snprintf(ip, sizeof(ip), "10.0.0.%d", silent);
		arr(p, "count.test", QT_A, ip);
	} else if (strcmp(label, "drop1") == 0 && type == QT_A) {
		arr(p, "drop1.test", QT_A, "127.0.0.7");
	} else if (strcmp(label, "foreign") == 0 && type == QT_A) {
		arr(p, "foreign.test", QT_A, "127.0.0.8");
	} else if (strcmp(label, "tc") == 0 && type == QT_A && overtcp) {
		for (i = 1; i <= 40; i++) {
			snprintf(ip, sizeof(ip), "127.0.1.%d", i);
			arr(p, "tc.test", QT_A, ip);
		}
	} else if (strcmp(label, "alias") == 0) {
		cnamerr(p, "alias.test", "real.test");
	} else if (strcmp(label, "real") == 0 && type == QT_A) {
		arr(p, "real.test", QT_A, "127.0.0.9");
	} else if (strcmp(label, "loop") == 0) {
		cnamerr(p, "loop.test", "loop2.test");
	} else if (strcmp(label, "loop2") == 0) {
		cnamerr(p, "loop2.test", "loop.test");
	} else if (strcmp(label, "garbage") == 0) {
		putptr(p, (unsigned int)p->n);
		rrend(p, rrhead(p, QT_A));
	}
}

/* Counts the records put after the question: type, class, TTL skipped. */
static unsigned int
count(const struct pk *p, size_t from)
{
	unsigned int n = 0;
	unsigned char w[256];

	while (from < p->n) {
		if (getname(p->b, p->n, &from, w) == -1) {
			return n + 1;	/* garbage: one record */
		}
		from += 10 + get16(p->b + from + 8);
		n++;
	}
	return n;
}

/*
 * The reply to query q, in out; 0 for none. phase 0 and 1 make the two
 * wrong answers of "foreign" (another ID, another question).
 */
static size_t
answer(const unsigned char *q, size_t qlen, int overtcp, unsigned char *out,
    int phase)
{
	unsigned char w[256];
	char full[256], label[64];
	struct pk p;
	size_t off = 12, start;
	int type;

	if (qlen < 12 || getname(q, qlen, &off, w) == -1 || off + 4 > qlen ||
	    w[0] == 0 || w[0] >= sizeof(label)) {
		return 0;
	}
	type = (int)get16(q + off);
	totext(w, full, 0);
	memcpy(label, w + 1, w[0]);
	label[w[0]] = '\0';
	if (strcmp(label, "silent") == 0 || (strcmp(label, "drop1") == 0 &&
	    type == QT_A && drops++ == 0) ||
	    (strcmp(label, "tcpdown") == 0 && overtcp)) {
		silent += strcmp(label, "silent") == 0;
		return 0;
	}
	hdr(&p, phase == 0 ? get16(q) + 1 : get16(q), RESP, 0);
	quest(&p, phase == 1 ? "other.test" : full, type);
	start = p.n;
	if (strcmp(label, "fail") == 0) {
		p.b[3] |= 2;
	} else if (!exists(label)) {
		p.b[3] |= 3;
	} else if ((strcmp(label, "tc") == 0 ||
	    strcmp(label, "tcpdown") == 0) && type == QT_A && !overtcp) {
		p.b[2] |= 0x02;
	} else {
		records(&p, label, type, overtcp);
	}
	p.b[7] = (unsigned char)count(&p, start);
	memcpy(out, p.b, p.n);
	return p.n;
}

static void
serveudp(int u)
{
	unsigned char q[512], out[8192];
	struct sockaddr_storage from;
	socklen_t flen = sizeof(from);
	ssize_t n;
	size_t len;
	int phase;

	n = recvfrom(u, q, sizeof(q), 0, (struct sockaddr *)&from, &flen);
	if (n <= 0) {
		return;
	}
	/* foreign: first the two wrong answers, then the right one */
	for (phase = 0; phase < 3; phase++) {
		if (phase < 2 && (n < 20 || memcmp(q + 13, "foreign", 7) != 0)) {
			continue;
		}
		len = answer(q, (size_t)n, 0, out, phase);
		if (len > 0) {
			sendto(u, out, len, 0, (struct sockaddr *)&from, flen);
		}
	}
}

static void
servetcp(int l)
{
	unsigned char q[514], out[8194];
	size_t len;
	int c;

	if ((c = accept(l, NULL, NULL)) == -1) {
		return;
	}
	if (recv(c, q, 2, MSG_WAITALL) == 2 && get16(q) <= 512 &&
	    recv(c, q + 2, get16(q), MSG_WAITALL) == (ssize_t)get16(q)) {
		len = answer(q + 2, get16(q), 1, out + 2, 2);
		if (len > 0) {
			out[0] = (unsigned char)(len >> 8);
			out[1] = len & 0xff;
			send(c, out, len + 2, MSG_NOSIGNAL);
		}
	}
	close(c);
}

/* Binds UDP and TCP on one free port of 127.0.0.1; returns the child. */
static pid_t
startserver(int *port)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	struct pollfd pfd[2];
	int u = -1, l = -1, tries, on = 1;
	pid_t pid, parent;

	for (tries = 0; tries < 50; tries++) {
		u = socket(AF_INET, SOCK_DGRAM, 0);
		l = socket(AF_INET, SOCK_STREAM, 0);
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
		if (bind(u, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
		    getsockname(u, (struct sockaddr *)&sin, &len) == 0 &&
		    bind(l, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
		    listen(l, 8) == 0) {
			break;
		}
		close(u);
		close(l);
		u = l = -1;
	}
	if (u == -1) {
		return -1;
	}
	*port = ntohs(sin.sin_port);
	fflush(stdout);
	if ((pid = fork()) != 0) {
		close(u);
		close(l);
		return pid;
	}
	pfd[0].fd = u;
	pfd[1].fd = l;
	parent = getppid();
	for (;;) {
		pfd[0].events = pfd[1].events = POLLIN;
		if (getppid() != parent) {
			_exit(0);	/* the test died: do not linger */
		}
		if (poll(pfd, 2, 1000) <= 0) {
			continue;
		}
		if (pfd[0].revents != 0) {
			serveudp(u);
		}
		if (pfd[1].revents != 0) {
			servetcp(l);
		}
	}
}

static long long
since(long long t0)
{
	return nowms() - t0;
}

static void
endtoend(void)
{
	struct sockaddr_storage ss[64];
	struct mxhost mx[8];
	char spec[32], why[128];
	long long t0, t;
	int port, n, err, i, ok;
	pid_t pid;

	if ((pid = startserver(&port)) == -1) {
		result("e2e: server starts", 0, strerror(errno));
		return;
	}
	snprintf(spec, sizeof(spec), "127.0.0.1:%d", port);
	set.nameserver = spec;
	dnstimeout = 300;

	n = dns_mx("mx.test", mx, 8, &err);
	result("e2e: MX", n == 2 && strcmp(mx[0].host, "mx1.test") == 0 &&
	    mx[0].pref == 10 && strcmp(mx[1].host, "mx2.test") == 0,
	    mxtext(mx, n));
	n = dns_mx("nomx.test", mx, 8, &err);
	result("e2e: no MX is 0", n == 0 && err == 0, mxtext(mx, n));
	n = dns_addrs("nomx.test", ss, 64, &err);
	result("e2e: AAAA and A interleaved, IPv6 first", n == 4 &&
	    isaddr(&ss[0], "::5") && isaddr(&ss[1], "127.0.0.5") &&
	    isaddr(&ss[2], "::6") && isaddr(&ss[3], "127.0.0.6"), "order");
	n = dns_addrs("nomx.test", ss, 3, &err);
	result("e2e: addresses capped at max", n == 3, "max");
	n = dns_mx("nullmx.test", mx, 8, &err);
	result("e2e: null MX", n == -1 && err == DNS_NULLMX, "nullmx");
	n = dns_mx("nx.test", mx, 8, &err);
	result("e2e: NXDOMAIN is permanent", n == -1 && err == DNS_PERM,
	    "mx");
	n = dns_addrs("nx.test", ss, 8, &err);
	result("e2e: NXDOMAIN for addresses", n == -1 && err == DNS_PERM,
	    "addrs");
	n = dns_mx("fail.test", mx, 8, &err);
	result("e2e: SERVFAIL is temporary", n == -1 && err == DNS_TEMP,
	    "servfail");
	n = dns_addrs("fail.test", ss, 8, &err);
	result("e2e: SERVFAIL for addresses", n == -1 && err == DNS_TEMP,
	    "servfail");

	t0 = nowms();
	n = dns_mx("silent.test", mx, 8, &err);
	t = since(t0);
	snprintf(why, sizeof(why), "%d err %d after %lld ms", n, err, t);
	result("e2e: timeout is temporary after 3 tries", n == -1 &&
	    err == DNS_TEMP && t >= 900 && t < 1500, why);
	n = dns_addrs("count.test", ss, 8, &err);
	result("e2e: the server saw 3 tries", n == 1 &&
	    isaddr(&ss[0], "10.0.0.3"), "count");
	t0 = nowms();
	n = dns_addrs("drop1.test", ss, 8, &err);
	t = since(t0);
	snprintf(why, sizeof(why), "%d after %lld ms", n, t);
	result("e2e: retry after a lost datagram", n == 1 &&
	    isaddr(&ss[0], "127.0.0.7") && t >= 300 && t < 600, why);
	t0 = nowms();
	n = dns_addrs("foreign.test", ss, 8, &err);
	t = since(t0);
	snprintf(why, sizeof(why), "%d after %lld ms", n, t);
	result("e2e: answers to other questions ignored", n == 1 &&
	    isaddr(&ss[0], "127.0.0.8") && t < 300, why);

	n = dns_addrs("tc.test", ss, 64, &err);
	for (ok = n == DNS_MAXADDR, i = 0; ok && i < n; i++) {
		snprintf(why, sizeof(why), "127.0.1.%d", i + 1);
		ok = isaddr(&ss[i], why);
	}
	snprintf(why, sizeof(why), "%d addresses, err %d", n, err);
	result("e2e: truncated, asked again over TCP", ok, why);
	n = dns_addrs("tcpdown.test", ss, 8, &err);
	result("e2e: TCP without answer is temporary", n == -1 &&
	    err == DNS_TEMP, "tcpdown");
	n = dns_addrs("alias.test", ss, 8, &err);
	result("e2e: CNAME target asked for", n == 1 &&
	    isaddr(&ss[0], "127.0.0.9"), "alias");
	n = dns_addrs("loop.test", ss, 8, &err);
	result("e2e: CNAME loop is temporary", n == -1 && err == DNS_TEMP,
	    "loop");
	t0 = nowms();
	n = dns_mx("garbage.test", mx, 8, &err);
	t = since(t0);
	result("e2e: malformed answer is temporary at once", n == -1 &&
	    err == DNS_TEMP && t < 300, "garbage");

	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	t0 = nowms();
	n = dns_mx("mx.test", mx, 8, &err);
	t = since(t0);
	snprintf(why, sizeof(why), "%d err %d after %lld ms", n, err, t);
	result("e2e: nobody listening is temporary", n == -1 &&
	    err == DNS_TEMP && t < 900, why);
}

int
main(void)
{
	logfd = open("/dev/null", O_WRONLY | O_CLOEXEC);	/* never syslog */
	mxcases();
	headercases();
	namecases();
	rdatacases();
	cnamecases();
	numericcases();
	servercases();
	endtoend();
	return failed;
}
