/*
 * unit_addr.c: table-driven tests for addr.c, which it includes whole.
 *
 * Build: cc -std=c99 -D_DEFAULT_SOURCE -D_XOPEN_SOURCE=700 \
 *     -o unit_addr test/unit_addr.c util.c && ./unit_addr
 * Prints "ok - name" or "FAIL - name: ..." per case and exits 1 on any
 * failure.
 */
#include <stdio.h>
#include <stdlib.h>

#include "../addr.c"

/* link: util.c */

enum { LIST, ONE, VALID };

/* want: LIST: addresses joined by "|", "" for none; ONE: out; NULL = -1 */
struct tcase {
	const char *name;
	int kind;
	const char *in;
	const char *want;
};

static const struct tcase cases[] = {
	/* address lists, as found in To: and Cc: */
	{ "plain", LIST, "a@b.org", "a@b.org" },
	{ "two", LIST, "a@b.org, c@d.org", "a@b.org|c@d.org" },
	{ "no space", LIST, "a@b.org,c@d.org", "a@b.org|c@d.org" },
	{ "outlook quoted name", LIST,
	    "\"Doe, John\" <john@x.org>, \"Roe, Jane\" <jane@x.org>",
	    "john@x.org|jane@x.org" },
	{ "atom name", LIST, "John Doe <john@x.org>", "john@x.org" },
	{ "obs-phrase dot", LIST, "John Q. Public <jqp@x.org>", "jqp@x.org" },
	{ "name with leading dot", LIST, ".Joe <j@x.org>", "j@x.org" },
	{ "name no space", LIST, "Joe<j@x.org>", "j@x.org" },
	{ "angle spaces", LIST, "Joe < j@x.org >", "j@x.org" },
	{ "encoded word name", LIST,
	    "=?utf-8?q?J=C3=B6rg?= <j@x.org>", "j@x.org" },
	{ "old comment name", LIST, "john@x.org (John Doe)", "john@x.org" },
	{ "comments everywhere", LIST,
	    "(a)john(b).(c)doe(d)@(e)x(f).(g)org(h)", "john.doe@x.org" },
	{ "nested comment", LIST,
	    "j@x.org (outer (inner) \\) still (deep (er)))", "j@x.org" },
	{ "comment with specials", LIST,
	    "Joe (\"<not@this>\", really) <j@x.org>", "j@x.org" },
	{ "obs-local-part spaces", LIST, "john . doe @ x . org",
	    "john.doe@x.org" },
	{ "undisclosed recipients", LIST, "Undisclosed recipients:;", "" },
	{ "undisclosed-recipients", LIST, "undisclosed-recipients:;", "" },
	{ "undisclosed no semicolon", LIST, "undisclosed-recipients:", "" },
	{ "group with comment", LIST, "Team: (nobody) ;", "" },
	{ "group members", LIST, "Team: a@b.org, Bob <c@d.org>;, e@f.org",
	    "a@b.org|c@d.org|e@f.org" },
	{ "group then empty", LIST, "Team: a@b.org;,", "a@b.org" },
	{ "group empty members", LIST, "T: ,a@b.org,, ;", "a@b.org" },
	{ "quoted group name", LIST, "\"The Team\": a@b.org;", "a@b.org" },
	{ "two groups", LIST, "A: a@b.org; , B: c@d.org;",
	    "a@b.org|c@d.org" },
	{ "folded crlf", LIST, "a@b.org,\r\n c@d.org", "a@b.org|c@d.org" },
	{ "folded lf", LIST, "John\n\tDoe <j@x.org>", "j@x.org" },
	{ "folded in quoted name", LIST, "\"John\r\n Doe\" <j@x.org>",
	    "j@x.org" },
	{ "folded in quoted local", LIST, "\"john\r\n doe\"@x.org",
	    "\"john doe\"@x.org" },
	{ "folded in comment", LIST, "j@x.org (a\r\n b)", "j@x.org" },
	{ "folded in domain", LIST, "j@x.\r\n org", "j@x.org" },
	{ "trailing crlf", LIST, " a@b.org\r\n", "a@b.org" },
	{ "quoted local", LIST, "\"john doe\"@example.org",
	    "\"john doe\"@example.org" },
	{ "quoted local in angle", LIST, "J <\"john doe\"@example.org>",
	    "\"john doe\"@example.org" },
	{ "needless quotes", LIST, "\"john\"@example.org",
	    "john@example.org" },
	{ "mixed obs-local-part", LIST, "\"john\".doe@x.org",
	    "john.doe@x.org" },
	{ "mixed needs quotes", LIST, "\"jo hn\".doe@x.org",
	    "\"jo hn.doe\"@x.org" },
	{ "escaped quote", LIST, "\"a\\\"b\"@x.org", "\"a\\\"b\"@x.org" },
	{ "needless quoted-pair", LIST, "\"a\\b\"@x.org", "ab@x.org" },
	{ "quoted at sign", LIST, "\"a@b\"@x.org", "\"a@b\"@x.org" },
	{ "empty quoted local", LIST, "\"\"@x.org", "\"\"@x.org" },
	{ "route", LIST, "<@r1.org,@r2.org:a@b.org>", "a@b.org" },
	{ "route with name", LIST, "Joe <@r1.org: joe@x.org>", "joe@x.org" },
	{ "route obs commas", LIST, "<,@r1.org,,@r2.org:a@b.org>",
	    "a@b.org" },
	{ "domain literal", LIST, "a@[192.0.2.1]", "a@[192.0.2.1]" },
	{ "domain literal fws", LIST, "a@[ 192.0.2.1 ]", "a@[192.0.2.1]" },
	{ "ipv6 literal", LIST, "J <a@[IPv6:2001:db8::1]>",
	    "a@[IPv6:2001:db8::1]" },
	{ "bare local", LIST, "root", "root" },
	{ "bare locals", LIST, "root, postmaster", "root|postmaster" },
	{ "angle bare local", LIST, "Root <root>", "root" },
	{ "empty element", LIST, "a@b.org,,c@d.org", "a@b.org|c@d.org" },
	{ "leading trailing commas", LIST, " , a@b.org , ", "a@b.org" },
	{ "empty", LIST, "", "" },
	{ "blank", LIST, " \t\r\n", "" },
	{ "commas only", LIST, ",,,", "" },
	{ "utf8", LIST, "J\xc3\xb6rg <j\xc3\xb6rg@b\xc3\xbc" "cher.de>",
	    "j\xc3\xb6rg@b\xc3\xbc" "cher.de" },
	{ "latin1 name", LIST, "J\xf6rg <j@x.org>", "j@x.org" },
	{ "control in name", LIST, "\"a\x01z\" <j@x.org>", "j@x.org" },
	{ "address as name", LIST, "j@x.org <j@x.org>", "j@x.org" },
	{ "keeps case", LIST, "John@Example.ORG", "John@Example.ORG" },
	{ "plus and friends", LIST, "a+b_c=d/e!f#g$h%i&j'k*l?m^n`o{p|q}r~s@x",
	    "a+b_c=d/e!f#g$h%i&j'k*l?m^n`o{p|q}r~s@x" },

	/* lists that must fail as a whole */
	{ "unclosed angle", LIST, "<a@b", NULL },
	{ "unopened angle", LIST, "a@b>", NULL },
	{ "no domain", LIST, "a@", NULL },
	{ "no local", LIST, "@b.org", NULL },
	{ "unterminated quote", LIST, "\"unterminated", NULL },
	{ "unterminated quote pair", LIST, "\"a\\", NULL },
	{ "unterminated comment", LIST, "a@b (oops", NULL },
	{ "comment qp at end", LIST, "a@b (oops\\", NULL },
	{ "stray paren", LIST, "a@b )", NULL },
	{ "two addresses no comma", LIST, "a@b.org c@d.org", NULL },
	{ "name without angle", LIST, "John Doe", NULL },
	{ "name then addr-spec", LIST, "John a@b.org", NULL },
	{ "trailing dot domain", LIST, "a@b.org.", NULL },
	{ "double dot local", LIST, "a..b@c.org", NULL },
	{ "leading dot local", LIST, ".a@b.org", NULL },
	{ "trailing dot local", LIST, "a.@b.org", NULL },
	{ "double dot domain", LIST, "a@b..org", NULL },
	{ "null address", LIST, "<>", NULL },
	{ "nested group", LIST, "A: B: a@b.org;;", NULL },
	{ "semicolon outside group", LIST, "a@b.org;", NULL },
	{ "unclosed literal", LIST, "a@[1.2.3.4", NULL },
	{ "bad literal", LIST, "a@[1.2[3]", NULL },
	{ "two at signs", LIST, "a@b@c", NULL },
	{ "route without colon", LIST, "<@r1.org a@b.org>", NULL },
	{ "route without domain", LIST, "<@:a@b.org>", NULL },
	{ "route doubled at", LIST, "<@r1@r2:a@b.org>", NULL },
	{ "group without name", LIST, ": a@b.org;", NULL },
	{ "control outside quotes", LIST, "a\x01@b.org", NULL },
	{ "control in local", LIST, "\"a\x01z\"@b.org", NULL },
	{ "tab in quoted local", LIST, "\"a\tz\"@b.org", NULL },
	{ "bad utf8 in local", LIST, "\xff@b.org", NULL },
	{ "bare cr in quotes", LIST, "\"a\rb\"@c", NULL },
	{ "one bad spoils all", LIST, "a@b.org, <c@d.org", NULL },
	{ "local 65", LIST,
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "@b.org", NULL },
	{ "local 64", LIST,
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "@b.org",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "@b.org" },

	/* single addresses: the command line and -f */
	{ "one user", ONE, "user", "user" },
	{ "one addr", ONE, "user@domain", "user@domain" },
	{ "one angle", ONE, "<user@domain>", "user@domain" },
	{ "one full name", ONE, "Full Name <user@domain>", "user@domain" },
	{ "one quoted name", ONE, "\"Name, Full\" <user@domain>",
	    "user@domain" },
	{ "one null", ONE, "<>", "" },
	{ "one null spaces", ONE, "  < >  ", "" },
	{ "one spaces", ONE, "  user@domain \n", "user@domain" },
	{ "one comment", ONE, "user@domain (Full Name)", "user@domain" },
	{ "one route", ONE, "<@relay:user@domain>", "user@domain" },
	{ "one quoted", ONE, "\"a b\"@c", "\"a b\"@c" },
	{ "one empty", ONE, "", NULL },
	{ "one blank", ONE, "  ", NULL },
	{ "one list", ONE, "a@b, c@d", NULL },
	{ "one group", ONE, "Team: a@b;", NULL },
	{ "one group undisclosed", ONE, "undisclosed-recipients:;", NULL },
	{ "one unclosed", ONE, "<a@b", NULL },
	{ "one two words", ONE, "a b", NULL },
	{ "one no domain", ONE, "a@", NULL },
	{ "one trailing junk", ONE, "<a@b> c", NULL },
	{ "one comma", ONE, "a@b,", NULL },

	/* addr_valid: "1" or "0" */
	{ "valid addr", VALID, "a@b.org", "1" },
	{ "valid bare", VALID, "root", "1" },
	{ "valid quoted", VALID, "\"john doe\"@x.org", "1" },
	{ "valid needless quotes", VALID, "\"john\"@x.org", "1" },
	{ "valid quoted pair", VALID, "\"a\\\"b\"@x.org", "1" },
	{ "valid empty quoted", VALID, "\"\"@x.org", "1" },
	{ "valid literal", VALID, "a@[192.0.2.1]", "1" },
	{ "valid utf8", VALID, "j\xc3\xb6rg@b\xc3\xbc" "cher.de", "1" },
	{ "valid 4-byte utf8", VALID, "\xf0\x9f\x98\x80@x", "1" },
	{ "invalid empty", VALID, "", "0" },
	{ "invalid no domain", VALID, "a@", "0" },
	{ "invalid no local", VALID, "@b", "0" },
	{ "invalid space", VALID, "a b@c", "0" },
	{ "invalid trailing space", VALID, "a@b ", "0" },
	{ "invalid angle", VALID, "<a@b>", "0" },
	{ "invalid double dot", VALID, "a@b..c", "0" },
	{ "invalid trailing dot", VALID, "a@b.", "0" },
	{ "invalid leading dot", VALID, ".a@b", "0" },
	{ "invalid two ats", VALID, "a@b@c", "0" },
	{ "invalid tab in quotes", VALID, "\"a\tb\"@c", "0" },
	{ "invalid del in quotes", VALID, "\"a\x7f" "b\"@c", "0" },
	{ "invalid control", VALID, "a\x01@b", "0" },
	{ "invalid unterminated", VALID, "\"abc@x", "0" },
	{ "invalid trailing backslash", VALID, "\"a\\", "0" },
	{ "invalid quoted then junk", VALID, "\"a\"b@c", "0" },
	{ "invalid empty literal", VALID, "a@[]", "0" },
	{ "invalid literal bracket", VALID, "a@[1.2.3.4", "0" },
	{ "invalid literal junk", VALID, "a@[1]x", "0" },
	{ "invalid comment", VALID, "a@b(c)", "0" },
	{ "invalid latin1", VALID, "j\xf6rg@x", "0" },
	{ "invalid truncated utf8", VALID, "j\xc3@x", "0" },
	{ "invalid overlong", VALID, "\xc0\xaf@x", "0" },
	{ "invalid surrogate", VALID, "\xed\xa0\x80@x", "0" },
	{ "invalid past 10ffff", VALID, "\xf4\x90\x80\x80@x", "0" },
};

