/*
 * spool.c: the queue files, and nothing else (the syncer process that
 * runs a group's flush is in syncer.c, mailq's listing in mailq.c).
 *
 * One flat folder, QueueDirectory. A message with queue ID <ID> is
 *
 *	df<ID>	the message: headers and body, LF line ends
 *	qf<ID>	the envelope: sender, recipients with their states, the size
 *		of the df; text, one tagged line per item (format below)
 *	tf<ID>	a qf being written; never read by anyone
 *	Qf<ID>	a qf put aside because it cannot be trusted; kept for the
 *		operator, never delivered
 *
 * A message exists exactly when its qf exists. Its life:
 *
 *		  create
 *	(nothing) ------> df ------------- abort -------------> (nothing)
 *			  |  \					  ^
 *		   commit |   \ stage				  |
 *			  |    v				  |
 *			  |   staged --- flush failed: abort, ----+
 *			  |    |	  then one directory fsync
 *			  |    | flush
 *			  v    v
 *		+---> queued (df+qf) ------- remove ------------> (nothing)
 *	 update |	  |    |
 *		+---------+    +------- quarantine -------------> Qf
 *
 *	create	spool_create: df<ID> made (O_EXCL) and locked; the caller
 *		writes the message into it
 *	commit	spool_place with sync, one message (sendmail, a DSN): tf
 *		written; the writeback of df and tf started, then each
 *		fsynced; tf renamed to qf (THE COMMIT POINT); the directory
 *		fsynced. Then exit 0. A failed step aborts it: nothing is left
 *	stage	spool_place without sync, the SMTP daemon's group commit
 *		(SPEC's second form), for each message whose final dot came in
 *		one pass of the loop: tf written and renamed to qf, nothing
 *		flushed; the qf stays locked, so that no runner delivers what
 *		may yet be taken back
 *	flush	spool_flush, once for the whole group (in the syncer
 *		process, or in the loop; in batches of 256 files): the
 *		writeback of every df and qf started, then waited for; one
 *		fsync of the directory; an fdatasync of each file. Then each
 *		message gets its 250 and is unlocked. If the flush failed,
 *		each is aborted and gets 451 (452: disk full), and one
 *		directory fsync (spool_abortdone) makes the removals
 *		durable: no refused message comes back
 *	update	spool_update: a new tf, fsynced, renamed over the qf, never
 *		patched in place: a crash leaves the old or the new envelope
 *	remove	spool_remove, every recipient done: unlink qf (the message
 *		is gone), then df
 *	quarantine  spool_lock or spool_recover cannot trust the qf (no df,
 *		a df of another size, unparsable, not a plain file of the
 *		spool, alias targets in a qf root did not write): renamed
 *		to Qf and logged
 *
 * A crash in "df" leaves a df (and maybe a tf) without qf: debris,
 * removed by spool_recover once older than STALE_AGE. A crash in
 * "staged" leaves a queued message whose client never saw 250 and sends
 * it again (a duplicate at worst); if the df lost its tail or the qf its
 * end line, the size in the qf or the missing end line tells, and the
 * message is quarantined, never sent torn.
 *
 * What each fsync (or fdatasync) protects:
 *	df, tf		commit, flush: the message's and the envelope's
 *			bytes and sizes, before anyone is told 250
 *	directory	commit, flush: the qf names; a power cut after the
 *			250 does not undo the rename. In the flush, on a
 *			journaled file system, the same journal commit
 *			carries the files' sizes: the fdatasyncs after it
 *			cost little
 *	new tf		update, before its rename: a qf name never points at
 *			bytes that did not reach the disk
 *	directory	update that changes a state (a recipient delivered,
 *			failed or added, a warning sent): a recorded
 *			delivery is not undone and repeated
 *	directory	after a failed group's aborts, a quarantine, a
 *			recovery: they stay done
 * Not fsynced, on purpose: the directory after an update that is only a
 * deferral (attempts, next try, last reply: undone by a power cut, it
 * means an early retry), and after a removal (undone, the message is
 * delivered again: a duplicate, the price of at least once).
 * sync_file_range, where Linux has it, only starts or waits for the
 * writeback: the disk writes a commit's files side by side and ext4
 * puts them in one journal commit; it makes nothing durable on its own.
 *
 * Locking: a queue runner holds flock(LOCK_EX) on the qf it delivers.
 * An update renames a new file over the qf, so the runner locks the new
 * tf before the rename and keeps holding it; a runner that was waiting on
 * the old inode notices (the name no longer points to the inode it
 * locked) and skips the message. flock locks die with their process.
 *
 * qf format, version 1 (one tag letter, then the value, to end of line):
 *	V1		format version, always the first line
 *	T<epoch>	arrival time
 *	Z<bytes>	exact size of the df
 *	S<sender>	envelope sender; empty for the null sender <>
 *	E<envid>	DSN ENVID (optional)
 *	N<F|H>		DSN RET=FULL or RET=HDRS (optional)
 *	W		a delay warning was sent (optional)
 *	B<1|2>		this is a DSN (1), or a DSN to postmaster (2)
 *	R<addr>		starts a recipient; its lines follow:
 *	  s<P|D|F|B>	state: pending, delivered, failed, failed and bounced
 *	  a<n>		attempts so far
 *	  n<epoch>	next try not before
 *	  o<orcpt>	DSN ORCPT (optional)
 *	  d<bits>	DSN NOTIFY bits (optional)
 *	  p<addr>	the address this one was expanded from (optional)
 *	  x		an alias target, not to be expanded again (optional)
 *	  e<text>	last reply or error (optional)
 *	  h<host>	the remote host that gave that reply (optional)
 *	.		end of file; a qf without it is torn
 * Values never hold a newline: spool_format replaces control characters.
 *
 * Reading order: sopen (every spool file is opened through it), then the
 * life above: spool_create, spool_place (commit and stage), spool_flush,
 * spool_update, spool_remove, spool_lock, spool_recover; the qf text
 * format last.
 */
