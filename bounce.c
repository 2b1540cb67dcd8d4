/*
 * bounce.c: delivery status notifications (RFC 3464, RFC 3461).
 *
 * bounce_run() looks at a locked message after its deliveries: failed
 * recipients get a DSN (Action: failed) to the envelope sender, a
 * message waiting longer than QueueWarn gets one "delayed" DSN, and a
 * recipient that asked for NOTIFY=SUCCESS gets a "delivered" one. A DSN
 * is a new message from <> committed like any other, then delivered at
 * once. A message from <> is never bounced to its sender: its failure
 * goes to postmaster (a double bounce), and the failure of that goes to
 * DeadLetterFile; if even that fails, the message stays in the queue.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "mta.h"

#define RETFULLMAX	(100 * 1024)	/* larger originals: headers only */

enum { A_FAILED, A_DELAYED, A_DELIVERED };

/*
 * What each kind of DSN says: its Action, the Status of a recipient whose
 * reply has no enhanced code, the Subject, the text's opening (a format
 * given QueueReturn in hours) and the name of the returned part.
 */
static const struct kind {
	const char *action, *status, *subject, *intro, *part;
} kinds[] = {
	[A_FAILED] = { "failed", "5.0.0",
	    "Undelivered Mail Returned to Sender",
	    "Your message could not be delivered to one or more "
	    "recipients.\nIt is attached below.\n\n", "Undelivered" },
	[A_DELAYED] = { "delayed", "4.0.0",
	    "Delayed Mail (still being retried)",
	    "Your message could not be delivered yet to the recipients "
	    "below.\nThis is a warning only; delivery will be retried until "
	    "%ld hours\nafter it arrived; you need not send it again.\n\n",
	    "Delayed" },
	[A_DELIVERED] = { "delivered", "2.0.0",
	    "Successful Mail Delivery Report",
	    "Your message was delivered to the recipients below.\n\n",
	    "Delivered" },
};

/* The DSNs committed and not yet handed on to deliver.c (bounce_made):
 * one that does not fit is delivered by the next queue run. */
static char made[16][QIDLEN];
static int nmade;

/* The per-recipient block of the message/delivery-status part. */
static void
rcptblock(FILE *f, const struct rcpt *r, int action, const char *date,
    const char *until)
{
	char code[16], orcpt[600];

	const char *a = r->parent != NULL ? r->parent : r->addr;

	if (!enhcode(r->reply != NULL ? r->reply : "", code, sizeof(code))) {
		snprintf(code, sizeof(code), "%s", kinds[action].status);
	}
	/* class 5 is permanent (RFC 3463): never beside "delayed" */
	if (action == A_DELAYED && code[0] == '5') {
		code[0] = '4';
	}
	/* RFC 3464 2.3.2: an address, so a bare local name gets our domain */
	fprintf(f, "\nFinal-Recipient: rfc822; %s%s%s\n", a,
	    strchr(a, '@') == NULL ? "@" : "",
	    strchr(a, '@') == NULL ? set.hostname : "");
	if (r->orcpt != NULL) {
		dsn_unxtext(r->orcpt, orcpt, sizeof(orcpt));
		fprintf(f, "Original-Recipient: %s\n", orcpt);
	}
	/* success at a next hop that knows no DSN: we only relayed it */
	fprintf(f, "Action: %s\nStatus: %s\n", action == A_DELIVERED &&
	    r->rhost != NULL ? "relayed" : kinds[action].action, code);
	if (r->rhost != NULL) {
		fprintf(f, "Remote-MTA: dns; %.*s\n",
		    (int)strcspn(r->rhost, "["), r->rhost);
	}
	if (r->reply != NULL && (action != A_DELIVERED || r->rhost != NULL)) {
		fprintf(f, "Diagnostic-Code: %s; %s\n", r->rhost != NULL ?
		    "smtp" : "x-local", r->reply);
	}
	fprintf(f, "Last-Attempt-Date: %s\n", date);
	if (action == A_DELAYED) {
		fprintf(f, "Will-Retry-Until: %s\n", until);
	}
}

