/*
 * mime.c: the message as it goes out in DATA, from the df to the wire
 * through the put() function client.c hands in: dot-stuffing and CRLF,
 * MasqueradeAs's From:, and the MIME 8-bit to 7-bit downgrade for a
 * server without 8BITMIME. Also the base64 encoder AUTH uses.
 *
 * It sits below client.c and calls only util.c and addr.c. Reading
 * order: mime_send and mime_7bitsize, then stuff() (the bytes), then the
 * downgrade (downgrade -> entity -> bodypiece).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config.h"
#include "mta.h"

static int (*put)(const char *p, size_t n);	/* into the DATA */

static const char b64tab[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/*
 * ---- 8BITMIME downgrade (RFC 6152 3) ----
 *
 * A server that does not offer 8BITMIME gets 7-bit data only, so 8-bit
 * content is converted on the way out, as Postfix does: the MIME
 * structure is walked line by line from the df (multipart boundaries,
 * nested multiparts, message/rfc822 parts); a part whose body holds
 * 8-bit bytes is re-encoded, quoted-printable when it is text, else
 * base64, and its Content-Transfer-Encoding replaced; the composite
 * parts around it are declared 7bit. What cannot be converted without
 * changing the message's meaning fails for good (5.6.3): 8-bit bytes in
 * a header (raw UTF-8 names and subjects; RFC 2047 would have to guess
 * a charset), in a preamble or epilogue, in a part already declared
 * quoted-printable or base64, or in a composite that may not be encoded.
 *
 * The same walk runs twice: first dry, counting the bytes (SIZE) and
 * finding any such failure before MAIL; then for real, into the DATA.
 * Nothing is buffered but one header block and one line piece.
 */

#define MAXDEPTH	16	/* nested multiparts */
#define PIECE		4096	/* longest line piece handled at once */

struct rd {			/* a line reader over the df */
	int fd, eof;
	off_t base;		/* df offset of buf[0] */
	size_t pos, len;
	char *buf;
	size_t cap;
};

enum { E_COPY, E_QP, E_B64 };

static struct conv {
	struct rd rd;
	int dry;
	long long size;		/* bytes out, LF counted as CRLF */
	size_t col;		/* stuff()'s column */
	const char *masq;
	int depth;
	char bnd[MAXDEPTH][72];
	int digest[MAXDEPTH];	/* multipart/digest: parts default rfc822 */
	int mode, nlpend;	/* the body being sent; a CRLF held back */
	unsigned char acc[3];	/* base64: bytes not yet encoded */
	int nacc;
	size_t ocol;		/* column in the encoded output */
	const char *what;	/* why it cannot be converted */
} cv;


static int downgrade(int dffd, const char *masq, int dry);
static int sendplain(int dffd, const char *masq);

/*
 * The message from the df through fn, up to the final dot (not sent):
 * as it is (masq: MasqueradeAs for From:), or converted to 7 bits
 * (conv).
 */
int
mime_send(int dffd, const char *masq, int conv,
    int (*fn)(const char *p, size_t n))
{
	put = fn;
	if ((conv ? downgrade(dffd, masq, 0) : sendplain(dffd, masq)) == -1) {
		return -1;
	}
	/* the last line ended (the dot is client.c's) */
	return cv.col > 0 ? put("\r\n", 2) : 0;
}

/*
 * What the 7-bit conversion would send (SIZE), counted without sending;
 * -1 with why filled when it cannot be done: 5.6.3 when the message
 * cannot be converted for host, 4.3.0 when the df cannot be read.
 */
int
mime_7bitsize(int dffd, const char *masq, const char *host,
    long long *size, char *why, size_t len)
{
	if (downgrade(dffd, masq, 1) == 0) {
		*size = cv.size;
		return 0;
	}
	if (cv.what != NULL) {
		snprintf(why, len, "5.6.3 %s does not offer 8BITMIME and the "
		    "message has 8-bit data %s, which cannot be converted to "
		    "7 bits", host, cv.what);
	} else {
		snprintf(why, len, "4.3.0 cannot read the message: %s",
		    strerror(errno));
	}
	return -1;
}

/* MasqueradeAs applied to one address: "@domain" keeps the local part;
 * NULL (none) keeps the address. */
void
mime_masqaddr(const char *old, const char *masq, char *out, size_t len)
{
	char local[MAXADDR + 1];
	const char *dom;

	if (masq != NULL && masq[0] == '@' &&
	    splitaddr(old, local, sizeof(local), &dom) == 0) {
		snprintf(out, len, "%s%s", local, masq);
	} else {
		snprintf(out, len, "%s", masq == NULL ? old : masq[0] == '@' ?
		    masq + 1 : masq);
	}
}

/* "From: Name <a@b>" becomes "From: Name <masq>"; -1 leaves it alone. */
static int
masqfrom(const char *f, size_t len, const char *masq, char *out,
    size_t outlen)
{
	char val[1024], old[MAXADDR + 1], neu[MAXADDR + 1], *lt, *gt;

	if (len <= 5 || len - 5 >= sizeof(val)) {
		return -1;
	}
	snprintf(val, sizeof(val), "%.*s", (int)(len - 5), f + 5);
	if (val[len - 6] == '\n') {
		val[len - 6] = '\0';
	}
	if ((lt = strrchr(val, '<')) != NULL &&
	    (gt = strchr(lt, '>')) != NULL) {
		*gt = '\0';
		mime_masqaddr(lt + 1, masq, neu, sizeof(neu));
		*lt = '\0';
		snprintf(out, outlen, "From:%s<%s>%s\n", val, neu, gt + 1);
		return 0;
	}
	if (addr_parseone(val, old, sizeof(old)) == -1) {
		return -1;
	}
	mime_masqaddr(old, masq, neu, sizeof(neu));
	snprintf(out, outlen, "From: %s\n", neu);
	return 0;
}


/*
 * Message bytes on the wire: LF becomes CRLF, a line starting with a dot
 * gets another (RFC 5321 4.5.2), a line longer than 998 octets is broken
 * (RFC 5322 2.1.1). cv.col carries the position in the line across
 * calls.
 *
 * The df's line ends are LF alone, so any CR in it is text, and would go
 * out bare, which RFC 5321 2.3.8 forbids: a receiver may take it for a
 * line end and see "\r.\r" or "x\r.\ny" end the DATA early (SMTP
 * smuggling: what follows would be read as commands). It goes out as a
 * space: no line, header field or dot line can start where the message
 * had none, and the MasqueradeAs rewrite sees the fields the next hop
 * sees. Dot-stuffing and the SIZE count are unchanged by it.
 */
static int
stuff(const char *buf, size_t n)
{
	size_t i, run;

	for (i = 0; i < n; i += run) {
		run = 1;
		if (buf[i] == '\n' || cv.col == 998) {
			if (put("\r\n", 2) == -1) {
				return -1;
			}
			cv.col = 0;
			if (buf[i] == '\n') {
				continue;
			}
		}
		if (cv.col == 0 && buf[i] == '.' && put(".", 1) == -1) {
			return -1;
		}
		/* the rest of the line at once, up to a CR or column 998 */
		while (buf[i] != '\r' && i + run < n && cv.col + run < 998 &&
		    buf[i + run] != '\n' && buf[i + run] != '\r') {
			run++;
		}
		if (put(buf[i] == '\r' ? " " : buf + i, run) == -1) {
			return -1;
		}
		cv.col += run;
	}
	return 0;
}

/* ---- what the message needs of the server ---- */

/*
 * One pass over the df: the LF count (SIZE is counted with CRLF), and
 * whether any byte has the high bit set, anywhere (*any8) and in the
 * top-level header block (*hdr8). With full == 0 only the header block
 * is read (*any8 and *lines then cover that much).
 */
void
mime_scan(int dffd, int full, long long *lines, int *any8, int *hdr8)
{
	char buf[IOBUF];
	off_t off = 0;
	ssize_t r, i;
	int inhdr = 1, nl = 1;

	*lines = 0;
	*any8 = *hdr8 = 0;
	while ((full || inhdr) &&
	    (r = pread(dffd, buf, sizeof(buf), off)) > 0) {
		for (i = 0; i < r; i++) {
			if (buf[i] == '\n') {
				(*lines)++;
				inhdr &= !nl;	/* an empty line ends them */
				nl = 1;
				continue;
			}
			nl = 0;
			if ((unsigned char)buf[i] >= 0x80) {
				*any8 = 1;
				*hdr8 |= inhdr;
			}
		}
		off += r;
	}
}


/* Has any of the n bytes at p the high bit set? */
int
mime_has8(const char *p, size_t n)
{
	while (n-- > 0) {
		if ((unsigned char)*p++ >= 0x80) {
			return 1;
		}
	}
	return 0;
}

/*
 * The next piece of a line: at most PIECE bytes, without its LF; *eol
 * tells whether the line ends there. 0 at the end of the df, -1 on a
 * read error.
 */
static int
rdpiece(struct rd *r, char **p, size_t *n, int *eol)
{
	size_t avail;
	char *nl;
	ssize_t k;

	for (;;) {
		avail = r->len - r->pos;
		*p = r->buf + r->pos;
		nl = memchr(*p, '\n', avail);
		*eol = nl != NULL && (size_t)(nl - *p) <= PIECE;
		/* a whole line, a full piece, or what the df ends with */
		if (*eol || avail >= PIECE || (r->eof && avail > 0)) {
			*n = *eol ? (size_t)(nl - *p) : avail;
			*n = *n < PIECE ? *n : PIECE;
			r->pos += *n + (size_t)*eol;
			return 1;
		}
		if (r->eof) {
			return 0;
		}
		memmove(r->buf, r->buf + r->pos, r->len - r->pos);
		r->base += (off_t)r->pos;
		r->len -= r->pos;
		r->pos = 0;
		k = pread(r->fd, r->buf + r->len, r->cap - r->len,
		    r->base + (off_t)r->len);
		if (k == -1) {
			return -1;
		}
		r->eof = k == 0;
		r->len += (size_t)k;
	}
}

/* Why it cannot be converted: every caller gives up at once, so the
 * first reason is the only one. */
static int
cvfail(const char *what)
{
	cv.what = what;
	return -1;
}

static int
out(const char *p, size_t n)
{
	size_t i;

	if (cv.dry) {
		for (i = 0; i < n; i++) {
			cv.size += 1 + (p[i] == '\n');
		}
		return 0;
	}
	return stuff(p, n);
}

/* Is this line a boundary of an enclosing multipart? Its level, or -1;
 * *close set for the closing one ("--b--"). */
static int
boundary(const char *p, size_t n, int *close)
{
	size_t bl, i;
	int k;

	if (n < 3 || p[0] != '-' || p[1] != '-') {
		return -1;
	}
	for (k = cv.depth - 1; k >= 0; k--) {
		bl = strlen(cv.bnd[k]);
		if (n < bl + 2 || memcmp(p + 2, cv.bnd[k], bl) != 0) {
			continue;
		}
		i = bl + 2;
		*close = n >= i + 2 && p[i] == '-' && p[i + 1] == '-';
		for (i += *close ? 2 : 0; i < n && (p[i] == ' ' ||
		    p[i] == '\t'); i++)
			;
		if (i == n) {
			return k;
		}
	}
	return -1;
}

/* The unfolded value of header field name in the block h, or "". */
static void
hvalue(const char *h, const char *name, char *val, size_t len)
{
	size_t nl = strlen(name), o = 0;
	const char *p;

	val[0] = '\0';
	for (p = h; *p != '\0'; p = strchr(p, '\n') + 1) {
		if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
			for (p += nl + 1; *p != '\0' && o + 1 < len; p++) {
				if (*p == '\n' && p[1] != ' ' && p[1] != '\t') {
					break;
				}
				if (*p != '\n') {
					val[o++] = *p;
				}
			}
			val[o] = '\0';
			return;
		}
		if (strchr(p, '\n') == NULL) {
			return;
		}
	}
}