#define _GNU_SOURCE	/* sync_file_range() */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "mta.h"

#define MAXQF	(4 * 1024 * 1024)	/* a qf is never this big */

static int spoolfd = -1;	/* the open QueueDirectory; its fsync makes
				 * its entries (new, renamed, removed names)
				 * durable */

/*
 * Every spool file is opened here, by a name relative to the spool's
 * descriptor. The spool belongs to RunAsUser, so a root runner must not
 * be led elsewhere by what that user (or a process it lost control of)
 * planted: a symlink is never followed (O_NOFOLLOW), a FIFO or device
 * never blocks or is read (O_NONBLOCK, then S_ISREG), a hard link to a
 * file elsewhere is refused (one link only), and so is a file owned by
 * anyone but us, root or the spool's owner (RunAsUser, or root; asked of
 * the folder each time, as spool_chown may change it). O_CREAT always
 * means O_EXCL: the caller removes a stale file first when it means to
 * replace one. A refused file gives -1 with errno EPERM.
 */
static int
sopen(const char *name, int flags)
{
	struct stat st, dir;
	int fd;

	if (flags & O_CREAT) {
		flags = (flags & ~O_TRUNC) | O_EXCL;
	}
	fd = openat(spoolfd, name, flags | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC | O_NOCTTY, 0600);
	if (fd == -1) {
		if (errno == ELOOP) {
			logmsg(LOG_ALERT, "spool: %s refused: a symlink", name);
			errno = EPERM;
		}
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_nlink != 1 || (st.st_uid != 0 && st.st_uid != geteuid() &&
	    (fstat(spoolfd, &dir) == -1 || st.st_uid != dir.st_uid))) {
		close(fd);
		logmsg(LOG_ALERT, "spool: %s refused: not a plain file of the "
		    "spool's (a link, or another owner)", name);
		errno = EPERM;
		return -1;
	}
	return fd;
}