static int failed;

static void
report(const char *name, int ok, const char *got, const char *want)
{
	if (ok != 0) {
		printf("ok - %s\n", name);
		return;
	}
	failed++;
	printf("FAIL - %s: got [%s] want [%s]\n", name,
	    got != NULL ? got : "(error)", want != NULL ? want : "(error)");
}

struct acc {
	char s[100000];
	size_t len;
	int calls;
};

/* addrfn: join the addresses with "|" */
static void
collect(const char *addrspec, void *arg)
{
	struct acc *a = arg;
	int n;

	n = snprintf(a->s + a->len, sizeof(a->s) - a->len, "%s%s",
	    a->calls > 0 ? "|" : "", addrspec);
	if (n > 0 && (size_t)n < sizeof(a->s) - a->len) {
		a->len += (size_t)n;
	}
	a->calls++;
}

static int
same(const char *got, const char *want)
{
	if (got == NULL || want == NULL) {
		return got == want;
	}
	return strcmp(got, want) == 0;
}

static void
runlist(const struct tcase *t)
{
	static struct acc a;
	int n;

	memset(&a, 0, sizeof(a));
	n = addr_parselist(t->in, collect, &a);
	if (n == -1 && a.calls != 0) {
		report(t->name, 0, "callback called on error", t->want);
		return;
	}
	if (n >= 0 && (n != a.calls || addr_parselist(t->in, NULL, NULL) != n)) {
		report(t->name, 0, "count differs from callbacks", t->want);
		return;
	}
	report(t->name, same(n == -1 ? NULL : a.s, t->want),
	    n == -1 ? NULL : a.s, t->want);
}