/* Content-Type's type/subtype, lower case, and its boundary parameter. */
static void
ctype(const char *v, char *type, size_t tlen, char *bnd, size_t blen)
{
	const char *p = v + strspn(v, " \t"), *q;
	size_t n = strcspn(p, " \t;("), i;

	n = n < tlen ? n : tlen - 1;
	for (i = 0; i < n; i++) {
		type[i] = (char)tolower((unsigned char)p[i]);
	}
	type[n] = '\0';
	bnd[0] = '\0';
	for (q = strchr(p, ';'); q != NULL; q = strchr(q + 1, ';')) {
		p = q + 1 + strspn(q + 1, " \t");
		if (strncasecmp(p, "boundary", 8) != 0) {
			continue;
		}
		p += 8 + strspn(p + 8, " \t");
		if (*p++ != '=') {
			continue;
		}
		p += strspn(p, " \t");
		n = *p == '"' ? strcspn(++p, "\"") : strcspn(p, " \t;");
		if (n > 0 && n < blen && n <= 70) {	/* RFC 2046 5.1.1 */
			snprintf(bnd, blen, "%.*s", (int)n, p);
		}
		return;
	}
}

/* Header fields one at a time; From: masqueraded, CTE dropped (drop). */
static int
emitheaders(char *h, const char *masq, int drop)
{
	char *p, *next, field[1400];
	size_t len;

	for (p = h; *p != '\0'; p = next) {
		next = strchr(p, '\n');
		while (next != NULL && (next[1] == ' ' || next[1] == '\t')) {
			next = strchr(next + 1, '\n');
		}
		next = next != NULL ? next + 1 : p + strlen(p);
		len = (size_t)(next - p);
		if (drop && strncasecmp(p, "Content-Transfer-Encoding:",
		    26) == 0) {
			continue;
		}
		if (masq != NULL && strncasecmp(p, "From:", 5) == 0 &&
		    masqfrom(p, len, masq, field, sizeof(field)) == 0) {
			p = field;	/* next is already found */
			len = strlen(field);
		}
		if (out(p, len) == -1) {
			return -1;
		}
	}
	return 0;
}

