/*
 * mta.h: every declaration shared between the source files, grouped under
 * the file that defines it (dma's habit). Read mta.c first.
 */
#ifndef MTA_H
#define MTA_H

#include <sys/types.h>
#include <sys/socket.h>
#include <stdarg.h>
#include <stddef.h>
#include <time.h>

#include "config.h"

#define VERSION		"0.1"

/* Outcome of one delivery attempt to one recipient. */
enum dstat {
	D_OK,		/* delivered; the recipient is done */
	D_TEMP,		/* try again later */
	D_PERM		/* give up; the sender gets a bounce */
};

/* Recipient states as stored in the qf ('s' line). */
enum rstate {
	R_PENDING = 'P',	/* still to be delivered */
	R_SENT = 'D',		/* delivered */
	R_FAILED = 'F',		/* failed for good, bounce not yet sent */
	R_BOUNCED = 'B'		/* failed, and the bounce is committed */
};

/* DSN NOTIFY bits (RFC 3461); 0 means "not given". */
enum {
	N_NEVER = 1,
	N_SUCCESS = 2,
	N_FAILURE = 4,
	N_DELAY = 8
};

/* DSN RET */
enum {
	RET_DEFAULT = 0,
	RET_FULL = 'F',
	RET_HDRS = 'H'
};

struct rcpt {
	char *addr;	/* envelope address, or |cmd, /file for alias targets */
	char *orcpt;	/* DSN ORCPT as received, or NULL */
	char *parent;	/* address this one was expanded from, or NULL */
	char *reply;	/* last reply or error text, or NULL */
	char *rhost;	/* the remote host that gave the reply, or NULL */
	int state;	/* enum rstate */
	int notify;	/* N_* bits */
	int expanded;	/* already an alias target: do not expand again */
	int attempts;
	time_t next;	/* not to be tried before this time */
};

#define QIDLEN		24

struct msg {
	char id[QIDLEN];
	char *sender;	/* "" is the null sender <> */
	char *envid;	/* DSN ENVID, or NULL */
	int ret;	/* RET_* */
	int warned;	/* the delay warning was sent */
	int bounce;	/* 1: a DSN, 2: a DSN to postmaster (double bounce) */
	time_t arrival;
	off_t size;	/* exact size of the df */
	struct rcpt *rcpt;
	int nrcpt, rcptcap;
	int lockfd;	/* locked qf while a runner owns it, else -1 */
};

/* mta.c */
/* The settings in force: one member per line of SETTINGS (config.h). */
#define S_STR(f)	const char *f;
#define S_CHOICE(f)	const char *f;
#define S_LISTEN(f)	const char *f[MAXLISTEN]; int n##f;
#define S_NUM(f)	long f;
#define S_DUR(f)	long f;
#define S_SIZE(f)	long long f;
#define S_FIELD(name, f, kind, def, limit)	S_##kind(f)
struct settings {
	SETTINGS(S_FIELD)
};
/* ... and its initializer: { SETTINGS(S_DEFAULT) } */
#define S_DEFAULT(name, f, kind, def, limit)	.f = def,
extern struct settings set;

/* What the command line asked for. */
struct cmdline {
	int tflag, iflag, mode, dmode;	/* -t, -i, -bX mode, -odX mode */
	const char *from, *fullname, *notify, *ret, *envid;
	const char *qarg;		/* what followed -q */
};
extern struct cmdline opt;
extern int verbose;
extern const char *progname;

/* util.c: the ground floor (logging, allocation, small helpers) */
extern int logfd;
void openlogfile(void);
int ownfile(const char *path, int flags, mode_t mode);
void logmsg(int pri, const char *fmt, ...);
void warn(const char *fmt, ...);
void die(int code, const char *fmt, ...);
void detach(void);
int eachfd(void (*fn)(int fd, void *arg), void *arg);
void closefds(int keep1, int keep2);
int waitfds(int rfd, int wfd, long long ms);
pid_t reap(pid_t pid, int *st, int flags);
void logchild(const char *who, pid_t pid, int st, int exits);
int tempfailcode(int e);
void *xmalloc(size_t n);
void *xrealloc(void *p, size_t n);
void *xmemdup(const void *p, size_t n);
char *xstrdup(const char *s);
char *readall(int fd, size_t max, size_t *len);
void *grow(void *v, int n, int *cap, size_t size);
struct strv {		/* a growing vector of strings */
	char **v;
	int n, cap;
};
void strv_add(struct strv *sv, char *s);
void strv_free(struct strv *sv);
int islocaldomain(const char *domain);
int splitaddr(const char *addr, char *local, size_t llen, const char **domain);
void rfc5322date(time_t t, char *buf, size_t len);
void sanitize(char *s);
int ipaddr(const char *s, int lit, unsigned char *a);
socklen_t ipsockaddr(const unsigned char *a, int alen, int port,
    struct sockaddr_storage *ss);