static void
runone(const struct tcase *t)
{
	char out[400];
	int r;

	r = addr_parseone(t->in, out, sizeof(out));
	report(t->name, same(r == -1 ? NULL : out, t->want),
	    r == -1 ? NULL : out, t->want);
}

static void
runvalid(const struct tcase *t)
{
	const char *got = addr_valid(t->in) != 0 ? "1" : "0";

	report(t->name, same(got, t->want), got, t->want);
}

/* Cases that are easier to build than to write down. */
static void
generated(void)
{
	static char big[100000], want[100000];
	char out[400], small[8];
	static struct acc a;
	size_t i, len = 0, wlen = 0;
	int n;

	/* a header over 64 KiB: 2000 addresses, folded, with names */
	for (i = 0; i < 2000; i++) {
		len += (size_t)snprintf(big + len, sizeof(big) - len,
		    "%s\"User, %zu\" <user%zu@example.org>",
		    i > 0 ? ",\r\n " : "", i, i);
		wlen += (size_t)snprintf(want + wlen, sizeof(want) - wlen,
		    "%suser%zu@example.org", i > 0 ? "|" : "", i);
	}
	memset(&a, 0, sizeof(a));
	n = addr_parselist(big, collect, &a);
	report("64k header", n == 2000 && strcmp(a.s, want) == 0 &&
	    len > 65536 && len < sizeof(big) - 1, n == 2000 ? "(long)" : NULL,
	    "(2000 addresses)");

	/* a display name far longer than any buffer is fine */
	memset(big, 'x', 60000);
	memcpy(big + 60000, " <a@b.org>", 11);
	memset(&a, 0, sizeof(a));
	n = addr_parselist(big, collect, &a);
	report("60k display name", n == 1 && strcmp(a.s, "a@b.org") == 0,
	    n == 1 ? a.s : NULL, "a@b.org");

	/* ... and so is a 60k comment */
	big[0] = '(';
	big[59999] = ')';
	n = addr_parselist(big, NULL, NULL);
	report("60k comment", n == 1, n == 1 ? "1" : NULL, "1");

	/* a 60k atom used as local part is not */
	memcpy(big + 60000, "@b.org", 7);
	big[0] = 'x';
	n = addr_parselist(big, NULL, NULL);
	report("60k local part", n == -1, n == -1 ? NULL : "parsed", NULL);

	/* 64 + 1 + 255 = 320 octets is the longest address */
	memset(big, 'a', 64);
	big[64] = '@';
	for (i = 65; i < 320; i += 2) {
		big[i] = 'b';
		big[i + 1] = '.';
	}
	big[319] = 'c';
	big[320] = '\0';
	n = addr_parselist(big, NULL, NULL);
	report("320 octets", n == 1 && addr_valid(big) != 0 &&
	    addr_parseone(big, out, sizeof(out)) == 0 &&
	    strcmp(out, big) == 0, n == 1 ? "1" : NULL, "1");
	memcpy(big + 319, "cc", 3);
	n = addr_parselist(big, NULL, NULL);
	report("321 octets", n == -1 && addr_valid(big) == 0 &&
	    addr_parseone(big, out, sizeof(out)) == -1,
	    n == -1 ? NULL : "parsed", NULL);

	/* deep comment nesting costs no stack */
	memset(big, '(', 30000);
	memset(big + 30000, ')', 30000);
	memcpy(big + 60000, "a@b", 4);
	n = addr_parselist(big, NULL, NULL);
	report("deep comment", n == 1, n == 1 ? "1" : NULL, "1");

	/* out too small for the address */
	n = addr_parseone("user@example.org", small, sizeof(small));
	report("one outlen small", n == -1 && small[0] == '\0',
	    n == -1 ? NULL : small, NULL);
	n = addr_parseone("user@ex", small, sizeof(small));
	report("one outlen exact", n == 0 && strcmp(small, "user@ex") == 0,
	    n == 0 ? small : NULL, "user@ex");

	report("null input", addr_parselist(NULL, NULL, NULL) == -1 &&
	    addr_parseone(NULL, out, sizeof(out)) == -1 &&
	    addr_valid(NULL) == 0, "", "");
}

