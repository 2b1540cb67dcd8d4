/*
 * unit_crypt.c: tests for crypt.c (SHA-512 crypt), which it includes whole.
 *
 * Build (glibc; -lcrypt for the comparison with libcrypt's crypt()):
 *     cc -std=c99 -D_DEFAULT_SOURCE -D_XOPEN_SOURCE=700 -I. \
 *         -o test/unit_crypt test/unit_crypt.c -lcrypt -lbearssl
 * Build (musl, no libcrypt comparison):
 *     musl-gcc -static -std=c99 -D_DEFAULT_SOURCE -D_XOPEN_SOURCE=700 -I. \
 *         -Ibearssl-src/bearssl/inc -o test/unit_crypt test/unit_crypt.c \
 *         bearssl-src/bearssl/build/libbearssl.a
 * tools/runtests adds the -lcrypt of the link line below (only glibc
 * builds go through it). Run with a number argument to repeat a random
 * run: ./test/unit_crypt SEED.
 *
 * Prints "ok - name" or "FAIL - name: ..." per case and exits 1 on any
 * failure.
 */
/* link: -lcrypt */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#ifdef __GLIBC__
#include <crypt.h>
#endif

#include "../crypt.c"

static int failed;

static void
check(const char *name, const char *got, const char *want)
{
	if (got == NULL && want == NULL) {
		printf("ok - %s\n", name);
	} else if (got == NULL || want == NULL || strcmp(got, want) != 0) {
		printf("FAIL - %s: got %s, want %s\n", name,
		    got == NULL ? "NULL" : got, want == NULL ? "NULL" : want);
		failed = 1;
	} else {
		printf("ok - %s\n", name);
	}
}

/* The SHA-512 vectors of Drepper's "Unix crypt using SHA-256 and SHA-512". */
static const struct {
	const char *setting, *key, *want;
} spec[] = {
	{ "$6$saltstring", "Hello world!",
	    "$6$saltstring$"
	    "svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3u"
	    "BnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1" },
	{ "$6$rounds=10000$saltstringsaltstring", "Hello world!",
	    "$6$rounds=10000$saltstringsaltst$"
	    "OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSn"
	    "CM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v." },
	{ "$6$rounds=5000$toolongsaltstring", "This is just a test",
	    "$6$rounds=5000$toolongsaltstrin$"
	    "lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhw"
	    "llF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0" },
	{ "$6$rounds=1400$anotherlongsaltstring",
	    "a very much longer text to encrypt.  This one even stretches over "
	    "morethan one line.",
	    "$6$rounds=1400$anotherlongsalts$"
	    "POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7"
	    "I6IoYN3CmLs66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1" },
	{ "$6$rounds=77777$short",
	    "we have a short salt string but not a short password",
	    "$6$rounds=77777$short$"
	    "WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr"
	    "0gge1a1x3yRULJ5CCaUeOxFmtlcGZelFl5CxtgfiAc0" },
	{ "$6$rounds=123456$asaltof16chars..", "a short string",
	    "$6$rounds=123456$asaltof16chars..$"
	    "BtCwjqMJGx5hrJhZywWvt0RLE8uZ4oPwcelCjmw2kSY"
	    "u.Ec6ycULevoBK25fs2xXgMNrCzIMVcgEJAstJeonj1" },
	{ "$6$rounds=10$roundstoolow", "the minimum number is still observed",
	    "$6$rounds=1000$roundstoolow$"
	    "kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsP"
	    "uWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX." },
};

/* Settings that are not SHA-512 crypt, or whose rounds= is broken. */
static const char *const bad[] = {
	"", "$", "$6", "6$abc", "$5$saltstring", "$1$saltstri$", "$2b$05$x",
	"xx", "$6$rounds=$x", "$6$rounds=5000", "$6$rounds=5000x$x",
	"$6$rounds=-5$x", "$6$rounds=+5000$x", "$6$rounds= 5000$x",
	"$6$rounds=0x10$x",
};

static void
spec_vectors(void)
{
	char name[80];
	size_t i;

	for (i = 0; i < sizeof(spec) / sizeof(spec[0]); i++) {
		snprintf(name, sizeof(name), "spec %s", spec[i].setting);
		check(name, sha512crypt(spec[i].key, spec[i].setting),
		    spec[i].want);
		/* The caller passes the stored hash as the setting. */
		snprintf(name, sizeof(name), "spec %s, hash as setting",
		    spec[i].setting);
		check(name, sha512crypt(spec[i].key, spec[i].want),
		    spec[i].want);
	}
}

static void
edges(void)
{
	static char big[KEY_MAX + 2];
	char name[80], *h;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(name, sizeof(name), "malformed \"%s\"", bad[i]);
		check(name, sha512crypt("secret", bad[i]), NULL);
	}
	check("NULL setting", sha512crypt("secret", NULL), NULL);
	check("NULL key", sha512crypt(NULL, "$6$abc"), NULL);
	h = sha512crypt("Hello world?", spec[0].want);
	check("wrong password differs", h != NULL &&
	    strcmp(h, spec[0].want) != 0 ? "differs" : h, "differs");
	/* libxcrypt agrees (part b never draws it: too rare). */
	check("empty salt", sha512crypt("x", "$6$"),
	    "$6$$KvRrc0bxRLyTUhO8OJOmRczh7oCol5BACiR8rmdfVzvuGgm8JmLDumsL/ah.jF"
	    "tT.DswxoP9Nv3ByfU4j5hm/0");

	memset(big, 'k', KEY_MAX);
	h = sha512crypt(big, "$6$rounds=1000$bigkey");
	check("key of KEY_MAX bytes", h != NULL && strlen(h) ==
	    strlen("$6$rounds=1000$bigkey$") + 86 ? "86 chars" : h,
	    "86 chars");
	big[KEY_MAX] = 'k';
	check("key over KEY_MAX bytes", sha512crypt(big, "$6$abc"), NULL);
}