/* Does the body from here to the next enclosing boundary have 8 bits? */
static int
body8(void)
{
	static char buf[2 * PIECE];
	struct rd r = { cv.rd.fd, 0, cv.rd.base + (off_t)cv.rd.pos, 0, 0,
	    buf, sizeof(buf) };
	char *p;
	size_t n;
	int eol, bol = 1, close, got;

	while ((got = rdpiece(&r, &p, &n, &eol)) == 1) {
		if (bol && boundary(p, n, &close) != -1) {
			return 0;
		}
		if (mime_has8(p, n)) {
			return 1;
		}
		bol = eol;
	}
	return got;
}


/* Quoted-printable (RFC 2045 6.7): lines of at most 76, soft breaks. */
static int
qp(const char *p, size_t n, int eol)
{
	char o[PIECE * 4];
	size_t k = 0, i, t;
	unsigned char ch;
	int enc;

	for (i = 0; i < n; i++) {
		ch = (unsigned char)p[i];
		/* whitespace at a line's end would be lost in transport */
		enc = ch == '=' || ch > 126 || (ch < 32 && ch != '\t') ||
		    ((ch == ' ' || ch == '\t') && eol && i == n - 1);
		t = enc ? 3 : 1;
		if (cv.ocol + t > 75) {
			o[k++] = '=';
			o[k++] = '\n';
			cv.ocol = 0;
		}
		if (enc) {
			k += (size_t)snprintf(o + k, 4, "=%02X", ch);
		} else {
			o[k++] = (char)ch;
		}
		cv.ocol += t;
	}
	if (eol) {
		o[k++] = '\n';
		cv.ocol = 0;
	}
	return out(o, k);
}