/* The original, whole or its header block, from the df. */
static void
original(FILE *f, int dffd, int hdrsonly)
{
	unsigned char buf[IOBUF];
	ssize_t n, i;
	off_t off = 0;
	int prev = '\n';

	for (; (n = pread(dffd, buf, sizeof(buf), off)) > 0; off += n) {
		for (i = 0; i < n; i++) {
			if (hdrsonly && buf[i] == '\n' && prev == '\n') {
				break;		/* the headers end */
			}
			prev = buf[i];
		}
		fwrite(buf, 1, (size_t)i, f);
		if (i < n) {
			break;
		}
	}
}

static int
eightbitstr(const char *s)
{
	return s != NULL && mime_has8(s, strlen(s));
}

/* Do the reports about idx[0..n-1] name a UTF-8 address or reply? */
static int
eightbitrcpts(const struct msg *m, const int *idx, int n)
{
	const struct rcpt *r;
	int i;

	for (i = 0; i < n; i++) {
		r = &m->rcpt[idx[i]];
		if (eightbitstr(r->addr) || eightbitstr(r->parent) ||
		    eightbitstr(r->reply) || eightbitstr(r->orcpt)) {
			return 1;
		}
	}
	return 0;
}

/*
 * The whole DSN, as the df of the new message. An 8-bit part, and the
 * multipart/report around it, say so (RFC 2045 6.4, RFC 2046 5.2.1):
 * 7bit, the default, would be a lie to a gateway that trusts it.
 */
static void
compose(FILE *f, const struct msg *m, int dffd, const int *idx, int n,
    int action, int hdrsonly, const char *id, const char *to)
{
	static const char cte8[] = "Content-Transfer-Encoding: 8bit\n";
	char date[64], arrived[64], until[64], bnd[QIDLEN + 256];
	const struct rcpt *r;
	long long lines;
	int i, body8, any8, hdr8, text8;

	/* the part returned: with hdrsonly, the header block alone */
	mime_scan(dffd, !hdrsonly, &lines, &any8, &hdr8);
	body8 = hdrsonly ? hdr8 : any8;
	text8 = eightbitrcpts(m, idx, n);
	rfc5322date(time(NULL), date, sizeof(date));
	rfc5322date(m->arrival, arrived, sizeof(arrived));
	rfc5322date(m->arrival + set.queuereturn, until, sizeof(until));
	snprintf(bnd, sizeof(bnd), "%s/%s", id, set.hostname);	/* fits */
	fprintf(f, "Received: by %s (mta %s) id %s; %s\nDate: %s\n"
	    "From: Mail Delivery System <MAILER-DAEMON@%s>\nTo: <%s>\n"
	    "Subject: %s\nMessage-ID: <%s@%s>\nAuto-Submitted: auto-replied\n"
	    "MIME-Version: 1.0\n%sContent-Type: multipart/report; "
	    "report-type=delivery-status;\n\tboundary=\"%s\"\n\n"
	    "This is a MIME-encapsulated message.\n\n", set.hostname, VERSION,
	    id, date, date, set.hostname, to, kinds[action].subject, id,
	    set.hostname, body8 || text8 ? cte8 : "", bnd);
	fprintf(f, "--%s\nContent-Description: Notification\nContent-Type: "
	    "text/plain; charset=utf-8\n%s\nThis is the mail system at host "
	    "%s.\n\n", bnd, text8 ? cte8 : "", set.hostname);
	fprintf(f, kinds[action].intro, set.queuereturn / 3600);
	for (i = 0; i < n; i++) {
		r = &m->rcpt[idx[i]];
		fprintf(f, "<%s>: %s\n", r->parent != NULL ? r->parent :
		    r->addr, r->reply != NULL ? r->reply : "");
	}
	fprintf(f, "\n--%s\nContent-Description: Delivery report\n"
	    "Content-Type: message/delivery-status\n\nReporting-MTA: dns; %s\n",
	    bnd, set.hostname);
	if (m->envid != NULL) {
		fprintf(f, "Original-Envelope-Id: %s\n", m->envid);
	}
	fprintf(f, "Arrival-Date: %s\n", arrived);
	for (i = 0; i < n; i++) {
		rcptblock(f, &m->rcpt[idx[i]], action, date, until);
	}
	fprintf(f, "\n--%s\nContent-Description: %s Message%s\nContent-Type: "
	    "%s\n%s\n", bnd, kinds[action].part, hdrsonly ? " Headers" : "",
	    hdrsonly ? "text/rfc822-headers" : "message/rfc822",
	    body8 ? cte8 : "");
	original(f, dffd, hdrsonly);
	fprintf(f, "\n--%s--\n", bnd);
}

