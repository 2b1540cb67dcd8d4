/*
 * local.c: the local mailers: mbox, Maildir, /file and |command.
 *
 * Start at local_deliver(): one message to one target (aliases.c made
 * the targets). A target counts as delivered only when its data is on
 * disk: after fsync of the mbox, or of Maildir's new/ after the rename.
 * An mbox append that fails is cut back to the old length, so no reader
 * ever sees a torn message.
 *
 * As root this writes where others may have planted things (MailSpool,
 * the directories of /file targets, DeadLetterFile): nothing is followed
 * through a symbolic link, files are created O_EXCL, and what is opened
 * is checked by fstat (type, links, owner) before a byte is written.
 */
#define _GNU_SOURCE	/* pipe2() on glibc (the test build) */
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <syslog.h>
#include <unistd.h>

#include "mta.h"

#ifndef PIPE_TIMEOUT
#define PIPE_TIMEOUT	3600		/* seconds a |command may run */
#endif
#ifndef LOCK_TRIES
#define LOCK_TRIES	10		/* lock attempts, half a second apart */
#endif
#define LOCK_STALE	300		/* a dot-lock older than this is dead */
#define BUFSZ		65536

static char ibuf[BUFSZ];
static struct wbuf obuf;	/* IOBUF: as large as ibuf */

/* --- the mailers --- */

/*
 * For descriptors whose close cannot lose data (read-only, pipes): close
 * *fd if open, and mark it closed (-1).
 */
static void
xclose(int *fd)
{
	if (*fd >= 0) {
		(void)close(*fd);
	}
	*fd = -1;
}

static int
setreply(char *reply, size_t rlen, int s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(reply, rlen, fmt, ap);	/* a cut reply still works */
	va_end(ap);
	return s;
}

/* A system call failed: log it and defer (storage errors are temporary). */
static int
tempfail(char *reply, size_t rlen, const char *what, const char *path)
{
	int e = errno;

	logmsg(LOG_ERR, "local: %s %s: %s", what, path, strerror(e));
	return setreply(reply, rlen, D_TEMP, "%s %s %s: %s",
	    e == ENOSPC || e == EDQUOT ? "4.2.2" : "4.3.0", what, path,
	    strerror(e));
}

/* The '>'s and the part of "From " held back at the start of a line. */
static void
pending(struct wbuf *o, size_t *nq, size_t *nf)
{
	for (; *nq > 0; (*nq)--) {
		wput(o, ">", 1);
	}
	wput(o, "From ", *nf);
	*nf = 0;
}

/*
 * Copy the df to o, with mboxrd quoting if asked: a line that matches
 * ^>*From  gets one more '>'. The line-start state (nq '>'s, then nf bytes
 * of "From ") survives buffer boundaries. Returns the last byte ('\n' for
 * an empty df), or -1 if the df cannot be read or has the wrong size.
 */
static int
copydf(struct wbuf *o, const struct msg *m, int dffd, int quote)
{
	size_t nq = 0, nf = 0, i, j;
	const char *nl;
	int bol = 1, last = '\n';
	off_t off = 0;
	ssize_t r;

	while ((r = pread(dffd, ibuf, BUFSZ, off)) > 0) {
		off += r;
		last = (unsigned char)ibuf[r - 1];
		for (i = 0; i < (size_t)r && quote; ) {
			if (!bol) {
				nl = memchr(ibuf + i, '\n', (size_t)r - i);
				j = nl != NULL ? (size_t)(nl - ibuf) + 1 :
				    (size_t)r;
				wput(o, ibuf + i, j - i);
				i = j;
				bol = nl != NULL;
			} else if (nf == 0 && ibuf[i] == '>') {
				nq++, i++;
			} else if (ibuf[i] == "From "[nf]) {
				i++;
				if (++nf == 5) {
					wput(o, ">", 1);
					pending(o, &nq, &nf);
					bol = 0;
				}
			} else {
				pending(o, &nq, &nf);
				bol = 0;
			}
		}
		if (!quote) {
			wput(o, ibuf, (size_t)r);
		}
	}
	pending(o, &nq, &nf);
	if (r == 0 && m->size > 0 && off != m->size) {
		errno = EINVAL;		/* a damaged spool: do not guess */
		return -1;
	}
	return r < 0 ? -1 : last;
}