/* Base64 of the 1 to 3 bytes at p (have; more counts as 3): 4 characters
 * into o, padded. */
static void
quantum(const unsigned char *p, size_t have, char *o)
{
	unsigned v = (unsigned)p[0] << 16 | (have > 1 ? (unsigned)p[1] << 8 :
	    0) | (have > 2 ? p[2] : 0);

	o[0] = b64tab[v >> 18 & 63];
	o[1] = b64tab[v >> 12 & 63];
	o[2] = have > 1 ? b64tab[v >> 6 & 63] : '=';
	o[3] = have > 2 ? b64tab[v & 63] : '=';
}

/* Base64 (RFC 2045 6.8), lines of 76; fin pads the last quantum. */
static int
b64feed(const char *p, size_t n, int fin)
{
	char o[PIECE * 2];
	size_t k = 0, i;

	for (i = 0; i <= n; i++) {
		if (i < n) {
			cv.acc[cv.nacc++] = (unsigned char)p[i];
		}
		if (cv.nacc == 3 || (i == n && fin && cv.nacc > 0)) {
			quantum(cv.acc, (size_t)cv.nacc, o + k);
			k += 4;
			cv.nacc = 0;
			if ((cv.ocol += 4) >= 76) {
				o[k++] = '\n';
				cv.ocol = 0;
			}
		}
	}
	if (fin && cv.ocol > 0) {
		o[k++] = '\n';
		cv.ocol = 0;
	}
	return out(o, k);
}

