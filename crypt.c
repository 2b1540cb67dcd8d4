/*
 * crypt.c: SHA-512 crypt ("$6$"), to check SMTP AUTH passwords against the
 * hashes in AuthUsersFile.
 *
 * Debian's musl has no crypt(), and admins make those hashes with
 * `mkpasswd -m sha-512`, so this is the SHA-512 half of Ulrich Drepper's
 * "Unix crypt using SHA-256 and SHA-512" (2007) on BearSSL's SHA-512. Its
 * output is byte for byte that of glibc's and libxcrypt's crypt(). Start
 * reading at sha512crypt(), at the bottom.
 *
 * One difference, on purpose: "rounds=" below 1000 (or above 999999999) is
 * clamped as the spec and glibc do; libxcrypt refuses such settings. mkpasswd
 * never writes them.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#if WITH_SERVER && WITH_TLS	/* only the AUTH server needs it */
#include <bearssl.h>
#endif
#include "mta.h"

#if WITH_SERVER && WITH_TLS

#define KEY_MAX		4096	/* longer keys get NULL: bounds p[] below */
#define SALT_MAX	16
#define ROUNDS_DEFAULT	5000UL
#define ROUNDS_MIN	1000UL
#define ROUNDS_MAX	999999999UL

/* "$6$rounds=999999999$" + salt + "$" + 86 characters of hash + NUL */
#define OUT_MAX		(20 + SALT_MAX + 1 + 86 + 1)

static const char b64[] =
    "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/*
 * Reads "$6$[rounds=N$]salt[$...]": returns the salt and sets *saltlen and
 * *rounds. NULL when the setting is not SHA-512 crypt or its rounds= is
 * not a number. The salt starts past setting + 3 when rounds= was given.
 */
static const char *
parse(const char *setting, size_t *saltlen, unsigned long *rounds)
{
	const char *p;
	unsigned long n;

	if (strncmp(setting, "$6$", 3) != 0) {
		return NULL;
	}
	p = setting + 3;
	*rounds = ROUNDS_DEFAULT;
	if (strncmp(p, "rounds=", 7) == 0) {
		p += 7;
		if (*p < '0' || *p > '9') {
			return NULL;
		}
		/* Saturate instead of overflowing: a huge N means the max. */
		for (n = 0; *p >= '0' && *p <= '9'; p++) {
			n = n > ROUNDS_MAX / 10 ? ROUNDS_MAX + 1 :
			    n * 10 + (unsigned long)(*p - '0');
		}
		if (*p++ != '$') {
			return NULL;
		}
		*rounds = n < ROUNDS_MIN ? ROUNDS_MIN : n > ROUNDS_MAX ?
		    ROUNDS_MAX : n;
	}
	*saltlen = strcspn(p, "$");
	if (*saltlen > SALT_MAX) {
		*saltlen = SALT_MAX;
	}
	return p;
}

/* Appends n characters for the 24 bits b2:b1:b0, low 6 bits first. */
static char *
enc24(char *o, unsigned int b2, unsigned int b1, unsigned int b0, int n)
{
	unsigned long w = (unsigned long)b2 << 16 | (unsigned long)b1 << 8 | b0;

	while (n-- > 0) {
		*o++ = b64[w & 0x3f];
		w >>= 6;
	}
	return o;
}

/*
 * The spec's byte order: group j takes bytes j, j + 21 and j + 42, the
 * first of them rotating by one each group (x y z, y z x, z x y, ...);
 * byte 63 comes last.
 */
static void
encode(char *o, const unsigned char *h)
{
	int j, k;

	for (j = 0; j < 21; j++) {
		k = j % 3;
		o = enc24(o, h[j + 21 * k], h[j + 21 * ((k + 1) % 3)],
		    h[j + 21 * ((k + 2) % 3)], 4);
	}
	o = enc24(o, 0, 0, h[63], 2);
	*o = '\0';
}