/* The envelope sender for a header or From_ line: no control bytes. */
static void
cleansender(const struct msg *m, char *buf, size_t len, int forfrom)
{
	const char *s = m->sender != NULL ? m->sender : "";
	size_t i;

	if (forfrom && *s == '\0') {
		s = "MAILER-DAEMON";
	}
	for (i = 0; s[i] != '\0' && i < len - 1; i++) {
		buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ||
		    (forfrom && s[i] == ' ') ? '_' : s[i];
	}
	buf[i] = '\0';
}

/*
 * "Return-Path: <sender>\n" in buf, and its length. The callers put it in
 * ibuf, which the df's copy fills only after it has been used.
 */
static size_t
returnpath(char *buf, size_t len, const struct msg *m)
{
	char s[1024];

	cleansender(m, s, sizeof s, 0);
	return (size_t)snprintf(buf, len, "Return-Path: <%s>\n", s);
}

/* An mbox being appended to: a user's, or a /file from the aliases. */
struct mbox {
	const char *path;
	uid_t uid;		/* the user, who owns a new mailbox */
	gid_t gid;
	int isfile;		/* from the aliases: any owner, devices too */
	int dead;		/* DeadLetterFile: root's (ours), private */
	int fd;
	int dev;		/* a character device (/dev/null): just write */
	int dotlock;		/* we made lock */
	char lock[PATH_MAX];
};

/*
 * Is the opened file one we may append to? A regular file with one link
 * (a /file may be a device such as /dev/null); a mailbox belongs to its
 * user or root; DeadLetterFile to root (us) and private; a named file lies
 * on a path only root and its owner control.
 */
static const char *
checkmbox(const struct mbox *b, const struct stat *st, int made, char *why,
    size_t wlen)
{
	if (!(b->isfile && S_ISCHR(st->st_mode)) &&
	    (!S_ISREG(st->st_mode) || st->st_nlink != 1)) {
		return "not a regular file with one link";
	}
	if (!made && geteuid() == 0 && !b->isfile && !b->dead &&
	    st->st_uid != b->uid && st->st_uid != 0) {
		return "not owned by its user";
	}
	if (b->dead && ((st->st_uid != 0 && st->st_uid != geteuid()) ||
	    (st->st_mode & 027) != 0)) {
		return "not owned by root, or open to others";
	}
	if ((b->isfile || b->dead) && !made &&
	    !local_safepath(b->path, st->st_uid, why, wlen)) {
		return why;
	}
	return NULL;
}

/*
 * Open for append, creating it 0600 (O_EXCL) if there is none. O_NOFOLLOW
 * and the link count stop whoever can write the spool from pointing us at
 * another file; as root, an existing mailbox must belong to its user (or
 * root). O_NONBLOCK: a FIFO planted in its place must not hang us. A named
 * file (a /file or DeadLetterFile) is created only on a path that root
 * alone controls (local_safepath): whoever can write a directory on the way
 * could point us anywhere.
 */
