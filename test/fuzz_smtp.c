/*
 * fuzz_smtp.c: libFuzzer target for the SMTP server: the command parser,
 * the verb table, AUTH, the DATA reader and the session state machine of
 * smtp.c, fed from a buffer instead of a socket.
 *
 * It #includes ../mta.c (main renamed) and ../smtp.c to reach their
 * static functions, and links the rest of the program (the link line
 * below, read by tools/fuzz: a new module mta.c calls into goes there). Each input is one session: the bytes go
 * into the slot's input buffer in chunks, input() runs as smtp_run()
 * would run it, the replies are checked and thrown away, commitall()
 * commits a finished message, and the session ends as if the client
 * closed. Nothing is read from or written to a socket: the session's
 * descriptors are /dev/null, the spool and the log live in a private
 * temporary directory (on /dev/shm when there is one, so that the
 * commit's fsync costs nothing).
 *
 * Byte 0 of an input picks the circumstances (MODE_* below); the rest is
 * what the client sends. After STARTTLS the rest is taken as the
 * decrypted stream, so AUTH and the TLS paths are reached too.
 *
 * Besides sanitizer reports it aborts when the server breaks a rule the
 * tests cannot see from outside:
 *  - a reply line is not "ddd[ -]text" CRLF within 512 octets, holds a
 *    control byte (a CR echoed from the client splits the reply), or a
 *    2xx/4xx/5xx reply lacks its enhanced status code (RFC 2034; the 220
 *    greeting and the HELO/EHLO replies excepted);
 *  - the session is closed without a 221 or 421 reply;
 *  - sent one line at a time (mode 0), a command line does not get
 *    exactly one reply;
 *  - input() stops with a full input buffer and nothing to wait for;
 *  - a "250 ... queued as ID" has no qf that spool_parse accepts, or
 *    its df does not have the size the qf says;
 *  - once the session is gone, a file is left in the spool that is not a
 *    committed message (a partial df or tf);
 *  - a descriptor leaked.
 *
 * Build and run: make fuzz (every target), or by hand
 *	clang -std=c99 -D_DEFAULT_SOURCE -D_XOPEN_SOURCE=700 -g -O1 \
 *	    -fsanitize=fuzzer,address,undefined -I. -o fuzz_smtp \
 *	    test/fuzz_smtp.c util.c spool.c addr.c local.c tls.c crypt.c deliver.c \
 *	    client.c mime.c wire.c remote.c bounce.c dns.c -lbearssl
 *	./fuzz_smtp -max_total_time=60 corpus/ test/fuzz_smtp.seeds/
 * To read a reproducer: FUZZ_SMTP_TRACE=1 ./fuzz_smtp crash-file prints
 * the server's replies on stderr.
 */
/* link: util.c spool.c addr.c aliases.c local.c tls.c crypt.c */
/* link: deliver.c client.c mime.c wire.c remote.c bounce.c dns.c submit.c */
/* link: syncer.c mailq.c */
#include <sys/stat.h>
#include <dirent.h>
#include <stdint.h>

#include <bearssl.h>	/* before mta.h, for its TLS prototypes */

#define main mta_main
#include "../mta.c"
#undef main
#include "../smtp.c"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
	MODE_CHUNK = 7,		/* bytes handed over per read: chunks[] */
	MODE_TRUSTED = 8,	/* the peer is in RelayFrom */
	MODE_STDIO = 16,	/* -bs: separate output, no STARTTLS */
	MODE_SMALL = 32,	/* MaxMessageSize 600, 3 recipients */
	MODE_FULL = 64,		/* MinFreeSpace cannot be met */
	MODE_NOAUTH = 128	/* AuthUsersFile not set */
};
/* 0: one line per read, as a client that waits for each reply sends */
static const size_t chunks[8] = { 0, 1, 2, 7, 64, 511, 1000, INSIZE };