/* mkpasswd -m sha-512 (whois), output captured once and live when found. */
static void
mkpasswd_cmp(void)
{
	static const struct {
		const char *cmd, *key, *setting, *want;
	} mk[] = {
		{ "mkpasswd -m sha-512 -S saltsalt secret 2>/dev/null",
		    "secret", "$6$saltsalt",
		    "$6$saltsalt$"
		    "TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0"
		    "U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1" },
		{ "mkpasswd -m sha-512 -R 7777 -S saltsalt secret 2>/dev/null",
		    "secret", "$6$rounds=7777$saltsalt",
		    "$6$rounds=7777$saltsalt$"
		    "MizFEJRw.MhOSYBUAYQQyWccf4YMGV7KWOBjR2pZWd4"
		    "gKWd0QluGSwuvXiJ9cZCQ1qJf6O3srKAPtCKDFr5nj0" },
	};
	char name[100], line[256];
	FILE *f;
	size_t i;

	for (i = 0; i < sizeof(mk) / sizeof(mk[0]); i++) {
		snprintf(name, sizeof(name), "%.60s (recorded)", mk[i].cmd);
		check(name, sha512crypt(mk[i].key, mk[i].setting), mk[i].want);
		snprintf(name, sizeof(name), "%.60s (live)", mk[i].cmd);
		f = popen(mk[i].cmd, "r");
		if (f == NULL || fgets(line, sizeof(line), f) == NULL) {
			printf("ok - %s # skip: no mkpasswd\n", name);
		} else {
			line[strcspn(line, "\n")] = '\0';
			check(name, sha512crypt(mk[i].key, line), line);
		}
		if (f != NULL) {
			pclose(f);
		}
	}
}

#ifdef __GLIBC__
static unsigned long rng;

static unsigned long
rnd(unsigned long n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (unsigned long)((rng >> 11) % n);
}

/*
 * 200 random keys (any non-NUL bytes, lengths around the 64-byte block
 * edges), salts (0 to 20 characters, some followed by "$junk") and rounds,
 * against libcrypt's crypt(). libxcrypt refuses keys over 511 bytes and
 * rounds under 1000, so the draws stay inside those.
 */
static void
libcrypt(unsigned long seed)
{
	static const size_t lens[] = { 0, 1, 63, 64, 65, 127, 128, 129, 511 };
	char key[513], setting[80], salt[21], name[160], want[OUT_MAX];
	char *got, *ref;
	size_t klen, slen, i, j;
	int mismatch = 0;

	rng = seed != 0 ? seed : 1;
	for (i = 0; i < 200; i++) {
		klen = rnd(3) == 0 ? lens[rnd(9)] : rnd(300);
		for (j = 0; j < klen; j++) {
			key[j] = (char)(1 + rnd(255));
		}
		key[klen] = '\0';
		slen = rnd(21);
		for (j = 0; j < slen; j++) {
			salt[j] = b64[rnd(64)];
		}
		salt[slen] = '\0';
		switch (rnd(4)) {
		case 0:
			snprintf(setting, sizeof(setting), "$6$%s", salt);
			break;
		case 1:
			snprintf(setting, sizeof(setting), "$6$%s$junk", salt);
			break;
		default:
			snprintf(setting, sizeof(setting), "$6$rounds=%lu$%s",
			    rnd(4) == 0 ? 5000 : 1000 + rnd(2000), salt);
			break;
		}
		ref = crypt(key, setting);
		if (ref == NULL || ref[0] == '*') {
			printf("FAIL - libcrypt: crypt() refused %s (key %zu"
			    " bytes), seed %lu\n", setting, klen, seed);
			mismatch = failed = 1;
			continue;
		}
		snprintf(want, sizeof(want), "%s", ref);
		got = sha512crypt(key, setting);
		if (got == NULL || strcmp(got, want) != 0) {
			snprintf(name, sizeof(name), "libcrypt %s, key %zu "
			    "bytes, seed %lu", setting, klen, seed);
			check(name, got, want);
			mismatch = 1;
		}
	}
	if (!mismatch) {
		printf("ok - 200 random keys, salts, rounds agree with "
		    "libcrypt (seed %lu)\n", seed);
	}
}
#endif

int
main(int argc, char *argv[])
{
	unsigned long seed;

	seed = argc > 1 ? strtoul(argv[1], NULL, 10) :
	    (unsigned long)time(NULL) ^ (unsigned long)getpid();
	spec_vectors();
	edges();
	mkpasswd_cmp();
#ifdef __GLIBC__
	libcrypt(seed);
#else
	(void)seed;
	printf("ok - libcrypt comparison # skip: not glibc\n");
#endif
	return failed ? 1 : 0;
}