static int
openmbox(struct mbox *b, char *reply, size_t rlen)
{
	int fl = O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC |
	    O_NOCTTY;
	int made = 0, root = geteuid() == 0;
	char why[PATH_MAX + 100];
	const char *bad = NULL;
	struct stat st;

	if ((b->fd = open(b->path, fl)) < 0 && errno == ENOENT) {
		if ((b->isfile || b->dead) &&
		    !local_safepath(b->path, geteuid(), why, sizeof why)) {
			bad = why;
		} else if ((b->fd = open(b->path, fl | O_CREAT | O_EXCL,
		    0600)) >= 0) {
			made = 1;
		} else if (errno == EEXIST) {
			b->fd = open(b->path, fl);	/* another runner's, now */
		}
	}
	if (bad == NULL && (b->fd < 0 || fstat(b->fd, &st) != 0)) {
		return tempfail(reply, rlen, "cannot open", b->path);
	}
	if (bad != NULL || (bad = checkmbox(b, &st, made, why,
	    sizeof why)) != NULL) {
		logmsg(LOG_ERR, "local: %s: unsafe (%s); left alone", b->path,
		    bad);
		return setreply(reply, rlen, D_TEMP, "4.2.0 %s %s is unsafe "
		    "(type, links, owner or path)", b->isfile ? "file" :
		    b->dead ? "DeadLetterFile" : "mailbox", b->path);
	}
	(void)fcntl(b->fd, F_SETFL, O_APPEND);	/* blocking writes again */
	b->dev = b->isfile && S_ISCHR(st.st_mode);
	if (made && root && !b->isfile && !b->dead &&
	    fchown(b->fd, b->uid, b->gid) != 0) {
		(void)unlink(b->path);	/* else it stays root's */
		return tempfail(reply, rlen, "cannot chown", b->path);
	}
	return D_OK;
}

/*
 * Is someone else's dot-lock dead? One from before the last boot is,
 * whatever it holds, and any (empty, unreadable, a live pid) older than
 * LOCK_STALE; so is one naming a process of this machine that no longer
 * runs (a lock made by a killed runner must not hold mail for LOCK_STALE).
 */
static int
stalelock(const char *lock)
{
	struct sysinfo si;	/* uptime: since the boot */
	struct stat st;
	char buf[32], *end;
	ssize_t n = 0;
	long pid;
	int fd;

	if (lstat(lock, &st) != 0) {
		return errno == ENOENT;		/* gone meanwhile */
	}
	if ((sysinfo(&si) == 0 &&
	    st.st_mtime < time(NULL) - (time_t)si.uptime) ||
	    time(NULL) - st.st_mtime > LOCK_STALE) {
		return 1;
	}
	if ((fd = open(lock, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC)) != -1) {
		n = read(fd, buf, sizeof buf - 1);
		(void)close(fd);	/* read-only */
	}
	buf[n > 0 ? n : 0] = '\0';
	pid = strtol(buf, &end, 10);
	return pid > 0 && (*end == '\n' || *end == '\0') &&
	    kill((pid_t)pid, 0) == -1 && errno == ESRCH;
}

/*
 * Make b->lock with our pid already in it, so that no one ever sees it
 * empty: write a temporary file of a unique name beside it (O_EXCL,
 * O_NOFOLLOW), link() it to the lock's name, unlink the temporary (the
 * NFS-safe dot-lock: success if link() says so or the temporary now has
 * two links). link() neither follows nor replaces what has the lock's
 * name. D_OK, a D_TEMP/D_PERM failure, or -1 while the lock exists.
 */
static int
linklock(struct mbox *b, char *reply, size_t rlen)
{
	static unsigned q;
	char tmp[PATH_MAX + 160], host[65], pid[24];
	const char *h = set.hostname;
	struct timespec ts;
	struct stat st;
	int fd = -1, n, i, ok, e;

	for (i = 0; h[i] != '\0' && i < (int)sizeof host - 1; i++) {
		host[i] = isalnum((unsigned char)h[i]) || h[i] == '-' ||
		    h[i] == '.' ? h[i] : '_';
	}
	host[i] = '\0';
	n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	for (i = 0; i < 10 && fd < 0; i++) {
		(void)clock_gettime(CLOCK_REALTIME, &ts);
		(void)snprintf(tmp, sizeof tmp, "%s.%s.%ld.%lx%x", b->lock,
		    host, (long)getpid(), (unsigned long)ts.tv_nsec, ++q);
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST) {
			break;
		}
	}
	if (fd < 0) {
		/* where we may not create files, fcntl alone has to do */
		return errno == EACCES || errno == EPERM || errno == EROFS ?
		    D_OK : tempfail(reply, rlen, "cannot create", tmp);
	}
	ok = write(fd, pid, (size_t)n) == n;
	ok = close(fd) == 0 && ok;
	if (ok) {
		ok = link(tmp, b->lock) == 0 || (lstat(tmp, &st) == 0 &&
		    st.st_nlink == 2);
	}
	e = errno;
	(void)unlink(tmp);
	b->dotlock = ok;
	if (ok || e == EPERM) {
		return D_OK;	/* EPERM: no hard links (FAT), fcntl alone */
	}
	errno = e;
	return e == EEXIST ? -1 : tempfail(reply, rlen, "cannot lock with",
	    b->lock);
}