/* A throwaway EC key and self-signed certificate for fuzz.example. */
static const char certpem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBhDCCASugAwIBAgIUQ+we5CJslAKSdRYokSjtfN4H3vIwCgYIKoZIzj0EAwIw\n"
    "FzEVMBMGA1UEAwwMZnV6ei5leGFtcGxlMCAXDTI2MTEyNTE3MDAyMloYDzIxMjYx\n"
    "MTAxMTcwMDIyWjAXMRUwEwYDVQQDDAxmdXp6LmV4YW1wbGUwWTATBgcqhkjOPQIB\n"
    "BggqhkjOPQMBBwNCAARUKWNaEnQQdrh/SPbVVcEZg/zyuLkLP4uGGUm6LTY9pYiu\n"
    "B1guZGkimVIAD+APf1OKB2tRNClrSCAjMl+fJb2yo1MwUTAdBgNVHQ4EFgQUs+i+\n"
    "9AnBRwLUK4NlA9jQTdS3JN8wHwYDVR0jBBgwFoAUs+i+9AnBRwLUK4NlA9jQTdS3\n"
    "JN8wDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNHADBEAiB7ms0HI/LFzCAB\n"
    "tKsofymSc2nA1VSPnV4C/RymqhP3lQIgavzqaTvtBJkCuEg3zdKjvnfe8JKNzkt1\n"
    "63YhG4uvbhM=\n"
    "-----END CERTIFICATE-----\n";
static const char keypem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgEodQvqGnY3KhD3Qx\n"
    "HUjmKxz8154wMBD30GmiCZml2CahRANCAARUKWNaEnQQdrh/SPbVVcEZg/zyuLkL\n"
    "P4uGGUm6LTY9pYiuB1guZGkimVIAD+APf1OKB2tRNClrSCAjMl+fJb2y\n"
    "-----END PRIVATE KEY-----\n";
/* user "fuzz", password "secret"; 1000 rounds keeps AUTH cheap */
static const char authpem[] =
    "fuzz:$6$rounds=1000$fuzzsalt$VaozQpX6.rHlYgQ8XkQuQwnkNdGdaeCOvmZC4q"
    "xWknLh/eg/UKI7XrlNFcouj7rjYRe.I0VJYPdKlgC8OexQQ0\n";
static const char aliastext[] =
    "# aliases for the fuzz target\n"
    "postmaster: root\n"
    "alice: root\n"
    "team: alice, root,\n"
    "  bob@remote.example\n"
    "list: :include:%s/list\n"
    "prog: \"|exit 75\"\n"
    "file: /dev/null\n"
    "loop1: loop2\n"
    "loop2: loop1\n";

static char dir[128], spooldir[192], authfile[192];
static int basefd;		/* the lowest free descriptor before a run */
static int tracing;		/* FUZZ_SMTP_TRACE=1: replies to stderr */

#define MAXIDS	64
static char ids[MAXIDS][QIDLEN];	/* committed in this session */
static int nids;

/* The rule broken and the bytes that show it, control bytes escaped. */
static void
fail(const char *what, const char *detail, size_t len)
{
	size_t i;

	fprintf(stderr, "fuzz_smtp: %s: [", what);
	for (i = 0; i < len && i < 600; i++) {
		if ((unsigned char)detail[i] < ' ' ||
		    (unsigned char)detail[i] >= 0x7f || detail[i] == '\\') {
			fprintf(stderr, "\\x%02x", (unsigned char)detail[i]);
		} else {
			fputc(detail[i], stderr);
		}
	}
	fprintf(stderr, "]\n");
	abort();
}

static void
putfile(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "w")) == NULL || fputs(text, f) == EOF ||
	    fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

/* rm -r of the private directory (one level of subdirectory: spool/) */
static void
rmtree(const char *path)
{
	char sub[512];
	struct dirent *e;
	DIR *d;

	if ((d = opendir(path)) == NULL) {
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
			continue;
		}
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		if (unlink(sub) == -1) {
			rmtree(sub);
		}
	}
	closedir(d);
	rmdir(path);
}

static void
cleanup(void)
{
	rmtree(dir);
}

/*
 * A crash (abort) or libFuzzer's own _Exit skips atexit: remove the
 * directories of earlier runs whose process is gone.
 */