int parseport(const char *s);
int splithostport(const char *spec, char *host, size_t hlen, int *port);
int enhcode(const char *reply, char *code, size_t len);
int writeall(int fd, const void *p, size_t n);
struct wbuf {		/* buffered output; the first write error sticks */
	int fd, err;
	size_t n;
	long long total;	/* bytes put */
	char buf[IOBUF];
};
void wflush(struct wbuf *w);
void wput(struct wbuf *w, const char *p, size_t len);
void wputs(struct wbuf *w, const char *s);

/* submit.c */
int submit_run(char **argv, int argc);

/* addr.c: RFC 5322 address lists and header fields, RFC 3461 parameters */
typedef void addrfn(const char *addrspec, void *arg);
int addr_parselist(const char *s, addrfn *fn, void *arg);
int addr_parseone(const char *s, char *out, size_t outlen);
int addr_valid(const char *addr);
int dsn_xtext(const char *s, size_t max);
void dsn_unxtext(const char *s, char *out, size_t len);
int dsn_notify(const char *s);
void dsn_notifystr(int bits, char *out, size_t len);
int dsn_ret(const char *s);

/* spool.c: the queue files (their format and life at its top) */
int spool_open(void);
int spool_fd(void);
void spool_adopt(int fd);
int spool_chown(uid_t uid, gid_t gid);
int spool_openfile(const char *name, int flags);
int spool_renamefile(const char *from, const char *to);
int spool_create(struct msg *m);
int spool_place(struct msg *m, int dffd, int sync);
void spool_abort(struct msg *m, int dffd);
void spool_abortdone(void);
int spool_flush(char *ids, size_t len);
int spool_update(struct msg *m);
int spool_remove(struct msg *m);
int spool_lock(const char *id, struct msg *m);
int spool_read(const char *id, struct msg *m);
int spool_opendf(struct msg *m);
int spool_parse(const char *buf, size_t len, struct msg *m);
char *spool_format(const struct msg *m, size_t *len);
void spool_recover(void);
int spool_freespace(long long need);
int spool_list(char ***ids);
void msg_init(struct msg *m);
void msg_free(struct msg *m);
struct rcpt *msg_addrcpt(struct msg *m, const char *addr);
int rcpt_deliverable(const char *addr);

/* syncer.c: the group commit's flush, by a child or in the loop */
int syncer_stage(struct msg *m, int dffd);
int syncer_flush(void);
int syncer_start(void);
int syncer_ask(void);
int syncer_done(void);
int syncer_fd(void);
void syncer_drop(void);

/* mailq.c: the queue listing (-bp) */
int mailq_print(void);

/* wire.c: one connection's bytes, plain or TLS, never blocking */
enum { WIRE_WRITE = 1, WIRE_READ = 2 };
struct wire {
	int fd, wfd;		/* wfd differs from fd only for -bs */
	int eof;		/* the peer closed its side */
	int skip;		/* dropping the rest of a cut line */
	void *eng;		/* the br_ssl_engine_context, NULL in clear */
	char *in, *out;		/* the owner's buffers */
	size_t insize, outsize;
	size_t inlen, outoff, outlen;
};
void wire_init(struct wire *w, int fd, int wfd, char *in, size_t insize,
    char *out, size_t outsize);
int wire_io(struct wire *w, int canread);
unsigned wire_wants(const struct wire *w);
int wire_pending(const struct wire *w);
int wire_put(struct wire *w, const void *p, size_t n);
int wire_line(struct wire *w, char *line, size_t len);
int wire_wait(struct wire *w, time_t deadline);
#if WITH_TLS
void wire_tls(struct wire *w, void *eng);
void wire_close(struct wire *w);
#else
#define wire_close(w)	((void)0)	/* built without TLS: never in TLS */
#endif

/* smtp.c: the server (WITH_SERVER) */
extern void (*smtp_onqueued)(const char *id);
#include <sys/select.h>
int smtp_init(void);
int smtp_setrelay(const char *list, char *err, size_t errlen);
void smtp_accept(int lfd);
int smtp_accepting(time_t now);
struct conn *smtp_stdio(void);
void smtp_prepare(fd_set *rfds, fd_set *wfds, int *maxfd, time_t *next);
void smtp_run(fd_set *rfds, fd_set *wfds);
int smtp_count(void);
void smtp_shutdown(void);
void smtp_forget(void);
void smtp_dump(void);
void smtp_handover(void);