/* path.lock: linklock(), once more after breaking a dead one. */
static int
dotlock(struct mbox *b, char *reply, size_t rlen)
{
	int s;

	if (snprintf(b->lock, sizeof b->lock, "%s.lock", b->path) >=
	    (int)sizeof b->lock) {
		return setreply(reply, rlen, D_PERM, "5.3.0 path too long");
	}
	if ((s = linklock(b, reply, rlen)) != -1 || !stalelock(b->lock)) {
		return s;
	}
	logmsg(LOG_INFO, "local: breaking stale lock %s", b->lock);
	if (unlink(b->lock) != 0 && errno != ENOENT) {
		return tempfail(reply, rlen, "cannot remove", b->lock);
	}
	return linklock(b, reply, rlen);
}

/* fcntl and dot-lock, for MUAs that know only one of them. */
static int
lockmbox(struct mbox *b, char *reply, size_t rlen)
{
	struct timespec nap = { 0, 500000000L };
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	int i, s = -1;

	for (i = 0; i <= LOCK_TRIES && s == -1; i++) {
		if (i > 0) {
			(void)nanosleep(&nap, NULL);
		}
		if (fcntl(b->fd, F_SETLK, &fl) == 0) {
			s = dotlock(b, reply, rlen);	/* fcntl lock kept */
		} else if (errno != EACCES && errno != EAGAIN &&
		    errno != EINTR) {
			return tempfail(reply, rlen, "cannot lock", b->path);
		}
	}
	return s != -1 ? s : setreply(reply, rlen, D_TEMP, "4.2.0 mailbox "
	    "locked");
}

/*
 * The copy in fd, 0 or -1 with errno. An mbox gets "From sender date",
 * Return-Path, the quoted df and a blank line; a Maildir file Return-Path
 * and the df as it is.
 */
static int
writecopy(int fd, const struct msg *m, int dffd, int mbox)
{
	struct wbuf *o = &obuf;
	char from[1024], date[64], line[sizeof from + sizeof date + 8];
	time_t t = m->arrival > 0 ? m->arrival : time(NULL);
	struct tm tm;
	int last;

	o->fd = fd;
	o->err = 0;
	o->n = 0;
	if (mbox) {
		cleansender(m, from, sizeof from, 1);
		if (localtime_r(&t, &tm) == NULL || strftime(date, sizeof date,
		    "%a %b %e %H:%M:%S %Y", &tm) == 0) {
			errno = EINVAL;
			return -1;
		}
		wput(o, line, (size_t)snprintf(line, sizeof line,
		    "From %s %s\n", from, date));
	}
	wput(o, ibuf, returnpath(ibuf, BUFSZ, m));
	if ((last = copydf(o, m, dffd, mbox)) < 0) {
		return -1;
	}
	if (mbox) {
		wput(o, "\n\n", last == '\n' ? 1 : 2);
	}
	wflush(o);
	errno = o->err;
	return o->err != 0 ? -1 : 0;
}

/*
 * Lock, note the size, append, fsync. On any failure the file is cut back
 * to the noted size, so the mailbox never holds part of a message.
 */