/*
 * Returns the crypt of key under setting in a static buffer, or NULL when
 * setting is not "$6$" or key is longer than KEY_MAX. The caller compares
 * the result with the stored hash (the hash itself is a valid setting).
 */
char *
sha512crypt(const char *key, const char *setting)
{
	static char out[OUT_MAX];
	br_sha512_context ctx;
	struct {	/* what is derived from the key, wiped at the end */
		unsigned char a[64], b[64], dp[64], ds[64];
		unsigned char p[KEY_MAX], s[SALT_MAX];
	} w;
	const char *salt;
	size_t keylen, saltlen, n;
	unsigned long rounds, r;
	int len;

	if (key == NULL || setting == NULL ||
	    (keylen = strnlen(key, KEY_MAX + 1)) > KEY_MAX ||
	    (salt = parse(setting, &saltlen, &rounds)) == NULL) {
		return NULL;
	}

	/* B = H(key salt key) */
	br_sha512_init(&ctx);
	br_sha512_update(&ctx, key, keylen);
	br_sha512_update(&ctx, salt, saltlen);
	br_sha512_update(&ctx, key, keylen);
	br_sha512_out(&ctx, w.b);

	/* A = H(key salt, B repeated to keylen, B or key per bit of keylen) */
	br_sha512_init(&ctx);
	br_sha512_update(&ctx, key, keylen);
	br_sha512_update(&ctx, salt, saltlen);
	for (n = keylen; n > 64; n -= 64) {
		br_sha512_update(&ctx, w.b, 64);
	}
	br_sha512_update(&ctx, w.b, n);
	for (n = keylen; n > 0; n >>= 1) {
		br_sha512_update(&ctx, n & 1 ? (const void *)w.b : key,
		    n & 1 ? 64 : keylen);
	}
	br_sha512_out(&ctx, w.a);

	/* P: H(key, keylen times) repeated to keylen bytes */
	br_sha512_init(&ctx);
	for (n = 0; n < keylen; n++) {
		br_sha512_update(&ctx, key, keylen);
	}
	br_sha512_out(&ctx, w.dp);
	for (n = 0; n < keylen; n += 64) {
		memcpy(w.p + n, w.dp, keylen - n < 64 ? keylen - n : 64);
	}

	/* S: H(salt, 16 + A[0] times) cut to saltlen bytes */
	br_sha512_init(&ctx);
	for (n = 0; n < 16 + (size_t)w.a[0]; n++) {
		br_sha512_update(&ctx, salt, saltlen);
	}
	br_sha512_out(&ctx, w.ds);
	memcpy(w.s, w.ds, saltlen);

	/* The stretching that makes guessing slow; A is the spec's C. Odd
	 * rounds: P first and A last; even rounds: A first and P last. */
	for (r = 0; r < rounds; r++) {
		br_sha512_init(&ctx);
		br_sha512_update(&ctx, r & 1 ? w.p : w.a, r & 1 ? keylen : 64);
		if (r % 3 != 0) {
			br_sha512_update(&ctx, w.s, saltlen);
		}
		if (r % 7 != 0) {
			br_sha512_update(&ctx, w.p, keylen);
		}
		br_sha512_update(&ctx, r & 1 ? w.a : w.p, r & 1 ? 64 : keylen);
		br_sha512_out(&ctx, w.a);
	}

	/* rounds= given (the salt is not right after "$6$"): repeat it */
	if (salt != setting + 3) {
		len = snprintf(out, sizeof(out), "$6$rounds=%lu$%.*s$", rounds,
		    (int)saltlen, salt);
	} else {
		len = snprintf(out, sizeof(out), "$6$%.*s$", (int)saltlen,
		    salt);
	}
	/* len is at most 20 + SALT_MAX + 1: OUT_MAX has room for the 87 */
	encode(out + len, w.a);
	/* everything derived from the key; only the final hash leaves */
	explicit_bzero(&ctx, sizeof(ctx));
	explicit_bzero(&w, sizeof(w));
	return out;
}
#endif /* WITH_SERVER && WITH_TLS */