static void
sweep(const char *tmp)
{
	char path[512], *end;
	struct dirent *e;
	long pid;
	DIR *d;

	if ((d = opendir(tmp)) == NULL) {
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, "mta-fuzz.", 9) != 0) {
			continue;
		}
		pid = strtol(e->d_name + 9, &end, 10);
		if (end == e->d_name + 9 || *end != '.' || pid <= 0 ||
		    (kill((pid_t)pid, 0) == -1 && errno == ESRCH)) {
			snprintf(path, sizeof(path), "%s/%s", tmp, e->d_name);
			rmtree(path);
		}
	}
	closedir(d);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[512], aliases[1024];
	const char *tmp;

	(void)argc;
	(void)argv;
	tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" :
	    getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp";
	sweep(tmp);
	snprintf(dir, sizeof(dir), "%s/mta-fuzz.%ld.XXXXXX", tmp,
	    (long)getpid());
	if (mkdtemp(dir) == NULL) {
		perror(dir);
		exit(1);
	}
	atexit(cleanup);
	snprintf(spooldir, sizeof(spooldir), "%s/spool", dir);
	snprintf(authfile, sizeof(authfile), "%s/authusers", dir);
	snprintf(aliases, sizeof(aliases), aliastext, dir);
	putfile("aliases", aliases);
	putfile("list", "root\nnosuchuser42\n");
	putfile("cert.pem", certpem);
	putfile("key.pem", keypem);
	putfile("authusers", authpem);

	set.queuedir = xstrdup(spooldir);
	/* a long (but ordinary) host name: replies that assume a short
	 * one must not overflow or underflow */
	set.hostname = "mx-appliance-0123456789.branch-office.example.org";
	set.localdomains = "fuzz.example,example.org";
	set.mailspool = xstrdup(dir);
	snprintf(err, sizeof(err), "%s/aliases", dir);
	set.aliasfile = xstrdup(err);
	set.logfile = "/dev/null";
	set.runasuser = "root";
	finishsettings();
	openlogfile();
	/* daemon_queued() tells the runner through this pipe: a sink */
	smtp_onqueued = daemon_queued;
	if ((runnerfd = open("/dev/null", O_WRONLY | O_CLOEXEC)) == -1 ||
	    spool_open() == -1) {
		perror("fuzz_smtp: init");
		exit(1);
	}
	snprintf(err, sizeof(err), "%s/cert.pem", dir);
	set.servercert = xstrdup(err);
	snprintf(err, sizeof(err), "%s/key.pem", dir);
	set.serverkey = xstrdup(err);
	if (tls_loadserver(set.servercert, set.serverkey, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "fuzz_smtp: %s\n", err);
		exit(1);
	}
	if (smtp_setrelay(set.relayfrom, err, sizeof(err)) == -1 ||
	    smtp_init() == -1) {
		fprintf(stderr, "fuzz_smtp: smtp_init failed\n");
		exit(1);
	}
	tracing = getenv("FUZZ_SMTP_TRACE") != NULL;
	return 0;
}

/* The replies about to be thrown away, for reading a reproducer. */
static void
trace(const struct conn *c)
{
	if (tracing && c->w.outlen > 0) {
		fprintf(stderr, "%.*s", (int)c->w.outlen, c->out);
	}
}

static int
isdig(int ch)
{
	return ch >= '0' && ch <= '9';
}

/* "2.1.0 " and the like, with the class of the reply code */
static int
enhanced(const char *t, size_t len, int class)
{
	size_t i = 0, n;
	int part;

	if (len < 6 || t[0] != class || t[1] != '.') {
		return 0;
	}
	i = 2;
	for (part = 0; part < 2; part++) {
		for (n = 0; i < len && isdig(t[i]); i++) {
			n++;
		}
		if (n == 0 || n > 3 || i == len ||
		    t[i] != (part == 0 ? '.' : ' ')) {
			return 0;
		}
		i++;
	}
	return 1;
}

/*
 * Every reply in c->out: well formed, in the right multi-line shape,
 * with an enhanced status code. Returns the code of the last line.
 */
static int nreplies;	/* final reply lines seen by checkreplies() */

static int
checkreplies(const struct conn *c)
{
	const char *p = c->out, *end = c->out + c->w.outlen, *eol, *t;
	size_t hl = strlen(set.hostname), len;
	int code = 0, prev = 0, cont = 0, exempt = 0;

	nreplies = 0;

	while (p < end) {
		if ((eol = memchr(p, '\n', (size_t)(end - p))) == NULL) {
			fail("reply without LF", p, (size_t)(end - p));
		}
		len = (size_t)(eol - p) + 1;
		if (len < 6 || len > 512 || eol[-1] != '\r') {
			fail("malformed reply line", p, len);
		}
		/* RFC 5321 4.2: textstring is HT and printable US-ASCII
		 * (UTF-8 is let through: SMTPUTF8 addresses are echoed);
		 * a bare CR echoed from the client splits the reply */
		for (t = p; t < eol - 1; t++) {
			if (*t != '\t' && ((unsigned char)*t < ' ' ||
			    *t == 0x7f)) {
				fail("control byte in a reply", p, len);
			}
		}
		if (!isdig(p[0]) || !isdig(p[1]) || !isdig(p[2]) ||
		    p[0] < '2' || p[0] > '5' || (p[3] != ' ' && p[3] != '-')) {
			fail("bad reply code", p, len);
		}
		code = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
		if (cont && code != prev) {
			fail("code changes inside a multi-line reply", p, len);
		}
		t = p + 4;
		if (!cont) {
			/* the greeting and the HELO/EHLO reply start with
			 * the host name instead; EHLO's keywords follow */
			exempt = p[0] == '3' || ((code == 220 ||
			    code == 250) && strncmp(t, set.hostname, hl) == 0);
		}
		if (!exempt && !enhanced(t, len - 6, p[0])) {
			fail("reply without an enhanced status code", p, len);
		}
		cont = p[3] == '-';
		nreplies += !cont;
		prev = code;
		p = eol + 1;
	}
	if (cont) {
		fail("multi-line reply not finished", c->out, c->w.outlen);
	}
	return code;
}