static int
mboxdeliver(struct mbox *b, const struct msg *m, int dffd, char *reply,
    size_t rlen)
{
	struct stat st;
	int s, e;

	if ((s = openmbox(b, reply, rlen)) != D_OK ||
	    (!b->dev && (s = lockmbox(b, reply, rlen)) != D_OK)) {
		goto out;
	}
	if (!b->dev && fstat(b->fd, &st) != 0) {
		s = tempfail(reply, rlen, "cannot stat", b->path);
	} else if (writecopy(b->fd, m, dffd, 1) != 0 ||
	    (!b->dev && fsync(b->fd) != 0)) {
		e = errno;
		if (!b->dev && (ftruncate(b->fd, st.st_size) != 0 ||
		    fsync(b->fd) != 0)) {
			logmsg(LOG_ERR, "local: %s: cannot cut back to %lld "
			    "bytes, the mailbox may be damaged: %s", b->path,
			    (long long)st.st_size, strerror(errno));
		}
		errno = e;
		s = tempfail(reply, rlen, "cannot write", b->path);
	} else {
		s = setreply(reply, rlen, D_OK, "2.0.0 delivered to %s",
		    b->isfile ? "file" : "mailbox");
	}
out:
	/* after the fsync a close error is unlikely, but still defers */
	if (b->fd >= 0 && close(b->fd) != 0 && s == D_OK) {
		s = tempfail(reply, rlen, "cannot close", b->path);
	}
	if (b->dotlock && unlink(b->lock) != 0) {
		logmsg(LOG_ERR, "local: cannot remove %s: %s", b->lock,
		    strerror(errno));
	}
	return s;
}

/*
 * mkdir 0700 (given to the user when we are root), then open it. A new
 * directory is fsynced into its parent, or a crash could lose it with the
 * mail inside. As root, one that was there must be a directory (not a
 * symbolic link) of the user: else *bad is set and errno is EPERM.
 */
static int
opendirmk(int at, const char *name, uid_t uid, gid_t gid, int *bad)
{
	struct stat st;
	int made, fd, e;

	if (!(made = mkdirat(at, name, 0700) == 0) && errno != EEXIST) {
		return -1;
	}
	fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		*bad = errno == ELOOP || errno == ENOTDIR;
		return -1;
	}
	if (!made && geteuid() == 0 && (fstat(fd, &st) != 0 ||
	    st.st_uid != uid)) {
		*bad = 1;
		errno = EPERM;
	} else if (!made || ((geteuid() != 0 || fchown(fd, uid, gid) == 0) &&
	    (at == AT_FDCWD || fsync(at) == 0))) {
		return fd;	/* an old one of its user, or a new one given */
	}
	e = errno;
	(void)close(fd);	/* read-only */
	errno = e;
	return -1;
}

/* time.M<usec>P<pid>Q<n>.<host>, '/' and ':' escaped as Maildir says. */
static void
uniquename(char *buf, size_t len)
{
	static unsigned q;
	const char *h = set.hostname;
	struct timespec ts;
	size_t n;

	(void)clock_gettime(CLOCK_REALTIME, &ts);
	n = (size_t)snprintf(buf, len, "%lld.M%ldP%ldQ%u.",
	    (long long)ts.tv_sec, ts.tv_nsec / 1000, (long)getpid(), ++q);
	for (; *h != '\0' && n + 5 < len; h++) {
		n += (size_t)snprintf(buf + n, len - n, *h == '/' ? "\\057" :
		    *h == ':' ? "\\072" : "%c", *h);
	}
}