/* Open (and create if needed) the spool directory once per process. */
int
spool_open(void)
{
	if (spoolfd != -1) {
		return 0;
	}
	if (mkdir(set.queuedir, 0700) == -1 && errno != EEXIST) {
		return -1;
	}
	spoolfd = open(set.queuedir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return spoolfd == -1 ? -1 : 0;
}

int
spool_fd(void)
{
	return spoolfd;
}

/* The spool a SIGHUP predecessor had open: its path may be out of reach
 * for the user we now run as. (mta.c's adopt() closes it on exec again,
 * with the other descriptors handed over.) */
void
spool_adopt(int fd)
{
	spoolfd = fd;
}

/*
 * The spool folder to read, from its start: a copy of its descriptor,
 * rewound, since the copies share one offset with spoolfd (a walk that
 * did not rewind read nothing once an earlier one had reached the end).
 * NULL with errno on failure.
 */
static DIR *
spooldir(void)
{
	DIR *d = NULL;
	int fd;

	if ((fd = fcntl(spoolfd, F_DUPFD_CLOEXEC, 0)) != -1 &&
	    (d = fdopendir(fd)) == NULL) {
		close(fd);
	}
	if (d != NULL) {
		rewinddir(d);
	}
	return d;
}

/*
 * Give the spool to RunAsUser (root only, at the daemon's start): the
 * folder, and the files a previous RunAsUser left, so that a change of
 * that setting does not make queued mail look foreign to sopen(). A
 * file is given by its descriptor, and only a plain one with one link
 * that root does not own: a hard link to a file elsewhere is never
 * handed over.
 */
int
spool_chown(uid_t uid, gid_t gid)
{
	struct dirent *e;
	struct stat st;
	DIR *d;
	int fd;

	if (fchown(spoolfd, uid, gid) == -1 || (d = spooldir()) == NULL) {
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		/* "." and ".." are folders: S_ISREG below leaves them out */
		fd = openat(spoolfd, e->d_name, O_RDONLY | O_NOFOLLOW |
		    O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
		if (fd == -1) {
			continue;
		}
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
		    st.st_nlink == 1 && st.st_uid != 0 && st.st_uid != uid) {
			(void)fchown(fd, uid, gid);
		}
		close(fd);
	}
	closedir(d);
	return 0;
}

/* Other files kept in the spool folder (.hoststat); O_CREAT replaces. */
int
spool_openfile(const char *name, int flags)
{
	if ((flags & O_CREAT) && unlinkat(spoolfd, name, 0) == -1 &&
	    errno != ENOENT) {
		return -1;
	}
	return sopen(name, flags);
}

int
spool_renamefile(const char *from, const char *to)
{
	return renameat(spoolfd, from, spoolfd, to);
}

static const char b62[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/* A queue ID: base-62 characters only, never a path. */
static int
isid(const char *s)
{
	size_t n = strspn(s, b62);

	return n > 0 && n < QIDLEN && s[n] == '\0';
}

/* The name of the file of that kind ('d', 'q', 't', 'Q') of id, in buf. */
static char *
fname(char *buf, char kind, const char *id)
{
	/* ids are at most QIDLEN-1 characters, buf is QIDLEN + 2 */
	snprintf(buf, QIDLEN + 2, "%cf%s", kind, id);
	return buf;
}

/* Rename the file of kind from of id to kind to: tf to qf, qf to Qf. */
static int
srename(const char *id, char from, char to)
{
	char a[QIDLEN + 2], b[QIDLEN + 2];

	return renameat(spoolfd, fname(a, from, id), spoolfd, fname(b, to, id));
}

/* Does a file kind+id exist? */
static int
exists(char kind, const char *id)
{
	char name[QIDLEN + 2];

	return faccessat(spoolfd, fname(name, kind, id), F_OK, 0) == 0;
}

/* The w lowest base-62 digits of v at p, the highest first. */
static void
digits62(char *p, unsigned long long v, int w)
{
	while (w-- > 0) {
		p[w] = b62[v % 62];
		v /= 62;
	}
}

/*
 * A queue ID: arrival second, microsecond and pid in base 62, so that IDs
 * sort by arrival. A clock set back or a reused pid could repeat one;
 * spool_create's O_EXCL and its check for a qf catch that, and a retry
 * appends a sequence number.
 */
static void
newid(char *id, unsigned seq)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	digits62(id, (unsigned long long)ts.tv_sec, 6);
	digits62(id + 6, (unsigned long long)ts.tv_nsec / 1000, 4);
	digits62(id + 10, (unsigned long long)getpid(), 4);
	digits62(id + 14, seq, 2);
	id[seq > 0 ? 16 : 14] = '\0';
}

/* Create a new df; returns its descriptor and sets m->id, or -1. */
int
spool_create(struct msg *m)
{
	char name[QIDLEN + 2];
	unsigned seq;
	int fd;

	for (seq = 0; seq < 1000; seq++) {
		newid(m->id, seq);
		if (exists('q', m->id)) {
			continue;
		}
		fd = sopen(fname(name, 'd', m->id), O_WRONLY | O_CREAT);
		if (fd != -1) {
			/* held until the qf exists: recovery leaves a df it
			 * cannot lock alone, however slow its writer */
			flock(fd, LOCK_EX);
			return fd;
		}
		if (errno != EEXIST) {
			return -1;
		}
	}
	errno = EEXIST;
	return -1;
}

/*
 * Write the envelope to a new tf<ID> and return its descriptor, open
 * (and locked, with lock), or -1. Nothing is flushed here.
 */
static int
writetf(struct msg *m, int lock)
{
	char name[QIDLEN + 2], *buf;
	size_t len;
	int fd, e;

	buf = spool_format(m, &len);
	/* a tf left by a crash, or planted, goes before ours is made */
	fd = spool_openfile(fname(name, 't', m->id), O_WRONLY | O_CREAT);
	if (fd != -1 && ((lock && flock(fd, LOCK_EX) == -1) ||
	    writeall(fd, buf, len) == -1)) {
		e = errno;	/* made but not written: it goes */
		close(fd);
		unlinkat(spoolfd, name, 0);
		errno = e;
		fd = -1;
	}
	free(buf);
	return fd;
}

/* After spool_abort of a failed group: the removals made durable, so
 * that no message the client was refused comes back after a crash. */
void
spool_abortdone(void)
{
	fsync(spoolfd);
}

/*
 * Tell the kernel to write a file's dirty pages now (Linux), or with
 * wait, to write them and wait until the disk has them. Never a flush
 * on its own: it writes no metadata (the size, the blocks' places) and
 * flushes no disk cache; only the fsync() or fdatasync() after it
 * makes the file durable. It lets the disk write the files of a commit
 * side by side, and lets ext4 give their blocks (delayed allocation) to
 * the journal transaction that the next fsync commits: one commit for
 * them all. Elsewhere (no sync_file_range) the fsyncs alone do it.
 */
static int
writeback(int fd, int wait)
{
#ifdef SYNC_FILE_RANGE_WRITE
	unsigned flags = wait ? SYNC_FILE_RANGE_WAIT_BEFORE |
	    SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER :
	    SYNC_FILE_RANGE_WRITE;

	if (sync_file_range(fd, 0, 0, flags) == -1 && errno != ENOSYS &&
	    errno != EINVAL && errno != ESPIPE) {
		return -1;
	}
#else
	(void)fd;
	(void)wait;
#endif
	return 0;
}

/* Steps that all run, whatever fails: *e keeps the first errno. */
static void
firsterr(int *e, int r)
{
	if (r == -1 && *e == 0) {
		*e = errno;
	}
}

/*
 * Make n open spool files durable (their data, size and blocks), their
 * writeback started together first. Alone (a single commit), each file
 * is then fsynced. For a group, the writeback is waited for, the
 * directory fsynced (the names; on a journaled file system one commit
 * that carries the files' sizes too), then each file fdatasynced: what
 * the directory's commit did not already make durable, which costs
 * little where it did, and closed. Every file is tried; -1 with the
 * first errno when any step failed.
 */
static int
syncfiles(const int *fd, int n, int group)
{
	int i, e = 0;

	for (i = 0; i < n; i++) {
		firsterr(&e, writeback(fd[i], 0));
	}
	if (group) {
		for (i = 0; i < n; i++) {
			firsterr(&e, writeback(fd[i], 1));
		}
		firsterr(&e, fsync(spoolfd));
	}
	for (i = 0; i < n; i++) {
		firsterr(&e, group ? fdatasync(fd[i]) : fsync(fd[i]));
		if (group) {
			close(fd[i]);
		}
	}
	errno = e;
	return e == 0 ? 0 : -1;
}

/*
 * Commit (sync) or stage (see the top): the tf written, df and tf flushed
 * (with sync), the tf renamed to qf, the df closed, then (with sync) the
 * directory fsynced. dffd is closed here whatever happens; on failure
 * nothing of the message is left and -1 is returned with errno set.
 *
 * A commit, for one message (sendmail, a DSN): on -1 the caller reports
 * a temporary failure and the client keeps the message.
 *
 * A stage, the group commit's step one (SPEC "The spool", second form):
 * the df closed and the tf renamed to qf, with no flush yet, the qf
 * locked. The message must not be acknowledged before spool_flush of its
 * group returned 0. Until then a crash may leave the qf with a short df,
 * or a torn qf: the size in the qf and the end line of the qf tell, and
 * the next runner quarantines instead of delivering.
 */
int
spool_place(struct msg *m, int dffd, int sync)
{
	struct stat st;
	int fd[2] = { dffd, -1 };	/* the df, the tf */

	if (fstat(dffd, &st) == -1) {
		goto fail;
	}
	m->size = st.st_size;
	/* staged (no sync): the qf stays locked until the flush answers,
	 * so no runner delivers what may yet be taken back */
	if ((fd[1] = writetf(m, !sync)) == -1) {
		goto fail;
	}
	m->lockfd = fd[1];	/* spool_abort closes it, keeping errno */
	if ((sync && syncfiles(fd, 2, 0) == -1) ||
	    srename(m->id, 't', 'q') == -1) {
		goto fail;
	}
	if (sync) {
		m->lockfd = -1;
		if (close(fd[1]) == -1) {
			goto fail;
		}
	}
	/*
	 * The df's lock goes only now that its qf exists. If the directory's
	 * fsync fails, the name may or may not reach the disk: we cannot
	 * promise the message, so it must not exist. Take it back.
	 */
	if (close(dffd) == -1 || (sync && fsync(spoolfd) == -1)) {
		dffd = -1;
		goto fail;
	}
	return 0;
fail:
	spool_abort(m, dffd);
	return -1;
}

#define FLUSHMAX	256	/* files flushed together (open descriptors) */

/*
 * Group commit, step two: flush the staged messages named in ids ("ID
 * ID ... ", len bytes, as syncer.c keeps them): their own files, never
 * the whole file system (a NAS may be writing a backup on it). Each df
 * and qf has its writeback started, then waited for; one fsync of the
 * directory makes every new name durable (on a journaled file system,
 * one commit carries the names and the files' sizes); then an fdatasync
 * of each file makes its data and size durable wherever the directory's
 * fsync did not (and costs little where it did). A message that is gone
 * was aborted and needs no flush. -1 with errno (ENOSPC, EIO...) when
 * anything failed.
 */
int
spool_flush(char *ids, size_t len)
{
	char *id, *end = ids + len, *sp, name[QIDLEN + 2];
	int fd[FLUSHMAX], n = 0, e = 0;
	const char *k;

	for (id = ids; id < end; id = sp + 1) {
		if ((sp = memchr(id, ' ', (size_t)(end - id))) == NULL) {
			break;
		}
		*sp = '\0';
		for (k = "dq"; isid(id) && *k != '\0'; k++) {
			if (n == FLUSHMAX) {
				/* a huge group: one directory fsync a batch */
				firsterr(&e, syncfiles(fd, n, 1));
				n = 0;
			}
			if ((fd[n] = sopen(fname(name, *k, id), O_RDONLY)) != -1) {
				n++;
			} else if (errno != ENOENT) {
				firsterr(&e, -1);
			}
		}
		*sp = ' ';
	}
	if (n > 0) {
		firsterr(&e, syncfiles(fd, n, 1));
	}
	errno = e;
	return e == 0 ? 0 : -1;
}

/* The lock on a message's qf (or staged tf) let go. */
static void
spool_unlock(struct msg *m)
{
	if (m->lockfd != -1) {
		close(m->lockfd);
		m->lockfd = -1;
	}
}

/* Forget a message that was never acknowledged: every file goes (qf
 * first: the message is gone at once). errno is kept. */
void
spool_abort(struct msg *m, int dffd)
{
	char name[QIDLEN + 2];
	const char *k;
	int e = errno;

	for (k = "qtd"; *k != '\0'; k++) {
		unlinkat(spoolfd, fname(name, *k, m->id), 0);
	}
	if (dffd != -1) {
		close(dffd);	/* its lock last: the names are gone */
	}
	spool_unlock(m);
	errno = e;
}

/*
 * The envelope as far as an update must make it durable at once: the qf
 * text less the lines a deferral changes (attempts, next try, last reply
 * and its host). The runner's message, as last read or written, is kept
 * here (one message at a time per process) to tell a deferral from a
 * change of state.
 */
static char lastid[QIDLEN], *lastkey;

static char *
statekey(const struct msg *m)
{
	char *buf, *in, *out, *nl;
	size_t len;

	buf = spool_format(m, &len);
	for (in = out = buf; *in != '\0'; in = nl + 1) {
		nl = strchr(in, '\n');	/* spool_format ends every line */
		if (strchr("aneh", *in) == NULL) {
			memmove(out, in, (size_t)(nl - in) + 1);
			out += nl - in + 1;
		}
	}
	*out = '\0';
	return buf;
}

static void
remember(const struct msg *m, char *key)
{
	free(lastkey);
	lastkey = key;
	memcpy(lastid, m->id, sizeof(lastid));
}

/*
 * Replace the qf of a locked message with its new state. The new file
 * is locked before it takes the name, so the lock is never lost. The tf
 * is always fsynced before the rename: a qf name over a tf whose
 * bytes did not reach the disk would be a torn qf, and the message lost.
 * The directory is fsynced after a change of state (a recipient done,
 * failed or added, a warning sent), not after a deferral: a deferral
 * undone by a power cut (the old qf back) only means an early retry.
 */
int
spool_update(struct msg *m)
{
	char tf[QIDLEN + 2], *key;
	int fd, e, deferral;

	if ((fd = writetf(m, 1)) == -1) {
		return -1;
	}
	if (fsync(fd) == -1 || srename(m->id, 't', 'q') == -1) {
		e = errno;
		close(fd);
		unlinkat(spoolfd, fname(tf, 't', m->id), 0);
		errno = e;
		return -1;
	}
	spool_unlock(m);	/* the old qf's lock; the new qf is locked */
	m->lockfd = fd;
	key = statekey(m);
	/* lastid is empty until remember() sets it with lastkey */
	deferral = strcmp(lastid, m->id) == 0 && strcmp(lastkey, key) == 0;
	if (!deferral && fsync(spoolfd) == -1) {
		free(key);
		return -1;
	}
	remember(m, key);
	return 0;
}

/*
 * Every recipient is done: the message goes, qf first (a crash between
 * the two leaves a df without qf, debris for spool_recover). Nothing is
 * flushed: a removal undone by a power cut brings the message back, and
 * it is delivered again, a duplicate, the price of at least once. On a
 * file system that may reorder the two unlinks (ext2, vfat, some FUSE)
 * the qf can come back without its df: quarantined as "df missing"
 * although it was delivered, a false alarm that loses nothing. No qf is
 * rewritten before.
 */
int
spool_remove(struct msg *m)
{
	char name[QIDLEN + 2];
	int r = unlinkat(spoolfd, fname(name, 'q', m->id), 0);

	if (unlinkat(spoolfd, fname(name, 'd', m->id), 0) == -1 &&
	    errno != ENOENT) {
		r = -1;
	}
	spool_unlock(m);
	return r;
}

/*
 * Put a qf aside as Qf<ID> so that it is kept but never delivered; m,
 * when it was read from it (spool_lock), is forgotten and unlocked
 * first. Returns -1, spool_lock's "unusable".
 */
static int
quarantine(struct msg *m, const char *id, const char *why)
{
	if (m != NULL) {
		msg_free(m);
	}
	if (srename(id, 'q', 'Q') == -1) {
		if (errno != ENOENT) {
			logmsg(LOG_ERR, "%s: spool: cannot quarantine: %s",
			    id, strerror(errno));
		}
		return -1;
	}
	fsync(spoolfd);
	logmsg(LOG_ALERT, "%s: spool: quarantined as Qf%s: %s", id, id, why);
	return -1;
}

/* Read and parse the qf of id from fd. */
static int
readqf(const char *id, struct msg *m, int fd)
{
	char *buf;
	size_t len;
	int r;

	if ((buf = readall(fd, MAXQF, &len)) == NULL) {
		return -1;
	}
	snprintf(m->id, sizeof(m->id), "%s", id);
	r = spool_parse(buf, len, m);
	free(buf);
	return r;
}

/* The envelope of id, read without its lock (mailq): 0, -1 when it does
 * not parse, 1 when it is gone (delivered meanwhile) or refused. */
int
spool_read(const char *id, struct msg *m)
{
	char qf[QIDLEN + 2];
	int fd, r;

	msg_init(m);
	if ((fd = sopen(fname(qf, 'q', id), O_RDONLY)) == -1) {
		return 1;
	}
	r = readqf(id, m, fd);
	close(fd);
	return r;
}

/*
 * Lock the message id for delivery and read its envelope.
 * Returns 0 when locked (m filled, m->lockfd held), 1 when another runner
 * has it or it is gone, -1 when it is unusable (and quarantined).
 */
int
spool_lock(const char *id, struct msg *m)
{
	char qf[QIDLEN + 2];
	const char *why;
	struct stat st, now;
	int fd, i;

	if (!isid(id)) {
		return 1;	/* not a queue ID (the runner pipe, say) */
	}
	msg_init(m);
	if ((fd = sopen(fname(qf, 'q', id), O_RDONLY)) == -1) {
		return errno != EPERM ? 1 :
		    quarantine(m, id, "the qf is not a plain spool file");
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1 || fstat(fd, &st) == -1 ||
	    fstatat(spoolfd, qf, &now, AT_SYMLINK_NOFOLLOW) == -1 ||
	    now.st_ino != st.st_ino || now.st_dev != st.st_dev) {
		/* busy, or replaced or removed by the runner we waited on */
		close(fd);
		return 1;
	}
	m->lockfd = fd;
	why = readqf(id, m, fd) == -1 ? "malformed qf" : NULL;
	/*
	 * Files and programs as recipients ("x" lines) come only from alias
	 * expansion by a root runner, which writes its qf as root. Running as
	 * root, a qf from anyone else (the daemon's user owns the spool) that
	 * carries them is refused: it would make that user root.
	 */
	for (i = 0; why == NULL && geteuid() == 0 && st.st_uid != 0 &&
	    i < m->nrcpt; i++) {
		if (m->rcpt[i].expanded) {
			why = "alias targets in a qf not written by root";
		}
	}
	if (why != NULL) {
		return quarantine(m, id, why);
	}
	remember(m, statekey(m));
	if ((fd = spool_opendf(m)) == -1) {
		why = errno == ENOENT ? "df missing" : errno == EPERM ?
		    "the df is not a plain spool file" : errno == ESTALE ?
		    "df size differs from the qf" : NULL;
		if (why == NULL) {
			msg_free(m);
			return 1;	/* cannot tell now: try later */
		}
		return quarantine(m, id, why);
	}
	close(fd);
	return 0;
}

/*
 * The df of a message, checked as every spool file is, and against the
 * size its qf recorded (ESTALE when it differs): a df cut short by a
 * crash, or swapped since, is never delivered.
 */
int
spool_opendf(struct msg *m)
{
	char df[QIDLEN + 2];
	struct stat st;
	int fd;

	if ((fd = sopen(fname(df, 'd', m->id), O_RDONLY)) == -1) {
		return -1;
	}
	if (fstat(fd, &st) == -1 || st.st_size != m->size) {
		close(fd);
		errno = ESTALE;
		return -1;
	}
	return fd;
}

/* The size in bytes an operator asked to keep free; -1 if below it. */
int
spool_freespace(long long need)
{
	struct statvfs sv;

	if (set.minfree <= 0) {
		return 0;
	}
	if (fstatvfs(spoolfd, &sv) == -1) {
		return -1;
	}
	if ((long long)sv.f_bavail * (long long)sv.f_frsize - need <
	    set.minfree) {
		errno = ENOSPC;
		return -1;
	}
	return 0;
}


static int
cmpid(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The IDs of every committed message, oldest first (IDs begin with the
 * arrival time). The caller frees each string and the array.
 */
int
spool_list(char ***ids)
{
	DIR *d;
	struct dirent *e;
	char **v = NULL;
	int n = 0, cap = 0;

	if ((d = spooldir()) == NULL) {
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, "qf", 2) == 0 && isid(e->d_name + 2)) {
			v = grow(v, n, &cap, sizeof(*v));
			v[n++] = xstrdup(e->d_name + 2);
		}
	}
	closedir(d);
	if (n > 1) {
		qsort(v, (size_t)n, sizeof(*v), cmpid);
	}
	*ids = v;
	return n;
}

