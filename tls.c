/*
 * tls.c: the BearSSL glue that is not about moving bytes: reading PEM
 * certificates and keys once at start-up, setting up a server context
 * for a session, and naming what was negotiated. wire.c moves the
 * bytes of both engines without blocking, the server's (smtp.c) and the
 * client's (client.c).
 *
 * BearSSL never allocates: the decoded chain and key live in static
 * storage here for the life of the process, and each session brings its
 * own context and record buffer.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#if WITH_TLS		/* the whole file: see config.h */
#include <bearssl.h>
#endif
#include "mta.h"

#if WITH_TLS

/* A growing byte buffer for one PEM object or DN: a certificate or key
 * of a few KB comes in chunks of up to 255 bytes, a realloc for each. */
struct der {
	unsigned char *p;
	size_t len;
};

static void
derappend(void *ctx, const void *data, size_t len)
{
	struct der *d = ctx;

	d->p = xrealloc(d->p, d->len + len);
	memcpy(d->p + d->len, data, len);
	d->len += len;
}

/*
 * Decode every PEM object of a file; fn gets each object's name and DER
 * bytes. Returns the number of objects, or -1 (err says why).
 */
static int
pemeach(const char *path, void (*fn)(const char *, struct der *, void *),
    void *arg, char *err, size_t errlen)
{
	br_pem_decoder_context pc;
	struct der d = { NULL, 0 };
	char *buf;
	size_t len, off = 0;
	int n = 0, fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    (buf = readall(fd, SIZE_MAX, &len)) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		if (fd != -1) {
			close(fd);
		}
		return -1;
	}
	close(fd);
	br_pem_decoder_init(&pc);
	while (off < len) {
		off += br_pem_decoder_push(&pc, buf + off, len - off);
		switch (br_pem_decoder_event(&pc)) {
		case BR_PEM_BEGIN_OBJ:
			d.len = 0;
			br_pem_decoder_setdest(&pc, derappend, &d);
			break;
		case BR_PEM_END_OBJ:	/* only ever after a BEGIN_OBJ */
			/* the name is the BEGIN line's until the next one */
			fn(br_pem_decoder_name(&pc), &d, arg);
			n++;
			break;
		case BR_PEM_ERROR:
			snprintf(err, errlen, "%s: not a valid PEM file", path);
			n = -1;
			off = len;
			break;
		}
	}
	free(buf);
	free(d.p);
	if (n == 0) {
		snprintf(err, errlen, "%s: no PEM object found", path);
		return -1;
	}
	return n;
}

/*
 * The public-key code, chosen by hand: BearSSL's "default" getters pick
 * by CPU and link more (i62 RSA beside i31, the big dedicated P-256 and
 * Curve25519 code). Here RSA is i31 only, and elliptic curves are the
 * generic i31 code for P-256, P-384 and P-521 plus the i31 Curve25519:
 * every curve still, a little slower, about 15 KB less.
 */
static const br_ec_impl *
ecfor(int curve)
{
	return curve == BR_EC_curve25519 ? &br_ec_c25519_i31 :
	    &br_ec_prime_i31;
}

static const unsigned char *
ecgenerator(int curve, size_t *len)
{
	return ecfor(curve)->generator(curve, len);
}

static const unsigned char *
ecorder(int curve, size_t *len)
{
	return ecfor(curve)->order(curve, len);
}

static size_t
ecxoff(int curve, size_t *len)
{
	return ecfor(curve)->xoff(curve, len);
}

static uint32_t
ecmul(unsigned char *g, size_t glen, const unsigned char *k, size_t klen,
    int curve)
{
	return ecfor(curve)->mul(g, glen, k, klen, curve);
}

static size_t
ecmulgen(unsigned char *r, const unsigned char *x, size_t xlen, int curve)
{
	return ecfor(curve)->mulgen(r, x, xlen, curve);
}

static uint32_t
ecmuladd(unsigned char *a, const unsigned char *b, size_t len,
    const unsigned char *x, size_t xlen, const unsigned char *y,
    size_t ylen, int curve)
{
	return ecfor(curve)->muladd(a, b, len, x, xlen, y, ylen, curve);
}

static const br_ec_impl ec31 = {
	(uint32_t)1 << BR_EC_secp256r1 | (uint32_t)1 << BR_EC_secp384r1 |
	    (uint32_t)1 << BR_EC_secp521r1 | (uint32_t)1 << BR_EC_curve25519,
	ecgenerator, ecorder, ecxoff, ecmul, ecmulgen, ecmuladd
};