/* Write the copy in tmp/, fsync, rename into new/, fsync new/. */
static int
maildirfile(int tmp, int new, const char *name, const struct msg *m,
    int dffd, uid_t uid, gid_t gid)
{
	int fd, e = 0;

	if ((fd = openat(tmp, name, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) < 0) {
		return -1;
	}
	if ((geteuid() == 0 && fchown(fd, uid, gid) != 0) ||
	    writecopy(fd, m, dffd, 0) != 0 || fsync(fd) != 0) {
		e = errno;
	}
	if (close(fd) != 0 && e == 0) {
		e = errno;
	}
	if (e == 0 && renameat(tmp, name, new, name) == 0) {
		return fsync(new);
	}
	e = e != 0 ? e : errno;
	(void)unlinkat(tmp, name, 0);	/* clean up; e is the cause */
	errno = e;
	return -1;
}

static int
maildir(const char *dir, uid_t uid, gid_t gid, const struct msg *m,
    int dffd, char *reply, size_t rlen)
{
	static const char *const sub[] = { "tmp", "new", "cur" };
	int fd[4] = { -1, -1, -1, -1 }, i, s = D_OK, bad = 0;
	char name[256];

	fd[0] = opendirmk(AT_FDCWD, dir, uid, gid, &bad);
	for (i = 0; i < 3 && fd[i] >= 0; i++) {
		fd[i + 1] = opendirmk(fd[0], sub[i], uid, gid, &bad);
	}
	uniquename(name, sizeof name);
	if (bad) {
		logmsg(LOG_ERR, "local: %s%s%s: a symbolic link, not a "
		    "directory or not owned by its user; left alone", dir,
		    i > 0 ? "/" : "", i > 0 ? sub[i - 1] : "");
		s = setreply(reply, rlen, D_TEMP, "4.2.0 maildir %s is unsafe "
		    "(type or owner)", dir);
	} else if (fd[3] < 0 || maildirfile(fd[1], fd[2], name, m, dffd, uid,
	    gid) != 0) {
		s = tempfail(reply, rlen, "cannot deliver to", dir);
	}
	for (i = 0; i < 4; i++) {
		xclose(&fd[i]);
	}
	return s == D_OK ? setreply(reply, rlen, D_OK, "2.0.0 delivered to "
	    "maildir") : s;
}

/* A user's mailbox: MailSpool/user, an mbox or a Maildir. */
static int
mailbox(const char *user, const struct msg *m, int dffd, char *reply,
    size_t rlen)
{
	struct mbox b = { 0 };
	struct passwd *pw;
	char path[PATH_MAX];

	if (*user == '\0' || *user == '.' || strchr(user, '/') != NULL) {
		return setreply(reply, rlen, D_PERM, "5.1.3 bad mailbox name");
	}
	if (strcmp(user, "root") != 0) {
		if (local_getuser(user, &pw) != 0) {
			return tempfail(reply, rlen, "cannot look up", user);
		}
		if (pw == NULL) {
			return setreply(reply, rlen, D_PERM, "5.1.1 user "
			    "unknown");
		}
		b.uid = pw->pw_uid;
		b.gid = pw->pw_gid;
	}
	if (mkdir(set.mailspool, 0755) != 0 && errno != EEXIST) {
		return tempfail(reply, rlen, "cannot create", set.mailspool);
	}
	if (snprintf(path, sizeof path, "%s/%s", set.mailspool, user) >=
	    (int)sizeof path) {
		return setreply(reply, rlen, D_PERM, "5.3.0 path too long");
	}
	if (strcmp(set.mailboxformat, "maildir") == 0) {
		return maildir(path, b.uid, b.gid, m, dffd, reply, rlen);
	}
	b.path = path;
	return mboxdeliver(&b, m, dffd, reply, rlen);
}

/* A |command being fed the message while its output is collected. */
struct cmd {
	int in;			/* our end of its stdin; -1 when done */
	int out;		/* our end of its output; -1 at EOF */
	off_t off;		/* next df offset to read */
	size_t pos, len;	/* unwritten bytes in ibuf */
	char text[512];		/* the start of its output, for the reply */
	size_t n;
};

/*
 * In the child: the message on stdin, output to the pipe, a small clean
 * environment, and RunAsUser's identity when we are root. Errors before
 * exec go to the pipe, so they end up in the reply.
 */
static void
runchild(const char *cmd, const struct msg *m, const char *rcpt, int in,
    int out)
{
	char sender[1100], recipient[1100];
	char *argv[] = { "sh", "-c", (char *)cmd, NULL };
	char *env[] = { "PATH=/usr/bin:/bin", "SHELL=/bin/sh", sender,
	    recipient, NULL };
	const char *ru = set.runasuser;
	int drop = geteuid() == 0 && strcmp(ru, "root") != 0;
	struct passwd *pw = NULL;
	sigset_t none;
	int sig;

	(void)setpgid(0, 0);	/* a timeout kills what it started too */
	for (sig = 1; sig < 32; sig++) {
		(void)signal(sig, SIG_DFL);	/* the ignored SIGPIPE too */
	}
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
	if (drop && (pw = getpwnam(ru)) == NULL) {
		pw = getpwnam("nobody");
	}
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0 ||
	    chdir("/") != 0 || (drop && (pw == NULL ||
	    setgroups(1, &pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 ||
	    setuid(pw->pw_uid) != 0 || (pw->pw_uid != 0 && setuid(0) == 0)))) {
		dprintf(out, "mta: cannot set up the command as %s\n", ru);
		_exit(EX_TEMPFAIL);
	}
	cleansender(m, sender + 7, sizeof sender - 7, 0);
	memcpy(sender, "SENDER=", 7);
	(void)snprintf(recipient, sizeof recipient, "RECIPIENT=%s", rcpt);
	closefds(-1, -1);	/* RunAsUser gets none of root's files */
	execve("/bin/sh", argv, env);
	dprintf(1, "mta: cannot run /bin/sh: %s\n", strerror(errno));
	_exit(EX_TEMPFAIL);
}

/* Write what the pipe takes, refilling ibuf from the df; -1: df error. */
static int
feed(struct cmd *c, int dffd)
{
	ssize_t r;

	while (c->in >= 0) {
		if (c->pos == c->len) {
			if ((r = pread(dffd, ibuf, BUFSZ, c->off)) <= 0) {
				xclose(&c->in);	/* EOF for the command */
				return r < 0 ? -1 : 0;
			}
			c->off += r;
			c->pos = 0;
			c->len = (size_t)r;
		}
		if ((r = write(c->in, ibuf + c->pos, c->len - c->pos)) < 0) {
			if (errno != EAGAIN && errno != EINTR) {
				/* EPIPE: it wants no more; its status says */
				xclose(&c->in);
			}
			return 0;
		}
		c->pos += (size_t)r;
	}
	return 0;
}

/* Keep the start of the output, discard the rest. */
static void
drain(struct cmd *c)
{
	char junk[4096];
	size_t room;
	ssize_t r;

	while (c->out >= 0) {
		room = sizeof c->text - 1 - c->n;
		r = read(c->out, room > 0 ? c->text + c->n : junk,
		    room > 0 ? room : sizeof junk);
		if (r > 0) {
			c->n += room > 0 ? (size_t)r : 0;
		} else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
			xclose(&c->out);
		} else if (errno == EAGAIN) {
			return;
		}
	}
}

