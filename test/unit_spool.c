/*
 * unit_spool.c: the qf reader and writer (spool_parse, spool_format),
 * which it reaches by including spool.c. A qf that round-trips must come
 * back equal; every damaged one must be refused, never half read.
 * Prints "ok - name" or "FAIL - name: ..." and exits 1 on any failure.
 */
#define _GNU_SOURCE	/* spool.c uses syncfs() */
#include <stdio.h>
#include <stdlib.h>

#include "../spool.c"

struct settings set;
int verbose;

/* addr.c has its own tests; a qf only needs this much of it here */
int
addr_valid(const char *a)
{
	return *a != '\0' && strpbrk(a, " \t") == NULL;
}

void
logmsg(int pri, const char *fmt, ...)
{
	(void)pri;
	(void)fmt;
}

void *
xrealloc(void *p, size_t n)
{
	if ((p = realloc(p, n)) == NULL) {
		abort();
	}
	return p;
}

char *
xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;

	return memcpy(xrealloc(NULL, n), s, n);
}

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
}

static int
parse(const char *text, struct msg *m)
{
	msg_init(m);
	return spool_parse(text, strlen(text), m);
}

#define HEAD	"V1\nT1700000000\nZ42\nSa@b.org\n"

/* Inputs that must be refused. */
static const struct {
	const char *name, *text;
} bad[] = {
	{ "empty", "" },
	{ "no version", "T1\nZ1\nS\nRroot\nsP\n.\n" },
	{ "version 2", "V2\nT1\nZ1\nS\nRroot\nsP\n.\n" },
	{ "no end line", HEAD "Rroot\nsP\n" },
	{ "torn last line", HEAD "Rroot\nsP\n." },
	{ "no recipient", HEAD ".\n" },
	{ "recipient without state", HEAD "Rroot\n.\n" },
	{ "bad state", HEAD "Rroot\nsX\n.\n" },
	{ "two letter state", HEAD "Rroot\nsPD\n.\n" },
	{ "unknown tag", HEAD "Q1\nRroot\nsP\n.\n" },
	{ "unknown rcpt tag", HEAD "Rroot\nsP\nq\n.\n" },
	{ "no arrival", "V1\nZ42\nSa@b.org\nRroot\nsP\n.\n" },
	{ "no size", "V1\nT1\nSa@b.org\nRroot\nsP\n.\n" },
	{ "no sender", "V1\nT1\nZ42\nRroot\nsP\n.\n" },
	{ "negative size", "V1\nT1\nZ-4\nS\nRroot\nsP\n.\n" },
	{ "size not a number", "V1\nT1\nZ4x\nS\nRroot\nsP\n.\n" },
	{ "size overflow", "V1\nT1\nZ99999999999999999999\nS\nRroot\nsP\n.\n" },
	{ "attempts not a number", HEAD "Rroot\nsP\naX\n.\n" },
	{ "notify out of range", HEAD "Rroot\nsP\nd99\n.\n" },
	{ "bad RET", HEAD "NX\nRroot\nsP\n.\n" },
	{ "bad recipient", HEAD "Ra b@c\nsP\n.\n" },
	{ "x with value", HEAD "Rroot\nsP\nxy\n.\n" },
	{ "message tag after rcpt", HEAD "Rroot\nsP\nT5\n.\n" },
};

static void
badcases(void)
{
	struct msg m;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		int r = parse(bad[i].text, &m);

		result(bad[i].name, r == -1, "accepted");
		msg_free(&m);
	}
}

static void
nulbyte(void)
{
	static const char text[] = HEAD "Rroot\0\nsP\n.\n";
	struct msg m;

	msg_init(&m);
	result("NUL byte", spool_parse(text, sizeof(text) - 1, &m) == -1,
	    "accepted");
	msg_free(&m);
}

static void
roundtrip(void)
{
	struct msg m, back;
	struct rcpt *r;
	char *text, *again;
	size_t len, len2;

	msg_init(&m);
	m.sender = xstrdup("");
	m.arrival = 1700000000;
	m.size = 12345;
	m.envid = xstrdup("env-1");
	m.ret = RET_HDRS;
	m.warned = 1;
	r = msg_addrcpt(&m, "root");
	r->notify = N_SUCCESS | N_FAILURE;
	r->orcpt = xstrdup("rfc822;root@x.org");
	r = msg_addrcpt(&m, "|/usr/bin/logger -t mail");
	r->expanded = 1;
	r->parent = xstrdup("root");
	r->state = R_FAILED;
	r->attempts = 3;
	r->next = 1700000600;
	r->reply = xstrdup("5.3.0 exit 1\nwith a newline");
	text = spool_format(&m, &len);
	result("format ends with the end line", len > 2 &&
	    strcmp(text + len - 3, "\n.\n") == 0, text);
	result("format has no raw control characters",
	    strstr(text, "\nwith") == NULL, text);
	result("round trip parses", parse(text, &back) == 0, text);
	again = spool_format(&back, &len2);
	result("round trip is stable", len == len2 &&
	    memcmp(text, again, len) == 0, again);
	result("round trip keeps the null sender", back.sender != NULL &&
	    back.sender[0] == '\0', "sender");
	result("round trip keeps states", back.nrcpt == 2 &&
	    back.rcpt[1].state == R_FAILED && back.rcpt[1].expanded &&
	    back.rcpt[1].attempts == 3 && back.rcpt[0].notify == 6,
	    "recipients");
	free(text);
	free(again);
	msg_free(&m);
	msg_free(&back);
}

static void
ids(void)
{
	char a[QIDLEN], b[QIDLEN];

	newid(a, 0);
	newid(b, 1);
	result("ids are distinct", strcmp(a, b) != 0, a);
	result("ids are valid names", isid(a) && isid(b), b);
	result("ids fit", strlen(b) < QIDLEN - 1, b);
}

int
main(void)
{
	badcases();
	nulbyte();
	roundtrip();
	ids();
	return failed;
}