/*
 * Our profile, smaller than BearSSL's "full" ones: TLS 1.2 only, ECDHE
 * key exchange (forward secrecy), AEAD ciphers only. That leaves out
 * CBC, CCM, 3DES, static ECDH and RSA key exchange, and with them a
 * good part of the library; every current SMTP client is served. In
 * order of preference, as BearSSL takes them; suitenames[] has the name
 * tls_describe() gives each, in the same order.
 */
static const uint16_t suites[] = {
	BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	BR_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	BR_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	BR_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	BR_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
};
static const char *const suitenames[] = {
	"ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
	"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
	"ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384"
};
#define NSUITES	(sizeof(suites) / sizeof(*suites))
/* the build fails when the two lists differ in length */
typedef char suitenames_match[NSUITES ==
    sizeof(suitenames) / sizeof(*suitenames) ? 1 : -1];

/* What both ends of our TLS need: versions, suites, curves, hashes. */
static void
profile(br_ssl_engine_context *eng)
{
	br_ssl_engine_set_versions(eng, BR_TLS12, BR_TLS12);
	br_ssl_engine_set_suites(eng, suites, NSUITES);
	br_ssl_engine_set_ec(eng, &ec31);
	/* No SHA-1: RFC 9155 forbids it in TLS 1.2 signatures */
	br_ssl_engine_set_hash(eng, br_sha256_ID, &br_sha256_vtable);
	br_ssl_engine_set_hash(eng, br_sha384_ID, &br_sha384_vtable);
	br_ssl_engine_set_hash(eng, br_sha512_ID, &br_sha512_vtable);
	br_ssl_engine_set_prf_sha256(eng, &br_tls12_sha256_prf);
	br_ssl_engine_set_prf_sha384(eng, &br_tls12_sha384_prf);
	/*
	 * Portable constant-time implementations only: the defaults would
	 * link an AES-NI/SSE2 variant beside each, which an appliance's CPU
	 * rarely has and the binary's size budget does not.
	 */
	br_ssl_engine_set_gcm(eng, &br_sslrec_in_gcm_vtable,
	    &br_sslrec_out_gcm_vtable);
	br_ssl_engine_set_aes_ctr(eng, &br_aes_ct64_ctr_vtable);
	br_ssl_engine_set_ghash(eng, br_ghash_ctmul64);
	br_ssl_engine_set_chapol(eng, &br_sslrec_in_chapol_vtable,
	    &br_sslrec_out_chapol_vtable);
	br_ssl_engine_set_chacha20(eng, br_chacha20_ct_run);
	br_ssl_engine_set_poly1305(eng, br_poly1305_ctmul_run);
}

/*
 * "TLSv1.2 with cipher ECDHE-RSA-AES128-GCM-SHA256", for Received:. The
 * version is always 1.2: profile() allows no other.
 */
void
tls_describe(const br_ssl_engine_context *eng, char *buf, size_t len)
{
	uint16_t id = eng->session.cipher_suite;
	size_t i;

	for (i = 0; i < NSUITES; i++) {
		if (suites[i] == id) {
			snprintf(buf, len, "TLSv1.2 with cipher %s",
			    suitenames[i]);
			return;
		}
	}
	snprintf(buf, len, "TLSv1.2 with cipher 0x%04x", id);
}

/* ---- the client side: trust anchors, verification, a client engine ---- */

static br_x509_trust_anchor *tas;	/* from CACertFile, once */
static size_t ntas;
static int tasloaded;

/* One CA certificate becomes one trust anchor (BearSSL's own recipe). */
static void
addanchor(const char *name, struct der *d, void *arg)
{
	br_x509_decoder_context dc;
	struct der dn = { NULL, 0 };
	br_x509_trust_anchor *ta;
	const br_x509_pkey *pk;

	(void)arg;
	if (strstr(name, "CERTIFICATE") == NULL) {
		return;
	}
	br_x509_decoder_init(&dc, derappend, &dn);
	br_x509_decoder_push(&dc, d->p, d->len);
	if ((pk = br_x509_decoder_get_pkey(&dc)) == NULL) {
		free(dn.p);
		return;		/* an anchor we cannot use is skipped */
	}
	tas = xrealloc(tas, (ntas + 1) * sizeof(*tas));
	ta = &tas[ntas++];
	ta->dn.data = dn.p;
	ta->dn.len = dn.len;
	ta->flags = br_x509_decoder_isCA(&dc) ? BR_X509_TA_CA : 0;
	ta->pkey = *pk;
	if (pk->key_type == BR_KEYTYPE_RSA) {
		ta->pkey.key.rsa.n = xmemdup(pk->key.rsa.n, pk->key.rsa.nlen);
		ta->pkey.key.rsa.e = xmemdup(pk->key.rsa.e, pk->key.rsa.elen);
	} else {
		ta->pkey.key.ec.q = xmemdup(pk->key.ec.q, pk->key.ec.qlen);
	}
}