/*
 * Feed the command and read its output at the same time (either side may
 * fill a pipe while we wait on the other) until it exits. After
 * PIPE_TIMEOUT, or when the df cannot be read or the pipes cannot be
 * waited on, its process group is killed. Returns 0 when it exited, 1
 * on timeout, -1 on an error (errno).
 */
static int
waitcmd(pid_t pid, struct cmd *c, int dffd, int *status)
{
	time_t end = time(NULL) + PIPE_TIMEOUT;
	int r = 0, e, nap = 10;
	pid_t w;

	while ((w = reap(pid, status, WNOHANG)) == 0) {
		if (r < 0 || time(NULL) >= end) {
			e = errno;
			(void)kill(-pid, SIGKILL);
			(void)kill(pid, SIGKILL);
			(void)reap(pid, status, 0);
			errno = e;
			return r < 0 ? -1 : 1;
		}
		/* a side that is done (-1) is not watched; output closed: it
		 * is probably exiting, so look soon */
		if ((r = waitfds(c->out, c->in, c->out >= 0 ? 1000 : nap)) !=
		    -1) {
			drain(c);
			r = feed(c, dffd);
		}
		nap = c->out >= 0 || nap >= 500 ? nap : nap * 2;
	}
	drain(c);
	return w < 0 ? -1 : 0;
}

