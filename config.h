/*
 * config.h: compile-time configuration. Edit and rebuild.
 *
 * The strings and numbers below are the defaults of the settings that
 * SPEC.md names; each can be overridden at run time with -O Name=Value.
 * An empty string means "not set". Durations are in seconds, sizes in bytes.
 */
#ifndef CONFIG_H
#define CONFIG_H

/*
 * Profiles: what is compiled in. 0 leaves the code out of the binary, not
 * just unused; `mta -d0.1` lists what a binary has.
 *
 * WITH_SERVER 0 (send-only): no SMTP server. Gone are the daemon's
 * listeners and select() loop (-bd, -bD, -bs exit with EX_UNAVAILABLE),
 * server-side STARTTLS, the AUTH server and its crypt. Submission, queue
 * runs (also -qINTERVAL as a daemon) and delivery stay; the server's
 * settings are still accepted, and ignored.
 *
 * WITH_TLS 0 (no TLS, for a relay that stays on the LAN): no BearSSL at
 * all. No STARTTLS either way, no AUTH server (a password never crosses
 * the network in clear); SmartHostTLS defaults to none, and require or
 * implicit is a configuration error, so are ServerCertFile, ServerKeyFile
 * and AuthUsersFile for the server. AuthInfoFile credentials are never
 * sent: such a smarthost delivery is deferred (4.7.4) and logged.
 */
#ifndef WITH_SERVER
#define WITH_SERVER	1
#endif
#ifndef WITH_TLS
#define WITH_TLS	1
#endif

/*
 * The settings, one line each: X(Name, field, kind, default, limit).
 * Name is the -O name SPEC.md fixes, field the member of struct settings
 * (mta.h), kind one of STR (a string; limit: the longest that fits),
 * CHOICE (limit: the allowed words), LISTEN (repeatable; the default
 * in braces, a list; limit: the longest entry), NUM, SIZE (bytes, K/M/G
 * suffixes) or DUR (seconds, s/m/h/d suffixes). An empty string means
 * "not set". Adding a setting is adding a line here; `mta -bO` prints
 * them all as they are in force.
 */