static void
readfile(const char *name, char **buf, size_t *len)
{
	char path[256];
	struct stat st;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", spooldir, name);
	if ((fd = open(path, O_RDONLY)) == -1 || fstat(fd, &st) == -1) {
		fail("acknowledged message without its file", name,
		    strlen(name));
	}
	*buf = xmalloc((size_t)st.st_size + 1);
	if ((n = read(fd, *buf, (size_t)st.st_size)) != st.st_size) {
		fail("cannot read", name, strlen(name));
	}
	(*buf)[n] = '\0';
	*len = (size_t)n;
	close(fd);
}

/* A message that got its 250: its qf reads back, its df has the size. */
static void
checkqueued(const struct conn *c)
{
	static const char tag[] = "250 2.0.0 Ok: queued as ";
	char name[QIDLEN + 2], *buf, *df;
	const char *p;
	size_t len, dlen, n;
	struct msg m;

	if (c->w.outlen < sizeof(tag) ||
	    strncmp(c->out, tag, sizeof(tag) - 1) != 0) {
		return;
	}
	p = c->out + sizeof(tag) - 1;
	n = strcspn(p, "\r");
	if (n == 0 || n >= QIDLEN) {
		fail("bad queue id", c->out, c->w.outlen);
	}
	snprintf(name, sizeof(name), "qf%.*s", (int)n, p);
	readfile(name, &buf, &len);
	msg_init(&m);
	if (spool_parse(buf, len, &m) == -1) {
		fail("the server wrote a qf its own reader refuses", buf, len);
	}
	if (m.nrcpt == 0) {
		fail("queued without recipients", buf, len);
	}
	name[0] = 'd';
	readfile(name, &df, &dlen);
	if ((off_t)dlen != m.size) {
		fail("df size differs from the qf's Z line", buf, len);
	}
	if (strncmp(df, "Received: ", 10) != 0) {
		fail("df does not start with Received:", df, dlen);
	}
	free(df);
	free(buf);
	msg_free(&m);
	if (nids < MAXIDS) {
		memcpy(ids[nids++], name + 2, n + 1);
	}
}

/* After the session: only committed messages may be in the spool. */
static void
checkspool(void)
{
	char path[512];
	struct dirent *e;
	DIR *d;
	int i, ok;

	if ((d = opendir(spooldir)) == NULL) {
		fail("spool gone", spooldir, strlen(spooldir));
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.') {
			continue;
		}
		ok = nids == MAXIDS;	/* too many to tell */
		if ((e->d_name[0] == 'q' || e->d_name[0] == 'd') &&
		    e->d_name[1] == 'f') {
			for (i = 0; i < nids && !ok; i++) {
				ok = strcmp(e->d_name + 2, ids[i]) == 0;
			}
		}
		if (!ok) {
			fail("file left in the spool after the session",
			    e->d_name, strlen(e->d_name));
		}
		snprintf(path, sizeof(path), "%s/%s", spooldir, e->d_name);
		unlink(path);
	}
	closedir(d);
}

/* config.h's values of the two limits MODE_SMALL lowers */
static const struct settings defaults = { SETTINGS(S_DEFAULT) };