/* The exit status as an outcome: EX_TEMPFAIL and signals are temporary. */
static int
cmdstatus(int status, struct cmd *c, char *reply, size_t rlen)
{
	char *s = c->text, *p;
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 0;

	c->text[c->n] = '\0';
	s += strspn(s, " \t\r\n");
	s[strcspn(s, "\r\n")] = '\0';
	for (p = s; *p != '\0'; p++) {
		*p = isprint((unsigned char)*p) ? *p : ' ';
	}
	if (WIFSIGNALED(status)) {
		return setreply(reply, rlen, D_TEMP, "4.3.0 command killed by "
		    "signal %d%s%s", WTERMSIG(status), *s != '\0' ? ": " : "",
		    s);
	}
	if (code == 0) {
		return setreply(reply, rlen, D_OK, "2.0.0 delivered to "
		    "command");
	}
	return setreply(reply, rlen, code == EX_TEMPFAIL ? D_TEMP : D_PERM,
	    "%s command exited with status %d%s%s", code == EX_TEMPFAIL ?
	    "4.3.0" : "5.3.0", code, *s != '\0' ? ": " : "", s);
}

static int
pipedeliver(const struct target *t, const struct msg *m, int dffd,
    char *reply, size_t rlen)
{
	/* p[0] its stdin, p[1] our end of it; p[2] ours, p[3] its output */
	int p[4] = { -1, -1, -1, -1 }, status = 0, r, i;
	struct cmd c = { 0 };
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) != 0 || pipe2(p + 2, O_CLOEXEC) != 0 ||
	    (pid = fork()) < 0) {
		r = tempfail(reply, rlen, "cannot start", t->addr);
		for (i = 0; i < 4; i++) {
			xclose(&p[i]);
		}
		return r;
	}
	if (pid == 0) {	/* a T_PIPE target is "|command" (aliases.c) */
		runchild(t->addr + 1, m, t->addr, p[0], p[3]);
	}
	(void)setpgid(pid, 0);	/* as the child does: no race with kill */
	xclose(&p[0]);
	xclose(&p[3]);
	c.in = p[1];
	c.out = p[2];
	(void)fcntl(c.in, F_SETFL, O_NONBLOCK);	/* valid fds: cannot fail */
	(void)fcntl(c.out, F_SETFL, O_NONBLOCK);
	c.len = returnpath(ibuf, BUFSZ, m);	/* fed first, then the df */
	r = waitcmd(pid, &c, dffd, &status);
	xclose(&c.in);
	xclose(&c.out);
	if (r == 1) {
		return setreply(reply, rlen, D_TEMP, "4.3.0 command timed out "
		    "after %d s", PIPE_TIMEOUT);
	}
	if (r < 0) {
		return tempfail(reply, rlen, "lost the message or the process "
		    "of", t->addr);
	}
	return cmdstatus(status, &c, reply, rlen);
}

int
local_deliver(const struct target *t, const struct msg *m, int dffd,
    char *reply, size_t rlen)
{
	struct mbox b = { .isfile = 1 };

	switch (t->type) {
	case T_MAILBOX:
		return mailbox(t->addr, m, dffd, reply, rlen);
	case T_FILE:
		if (*t->addr != '/') {
			return setreply(reply, rlen, D_PERM, "5.3.0 %s is not "
			    "an absolute path", t->addr);
		}
		b.path = t->addr;
		return mboxdeliver(&b, m, dffd, reply, rlen);
	case T_PIPE:
		return pipedeliver(t, m, dffd, reply, rlen);
	case T_UNKNOWN:
		return setreply(reply, rlen, D_PERM, "5.1.1 user unknown");
	default:
		return setreply(reply, rlen, D_TEMP, "4.3.0 not a local "
		    "target");
	}
}

/*
 * The last resort for a double bounce: append to DeadLetterFile, which
 * must be root's (ours), private, one link, on a safe path; anything else
 * (an ordinary user's copy made in /var/tmp first) is refused, and the
 * caller keeps the message queued.
 */
int
local_deadletter(const char *path, const struct msg *m, int dffd,
    char *reply, size_t rlen)
{
	struct mbox b = { .path = path, .dead = 1 };

	if (path == NULL || *path != '/') {
		return setreply(reply, rlen, D_PERM, "5.3.0 DeadLetterFile "
		    "is not an absolute path");
	}
	return mboxdeliver(&b, m, dffd, reply, rlen);
}
