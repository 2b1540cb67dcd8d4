/*
 * syncer.c: who runs the group commit's flush, and when. The flush
 * itself, and what it makes durable, is spool_flush in spool.c; read
 * spool.c's top first.
 *
 * The SMTP daemon stages every message whose final dot came in one pass
 * of its loop (syncer_stage: spool_place, and the ID noted here). The
 * staged messages are then flushed together by the syncer, a child that
 * flushes when asked (syncer_ask, then syncer_done when its socket is
 * readable), so that the loop goes on serving the other sessions while
 * the disk works. Without a syncer (it could not start or it died, -bs,
 * the SIGHUP child) the loop flushes itself (syncer_flush).
 *
 * The protocol on the socket: a request is the staged IDs, each followed
 * by a space, then a newline; the answer is one byte, 0 or the errno of
 * the failed flush. At most one request is in flight; messages staged
 * after it wait for the next one (smtp.c counts generations).
 */
#include <sys/socket.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "mta.h"

/* IDs staged and not yet flushed, each followed by a space; the first
 * nasked bytes are the request in flight. */
static char *staged;
static size_t nstaged, capstaged, nasked;
static int syncer = -1;		/* our end of the syncer's socket */

/*
 * Group commit, step one: the message placed (spool_place) and its ID
 * kept for the next flush. It must not be acknowledged before that
 * flush has answered 0.
 */
int
syncer_stage(struct msg *m, int dffd)
{
	size_t n = strlen(m->id);

	if (spool_place(m, dffd, 0) == -1) {
		return -1;
	}
	/* room for the ID, its space and syncer_ask's newline */
	if (nstaged + n + 2 > capstaged) {
		capstaged = (nstaged + n + 2) * 2;
		staged = xrealloc(staged, capstaged);
	}
	memcpy(staged + nstaged, m->id, n);
	nstaged += n;
	staged[nstaged++] = ' ';
	return 0;
}

/*
 * Group commit, step two, in the caller: every staged message made
 * durable at once. Returns -1 with errno when the flush failed.
 */
int
syncer_flush(void)
{
	int r = spool_flush(staged, nstaged);

	nstaged = nasked = 0;
	return r;
}

/* In the syncer: serve requests until the daemon goes away. */
static void
serve(int fd)
{
	char *buf = NULL, *nl;
	int cap = 0, len = 0;
	unsigned char c;
	ssize_t r;

	for (;;) {
		buf = grow(buf, len, &cap, 1);	/* room to read into */
		if ((r = read(fd, buf + len, (size_t)(cap - len))) <= 0) {
			if (r == -1 && errno == EINTR) {
				continue;
			}
			return;
		}
		len += (int)r;
		while ((nl = memchr(buf, '\n', (size_t)len)) != NULL) {
			c = spool_flush(buf, (size_t)(nl - buf)) == 0 ? 0 :
			    errno > 0 && errno < 256 ? (unsigned char)errno :
			    EIO;
			if (write(fd, &c, 1) != 1) {
				return;
			}
			len -= (int)(nl - buf) + 1;
			memmove(buf, nl + 1, (size_t)len);
		}
	}
}

/* Fork the syncer; returns our end of its socket, or -1. */
int
syncer_start(void)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1) {
		return -1;
	}
	switch (fork()) {
	case -1:
		close(sv[0]);
		close(sv[1]);
		return -1;
	case 0:
		/* keep only the spool and our end: no listener stays open
		 * in here if the daemon goes away */
		closefds(sv[1], spool_fd());
		serve(sv[1]);
		_exit(0);
	}
	close(sv[1]);
	syncer = sv[0];
	return syncer;
}

int
syncer_fd(void)
{
	return syncer;
}

/* No syncer from now on: it died, or this is the SIGHUP child that
 * keeps the old sessions. */
void
syncer_drop(void)
{
	if (syncer != -1) {
		close(syncer);
		syncer = -1;
	}
}

/*
 * Ask for a flush of what is staged (something is: smtp.c asks only
 * then); -1 when there is no syncer (flush yourself). At most one
 * request is in flight, so the socket's buffer is empty and the write
 * does not block the loop. The IDs stay in staged until the answer, in
 * case the syncer dies meanwhile.
 */
int
syncer_ask(void)
{
	ssize_t r;

	if (syncer == -1) {
		return -1;
	}
	staged[nstaged] = '\n';	/* syncer_stage left room for it */
	while ((r = write(syncer, staged, nstaged + 1)) == -1 &&
	    errno == EINTR) {
		continue;
	}
	if (r != (ssize_t)nstaged + 1) {
		/* a torn request: its tail must never join the next one
		 * ("...CC" + "DDD\n": ID CCDDD, and DDD unflushed) */
		syncer_drop();
		return -1;
	}
	nasked = nstaged;
	return 0;
}

/*
 * The answer, waited for: 0 flushed, -1 the flush failed (errno says
 * why: ENOSPC is a full disk). A syncer that died before answering
 * counts as a failed flush (EIO), never as one to do again: it may have
 * seen a write error, and the kernel reports that error once, so a
 * second flush of the same files could return 0 over data that never
 * reached the disk. What was staged after the request stays for
 * syncer_flush() in the caller's loop.
 */
int
syncer_done(void)
{
	unsigned char c;
	ssize_t r;

	while ((r = read(syncer, &c, 1)) == -1 && errno == EINTR) {
		continue;
	}
	if (r != 1) {
		syncer_drop();
		logmsg(LOG_ERR, "spool: the syncer is gone: its flush "
		    "counts as failed; flushing in the loop from now on");
		c = EIO;
	}
	memmove(staged, staged + nasked, nstaged - nasked);
	nstaged -= nasked;
	nasked = 0;
	errno = c;
	return c == 0 ? 0 : -1;
}