/*
 * CACertFile, read once per process (a queue run). A file with an error
 * is none of it, for every session of the run alike, with the same why.
 */
int
tls_loadcas(char *err, size_t errlen)
{
	static char why[256];

	if (!tasloaded) {
		tasloaded = 1;
		if (pemeach(set.cacertfile, addanchor, NULL, why,
		    sizeof(why)) == -1) {
			ntas = 0;	/* the anchors before the error too */
		} else if (ntas == 0) {
			snprintf(why, sizeof(why), "%s: no usable CA "
			    "certificate", set.cacertfile);
		}
	}
	if (ntas == 0) {
		snprintf(err, errlen, "%s", why);
		return -1;
	}
	return 0;
}

/*
 * The X.509 "engine" of a client session. Verified TLS: BearSSL's
 * minimal engine does the work. Opportunistic TLS (RFC 7435) encrypts
 * without authenticating: the server's key is taken from its first
 * certificate and nothing else is checked; used only where plaintext is
 * the alternative. Either way a copy of that first certificate is kept,
 * because the minimal engine matches DNS names only and an address
 * literal ([192.0.2.1]) is looked for in it afterwards (see
 * tls_certaddr). A certificate too big for the copy (len counts past
 * der then) names no address.
 */
#define EECERTMAX	16384

struct x509 {
	const br_x509_class *vtable;
	int verify;
	br_x509_minimal_context xc;	/* verify: the engine */
	br_x509_decoder_context dc;	/* not: the first certificate's key */
	unsigned char der[EECERTMAX];
	size_t len;		/* of the first certificate */
	int n;			/* certificates seen */
};

static void
x_start_chain(const br_x509_class **ctx, const char *server_name)
{
	struct x509 *x = (struct x509 *)ctx;

	x->len = 0;
	x->n = 0;
	br_x509_decoder_init(&x->dc, NULL, NULL);
	if (x->verify) {
		x->xc.vtable->start_chain(&x->xc.vtable, server_name);
	}
}

static void
x_start_cert(const br_x509_class **ctx, uint32_t length)
{
	struct x509 *x = (struct x509 *)ctx;

	if (x->verify) {
		x->xc.vtable->start_cert(&x->xc.vtable, length);
	}
}

static void
x_append(const br_x509_class **ctx, const unsigned char *buf, size_t len)
{
	struct x509 *x = (struct x509 *)ctx;

	if (x->n == 0) {
		/* chunks of at most 256 bytes: the sum cannot wrap */
		if (x->len + len <= sizeof(x->der)) {
			memcpy(x->der + x->len, buf, len);
		}
		x->len += len;
		br_x509_decoder_push(&x->dc, buf, len);
	}
	if (x->verify) {
		x->xc.vtable->append(&x->xc.vtable, buf, len);
	}
}

static void
x_end_cert(const br_x509_class **ctx)
{
	struct x509 *x = (struct x509 *)ctx;

	x->n++;
	if (x->verify) {
		x->xc.vtable->end_cert(&x->xc.vtable);
	}
}

static unsigned
x_end_chain(const br_x509_class **ctx)
{
	struct x509 *x = (struct x509 *)ctx;

	if (x->verify) {
		return x->xc.vtable->end_chain(&x->xc.vtable);
	}
	/* BearSSL never ends an empty chain here (it refuses the message
	 * first); without a whole first certificate there is no key */
	return br_x509_decoder_get_pkey(&x->dc) != NULL ? 0 :
	    BR_ERR_X509_INVALID_VALUE;
}

static const br_x509_pkey *
x_get_pkey(const br_x509_class *const *ctx, unsigned *usages)
{
	struct x509 *x = (struct x509 *)ctx;

	if (x->verify) {
		return x->xc.vtable->get_pkey(&x->xc.vtable, usages);
	}
	if (usages != NULL) {
		*usages = BR_KEYTYPE_KEYX | BR_KEYTYPE_SIGN;
	}
	return br_x509_decoder_get_pkey(&x->dc);
}