/* Is there a tf/df of id that changed within STALE_AGE? */
static int
fresh(char kind, const char *id, time_t now)
{
	char name[QIDLEN + 2];
	struct stat st;

	fname(name, kind, id);
	return fstatat(spoolfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    now - st.st_mtime <= STALE_AGE;
}

/*
 * A df without qf that nobody has locked is a message that never reached
 * its commit point; one still locked is being written (slowly).
 */
static void
orphan(const char *name, const char *id)
{
	int fd = openat(spoolfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC | O_NOCTTY);

	if (fd == -1) {
		if (errno == ELOOP) {	/* planted: a name, and nothing else */
			unlinkat(spoolfd, name, 0);
		}
		return;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == 0 && !exists('q', id) &&
	    unlinkat(spoolfd, name, 0) == 0) {
		logmsg(LOG_NOTICE, "%s: spool: removed orphan %s", id, name);
	}
	close(fd);
}

/* One directory entry, as spool_recover sees it. */
static void
recover1(const char *name, time_t now)
{
	struct stat st;
	const char *id = name + 2;

	/*
	 * The entry's own age, from one stat: a tf that is gone since
	 * readdir must not count as stale, as an update may be making a
	 * new one under that name.
	 */
	if (name[1] != 'f' || !isid(id) ||
	    fstatat(spoolfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
		return;
	}
	if (name[0] == 't' && now - st.st_mtime > STALE_AGE) {
		/* a commit or update that died before its rename */
		if (unlinkat(spoolfd, name, 0) == 0) {
			logmsg(LOG_NOTICE, "%s: spool: removed stale %s", id,
			    name);
		}
	} else if (name[0] == 'd' && now - st.st_mtime > STALE_AGE &&
	    !exists('q', id) && !fresh('t', id, now)) {
		orphan(name, id);
	} else if (name[0] == 'q' && !exists('d', id)) {
		quarantine(NULL, id, "df missing");
	}
}

/*
 * Clean up after crashes: stale tf, orphan df, qf without df. Nothing
 * else is touched. Safe to run beside other runners and submitters.
 */
void
spool_recover(void)
{
	DIR *d;
	struct dirent *e;
	time_t now = time(NULL);

	if ((d = spooldir()) == NULL) {
		logmsg(LOG_ERR, "spool: recover: cannot read %s: %s",
		    set.queuedir, strerror(errno));
		return;
	}
	while ((e = readdir(d)) != NULL) {
		recover1(e->d_name, now);
	}
	closedir(d);
	fsync(spoolfd);
}

/* ---- the qf text format ---- */

/* A decimal number from 0 to max, or -1. */
static long long
num(const char *s, long long max)
{
	long long v;
	char *end;

	errno = 0;
	v = strtoll(s, &end, 10);
	return errno != 0 || end == s || *end != '\0' || v < 0 || v > max ?
	    -1 : v;
}

/* One of the letters in set, alone, or -1. */
static int
letter(const char *s, const char *set)
{
	return *s != '\0' && s[1] == '\0' && strchr(set, *s) != NULL ? *s :
	    -1;
}

/* A text value; a repeated line replaces the one before. */
static int
setstr(char **p, const char *val)
{
	free(*p);
	*p = xstrdup(val);
	return 0;
}

/*
 * One line of the qf after V1, other than R and the end line: before the
 * first R a line of the message (an upper-case tag, below 'a'), after it
 * a line of the recipient r (a lower-case tag). Returns the value it
 * stored (0 for a text), negative when the line is not valid.
 */
static long long
parseline(struct msg *m, struct rcpt *r, char tag, char *val)
{
	if ((r != NULL) != (tag >= 'a')) {
		return -1;	/* a line out of its place */
	}
	switch (tag) {
	case 'T':
		return m->arrival = (time_t)num(val, LLONG_MAX);
	case 'Z':
		return m->size = (off_t)num(val, LLONG_MAX);
	case 'S':
		return setstr(&m->sender, val);
	case 'E':
		return setstr(&m->envid, val);
	case 'N':
		return m->ret = letter(val, "FH");	/* RET_FULL, RET_HDRS */
	case 'W':
		return m->warned = *val == '\0' ? 1 : -1;
	case 'B':
		return m->bounce = letter(val, "12") - '0';
	case 's':
		return r->state = letter(val, "PDFB");
	case 'a':
		return r->attempts = (int)num(val, 1000000);
	case 'n':
		return r->next = (time_t)num(val, LLONG_MAX);
	case 'd':
		return r->notify = (int)num(val, 15);
	case 'o':
		return setstr(&r->orcpt, val);
	case 'p':
		return setstr(&r->parent, val);
	case 'x':
		return r->expanded = *val == '\0' ? 1 : -1;
	case 'e':
		return setstr(&r->reply, val);
	case 'h':
		return setstr(&r->rhost, val);
	}
	return -1;
}

/* The C0 controls and DEL: spool_format never writes one in a value. */
static const char ctl[] = "\001\002\003\004\005\006\007\010\011\012\013\014"
    "\015\016\017\020\021\022\023\024\025\026\027\030\031\032\033\034"
    "\035\036\037\177";

/*
 * Parse a qf held in buf (NUL-terminated, len bytes). Strict: an unknown
 * tag, a missing field, a missing end line or a NUL byte is an error, so
 * that a damaged file is quarantined rather than half understood.
 */
int
spool_parse(const char *buf, size_t len, struct msg *m)
{
	char *copy, *line, *nl;
	struct rcpt *r = NULL;
	int done = 0, err = 0;

	if (strlen(buf) != len || strncmp(buf, "V1\n", 3) != 0) {
		return -1;
	}
	m->arrival = -1;	/* T, Z and S must come */
	m->size = -1;
	copy = xstrdup(buf + 3);
	/* a last line without its newline is torn: no end line is seen */
	for (line = copy; !done && !err && (nl = strchr(line, '\n')) != NULL;
	    line = nl + 1) {
		*nl = '\0';
		if (line[strcspn(line, ctl)] != '\0') {
			err = 1;	/* spool_format never writes one */
		} else if (strcmp(line, ".") == 0) {
			done = 1;
		} else if (line[0] == 'R') {
			r = msg_addrcpt(m, line + 1);
			r->state = 0;
		} else {
			err = parseline(m, r, line[0], line + 1) < 0;
		}
	}
	free(copy);
	if (err || !done || m->arrival < 0 || m->size < 0 ||
	    m->sender == NULL || m->nrcpt == 0) {
		return -1;
	}
	for (r = m->rcpt; r < m->rcpt + m->nrcpt; r++) {
		if (r->state == 0 ||
		    (r->state == R_PENDING && !rcpt_deliverable(r->addr))) {
			return -1;
		}
	}
	return 0;
}

struct sbuf {
	char *p;
	size_t len, cap;
};

/* Append "<tag><value>\n", with control characters made harmless; no
 * line for a NULL value (an optional item that is not there). */
static void
put(struct sbuf *b, char tag, const char *val)
{
	size_t n, i;

	if (val == NULL) {
		return;
	}
	n = strlen(val);
	if (b->len + n + 3 > b->cap) {
		b->cap = (b->len + n + 3) * 2;
		b->p = xrealloc(b->p, b->cap);
	}
	b->p[b->len++] = tag;
	for (i = 0; i < n; i++) {
		b->p[b->len++] = (unsigned char)val[i] < 0x20 || val[i] == 0x7f ?
		    ' ' : val[i];
	}
	b->p[b->len++] = '\n';
	b->p[b->len] = '\0';
}

/* A number; a 0 only with zero (else it is an optional item not there). */
static void
putnum(struct sbuf *b, char tag, long long v, int zero)
{
	char num[32];

	snprintf(num, sizeof(num), "%lld", v);
	put(b, tag, v != 0 || zero ? num : NULL);
}

/* The qf text of m; the caller frees it. */
char *
spool_format(const struct msg *m, size_t *len)
{
	struct sbuf b = { NULL, 0, 0 };
	const struct rcpt *r;
	char st[2] = { 0, 0 };

	put(&b, 'V', "1");
	putnum(&b, 'T', (long long)m->arrival, 1);
	putnum(&b, 'Z', (long long)m->size, 1);
	put(&b, 'S', m->sender != NULL ? m->sender : "");
	put(&b, 'E', m->envid);
	st[0] = (char)m->ret;
	put(&b, 'N', m->ret != RET_DEFAULT ? st : NULL);
	put(&b, 'W', m->warned ? "" : NULL);
	putnum(&b, 'B', m->bounce, 0);
	for (r = m->rcpt; r < m->rcpt + m->nrcpt; r++) {
		put(&b, 'R', r->addr);
		st[0] = (char)r->state;
		put(&b, 's', st);
		putnum(&b, 'a', r->attempts, 1);
		putnum(&b, 'n', (long long)r->next, 1);
		put(&b, 'o', r->orcpt);
		putnum(&b, 'd', r->notify, 0);
		put(&b, 'p', r->parent);
		put(&b, 'x', r->expanded ? "" : NULL);
		put(&b, 'e', r->reply);
		put(&b, 'h', r->rhost);
	}
	put(&b, '.', "");	/* the end line: "." alone */
	*len = b.len;
	return b.p;
}

void
msg_init(struct msg *m)
{
	*m = (struct msg){ .lockfd = -1 };
}

void
msg_free(struct msg *m)
{
	int i;

	for (i = 0; i < m->nrcpt; i++) {
		free(m->rcpt[i].addr);
		free(m->rcpt[i].orcpt);
		free(m->rcpt[i].parent);
		free(m->rcpt[i].reply);
		free(m->rcpt[i].rhost);
	}
	free(m->rcpt);
	free(m->sender);
	free(m->envid);
	spool_unlock(m);
	msg_init(m);
}

/*
 * Can a recipient be delivered: an address, a |program or a /file. One
 * that cannot is only ever kept failed, for its DSN (a refused alias item,
 * deliver.c); a qf naming it as still to deliver is damaged.
 */
int
rcpt_deliverable(const char *addr)
{
	return addr_valid(addr) || addr[0] == '|' || addr[0] == '/';
}

struct rcpt *
msg_addrcpt(struct msg *m, const char *addr)
{
	struct rcpt *r;

	m->rcpt = grow(m->rcpt, m->nrcpt, &m->rcptcap, sizeof(*m->rcpt));
	r = &m->rcpt[m->nrcpt++];
	*r = (struct rcpt){ .addr = xstrdup(addr), .state = R_PENDING };
	return r;
}