/* A body line piece, in the current part's encoding. */
static int
bodypiece(const char *p, size_t n, int eol)
{
	switch (cv.mode) {
	case E_QP:
		return qp(p, n, eol);
	case E_B64:
		/* the LF of a line is CRLF in the canonical form, except
		 * the last one, which belongs to the boundary after it */
		if (cv.nlpend && b64feed("\r\n", 2, 0) == -1) {
			return -1;
		}
		cv.nlpend = eol;
		return b64feed(p, n, 0);
	}
	if (mime_has8(p, n)) {
		return cvfail("in a MIME preamble or epilogue");
	}
	return out(p, n) == 0 && (!eol || out("\n", 1) == 0) ? 0 : -1;
}

/* The current part ends (a boundary, or the end: atend). */
static int
endpart(int atend)
{
	int r = 0;

	if (cv.mode == E_B64) {
		/* at the end no boundary takes the CRLF held back */
		r = b64feed("\r\n", atend && cv.nlpend ? 2 : 0, 1);
	} else if (cv.mode == E_QP && cv.ocol > 0) {
		r = out("\n", 1);
	}
	cv.mode = E_COPY;
	cv.nlpend = cv.nacc = 0;
	cv.ocol = 0;
	return r;
}

/*
 * The header block of an entity has been read into h: send it as its
 * body will need it, and set up for that body. top: the message's own
 * header block (MasqueradeAs, MIME-Version). Returns 1 when another
 * header block follows (message/rfc822), 0 for a body, -1 on failure.
 */
static int
entity(char *h, int top)
{
	char v[1024], type[128], bnd[72], *enc;
	int dig = cv.depth > 0 && cv.digest[cv.depth - 1], b8, drop = 0;
	int next = 0, multi;

	if (mime_has8(h, strlen(h))) {
		return cvfail("in a header");
	}
	hvalue(h, "Content-Type", v, sizeof(v));
	ctype(v, type, sizeof(type), bnd, sizeof(bnd));
	if (type[0] == '\0') {
		snprintf(type, sizeof(type), "%s", dig ? "message/rfc822" :
		    "text/plain");
	}
	hvalue(h, "Content-Transfer-Encoding", v, sizeof(v));
	enc = v + strspn(v, " \t");
	cv.mode = E_COPY;
	multi = strncmp(type, "multipart/", 10) == 0;
	if (strcmp(type, "message/rfc822") == 0) {
		drop = next = 1;	/* its own header block follows */
	} else if (multi && bnd[0] != '\0' && cv.depth < MAXDEPTH) {
		snprintf(cv.bnd[cv.depth], sizeof(cv.bnd[0]), "%s", bnd);
		cv.digest[cv.depth++] = strcmp(type, "multipart/digest") == 0;
		drop = 1;		/* a composite is 7bit once converted */
	} else if ((b8 = body8()) == -1) {
		return -1;
	} else if (b8 && (multi || strncmp(type, "message/", 8) == 0)) {
		return cvfail("in a part that may not be encoded");
	} else if (b8 && (strncasecmp(enc, "quoted-printable", 16) == 0 ||
	    strncasecmp(enc, "base64", 6) == 0)) {
		return cvfail("in a part declared encoded");
	} else if (b8) {
		cv.mode = strncmp(type, "text/", 5) == 0 ? E_QP : E_B64;
		drop = 1;
	}
	if (emitheaders(h, top ? cv.masq : NULL, drop) == -1) {
		return -1;
	}
	if (top) {
		hvalue(h, "MIME-Version", v, sizeof(v));
		if (v[0] == '\0' && out("MIME-Version: 1.0\n", 18) == -1) {
			return -1;
		}
	}
	if (cv.mode != E_COPY && out(cv.mode == E_QP ?
	    "Content-Transfer-Encoding: quoted-printable\n" :
	    "Content-Transfer-Encoding: base64\n", cv.mode == E_QP ? 44 :
	    34) == -1) {
		return -1;
	}
	return out("\n", 1) == -1 ? -1 : next;
}