#define SETTINGS(X) \
	/* the spool, one flat directory */ \
	X("QueueDirectory", queuedir, STR, "/var/spool/mqueue", MAXPATH) \
	/* the listener(s); repeat -O to add more (the default: a list) */ \
	X("DaemonPortOptions", listen, LISTEN, { "Addr=127.0.0.1,Port=25" }, \
	    255) \
	/* $j; empty: the system's host name (uname) */ \
	X("HostName", hostname, STR, "", 255) \
	/* comma list; empty: HostName and localhost */ \
	X("LocalDomains", localdomains, STR, "", 4095) \
	/* client networks allowed to relay without AUTH */ \
	X("RelayFrom", relayfrom, STR, "127.0.0.0/8,::1", 1023) \
	/* host, host:port or [host]:port; empty: MX delivery */ \
	X("SmartHost", smarthost, STR, "", MAXADDR) \
	/* without TLS, only none can work */ \
	X("SmartHostTLS", smarthosttls, CHOICE, WITH_TLS ? "require" : "none", \
	    "require implicit opportunistic none") \
	/* "host user password" lines for the smarthost */ \
	X("AuthInfoFile", authinfofile, STR, "/etc/mta/authinfo", MAXPATH) \
	/* trust anchors for verified TLS */ \
	X("CACertFile", cacertfile, STR, \
	    "/etc/ssl/certs/ca-certificates.crt", MAXPATH) \
	/* STARTTLS is offered when both are set */ \
	X("ServerCertFile", servercert, STR, "", MAXPATH) \
	X("ServerKeyFile", serverkey, STR, "", MAXPATH) \
	/* "user:crypt-hash" lines for SMTP AUTH */ \
	X("AuthUsersFile", authusers, STR, "", MAXPATH) \
	/* sendmail-format aliases */ \
	X("AliasFile", aliasfile, STR, "/etc/aliases", MAXPATH) \
	/* mailbox directory (MailSpool/user) */ \
	X("MailSpool", mailspool, STR, "/var/mail", MAXPATH - 256) \
	X("MailboxFormat", mailboxformat, CHOICE, "mbox", "mbox maildir") \
	/* refuse new mail below this much free space */ \
	X("MinFreeSpace", minfree, SIZE, 10LL * 1024 * 1024, 0) \
	/* user@domain or @domain for relayed mail; empty: off */ \
	X("MasqueradeAs", masquerade, STR, "", MAXADDR) \
	/* last resort for undeliverable bounces */ \
	X("DeadLetterFile", deadletter, STR, "/var/tmp/dead.letter", MAXPATH) \
	/* gets the headers of every bounce; empty: nobody */ \
	X("PostmasterCopy", postmastercopy, STR, "", MAXADDR) \
	/* ip or ip:port; empty: the first of /etc/resolv.conf */ \
	X("NameServer", nameserver, STR, "", 63) \
	/* port for MX delivery */ \
	X("SMTPPort", smtpport, NUM, 25, 0) \
	/* advertised in EHLO SIZE */ \
	X("MaxMessageSize", maxsize, SIZE, 26214400LL, 0) \
	X("MaxRecipientsPerMessage", maxrcpt, NUM, 100, 0) \
	X("MaxConnections", maxconn, NUM, 64, 0) \
	X("MaxConnectionsPerIP", maxperip, NUM, 8, 0) \
	/* bounce after / warn after (0: never warn) */ \
	X("QueueReturn", queuereturn, DUR, 5L * 86400, 0) \
	X("QueueWarn", queuewarn, DUR, 4L * 3600, 0) \
	/* RFC 5321 4.5.3.2 */ \
	X("Timeout.command", tcommand, DUR, 5L * 60, 0) \
	X("Timeout.datablock", tdatablock, DUR, 3L * 60, 0) \
	/* how long a host that failed is skipped */ \
	X("HostStatusTimeout", hoststatus, DUR, 30L * 60, 0) \
	/* the daemon's user after binding, when started as root */ \
	X("RunAsUser", runasuser, STR, "mail", 31) \
	/* empty: syslog (facility mail); "-": stderr */ \
	X("LogFile", logfile, STR, "", MAXPATH) \
	X("PidFile", pidfile, STR, "/run/mta.pid", MAXPATH)

/* Limits that size arrays or bound work; not overridable. */
#define MAXLISTEN	8		/* DaemonPortOptions entries */
#define MAXADDR		320		/* envelope address, RFC 5321 4.5.3.1 */
#define MAXHEADER	(256 * 1024)	/* header block of a local submission */
#define MAXLINE		1000		/* SMTP text line incl. CRLF */
#define MAXPATH		1024		/* a path setting (below PATH_MAX) */
#define IOBUF		(64 * 1024)	/* file copy buffer */

/* SMTP server: slots are capped here whatever MaxConnections says, and
 * descriptors stay below FD_SETSIZE minus what the spool, the log, the
 * listeners and the runner pipe need. */
#define MAXCONN_CAP	256
#define FD_RESERVE	32
/* Delivery children the daemon's runner keeps at most at once. */
#define MAXDELIVERY	4
/* Messages one delivery child takes at once (sharing its connection). */
#define MAXBATCH	32
/* Seconds a delivery child waits for its next batch, its SMTP session to
 * the SmartHost or MX kept open for it, before it ends. */
#define KIDIDLE		2
/* Messages after which a delivery child ends (and its session with it). */
#define KIDUSES		100

/* DNS: seconds per UDP try (and for all of a TCP fallback), tries. */
#define DNS_TIMEOUT	2
#define DNS_TRIES	3

/* SMTP client: how long a connect may take. */
#define CONNECT_TIMEOUT	30

/* Retry schedule for temporary failures: first wait, doubled, capped. */
#define RETRY_FIRST	(5L * 60)
#define RETRY_MAX	(2L * 3600)

/* A tf or orphan df older than this is debris of a crash. */
#define STALE_AGE	3600

#endif /* CONFIG_H */
