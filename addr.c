/*
 * addr.c: RFC 5322 address lists (To:, Cc:, Bcc:, Resent-To: ...) and
 * single command-line addresses, reduced to envelope addr-specs.
 *
 * Start at addr_parselist. A lexer (lex) reads the field in place,
 * unfolding and skipping CFWS as it goes; a recursive-descent parser
 * follows RFC 5322 3.4 plus the obsolete syntax of 4.4 (routes,
 * obs-phrase, obs-local-part, empty list elements) that real mail still
 * carries. Only the tokens of the current address are copied, into fixed
 * buffers, so a field of any length is streamed in constant stack space,
 * never truncated: an over-long display name is parsed and ignored, and
 * only an address that does not fit is an error.
 *
 * Every address handed out is canonical and passes addr_valid: no
 * comments, no white space outside quotes, and a local part quoted only
 * when it must be (see putlocal).
 *
 * At the end: the DSN parameters of RFC 3461 (NOTIFY, RET, and the
 * xtext of ENVID and ORCPT), one set of rules for the SMTP server, the
 * command line and the DSNs.
 */
#include <limits.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "mta.h"

#define LOCAL_MAX	64	/* RFC 5321 4.5.3.1.1 */
#define DOMAIN_MAX	255	/* RFC 5321 4.5.3.1.2 */
#define BUF_MAX		(LOCAL_MAX + 1 + DOMAIN_MAX + 2)

/* Token kinds; the specials < > @ , : ; . stand for themselves. */
enum {
	T_ERR = -1,	/* bad syntax: matches nothing, so it ends the parse */
	T_END = 256,	/* end of the field */
	T_ATOM,
	T_QSTR,		/* quoted string, held unquoted */
	T_DLIT		/* domain literal, held without brackets and FWS */
};

struct buf {
	char s[BUF_MAX + 1];
	size_t len;
	int over;	/* something did not fit */
};

struct parse {
	const char *p;		/* next octet of the field */
	int tok;		/* current token: T_* or a special */
	struct buf val;		/* text of the current token */
	struct buf lp;		/* phrase or local part, unquoted */
	struct buf out;		/* the address being built */
	int lpok;		/* lp has the shape word *("." word) */
	int allownull;		/* "<>" is an address (addr_parseone) */
	addrfn *fn;		/* NULL while only checking */
	void *arg;
	int n;			/* addresses found */
};

static int list(struct parse *ps, int ingroup);

static void
bufreset(struct buf *b)
{
	b->len = 0;
	b->over = 0;
	b->s[0] = '\0';
}

