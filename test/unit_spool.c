/*
 * unit_spool.c: the qf reader and writer (spool_parse, spool_format),
 * which it reaches by including spool.c. A qf that round-trips must come
 * back equal; every damaged one must be refused, never half read. Also
 * what tells a deferral from a change of state (statekey), and the group
 * flush over a real folder (present, gone and more files than one batch).
 * Prints "ok - name" or "FAIL - name: ..." and exits 1 on any failure.
 */
#define _GNU_SOURCE	/* spool.c uses sync_file_range() */
#include <stdio.h>
#include <stdlib.h>

/* link: util.c addr.c */
#include "../spool.c"

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
	{ "bad recipient, state after it", HEAD "Ra b@c\nsF\nsP\n.\n" },
	{ "refused item still to deliver", HEAD "R:include:/x\nsP\n.\n" },
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
	/* a refused alias item is kept, failed, for the DSN (deliver.c) */
	r = msg_addrcpt(&m, ":include:/no such file");
	r->expanded = 1;
	r->parent = xstrdup("root");
	r->state = R_FAILED;
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
	result("round trip keeps states", back.nrcpt == 3 &&
	    strcmp(back.rcpt[2].addr, ":include:/no such file") == 0 &&
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

/* A deferral (attempts, next try, reply, its host) keeps the key; any
 * change of state does not. */
static void
statekeys(void)
{
	struct msg m;
	struct rcpt *r;
	char *k0, *k;

	msg_init(&m);
	m.sender = xstrdup("a@b.org");
	m.arrival = 1700000000;
	m.size = 42;
	r = msg_addrcpt(&m, "x@remote.org");
	k0 = statekey(&m);
	result("statekey drops the deferral's lines", strstr(k0, "\na") ==
	    NULL && strstr(k0, "\nn") == NULL && strstr(k0, "\nRx@remote.org"
	    "\nsP\n") != NULL, k0);
	r->attempts = 4;
	r->next = 1700009999;
	r->reply = xstrdup("4.4.1 connection refused");
	r->rhost = xstrdup("mx.remote.org");
	k = statekey(&m);
	result("a deferral keeps the key", strcmp(k0, k) == 0, k);
	free(k);
	r->state = R_SENT;
	k = statekey(&m);
	result("a delivered recipient changes the key", strcmp(k0, k) != 0, k);
	free(k);
	m.rcpt[0].state = R_PENDING;
	m.warned = 1;
	k = statekey(&m);
	result("a delay warning changes the key", strcmp(k0, k) != 0, k);
	free(k);
	m.warned = 0;
	msg_addrcpt(&m, "y@remote.org");
	k = statekey(&m);
	result("an added recipient changes the key", strcmp(k0, k) != 0, k);
	free(k);
	free(k0);
	msg_free(&m);
}

/* touch DIR/NAME with a few bytes */
static void
put1(const char *dir, char kind, const char *id)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%cf%s", dir, kind, id);
	if ((f = fopen(path, "w")) == NULL) {
		abort();
	}
	fputs("x\n", f);
	fclose(f);
}

static void
flushes(void)
{
	char dir[] = "/tmp/unit_spool.XXXXXX", id[QIDLEN], *ids;
	size_t len = 0;
	int i, n = 300;

	if (mkdtemp(dir) == NULL) {
		result("flush: a temporary folder", 0, strerror(errno));
		return;
	}
	set.queuedir = dir;
	if (spool_open() == -1) {
		result("flush: spool_open", 0, strerror(errno));
		return;
	}
	ids = xrealloc(NULL, (size_t)n * (QIDLEN + 1) + 64);
	for (i = 0; i < n; i++) {
		snprintf(id, sizeof(id), "U%04d", i);
		if (i % 50 != 7) {	/* some are gone (aborted) */
			put1(dir, 'd', id);
			put1(dir, 'q', id);
		}
		len += (size_t)sprintf(ids + len, "%s ", id);
	}
	len += (size_t)sprintf(ids + len, "../etc ");	/* never a path */
	errno = 0;
	result("flush: 300 messages (more files than a batch), some gone",
	    spool_flush(ids, len) == 0, strerror(errno));
	result("flush: the request is left as it was", strncmp(ids,
	    "U0000 U0001 ", 12) == 0 && ids[len - 1] == ' ', ids);
	result("flush: an empty request", spool_flush(ids, 0) == 0,
	    strerror(errno));
	for (i = 0; i < n; i++) {
		char path[512];

		snprintf(path, sizeof(path), "%s/df%s%04d", dir, "U", i);
		unlink(path);
		path[strlen(dir) + 1] = 'q';
		unlink(path);
	}
	rmdir(dir);
	free(ids);
}

int
main(void)
{
	logfd = open("/dev/null", O_WRONLY | O_CLOEXEC);	/* never syslog */
	badcases();
	nulbyte();
	roundtrip();
	ids();
	statekeys();
	flushes();
	return failed;
}