static const br_x509_class x509_vtable = {
	sizeof(struct x509), x_start_chain, x_start_cert, x_append,
	x_end_cert, x_end_chain, x_get_pkey
};

/*
 * One DER element of [*p, end): its contents [*c, *cend), *p moved past
 * it. Strict: one-byte tags, definite lengths in at most two bytes (the
 * copy is at most EECERTMAX), every length within what is left. Returns
 * the tag, or -1 when malformed or its tag is not want (0: any): a
 * hostile certificate reads nothing outside its bytes.
 */
static int
dernext(const unsigned char **p, const unsigned char *end, unsigned want,
    const unsigned char **c, const unsigned char **cend)
{
	const unsigned char *q = *p;
	size_t len, nb;
	unsigned tag;

	if (end - q < 2 || (*q & 0x1f) == 0x1f) {
		return -1;
	}
	tag = *q++;
	len = *q++;
	if ((len & 0x80) != 0) {
		nb = len & 0x7f;
		if (nb == 0 || nb > 2 || (size_t)(end - q) < nb) {
			return -1;
		}
		for (len = 0; nb > 0; nb--) {
			len = len << 8 | *q++;
		}
	}
	if (len > (size_t)(end - q) || (want != 0 && tag != want)) {
		return -1;
	}
	*c = q;
	*cend = q + len;
	*p = *cend;
	return (int)tag;
}

/*
 * One Extension, SEQUENCE { extnID, critical BOOLEAN OPTIONAL, extnValue
 * OCTET STRING }: is it a subjectAltName (2.5.29.17) with an iPAddress
 * ([7] IMPLICIT OCTET STRING) equal to addr? -1 when malformed.
 */
static int
extaddr(const unsigned char *p, const unsigned char *end,
    const unsigned char *addr, size_t alen)
{
	static const unsigned char san[] = { 0x55, 0x1d, 0x11 };
	const unsigned char *c, *ce, *g, *ge;
	int tag;

	if (dernext(&p, end, 0x06, &c, &ce) == -1) {
		return -1;
	}
	if (ce - c != sizeof(san) || memcmp(c, san, sizeof(san)) != 0) {
		return 0;
	}
	/* past the critical flag, if any, the GeneralNames in extnValue */
	if ((p < end && *p == 0x01 && dernext(&p, end, 0x01, &c, &ce) == -1) ||
	    dernext(&p, end, 0x04, &c, &ce) == -1 ||
	    dernext(&c, ce, 0x30, &g, &ge) == -1) {
		return -1;
	}
	while (g < ge) {
		if ((tag = dernext(&g, ge, 0, &c, &ce)) == -1) {
			return -1;
		}
		if (tag == 0x87 && (size_t)(ce - c) == alen &&
		    memcmp(c, addr, alen) == 0) {
			return 1;
		}
	}
	return 0;
}

/*
 * Does the certificate carry addr (4 or 16 bytes) in its subjectAltName?
 * Certificate: SEQUENCE { tbsCertificate SEQUENCE { ..., extensions
 * [3] EXPLICIT SEQUENCE OF Extension }, ... }.
 */
static int
certaddr(const unsigned char *der, size_t len, const unsigned char *addr,
    size_t alen)
{
	const unsigned char *p = der, *end = der + len, *c, *ce, *x, *xe;
	int r;

	if (dernext(&p, end, 0x30, &c, &ce) == -1 ||
	    dernext(&c, ce, 0x30, &p, &end) == -1) {
		return 0;
	}
	while (p < end) {
		if ((r = dernext(&p, end, 0, &c, &ce)) == -1) {
			return 0;
		}
		if (r != 0xa3 || dernext(&c, ce, 0x30, &x, &xe) == -1) {
			continue;
		}
		while (x < xe) {
			if (dernext(&x, xe, 0x30, &c, &ce) == -1 ||
			    (r = extaddr(c, ce, addr, alen)) == -1) {
				return 0;
			}
			if (r == 1) {
				return 1;
			}
		}
	}
	return 0;
}

/* Everything a client TLS session needs, in one block per connection. */
struct tlsclient {
	br_ssl_client_context cc;
	struct x509 x;
	unsigned char iobuf[BR_SSL_BUFSIZE_BIDI];
};