/*
 * Commit one DSN about idx[0..n-1] of m to the address to, for deliver.c
 * to deliver (bounce_made). kind is the new message's bounce level (1
 * DSN, 2 double bounce).
 */
static int
dsn(const struct msg *m, int dffd, const int *idx, int n, int action,
    const char *to, int kind, int hdrsonly)
{
	const char *step = "create";
	struct msg b;
	FILE *f;
	int fd, copy = -1, ok;

	msg_init(&b);
	b.sender = xstrdup("");
	b.arrival = time(NULL);
	b.bounce = kind;
	/* default NOTIFY: if the DSN fails, a double bounce follows */
	msg_addrcpt(&b, to);
	if ((fd = spool_create(&b)) == -1 ||
	    (copy = fcntl(fd, F_DUPFD_CLOEXEC, 0)) == -1 ||
	    (f = fdopen(copy, "w")) == NULL) {
		if (copy != -1) {
			close(copy);	/* fdopen failed: still ours */
		}
		goto fail;
	}
	compose(f, m, dffd, idx, n, action, hdrsonly || m->ret == RET_HDRS ||
	    (m->ret == RET_DEFAULT && m->size > RETFULLMAX), b.id, to);
	step = "write";
	ok = ferror(f) == 0;
	if (fclose(f) != 0 || !ok) {
		goto fail;
	}
	step = "commit";
	if (spool_place(&b, fd, 1) == -1) {
		fd = -1;	/* spool_place cleans up after itself */
		goto fail;
	}
	logmsg(LOG_INFO, "%s: %s: DSN (%s) to <%s>", m->id, b.id,
	    kinds[action].action, to);
	logmsg(LOG_INFO, "%s: from=<>, size=%lld, nrcpts=1, relay=local "
	    "(DSN of %s)", b.id, (long long)b.size, m->id);
	if (nmade < (int)(sizeof(made) / sizeof(*made))) {
		memcpy(made[nmade++], b.id, QIDLEN);
	}
	msg_free(&b);
	return 0;
fail:
	logmsg(LOG_ERR, "%s: bounce: cannot %s a DSN: %s", m->id, step,
	    strerror(errno));
	if (fd != -1) {
		spool_abort(&b, fd);
	}
	msg_free(&b);
	return -1;
}

/*
 * The next DSN made and not yet handed on (0: none left), for deliver.c
 * to deliver once the message it reports on is unlocked: never a nested
 * delivery while that message's qf is still locked.
 */
int
bounce_made(char *id)
{
	if (nmade == 0) {
		return 0;
	}
	memcpy(id, made[--nmade], QIDLEN);
	return 1;
}

/*
 * idx[] gets the recipients in state whose NOTIFY has bit, where no
 * NOTIFY at all means FAILURE,DELAY (RFC 3461 4.1); returns how many.
 */
