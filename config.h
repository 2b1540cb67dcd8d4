/*
 * config.h: compile-time configuration. Edit and rebuild.
 *
 * The strings and numbers below are the defaults of the settings that
 * SPEC.md names; each can be overridden at run time with -O Name=Value.
 * An empty string means "not set". Durations are in seconds, sizes in bytes.
 */

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

/* QueueDirectory: the spool, one flat directory. */
#define DEF_QUEUEDIR		"/var/spool/mqueue"
/* DaemonPortOptions: the listener(s); repeat -O to add more. */
#define DEF_LISTEN		"Addr=127.0.0.1,Port=25"
/* HostName ($j): empty = the system's host name (uname). */
#define DEF_HOSTNAME		""
/* LocalDomains: comma list; empty = HostName and localhost. */
#define DEF_LOCALDOMAINS	""
/* RelayFrom: client networks allowed to relay without AUTH. */
#define DEF_RELAYFROM		"127.0.0.0/8,::1"
/* SmartHost: host, host:port or [host]:port; empty = MX delivery. */
#define DEF_SMARTHOST		""
/* SmartHostTLS: require, implicit, opportunistic or none. */
#if WITH_TLS
#define DEF_SMARTHOSTTLS	"require"
#else
#define DEF_SMARTHOSTTLS	"none"
#endif
/* AuthInfoFile: "host user password" lines for the smarthost. */
#define DEF_AUTHINFOFILE	"/etc/mta/authinfo"
/* CACertFile: trust anchors for verified TLS. */
#define DEF_CACERTFILE		"/etc/ssl/certs/ca-certificates.crt"
/* ServerCertFile, ServerKeyFile: STARTTLS is offered when both are set. */
#define DEF_SERVERCERT		""
#define DEF_SERVERKEY		""
/* AuthUsersFile: "user:crypt-hash" lines for SMTP AUTH. */
#define DEF_AUTHUSERS		""
/* AliasFile: sendmail-format aliases. */
#define DEF_ALIASFILE		"/etc/aliases"
/* MailSpool: mailbox directory (MailSpool/user). */
#define DEF_MAILSPOOL		"/var/mail"
/* MailboxFormat: mbox or maildir. */
#define DEF_MAILBOXFORMAT	"mbox"
/* MinFreeSpace: refuse new mail below this much free space. */
#define DEF_MINFREE		(10LL * 1024 * 1024)
/* MasqueradeAs: user@domain or @domain for relayed mail; empty = off. */
#define DEF_MASQUERADE		""
/* DeadLetterFile: last resort for undeliverable bounces. */
#define DEF_DEADLETTER		"/var/tmp/dead.letter"
/* PostmasterCopy: gets the headers of every bounce; empty = nobody. */
#define DEF_POSTMASTERCOPY	""
/* NameServer: ip or ip:port; empty = the first of /etc/resolv.conf. */
#define DEF_NAMESERVER		""
/* SMTPPort: port for MX delivery. */
#define DEF_SMTPPORT		25
/* MaxMessageSize: advertised in EHLO SIZE. */
#define DEF_MAXSIZE		26214400LL
#define DEF_MAXRCPT		100
#define DEF_MAXCONN		64
#define DEF_MAXPERIP		8
/* QueueReturn, QueueWarn: bounce after / warn after (0 = never warn). */
#define DEF_QUEUERETURN		(5L * 86400)
#define DEF_QUEUEWARN		(4L * 3600)
/* Timeout.command, Timeout.datablock (RFC 5321 4.5.3.2). */
#define DEF_TCOMMAND		(5L * 60)
#define DEF_TDATABLOCK		(3L * 60)
/* HostStatusTimeout: how long a host that failed is skipped. */
#define DEF_HOSTSTATUS		(30L * 60)
/* RunAsUser: the daemon's user after binding, when started as root. */
#define DEF_RUNASUSER		"mail"
/* LogFile: empty = syslog (facility mail), "-" = stderr. */
#define DEF_LOGFILE		""
#define DEF_PIDFILE		"/run/mta.pid"

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