/* Append; over says the source itself was already cut short. */
static void
put(struct buf *b, const char *s, size_t n, int over)
{
	if (over != 0 || b->over != 0 || n > BUF_MAX - b->len) {
		b->over = 1;
		return;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void
putch(struct buf *b, int c)
{
	char ch = (char)c;

	put(b, &ch, 1, 0);
}

/* RFC 5322 atext, widened to every non-ASCII octet by RFC 6532. */
static int
isatext(int c)
{
	if (c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9')) {
		return 1;
	}
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* RFC 5322 dtext without the obsolete controls and quoted-pairs. */
static int
isdtext(int c)
{
	return (c >= 33 && c <= 90) || (c >= 94 && c <= 126);
}

/*
 * The current octet of the unfolded field, '\0' at its end. Unfolding
 * deletes a CRLF, or a bare LF, that comes before white space.
 */
static int
cur(struct parse *ps)
{
	const char *p = ps->p;

	while ((p[0] == '\r' && p[1] == '\n' && (p[2] == ' ' ||
	    p[2] == '\t')) || (p[0] == '\n' && (p[1] == ' ' || p[1] == '\t'))) {
		p += p[0] == '\r' ? 2 : 1;
	}
	ps->p = p;
	return (unsigned char)*p;
}

/*
 * Skip CFWS: white space and comments, nested, with quoted-pairs. A CR or
 * LF that is not part of a fold can only end the header line, so it
 * counts as white space. Returns the octet after it ('\0' at the end), or
 * -1 for a comment left open.
 */
static int
skipcfws(struct parse *ps)
{
	long depth = 0;
	int c;

	for (;; ps->p++) {
		if ((c = cur(ps)) == '\0') {
			return depth == 0 ? '\0' : -1;
		}
		if (depth > 0 && c == '\\') {
			if (ps->p[1] == '\0') {
				return -1;
			}
			ps->p++;
		} else if (c == '(') {
			depth++;
		} else if (depth > 0 && c == ')') {
			depth--;
		} else if (depth == 0 && strchr(" \t\r\n", c) == NULL) {
			return c;
		}
	}
}

/*
 * A quoted string (close is '"') or domain literal (']'), into ps->val.
 * Controls in a quoted string are kept: harmless in a display name, and
 * addr_valid rejects them in a local part. SMTP allows no FWS in a
 * literal, so it is dropped there.
 */
static int
enclosed(struct parse *ps, int close)
{
	int c;

	for (ps->p++; (c = cur(ps)) != close; ps->p++) {
		if (close == '"' && c == '\\') {
			c = (unsigned char)*++ps->p;
		} else if (close == ']' && (c == ' ' || c == '\t')) {
			continue;
		} else if (close == ']' && isdtext(c) == 0) {
			return T_ERR;
		}
		if (c == '\0' || c == '\r' || c == '\n') {
			return T_ERR;
		}
		putch(&ps->val, c);
	}
	ps->p++;
	return close == '"' ? T_QSTR : T_DLIT;
}

/* Read the next token into ps->tok and ps->val (a special: its char). */
static int
lex(struct parse *ps)
{
	int c;

	bufreset(&ps->val);
	if ((c = skipcfws(ps)) == -1) {
		return ps->tok = T_ERR;
	}
	if (c == '\0') {
		ps->tok = T_END;
	} else if (c == '"' || c == '[') {
		ps->tok = enclosed(ps, c == '"' ? '"' : ']');
	} else if (isatext(c) != 0) {
		for (; isatext(c) != 0; ps->p++, c = cur(ps)) {
			putch(&ps->val, c);
		}
		ps->tok = T_ATOM;
	} else if (strchr("<>@,:;.", c) != NULL) {
		ps->p++;
		putch(&ps->val, c);
		ps->tok = c;
	} else {
		ps->tok = T_ERR;
	}
	return ps->tok;
}

/*
 * Collect a phrase: words and dots. Only what follows tells a display
 * name ("<" or ":") from a local part, so keep it in ps->lp and note in
 * lpok whether it has the obs-local-part shape. Returns the token count.
 */
static int
phrase(struct parse *ps)
{
	int n, word = 0;

	bufreset(&ps->lp);
	ps->lpok = 1;
	for (n = 0; ps->tok == T_ATOM || ps->tok == T_QSTR || ps->tok == '.';
	    n++, lex(ps)) {
		/* a leading dot, two dots or two words fit only a name */
		if ((ps->tok == '.') == (word == 0)) {
			ps->lpok = 0;
		}
		word = ps->tok != '.';
		/* a word unquoted, or the dot itself */
		put(&ps->lp, ps->val.s, ps->val.len, ps->val.over);
	}
	if (n > 0 && word == 0) {
		ps->lpok = 0;
	}
	return n;
}

/* Length of the dot-atom at the start of s, 0 if there is none. */
static size_t
dotatomlen(const char *s)
{
	size_t i = 0, end = 0;

	while (isatext((unsigned char)s[i]) != 0) {
		while (isatext((unsigned char)s[i]) != 0) {
			i++;
		}
		end = i;
		if (s[i] != '.') {
			break;
		}
		i++;
	}
	return end;
}

/*
 * The local part in its simplest form, which RFC 5321 4.1.2 prefers: a
 * dot-atom if its unquoted text is one, else one quoted string. So
 * "john".doe, "john.doe" and john.doe all become john.doe.
 */
static void
putlocal(struct parse *ps)
{
	size_t i;

	if (ps->lp.len > 0 && dotatomlen(ps->lp.s) == ps->lp.len) {
		put(&ps->out, ps->lp.s, ps->lp.len, ps->lp.over);
		return;
	}
	putch(&ps->out, '"');
	for (i = 0; i < ps->lp.len; i++) {
		if (ps->lp.s[i] == '"' || ps->lp.s[i] == '\\') {
			putch(&ps->out, '\\');
		}
		putch(&ps->out, ps->lp.s[i]);
	}
	put(&ps->out, "\"", 1, ps->lp.over);
}

/* domain = dot-atom / domain-literal / obs-domain, appended to ps->out. */
static int
domain(struct parse *ps)
{
	if (ps->tok == T_DLIT) {
		putch(&ps->out, '[');
		put(&ps->out, ps->val.s, ps->val.len, ps->val.over);
		putch(&ps->out, ']');
		lex(ps);
		return 0;
	}
	for (;;) {
		if (ps->tok != T_ATOM) {
			return -1;
		}
		put(&ps->out, ps->val.s, ps->val.len, ps->val.over);
		if (lex(ps) != '.') {
			return 0;
		}
		putch(&ps->out, '.');
		lex(ps);
	}
}

/* The phrase in ps->lp was a local part; add "@" domain if one follows. */
static int
addrspec(struct parse *ps)
{
	bufreset(&ps->out);
	if (ps->lpok == 0) {
		return -1;
	}
	putlocal(ps);
	if (ps->tok != '@') {
		return 0;	/* a bare local name such as "root" */
	}
	putch(&ps->out, '@');
	lex(ps);
	return domain(ps);
}

/* obs-route, "@r1,@r2:" before the addr-spec: parsed, then dropped. */
static int
route(struct parse *ps)
{
	int n = 0, c;

	while (ps->tok == ',' || ps->tok == '@') {
		c = ps->tok;
		lex(ps);
		if (c == '@' && (domain(ps) == -1 || ps->tok == '@')) {
			return -1;
		}
		n += c == '@';
	}
	/* the route's domains in ps->out are dropped by addrspec() */
	if (n == 0 || ps->tok != ':') {
		return -1;
	}
	lex(ps);
	return 0;
}

/* angle-addr / obs-angle-addr; ps->tok is "<". */
static int
angle(struct parse *ps)
{
	bufreset(&ps->out);
	if (lex(ps) == '>' && ps->allownull != 0) {
		lex(ps);
		return 0;
	}
	if ((ps->tok == '@' || ps->tok == ',') && route(ps) == -1) {
		return -1;
	}
	if (phrase(ps) == 0 || addrspec(ps) == -1 || ps->tok != '>') {
		return -1;
	}
	lex(ps);
	return 0;
}

/*
 * mailbox = name-addr / addr-spec, or a whole group where groupok.
 * "a@b <c@d>", an address as an unquoted display name, is not RFC 5322
 * but common enough that we take the angle address.
 */
static int
mailbox(struct parse *ps, int groupok)
{
	int n;

	n = phrase(ps);
	if (ps->tok == ':') {
		if (groupok == 0 || n == 0) {
			return -1;
		}
		lex(ps);
		return list(ps, 1);
	}
	if (ps->tok != '<' && (n == 0 || addrspec(ps) == -1)) {
		return -1;
	}
	if (ps->tok == '<' && angle(ps) == -1) {
		return -1;
	}
	/* it fits, and it is an address ("<>" only where allowed) */
	if (ps->out.over != 0 || ps->n == INT_MAX || (ps->out.len == 0 ?
	    ps->allownull == 0 : addr_valid(ps->out.s) == 0)) {
		return -1;
	}
	ps->n++;
	if (ps->fn != NULL) {
		ps->fn(ps->out.s, ps->arg);
	}
	return 0;
}

/*
 * address-list, or with ingroup the group-list after "name:", both with
 * the empty elements of the obsolete syntax.
 */
static int
list(struct parse *ps, int ingroup)
{
	for (;;) {
		if (ps->tok == ';' && ingroup != 0) {
			lex(ps);
			return 0;
		}
		if (ps->tok == T_END) {
			/* "undisclosed-recipients:" without ";" is common */
			return 0;
		}
		if (ps->tok == ',') {
			lex(ps);
			continue;
		}
		if (mailbox(ps, ingroup == 0) == -1) {
			return -1;
		}
		if (ps->tok != ',' && ps->tok != T_END &&
		    (ps->tok != ';' || ingroup == 0)) {
			return -1;
		}
	}
}

static void
init(struct parse *ps, const char *s, addrfn *fn, void *arg)
{
	*ps = (struct parse){ .p = s, .fn = fn, .arg = arg };
	lex(ps);
}

int
addr_parselist(const char *s, addrfn *fn, void *arg)
{
	struct parse ps;

	if (s == NULL) {
		return -1;
	}
	/* A dry run first, so that fn sees every address or none. */
	init(&ps, s, NULL, NULL);
	if (list(&ps, 0) == -1) {
		return -1;
	}
	if (fn != NULL) {
		init(&ps, s, fn, arg);
		(void)list(&ps, 0);
	}
	return ps.n;
}

int
addr_parseone(const char *s, char *out, size_t outlen)
{
	struct parse ps;

	if (s == NULL || out == NULL || outlen == 0) {
		return -1;
	}
	out[0] = '\0';
	init(&ps, s, NULL, NULL);
	ps.allownull = 1;
	if (mailbox(&ps, 0) == -1 || ps.tok != T_END || ps.out.len >= outlen) {
		return -1;
	}
	memcpy(out, ps.out.s, ps.out.len + 1);
	return 0;
}

/* Well-formed UTF-8: no overlongs, surrogates or values past U+10FFFF. */
static int
utf8ok(const unsigned char *s)
{
	int i, n, lo, hi;

	while (*s != '\0') {
		if (*s >= 0x80 && (*s < 0xc2 || *s > 0xf4)) {
			return 0;
		}
		n = *s >= 0xf0 ? 3 : *s >= 0xe0 ? 2 : *s >= 0x80 ? 1 : 0;
		lo = *s == 0xe0 ? 0xa0 : *s == 0xf0 ? 0x90 : 0x80;
		hi = *s == 0xed ? 0x9f : *s == 0xf4 ? 0x8f : 0xbf;
		/* NUL fails the range test: we never read past the end */
		for (i = 1; i <= n; i++, lo = 0x80, hi = 0xbf) {
			if (s[i] < lo || s[i] > hi) {
				return 0;
			}
		}
		s += n + 1;
	}
	return 1;
}

/* Length of the SMTP Quoted-string at s, 0 if it is not one. */
static size_t
qstrlen(const char *s)
{
	size_t i;
	int c;

	for (i = 1; (c = (unsigned char)s[i]) != '"'; i++) {
		if (c == '\\') {
			c = (unsigned char)s[++i];
		}
		/* qtextSMTP and quoted-pairSMTP, plus UTF-8 (RFC 6531) */
		if (c < 32 || c == 127) {
			return 0;
		}
	}
	return i + 1;
}

int
addr_valid(const char *addr)
{
	const char *dom;
	size_t l, d = 0;

	if (addr == NULL) {
		return 0;
	}
	l = addr[0] == '"' ? qstrlen(addr) : dotatomlen(addr);
	if (l == 0 || l > LOCAL_MAX) {
		return 0;
	}
	dom = addr + l;
	if (dom[0] == '@' && dom[1] == '[') {
		for (d = 2; isdtext((unsigned char)dom[d]) != 0; d++) {
			continue;
		}
		d = d > 2 && dom[d] == ']' ? d + 1 : 0;
	} else if (dom[0] == '@') {
		d = dotatomlen(dom + 1) + 1;
	}
	/* d <= 1: no domain after the '@'; then the whole is at most
	 * 64 + 1 + 255 octets */
	if (dom[0] == '@' && (d <= 1 || d > DOMAIN_MAX + 1)) {
		return 0;
	}
	return dom[d] == '\0' && utf8ok((const unsigned char *)addr);
}

/* ---- DSN parameters (RFC 3461) ---- */

/*
 * xtext (RFC 3461 4) of at most max bytes: printable ASCII but '=', and
 * '+' only as "+XX" (upper-case hex).
 */
int
dsn_xtext(const char *s, size_t max)
{
	if (strlen(s) > max) {
		return 0;
	}
	for (; *s != '\0'; s++) {
		if (*s < '!' || *s > '~' || *s == '=' || (*s == '+' &&
		    strspn(s + 1, "0123456789ABCDEF") < 2)) {
			return 0;
		}
	}
	return 1;
}

/* xtext decoded, for the eyes of a DSN's reader: "+XX" stands for a byte. */
void
dsn_unxtext(const char *s, char *out, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s != '\0' && o + 1 < len; s++) {
		if (*s == '+' && strspn(s + 1, hex) >= 2) {
			out[o++] = (char)((strchr(hex, s[1]) - hex) * 16 +
			    (strchr(hex, s[2]) - hex));
			s += 2;
		} else {
			out[o++] = *s;
		}
	}
	out[o] = '\0';
	sanitize(out);
}

/* NOTIFY's words, in the order of the N_* bits */
static const char *const notifyword[] = { "NEVER", "SUCCESS", "FAILURE",
    "DELAY" };

/*
 * NOTIFY (RFC 3461 4.1): NEVER alone, or a comma list of SUCCESS,
 * FAILURE and DELAY, in any case. The N_* bits, or -1.
 */
int
dsn_notify(const char *s)
{
	size_t n;
	int bits = 0, i;

	for (;; s += n + 1) {
		n = strcspn(s, ",");
		for (i = 0; i < 4 && (strlen(notifyword[i]) != n ||
		    strncasecmp(s, notifyword[i], n) != 0); i++) {
			continue;
		}
		if (i == 4) {
			return -1;
		}
		bits |= 1 << i;		/* N_NEVER, N_SUCCESS, ... */
		if (s[n] == '\0') {
			break;
		}
	}
	return (bits & N_NEVER) && bits != N_NEVER ? -1 : bits;
}

/* The N_* bits as NOTIFY's value, "SUCCESS,DELAY" ("" for 0); 28 bytes
 * of out hold any. */
void
dsn_notifystr(int bits, char *out, size_t len)
{
	size_t n = 0, w;
	int i;

	out[0] = '\0';
	for (i = 0; i < 4; i++) {
		w = strlen(notifyword[i]);
		if ((bits & 1 << i) && n + w + 2 <= len) {
			if (n > 0) {
				out[n++] = ',';
			}
			memcpy(out + n, notifyword[i], w + 1);
			n += w;
		}
	}
}

/* RET (RFC 3461 4.3): RET_FULL or RET_HDRS, or -1. */
int
dsn_ret(const char *s)
{
	if (strcasecmp(s, "FULL") == 0) {
		return RET_FULL;
	}
	return strcasecmp(s, "HDRS") == 0 ? RET_HDRS : -1;
}