static int
pick(const struct msg *m, int *idx, int state, int bit)
{
	const struct rcpt *r;
	int i, n = 0;

	for (i = 0; i < m->nrcpt; i++) {
		r = &m->rcpt[i];
		if (r->state == state && ((r->notify != 0 ? r->notify :
		    N_FAILURE | N_DELAY) & bit)) {
			idx[n++] = i;
		}
	}
	return n;
}

/* Failed recipients: a DSN (or its fallbacks); those done become B. */
static int
failures(struct msg *m, int dffd, int *idx)
{
	char reply[REPLYLEN];
	struct rcpt *rc;
	int i, n, r, silent = 0;

	for (i = 0; i < m->nrcpt; i++) {
		rc = &m->rcpt[i];
		/* a NOTIFY without FAILURE, NEVER included (dsn_notify
		 * allows it alone) */
		if (rc->state == R_FAILED && rc->notify != 0 &&
		    !(rc->notify & N_FAILURE)) {
			rc->state = R_BOUNCED;	/* asked for silence */
			silent = 1;
		}
	}
	if ((n = pick(m, idx, R_FAILED, N_FAILURE)) == 0) {
		return silent;
	}
	if (m->sender[0] != '\0') {
		r = dsn(m, dffd, idx, n, A_FAILED, m->sender, 1, 0);
	} else if (m->bounce < 2) {
		r = dsn(m, dffd, idx, n, A_FAILED, "postmaster", 2, 0);
	} else if ((r = local_deadletter(set.deadletter, m, dffd, reply,
	    sizeof(reply))) != D_OK) {
		/* the last resort failed too (local_deadletter() refuses a
		 * file that someone else could have made or can read) */
		logmsg(LOG_ALERT, "%s: bounce: cannot append to DeadLetterFile "
		    "%s (%s): the message stays in the queue", m->id,
		    set.deadletter, reply);
	} else {
		logmsg(LOG_ALERT, "%s: bounce: undeliverable double bounce "
		    "appended to %s", m->id, set.deadletter);
	}
	if (r == 0 && set.postmastercopy[0] != '\0' && m->bounce < 2) {
		dsn(m, dffd, idx, n, A_FAILED, set.postmastercopy, 2, 1);
	}
	for (i = 0; i < n && r == 0; i++) {	/* 0 is also D_OK */
		m->rcpt[idx[i]].state = R_BOUNCED;
	}
	return 1;
}

/* One "delayed" DSN per message, after QueueWarn. */
static int
delays(struct msg *m, int dffd, int *idx)
{
	int n;

	if (m->warned || set.queuewarn <= 0 || m->sender[0] == '\0' ||
	    time(NULL) - m->arrival < set.queuewarn) {
		return 0;
	}
	n = pick(m, idx, R_PENDING, N_DELAY);
	if (n == 0 || dsn(m, dffd, idx, n, A_DELAYED, m->sender, 1, 0) == 0) {
		m->warned = 1;
		return 1;
	}
	return 0;
}

/* NOTIFY=SUCCESS: reported once, then the bit is cleared. */
static int
successes(struct msg *m, int dffd, int *idx)
{
	int i, n = pick(m, idx, R_SENT, N_SUCCESS);

	if (n == 0 || m->sender[0] == '\0' ||
	    dsn(m, dffd, idx, n, A_DELIVERED, m->sender, 1, 0) == -1) {
		return 0;
	}
	for (i = 0; i < n; i++) {
		m->rcpt[idx[i]].notify &= ~N_SUCCESS;
	}
	return 1;
}

/* After a message's deliveries: 1 if m changed and must be saved. */
int
bounce_run(struct msg *m, int dffd)
{
	int *idx = xmalloc((size_t)m->nrcpt * sizeof(*idx) + 1), changed;

	changed = failures(m, dffd, idx);
	changed |= delays(m, dffd, idx);
	changed |= successes(m, dffd, idx);
	free(idx);
	return changed;
}