/* tls.c (all of it WITH_TLS, the server's part WITH_SERVER too) */
struct tlsclient;
int tls_loadserver(const char *certfile, const char *keyfile, char *err,
    size_t errlen);
#if defined(WITH_TLS) && !WITH_TLS
#define tls_haveserver()	0	/* built without TLS: no STARTTLS */
#else
int tls_haveserver(void);
#endif

#ifdef BR_BEARSSL_SSL_H__	/* only for the files that use BearSSL */
void tls_serverinit(br_ssl_server_context *sc, unsigned char *buf,
    size_t len);
void tls_describe(const br_ssl_engine_context *eng, char *buf, size_t len);
br_ssl_engine_context *tls_clientengine(struct tlsclient *t);
#endif
int tls_loadcas(char *err, size_t errlen);
struct tlsclient *tls_client(const char *servername, int verify);
int tls_certaddr(const struct tlsclient *t, const char *addr);

/* crypt.c: SHA-512 crypt ("$6$"), as made by mkpasswd -m sha-512 (only
 * WITH_SERVER and WITH_TLS: the AUTH server's) */
char *sha512crypt(const char *key, const char *setting);

/* mime.c: the message on its way out in DATA (client.c's) */
int mime_send(int dffd, const char *masq, int conv,
    int (*fn)(const char *p, size_t n));
int mime_7bitsize(int dffd, const char *masq, const char *host,
    long long *size, char *why, size_t len);
void mime_scan(int dffd, int full, long long *lines, int *any8, int *hdr8);
int mime_has8(const char *p, size_t n);
void mime_masqaddr(const char *old, const char *masq, char *out, size_t len);
void mime_b64(const unsigned char *p, size_t n, char *out, size_t outlen);

/* client.c: the SMTP client (delivery children only) */
enum { TLS_NONE, TLS_OPPORTUNISTIC, TLS_REQUIRE, TLS_IMPLICIT };
#define REPLYLEN	512
int client_open(const struct sockaddr_storage *ss, const char *key,
    const char *host, const char *tlsname, int tlsmode, const char *user,
    const char *pass, char *err, size_t errlen);
int client_send(struct msg *m, int dffd, const int *idx, int n,
    int *res, char (*replies)[REPLYLEN], const char *masq);
int client_reuse(const char *key);
const char *client_tlsinfo(void);
void client_close(int polite);

/* dns.c: a small resolver of our own (NameServer) */
enum { DNS_TEMP = 1, DNS_PERM, DNS_NULLMX };
struct mxhost {
	char host[256];
	int pref;
};
int dns_mx(const char *domain, struct mxhost *mx, int max, int *err);
int dns_addrs(const char *host, struct sockaddr_storage *ss, int max,
    int *err);
int dns_parseserver(const char *spec, struct sockaddr_storage *ss);

/* remote.c: routes, MX, host status, AuthInfoFile */
#define RELAYLEN	320
int remote_deliver(struct msg *m, int dffd, const int *idx, int n, int *res,
    char (*replies)[REPLYLEN], char *relay);
void remote_dumpstat(void (*fn)(const char *line));

/* bounce.c: RFC 3464 delivery status notifications */
int bounce_run(struct msg *m, int dffd);
int bounce_made(char *id);

/* deliver.c */
struct qfilter {
	int kind;		/* 0, 'I', 'R' or 'S' */
	const char *sub;
};
int deliver_run(const struct qfilter *f);
void deliver_one(const char *id);
void deliver_spawn(const char *id);
int deliver_runner(int cmdfd, long every);

/* aliases.c and local.c: aliases, and the local mailers */
enum ttype {
	T_MAILBOX,	/* a local user's mailbox */
	T_FILE,		/* /path: append mbox-style */
	T_PIPE,		/* |command */
	T_REMOTE,	/* an address outside LocalDomains */
	T_UNKNOWN	/* no such user, no alias */
};
struct target {
	int type;	/* enum ttype */
	char *addr;	/* user name, path, command or remote address */
};
int local_expand(const char *rcpt, struct target **t, int *n,
    char *err, size_t errlen);
void local_freetargets(struct target *t, int n);
int local_known(const char *addr);
int local_deliver(const struct target *t, const struct msg *m, int dffd,
    char *reply, size_t rlen);
int local_checkaliases(const char *path);
int local_safepath(const char *path, uid_t owner, char *why, size_t len);
int local_deadletter(const char *path, const struct msg *m, int dffd,
    char *reply, size_t rlen);
struct passwd;
int local_getuser(const char *name, struct passwd **pw);

#endif