/*
 * A client engine towards servername. With verify, the chain must lead
 * to a CACertFile anchor and name the server (without servername, an
 * address, tls_certaddr checks it after); the clock is the system's
 * (an appliance whose clock is wrong will fail verification: that is
 * the safe side for `require`).
 */
struct tlsclient *
tls_client(const char *servername, int verify)
{
	static struct tlsclient t;
	br_x509_minimal_context *xc = &t.x.xc;
	time_t now = time(NULL);

	br_ssl_client_zero(&t.cc);
	profile(&t.cc.eng);
	br_ssl_client_set_rsapub(&t.cc, br_rsa_i31_public);
	br_ssl_engine_set_rsavrfy(&t.cc.eng, br_rsa_i31_pkcs1_vrfy);
	br_ssl_engine_set_ecdsa(&t.cc.eng, br_ecdsa_i31_vrfy_asn1);
	t.x.n = 0;	/* nothing of the last session's certificate */
	t.x.verify = verify;
	if (verify) {
		br_x509_minimal_init(xc, &br_sha256_vtable, tas, ntas);
		/* no SHA-1 (RFC 9155), no SHA-224 (no public CA uses it) */
		br_x509_minimal_set_hash(xc, br_sha256_ID, &br_sha256_vtable);
		br_x509_minimal_set_hash(xc, br_sha384_ID, &br_sha384_vtable);
		br_x509_minimal_set_hash(xc, br_sha512_ID, &br_sha512_vtable);
		br_x509_minimal_set_rsa(xc, br_rsa_i31_pkcs1_vrfy);
		br_x509_minimal_set_ecdsa(xc, &ec31, br_ecdsa_i31_vrfy_asn1);
		br_x509_minimal_set_time(xc, (uint32_t)(now / 86400 + 719528),
		    (uint32_t)(now % 86400));
	}
	t.x.vtable = &x509_vtable;
	br_ssl_engine_set_x509(&t.cc.eng, &t.x.vtable);
	/* the address of a literal is checked against the first
	 * handshake's certificate: no other one may come later */
	br_ssl_engine_add_flags(&t.cc.eng, BR_OPT_NO_RENEGOTIATION);
	br_ssl_engine_set_buffer(&t.cc.eng, t.iobuf, sizeof(t.iobuf), 1);
	br_ssl_client_reset(&t.cc, servername, 0);
	return &t;
}

br_ssl_engine_context *
tls_clientengine(struct tlsclient *t)
{
	return &t->cc.eng;
}

/*
 * After a verified handshake: does the server's certificate name this
 * address? Only an iPAddress entry of its subjectAltName does (RFC 6125
 * 6.2.1), never the CN nor a dNSName spelling the address.
 */
int
tls_certaddr(const struct tlsclient *t, const char *addr)
{
	unsigned char a[16];
	int alen = ipaddr(addr, 0, a);

	if (alen == 0 || !t->x.verify || t->x.n == 0 ||
	    t->x.len > sizeof(t->x.der)) {
		return 0;
	}
	return certaddr(t->x.der, t->x.len, a, (size_t)alen);
}

/* ---- the server side: its certificate and key, a server engine ---- */

#if WITH_SERVER
#define MAXCHAIN	8		/* certificates in the server chain */

static br_x509_certificate chain[MAXCHAIN];
static size_t chainlen;
static br_skey_decoder_context keydec;	/* owns the decoded key */
static unsigned issuertype;		/* key type of the chain's issuer */

static void
addcert(const char *name, struct der *d, void *arg)
{
	int *bad = arg;

	if (strcmp(name, "CERTIFICATE") != 0 &&
	    strcmp(name, "X509 CERTIFICATE") != 0) {
		return;
	}
	if (chainlen == MAXCHAIN) {
		*bad = 1;
		return;
	}
	chain[chainlen].data = xmemdup(d->p, d->len);
	chain[chainlen].data_len = d->len;
	chainlen++;
}

static void
addkey(const char *name, struct der *d, void *arg)
{
	int *found = arg;

	if (strstr(name, "PRIVATE KEY") == NULL || *found) {
		return;
	}
	br_skey_decoder_init(&keydec);
	br_skey_decoder_push(&keydec, d->p, d->len);
	*found = br_skey_decoder_last_error(&keydec) == 0 ? 1 : -1;
}