/*
 * The whole df, converted to 7 bits, through stuff() (dry: only counted
 * in cv.size). -1 with cv.what set: it cannot be converted;
 * -1 without: an I/O error.
 */
static int
downgrade(int dffd, const char *masq, int dry)
{
	static char hdr[MAXHEADER + 1], rbuf[IOBUF];
	size_t hl = 0, n;
	char *p;
	int inhdr = 1, top = 1, bol = 1, wasbol, eol, got, k, close, r;

	cv = (struct conv){ .rd = { .fd = dffd, .buf = rbuf,
	    .cap = sizeof(rbuf) }, .dry = dry, .masq = masq };
	while ((got = rdpiece(&cv.rd, &p, &n, &eol)) == 1) {
		k = bol && cv.depth > 0 ? boundary(p, n, &close) : -1;
		wasbol = bol;
		bol = eol;
		if (inhdr) {
			if (k == -1 && !(wasbol && eol && n == 0)) {
				if (hl + n + 1 > MAXHEADER) {
					return cvfail("in a header block too "
					    "large to convert");
				}
				memcpy(hdr + hl, p, n);
				hl += n;
				hdr[hl] = '\n';
				hl += eol;
				continue;
			}
			hdr[hl] = '\0';
			if ((r = entity(hdr, top)) == -1) {
				return -1;
			}
			top = hl = 0;
			inhdr = r == 1;
			if (k == -1) {
				continue;	/* the empty line: sent */
			}
		}
		if (k != -1) {
			if (endpart(0) == -1 || out(p, n) == -1 ||
			    out("\n", 1) == -1) {
				return -1;
			}
			cv.depth = close ? k : k + 1;
			inhdr = !close;
			continue;
		}
		if (bodypiece(p, n, eol) == -1) {
			return -1;
		}
	}
	hdr[hl] = '\0';
	if (got == -1 || (inhdr && entity(hdr, top) == -1)) {
		return -1;
	}
	return endpart(1);
}

/*
 * The df as it is, through stuff(). With MasqueradeAs the From: header's
 * address becomes the masquerade address ("@domain": only the domain),
 * its display name kept, when the header block can be seen whole.
 */
static int
sendplain(int dffd, const char *masq)
{
	static char hdr[MAXHEADER + 1];
	char buf[IOBUF], *end;
	off_t from = 0;
	ssize_t n;

	memset(&cv, 0, sizeof(cv));	/* stuff()'s column 0 */
	if (masq != NULL && (n = pread(dffd, hdr, MAXHEADER, 0)) > 0) {
		hdr[n] = '\0';
		if ((end = strstr(hdr, "\n\n")) != NULL) {
			end[1] = '\0';
			if (emitheaders(hdr, masq, 0) == -1) {
				return -1;
			}
			from = (off_t)(end + 1 - hdr);
		}
	}
	while ((n = pread(dffd, buf, sizeof(buf), from)) > 0) {
		if (stuff(buf, (size_t)n) == -1) {
			return -1;
		}
		from += n;
	}
	return n == -1 ? -1 : 0;
}

void
mime_b64(const unsigned char *p, size_t n, char *out, size_t outlen)
{
	size_t i, o = 0;

	for (i = 0; i < n && o + 5 < outlen; i += 3, o += 4) {
		quantum(p + i, n - i, out + o);
	}
	out[o] = '\0';
}