/* RFC 3461: NOTIFY, RET and xtext, as SMTP and -N/-R/-V take them */
static void
dsncases(void)
{
	static const struct {
		const char *in;
		int want;
	} notify[] = {
		{ "NEVER", N_NEVER }, { "never", N_NEVER },
		{ "SUCCESS,FAILURE,DELAY", N_SUCCESS | N_FAILURE | N_DELAY },
		{ "failure", N_FAILURE }, { "DELAY,DELAY", N_DELAY },
		{ "", -1 }, { "NEVER,SUCCESS", -1 }, { "SUCCESS,,FAILURE", -1 },
		{ ",SUCCESS", -1 }, { "SUCCESS,", -1 }, { "success, failure", -1 },
		{ "SUCCES", -1 }, { "SUCCESSX", -1 },
	};
	static const struct {
		const char *in;
		int want;
	} xtext[] = {
		{ "abc", 1 }, { "rfc822;a+40b", 1 }, { "a+2B", 1 }, { "", 1 },
		{ "a b", 0 }, { "a=b", 0 }, { "a+", 0 }, { "a+4", 0 },
		{ "a+4g", 0 }, { "a+2b", 0 }, { "\xc3\xa9", 0 }, { "a\tb", 0 },
	};
	char name[64], out[16];
	size_t i;
	int n;

	for (i = 0; i < sizeof(notify) / sizeof(notify[0]); i++) {
		n = dsn_notify(notify[i].in);
		snprintf(name, sizeof(name), "notify \"%s\"", notify[i].in);
		report(name, n == notify[i].want, n == -1 ? NULL : "bits",
		    notify[i].want == -1 ? NULL : "bits");
	}
	for (i = 0; i < sizeof(xtext) / sizeof(xtext[0]); i++) {
		snprintf(name, sizeof(name), "xtext \"%s\"", xtext[i].in);
		report(name, dsn_xtext(xtext[i].in, 100) == xtext[i].want,
		    "", "");
	}
	report("xtext past max", !dsn_xtext("abcd", 3) &&
	    dsn_xtext("abc", 3), "", "");
	report("ret", dsn_ret("full") == RET_FULL && dsn_ret("HDRS") ==
	    RET_HDRS && dsn_ret("FULLX") == -1 && dsn_ret("") == -1, "", "");
	dsn_unxtext("a+40b+0Ac+", out, sizeof(out));
	report("unxtext, sanitized", strcmp(out, "a@b c+") == 0, out,
	    "a@b c+");
	dsn_unxtext("abcdefghijklmnopq", out, sizeof(out));
	report("unxtext cut to its buffer", strlen(out) == sizeof(out) - 1,
	    out, "15 bytes");
}

int
main(void)
{
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (cases[i].kind == LIST) {
			runlist(&cases[i]);
		} else if (cases[i].kind == ONE) {
			runone(&cases[i]);
		} else {
			runvalid(&cases[i]);
		}
	}
	generated();
	dsncases();
	printf("%d failed\n", failed);
	return failed == 0 ? 0 : 1;
}