/*
 * Does the private key belong to pk, the leaf certificate's key? A
 * mismatch would otherwise show only as a failed handshake at every
 * STARTTLS. Neither modulus has leading zeros: the certificate's
 * decoder strips them, and the computed one is as long as the key
 * file's own modulus (a file whose n is longer than p * q is refused).
 */
static int
keymatches(const br_x509_pkey *pk)
{
	unsigned char buf[BR_EC_KBUF_PUB_MAX_SIZE > 512 ?
	    BR_EC_KBUF_PUB_MAX_SIZE : 512];
	br_ec_public_key ec;
	size_t n;

	if (pk == NULL || pk->key_type != br_skey_decoder_key_type(&keydec)) {
		return 0;
	}
	if (pk->key_type == BR_KEYTYPE_RSA) {
		const br_rsa_private_key *sk = br_skey_decoder_get_rsa(&keydec);
		br_rsa_compute_modulus mod = br_rsa_i31_compute_modulus;

		n = mod(NULL, sk);
		if (n == 0 || n > sizeof(buf) || mod(buf, sk) != n) {
			return 0;
		}
		return pk->key.rsa.nlen == n &&
		    memcmp(pk->key.rsa.n, buf, n) == 0;
	}
	n = br_ec_compute_pub(&ec31, &ec, buf,
	    br_skey_decoder_get_ec(&keydec));
	return n != 0 && ec.curve == pk->key.ec.curve &&
	    pk->key.ec.qlen == n && memcmp(pk->key.ec.q, buf, n) == 0;
}

/*
 * Load ServerCertFile and ServerKeyFile. Called at start-up, so that a
 * bad file is an error naming it, not a failure at the first STARTTLS.
 */
int
tls_loadserver(const char *certfile, const char *keyfile, char *err,
    size_t errlen)
{
	br_x509_decoder_context dc;
	int bad = 0, found = 0;

	if (pemeach(certfile, addcert, &bad, err, errlen) == -1) {
		return -1;
	}
	if (chainlen == 0 || bad) {
		snprintf(err, errlen, "%s: %s", certfile, chainlen == 0 ?
		    "no certificate in it" : "too many certificates");
		return -1;
	}
	/* its signer's key type is needed by ECDH suites */
	br_x509_decoder_init(&dc, NULL, NULL);
	br_x509_decoder_push(&dc, chain[0].data, chain[0].data_len);
	issuertype = (unsigned)br_x509_decoder_get_signer_key_type(&dc);
	if (br_x509_decoder_last_error(&dc) != 0 || issuertype == 0) {
		snprintf(err, errlen, "%s: the first certificate cannot be "
		    "decoded", certfile);
		return -1;
	}
	if (pemeach(keyfile, addkey, &found, err, errlen) == -1) {
		return -1;
	}
	if (found != 1) {
		snprintf(err, errlen, "%s: %s", keyfile, found == 0 ?
		    "no private key in it" : "the private key cannot be "
		    "decoded");
		return -1;
	}
	if (!keymatches(br_x509_decoder_get_pkey(&dc))) {
		snprintf(err, errlen, "%s: the private key does not belong to "
		    "the first certificate of %s", keyfile, certfile);
		return -1;
	}
	return 0;
}

int
tls_haveserver(void)
{
	return chainlen > 0;
}

/* A fresh server engine for one session, on the session's buffer. */
void
tls_serverinit(br_ssl_server_context *sc, unsigned char *buf, size_t len)
{
	br_ssl_server_zero(sc);
	profile(&sc->eng);
	if (br_skey_decoder_key_type(&keydec) == BR_KEYTYPE_RSA) {
		br_ssl_server_set_single_rsa(sc, chain, chainlen,
		    br_skey_decoder_get_rsa(&keydec), BR_KEYTYPE_SIGN,
		    br_rsa_i31_private, br_rsa_i31_pkcs1_sign);
	} else {
		br_ssl_server_set_single_ec(sc, chain, chainlen,
		    br_skey_decoder_get_ec(&keydec), BR_KEYTYPE_SIGN,
		    issuertype, &ec31, br_ecdsa_i31_sign_asn1);
	}
	br_ssl_engine_add_flags(&sc->eng, BR_OPT_ENFORCE_SERVER_PREFERENCES);
	br_ssl_engine_set_buffer(&sc->eng, buf, len, 1);
	br_ssl_server_reset(sc);
}
#endif /* WITH_SERVER */
#endif /* WITH_TLS */