static void
setmode(int mode)
{
	set.maxsize = (mode & MODE_SMALL) ? 600 : defaults.maxsize;
	set.maxrcpt = (mode & MODE_SMALL) ? 3 : defaults.maxrcpt;
	set.minfree = (mode & MODE_FULL) ? (1LL << 62) : 0;
	set.authusers = (mode & MODE_NOAUTH) ? "" : authfile;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conn *c;
	const uint8_t *nl;
	size_t off = 0, n, chunk, before, rounds = 0;
	int mode, fd, wfd, progress = 1, oneline, code;

	if (size == 0) {
		return 0;
	}
	/* libFuzzer may hold descriptors between runs, not during one */
	basefd = open("/dev/null", O_RDONLY);
	close(basefd);
	mode = data[0];
	data++;
	size--;
	chunk = chunks[mode & MODE_CHUNK];
	setmode(mode);
	nids = 0;

	if ((c = vacant()) == NULL) {
		fail("no vacant slot", "", 0);
	}
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	wfd = (mode & MODE_STDIO) ? open("/dev/null", O_WRONLY | O_CLOEXEC) :
	    fd;
	snprintf(c->addr, sizeof(c->addr), "192.0.2.1");
	greet(c, fd, wfd);
	if (mode & (MODE_TRUSTED | MODE_STDIO)) {
		c->flags |= F_RELAY;
	}
	trace(c);
	if (checkreplies(c) != 220) {
		fail("no 220 greeting", c->out, c->w.outlen);
	}

	while (off < size || progress) {
		if (++rounds > 4 * size + 1000) {
			fail("session does not end", "", 0);
		}
		progress = 0;
		/* what step() and smtp_run() do between two input() calls */
		if (c->phase == P_COMMIT) {
			c->w.outlen = c->w.outoff = 0;
			commitall();
			if (c->phase == P_COMMIT) {
				fail("commitall left the message", "", 0);
			}
			trace(c);
			checkreplies(c);
			checkqueued(c);
			progress = 1;
		}
		if (c->life == L_STARTTLS) {
			/* the engine is set up for real; from here on the
			 * input stands for what it decrypts */
			starttls(c);
			progress = 1;
		}
		if (c->life == L_CLOSING || c->life == L_TLSCLOSING) {
			break;
		}
		c->pause = 0;	/* the AUTH delay: time passes */
		c->w.outlen = c->w.outoff = 0;
		n = size - off;
		if (chunk == 0) {
			nl = memchr(data + off, '\n', n);
			n = nl != NULL ? (size_t)(nl - (data + off)) + 1 : n;
		} else {
			n = n < chunk ? n : chunk;
		}
		n = n < INSIZE - c->w.inlen ? n : INSIZE - c->w.inlen;
		memcpy(c->in + c->w.inlen, data + off, n);
		c->w.inlen += n;
		off += n;
		before = c->w.inlen;
		/* one whole command line, not part of a message or of a
		 * line too long: it must get exactly one reply */
		oneline = chunk == 0 && c->phase != P_DATA &&
		    c->skip == 0 && c->w.inlen == n && n > 0 &&
		    n <= MAXCMD && c->in[n - 1] == '\n';
		input(c);
		trace(c);
		code = c->w.outlen > 0 ? checkreplies(c) : 0;
		if (c->w.outlen == 0) {
			nreplies = 0;
		}
		if ((c->life == L_CLOSING || c->life == L_TLSCLOSING) &&
		    code != 221 && code != 421) {
			fail("closed without 221 or 421", c->out, c->w.outlen);
		}
		/* (a 10th error gets its reply and the 421) */
		if (oneline && c->w.inlen == 0 && nreplies != 1 &&
		    !(nreplies == 2 && code == 421)) {
			fail("a command did not get exactly one reply",
			    c->out, c->w.outlen);
		}
		progress = c->w.inlen != before || c->w.outlen > 0 ||
		    c->phase == P_COMMIT || c->life == L_STARTTLS;
		c->w.outlen = c->w.outoff = 0;	/* sent */
		if (c->w.inlen == INSIZE && c->phase != P_COMMIT && isopen(c)) {
			fail("input() stalls on a full buffer", c->in, 64);
		}
	}
	/* the client goes away: what step() does on EOF or after QUIT */
	conn_reset(c, 0);
	if (c->w.fd != -1 || c->dffd != -1) {
		fail("slot not vacant after conn_reset", "", 0);
	}
	checkspool();
	fd = open("/dev/null", O_RDONLY);
	close(fd);
	if (fd != basefd) {
		char link[64], target[256];
		ssize_t tl;

		snprintf(link, sizeof(link), "/proc/self/fd/%d", basefd);
		tl = readlink(link, target, sizeof(target));
		fail("descriptor leaked", target, tl > 0 ? (size_t)tl : 0);
	}
	return 0;
}
