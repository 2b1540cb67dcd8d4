/*
 * fuzz_dns.c: libFuzzer target for the DNS reply reader of dns.c.
 *
 * Each input is one reply. It is read twice: as the answer to
 * "example.org MX" with the input's own ID, and as the answer to
 * whatever question the input carries, so that the fuzzer reaches the
 * answer section without having to guess our question. What dns_parse
 * accepts then goes through the CNAME chase and the MX and address list
 * builders, as dns_mx and dns_addrs use them. Besides sanitizer reports
 * it aborts when an accepted answer breaks a promise of the parser:
 * names of at most 255 octets, MX hosts in order of preference.
 */
#include <stdint.h>
#include <stdlib.h>

/* link: util.c */
#define main unit_main
#include "unit_dns.c"
#undef main

static void
check(const struct dnsans *a, const unsigned char *qname, int qtype)
{
	struct sockaddr_storage ss[DNS_MAXADDR];
	struct mxhost mx[8];
	unsigned char name[256];
	int i, n, err, hops = 0;

	if (a->n < 0 || a->n > DNS_MAXRR) {
		abort();
	}
	for (i = 0; i < a->n; i++) {
		if (namelen(a->rr[i].owner) > 255 ||
		    ((a->rr[i].type == QT_MX || a->rr[i].type == QT_CNAME) &&
		    namelen(a->rr[i].target) > 255)) {
			abort();
		}
	}
	memcpy(name, qname, namelen(qname));
	if (chase(a, name, qtype, &hops) == -1 && hops <= DNS_MAXCNAME) {
		abort();
	}
	n = mxlist(a, name, mx, 8, &err);
	for (i = 1; i < n; i++) {
		if (mx[i - 1].pref > mx[i].pref || strlen(mx[i].host) > 253) {
			abort();
		}
	}
	if (n == -1 && err != DNS_NULLMX && err != DNS_TEMP) {
		abort();
	}
	if (addrlist(a, name, QT_A, ss) > DNS_MAXADDR ||
	    addrlist(a, name, QT_AAAA, ss) > DNS_MAXADDR) {
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct dnsans a;
	unsigned char q[256];
	unsigned int id = size >= 2 ? get16(data) : 0;
	size_t off = 12;
	int qtype;

	mkname("example.org", q);
	if (dns_parse(data, size, id, q, QT_MX, &a) == PR_OK) {
		check(&a, q, QT_MX);
	}
	if (size < 12 || getname(data, size, &off, q) == -1 ||
	    off + 2 > size) {
		return 0;
	}
	qtype = (int)get16(data + off);
	if (dns_parse(data, size, id, q, qtype, &a) == PR_OK) {
		check(&a, q, qtype);
	}
	return 0;
}
