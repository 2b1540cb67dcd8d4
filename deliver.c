/*
 * deliver.c: queue runs. Policy lives here; the mailers live elsewhere
 * (local.c for mailboxes, files and programs).
 *
 * Start at deliver_run(): list the spool once, oldest first, and for each
 * message take its lock (spool_lock), expand aliases, deliver every
 * recipient that is due, and record each outcome in the qf before the
 * next recipient is tried, so that a crash repeats at most the one
 * delivery in flight. A message whose recipients are all done is removed.
 */
#define _GNU_SOURCE	/* pipe2() on glibc (the test build) */
#include <sys/select.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "mta.h"

static volatile sig_atomic_t stopping;	/* SIGTERM: finish the message */

/* The wait before the next try: RETRY_FIRST, doubled, capped. */
static time_t
backoff(int attempts)
{
	time_t wait = RETRY_FIRST;

	while (--attempts > 0 && wait < RETRY_MAX) {
		wait *= 2;
	}
	return wait < RETRY_MAX ? wait : RETRY_MAX;
}

/* The time since, as sendmail logs a delay: [days+]hh:mm:ss. */
static void
elapsed(time_t since, char *buf, size_t len)
{
	long d = (long)(time(NULL) - since);
	int n = 0;

	if (d < 0) {
		d = 0;
	}
	if (d >= 86400) {
		n = snprintf(buf, len, "%ld+", d / 86400);	/* fits: len 32 */
	}
	snprintf(buf + n, len - (size_t)n, "%02ld:%02ld:%02ld", d / 3600 % 24,
	    d / 60 % 60, d % 60);
}

/* Record one outcome in memory and in the log. */
static void
deliver_record(const struct msg *m, struct rcpt *r, int res,
    const char *reply, const char *mailer, const char *relay)
{
	/* replies are shorter than REPLYLEN: the expired one always fits */
	char delay[32], code[16], expired[REPLYLEN + 64];
	const char *stat;
	time_t now = time(NULL);

	free(r->rhost);
	r->rhost = relay != NULL ? xstrdup(relay) : NULL;
	r->attempts++;
	if (!enhcode(reply, code, sizeof(code))) {
		/* no enhanced code: the class of the basic one */
		snprintf(code, sizeof(code), "%c.0.0", reply[0] >= '2' &&
		    reply[0] <= '5' ? reply[0] : '4');
	}
	if (res == D_TEMP && code[0] == '5') {
		/*
		 * A permanent reply taken as temporary (a refused AUTH, a
		 * 5xx greeting or EHLO: a matter of our setup or of that
		 * host, retried): RFC 3463 class 5 would say "failed" beside
		 * "Deferred", so the log says the same detail in class 4, as
		 * a delay DSN's Status does (bounce.c); the server's words
		 * stay as they were, for Diagnostic-Code.
		 */
		code[0] = '4';
	}
	if (res == D_TEMP && now - m->arrival >= set.queuereturn) {
		res = D_PERM;	/* too long in the queue: give up */
		snprintf(expired, sizeof(expired), "4.4.7 delivery time "
		    "expired (last: %s)", reply);
		reply = expired;
	}
	free(r->reply);
	r->reply = xstrdup(reply);
	sanitize(r->reply);
	stat = res == D_OK ? "Sent" : res == D_TEMP ? "Deferred" : "Failed";
	if (res == D_TEMP) {
		r->next = now + backoff(r->attempts);
	} else {
		r->state = res == D_OK ? R_SENT : R_FAILED;
	}
	elapsed(m->arrival, delay, sizeof(delay));
	logmsg(res == D_OK ? LOG_INFO : LOG_NOTICE, "%s: to=<%s>, %s%s%s"
	    "delay=%s, mailer=%s, relay=%s, dsn=%s, stat=%s (%s)", m->id,
	    r->addr, r->parent != NULL ? "orig_to=<" : "",
	    r->parent != NULL ? r->parent : "",
	    r->parent != NULL ? ">, " : "", delay, mailer,
	    relay != NULL ? relay : "local", code, stat, r->reply);
	if (verbose) {
		printf("%s... %s%s%s\n", r->addr, stat, res == D_OK ? "" : ": ",
		    res == D_OK ? "" : r->reply);
		fflush(stdout);
	}
}

/*
 * The mailer target of a recipient already expanded from an alias. A
 * remote one never comes here: runmsg() sends it to remotes() first
 * (isremote).
 */
static void
targetof(const struct rcpt *r, struct target *t)
{
	t->addr = r->addr;
	if (r->addr[0] == '|') {
		t->type = T_PIPE;
	} else if (r->addr[0] == '/') {
		t->type = T_FILE;
	} else {
		t->type = T_MAILBOX;
	}
}

/*
 * Add the targets of an alias as recipients of their own, each with its
 * own state, so that each is delivered exactly once across runs. The
 * alias itself is done once its expansion is committed.
 */
static void
addtargets(struct msg *m, int i, const struct target *t, int n)
{
	struct rcpt *c, *r = &m->rcpt[i];
	int k;

	/* a T_PIPE target is "|command" already (aliases.c), which is how
	 * targetof() knows it again */
	for (k = 0; k < n; k++) {
		c = msg_addrcpt(m, t[k].addr);
		r = &m->rcpt[i];	/* msg_addrcpt may move it */
		c->expanded = 1;
		c->parent = xstrdup(r->parent != NULL ? r->parent : r->addr);
		c->orcpt = r->orcpt != NULL ? xstrdup(r->orcpt) : NULL;
		c->notify = r->notify;
		if (t[k].type == T_UNKNOWN) {
			c->state = R_FAILED;
			c->reply = xstrdup("5.1.1 user unknown");
		} else if (!rcpt_deliverable(c->addr)) {
			c->state = R_FAILED;	/* "a b"@x: never a RCPT TO */
			c->reply = xstrdup("5.1.3 bad address syntax");
		}
	}
	r->state = R_SENT;	/* r: set after the last msg_addrcpt */
	free(r->reply);
	r->reply = xmalloc(64);
	snprintf(r->reply, 64, "2.0.0 expanded to %d recipient%s", n,
	    n == 1 ? "" : "s");
}

/*
 * A file or a program recorded in the qf is delivered only if the alias
 * rules, run again now on the address it came from, still yield it: the
 * qf lives in a spool that RunAsUser owns, so it is never the authority
 * for a path or a command that root is to touch. An alias edited since
 * the expansion counts too: what it no longer names is not delivered.
 */
static int
derived(const struct rcpt *r, const struct target *want)
{
	struct target *t;
	char err[256];
	int n, i, ok = 0;

	if (r->parent == NULL ||
	    local_expand(r->parent, &t, &n, err, sizeof(err)) == -1) {
		return r->parent == NULL ? 0 : -1;
	}
	for (i = 0; i < n && !ok; i++) {
		ok = t[i].type == want->type && strcmp(t[i].addr,
		    want->addr) == 0;
	}
	local_freetargets(t, n);
	return ok;
}

/*
 * Deliver recipient i. Aliases with several targets are expanded into
 * new recipients first. Either way m changed: the caller commits it
 * before going on.
 */
static void
deliver1(struct msg *m, int i, int dffd)
{
	struct rcpt *r = &m->rcpt[i];	/* until addtargets moves it */
	struct target one, *t = NULL;
	const char *mailer;
	char reply[REPLYLEN];
	int n = 1, res;

	if (r->expanded) {
		targetof(r, &one);
		t = &one;
		if ((one.type == T_FILE || one.type == T_PIPE) &&
		    (res = derived(r, &one)) != 1) {
			if (res == 0) {
				logmsg(LOG_ALERT, "%s: %s is not what the "
				    "aliases make of <%s>: refused", m->id,
				    one.addr, r->parent != NULL ? r->parent :
				    "");
			}
			deliver_record(m, r, res == 0 ? D_PERM : D_TEMP,
			    res == 0 ? "5.7.1 not a target of its alias (any "
			    "more)" : "4.3.0 cannot read the aliases", "local",
			    NULL);
			return;
		}
	} else if (local_expand(r->addr, &t, &n, reply, sizeof(reply)) == -1) {
		deliver_record(m, r, D_TEMP, reply, "local", NULL);
		return;
	}
	if (n != 1 || (t[0].type == T_REMOTE &&
	    strcasecmp(t[0].addr, r->addr) != 0)) {
		/* several targets, or an alias to a remote address: each
		 * target gets a state of its own */
		addtargets(m, i, t, n);
		local_freetargets(t, n);
		return;
	}
	mailer = t[0].type == T_PIPE ? "prog" : t[0].type == T_FILE ? "file" :
	    "local";
	if (verbose) {
		printf("%s... Connecting to %s...\n", r->addr, mailer);
		fflush(stdout);
	}
	res = local_deliver(&t[0], m, dffd, reply, sizeof(reply));
	deliver_record(m, r, res, reply, mailer, NULL);
	if (t != &one) {
		local_freetargets(t, n);
	}
}

static int
finished(const struct msg *m)
{
	int i;

	for (i = 0; i < m->nrcpt; i++) {
		if (m->rcpt[i].state != R_SENT &&
		    m->rcpt[i].state != R_BOUNCED) {
			return 0;
		}
	}
	return 1;
}

/* Does the message match -qR/-qS? (-qI is matched on the ID alone.) */
static int
selected(const struct msg *m, const struct qfilter *f)
{
	int i;

	if (f->kind == 'S') {
		return strstr(m->sender, f->sub) != NULL;
	}
	if (f->kind == 'R') {
		for (i = 0; i < m->nrcpt; i++) {
			if (m->rcpt[i].state == R_PENDING &&
			    strstr(m->rcpt[i].addr, f->sub) != NULL) {
				return 1;
			}
		}
		return 0;
	}
	return 1;
}

/*
 * Persist the new state: a rewrite, or the removal when all is done
 * (after the DSNs that are due, NOTIFY=SUCCESS ones included). Nonzero
 * when the caller must leave the message: 1 removed, -1 the qf is stale.
 */
static int
commit(struct msg *m, int dffd)
{
	/* a failed DSN leaves its recipients to do: then it is a rewrite */
	int done = finished(m) && (!bounce_run(m, dffd) || finished(m));

	if ((done ? spool_remove(m) : spool_update(m)) == -1) {
		logmsg(LOG_ERR, "%s: spool: cannot %s: %s", m->id, done ?
		    "remove" : "update the qf", strerror(errno));
		return -1;
	}
	return done;
}

/* Mail for another domain, which goes out by SMTP. */
static int
isremote(const struct rcpt *r)
{
	const char *dom = strrchr(r->addr, '@');

	if (r->expanded && (r->addr[0] == '|' || r->addr[0] == '/')) {
		return 0;
	}
	return dom != NULL && !islocaldomain(dom + 1);
}

/*
 * The remote recipients idx[0..n-1], in groups that share a destination
 * (everything, with a SmartHost): one SMTP transaction each, its outcome
 * committed before the next. A group that was not tried, its hosts being
 * marked down, is logged and left as the qf has it, still due: rewriting
 * every queued message while the link is down would wear the flash for
 * nothing, and the first run after the mark expires tries again (one
 * past QueueReturn fails, and that is committed). Nonzero as commit()
 * says to stop.
 */
static int
remotes(struct msg *m, int dffd, int *idx, int n)
{
	int *grp = xmalloc((size_t)n * sizeof(*grp)), i, j, k, r = 0, skip;
	int *res = xmalloc((size_t)n * sizeof(*res));
	char (*replies)[REPLYLEN] = xmalloc((size_t)n * REPLYLEN);
	char relay[RELAYLEN];
	const char *d, *e;

	for (i = 0; i < n && r == 0 && !stopping; i++) {
		if (idx[i] == -1) {
			continue;
		}
		d = strrchr(m->rcpt[idx[i]].addr, '@');
		for (j = i, k = 0; j < n; j++) {
			e = idx[j] != -1 ? strrchr(m->rcpt[idx[j]].addr, '@') :
			    NULL;
			if (e != NULL && (set.smarthost[0] != '\0' ||
			    strcasecmp(d, e) == 0)) {
				grp[k++] = idx[j];
				idx[j] = -1;
			}
		}
		skip = remote_deliver(m, dffd, grp, k, res, replies, relay);
		for (j = 0; j < k; j++) {
			deliver_record(m, &m->rcpt[grp[j]], res[j], replies[j],
			    "esmtp", relay[0] != '\0' ? relay : NULL);
			skip = skip && m->rcpt[grp[j]].state == R_PENDING;
		}
		if (!skip) {
			r = commit(m, dffd);
		}
	}
	free(grp);
	free(res);
	free(replies);
	return r;
}

static void runone(const char *id);

/* The DSNs bounce_run made, delivered now that the message they report
 * on is unlocked (each is committed: one left over waits for a run). */
static void
handon(void)
{
	char id[QIDLEN];

	while (!stopping && bounce_made(id)) {
		runone(id);
	}
}

/* One message: lock, deliver what is due, record, unlock. */
static void
runmsg(const char *id, const struct qfilter *f)
{
	struct msg m;
	time_t now = time(NULL);
	int i, dffd, nr = 0, *ridx = NULL, force = f->kind != 0;

	if (spool_lock(id, &m) != 0) {
		return;
	}
	if (!selected(&m, f)) {
		msg_free(&m);
		return;
	}
	if ((dffd = spool_opendf(&m)) == -1) {
		logmsg(LOG_ERR, "%s: spool: cannot open the df: %s", id,
		    strerror(errno));
		msg_free(&m);
		return;
	}
	/* local recipients first (aliases may add remote ones) */
	for (i = 0; i < m.nrcpt && !stopping; i++) {
		if (m.rcpt[i].state != R_PENDING ||
		    (!force && m.rcpt[i].next > now)) {
			continue;	/* not due */
		}
		if (isremote(&m.rcpt[i])) {
			ridx = xrealloc(ridx, (size_t)(nr + 1) * sizeof(*ridx));
			ridx[nr++] = i;
			continue;
		}
		deliver1(&m, i, dffd);
		if (commit(&m, dffd) != 0) {
			goto out;	/* removed, or stale: stop before repeating */
		}
	}
	/* still in hand: the DSNs that are due (delays, say) */
	if ((nr == 0 || remotes(&m, dffd, ridx, nr) == 0) && !stopping &&
	    bounce_run(&m, dffd)) {
		commit(&m, dffd);
	}
out:
	free(ridx);
	close(dffd);
	msg_free(&m);	/* unlocked */
	handon();
}

/* One queue run over the whole spool (or the messages f selects). */
int
deliver_run(const struct qfilter *f)
{
	char **ids;
	int n, i;

	spool_recover();
	if ((n = spool_list(&ids)) == -1) {
		logmsg(LOG_ERR, "queue run: cannot read %s: %s", set.queuedir,
		    strerror(errno));
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (!stopping && (f->kind != 'I' || strstr(ids[i], f->sub) !=
		    NULL)) {
			runmsg(ids[i], f);
		}
		free(ids[i]);
	}
	free(ids);
	client_close(1);	/* the connection kept for the next message */
	return 0;
}

static void
runone(const char *id)
{
	struct qfilter f = { 'I', id };

	if (spool_open() == 0) {
		runmsg(id, &f);
	}
}

/*
 * Deliver one message just committed (-odi, -odb, the daemon's spawn
 * after -bs): its callers exit next, so the connection it used ends
 * here with QUIT. Never inside a run: the DSNs a run makes are handed
 * on by handon(), and the run closes its connection at its end.
 */
void
deliver_one(const char *id)
{
	runone(id);
	client_close(1);
}

/*
 * Deliver one message now in a child of our own, detached from stdio
 * (the caller's pipes close; the child outlives it). A failed fork
 * leaves it to the queue runs.
 */
void
deliver_spawn(const char *id)
{
	pid_t pid;

	if ((pid = fork()) == -1) {
		logmsg(LOG_NOTICE, "%s: cannot fork to deliver, left queued: "
		    "%s", id, strerror(errno));
		return;
	}
	if (pid == 0) {
		detach();
		deliver_one(id);
		_exit(0);
	}
}

/* SIGTERM, SIGINT: finish what is in hand; SIGCHLD only wakes pselect() */
static void
onsignal(int sig)
{
	if (sig != SIGCHLD) {
		stopping = 1;
	}
}

/*
 * What the runner has in hand. A delivery child stays after its batch,
 * for KIDIDLE seconds, with its SMTP connection kept (client.c): the
 * next batch it is handed goes out on it, without a fork or a new
 * session at the SmartHost. Each child has a pipe of its own for its
 * batches (one line: IDs and spaces, written at once) and reports on a
 * pipe shared by all (one byte, its index) when a batch is done.
 */
static struct {
	struct kid {
		pid_t pid;		/* 0: no child in this place */
		int cmd;		/* our end of its pipe */
		int n;			/* handed over, not reported done;
					 * -1: it is going away */
		char ids[MAXBATCH][QIDLEN];
	} kids[MAXDELIVERY];
	int done, report;		/* the report pipe's two ends */
	pid_t sweep;			/* the queue-run child, or 0 */
	char ids[256][QIDLEN];		/* messages waiting for a child */
	int nids, needrun;
} rs;

/*
 * In a delivery child: take batches until none comes for KIDIDLE
 * seconds, KIDUSES messages are done (a kept session and what the
 * process read once, the CA file, do not live for ever), or the runner
 * goes (EOF) or stops us (SIGTERM). A batch is reported done only when
 * all of it was; the pipe is closed before the session's QUIT, so that
 * a batch handed over meanwhile fails to go in and goes elsewhere.
 */
static void
kidloop(int cmd, int done, unsigned char me)
{
	char buf[2 * MAXBATCH * QIDLEN + 1], *id, *sp;
	size_t len = 0;
	ssize_t n;
	int uses = 0;

	while (!stopping && uses < KIDUSES &&
	    waitfds(cmd, -1, KIDIDLE * 1000L) > 0 &&
	    (n = read(cmd, buf + len, sizeof(buf) - 1 - len)) > 0) {
		len += (size_t)n;
		buf[len] = '\0';
		for (id = buf; !stopping && (sp = strchr(id, ' ')) != NULL;
		    id = sp + 1) {
			*sp = '\0';
			runone(id);	/* one connection for them all */
			uses++;
		}
		len -= (size_t)(id - buf);	/* an ID cut by the read */
		memmove(buf, id, len);
		if (stopping || len > 0) {
			continue;	/* not all done yet: no report */
		}
		if (write(done, &me, 1) != 1) {
			break;	/* the runner is gone */
		}
	}
	close(cmd);
}

/*
 * A child (n == 0: a sweep of the whole queue; else a delivery child in
 * place n - 1, which then waits for its batches on the pipe p). Messages
 * that go the same way share the child's SMTP connection (client.c keeps
 * it open).
 */
static pid_t
child(int n, const int *p)
{
	struct qfilter f = { 0, NULL };
	pid_t pid = fork();
	int i;

	if (pid == 0) {
		sigset_t none;

		signal(SIGCHLD, SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		for (i = 0; i < MAXDELIVERY; i++) {
			if (rs.kids[i].pid != 0) {
				close(rs.kids[i].cmd);	/* theirs */
			}
		}
		if (n == 0) {
			deliver_run(&f);
		} else {
			close(p[1]);	/* the runner's end: its close is our EOF */
			close(rs.done);
			kidloop(p[0], rs.report, (unsigned char)(n - 1));
		}
		client_close(1);
		_exit(0);
	}
	if (pid == -1) {
		logmsg(LOG_ERR, "runner: fork: %s", strerror(errno));
	}
	return pid > 0 ? pid : 0;
}

/* Give waiting IDs back to the runner's list (a child died holding
 * them, or never got them); a sweep finds those that find no room. */
static void
giveback(char (*ids)[QIDLEN], int n)
{
	int room = (int)(sizeof(rs.ids) / sizeof(*rs.ids)) - rs.nids;

	if (n > room) {
		rs.needrun = 1;
		n = room;
	}
	memmove(rs.ids + rs.nids, ids, (size_t)n * QIDLEN);
	rs.nids += n;
}

/* The children's reports: those places are idle. */
static void
reports(void)
{
	unsigned char me;

	while (read(rs.done, &me, 1) == 1) {
		if (me < MAXDELIVERY && rs.kids[me].n > 0) {
			rs.kids[me].n = 0;
		}
	}
}

static void
reapkids(void)
{
	pid_t pid;
	int i, st;

	/* the reports first: a child that reported and then went idle
	 * holds nothing */
	reports();
	while ((pid = reap(-1, &st, WNOHANG)) > 0) {
		logchild("runner: ", pid, st, 1);
		if (pid == rs.sweep) {
			rs.sweep = 0;
		}
		for (i = 0; i < MAXDELIVERY; i++) {
			if (rs.kids[i].pid == pid) {
				/* what a child that ended of itself was handed
				 * and did not report done was not read: it goes
				 * again. One that died (a signal, die()) may
				 * have died of one of them: those wait for a
				 * sweep, or a fork a message would crash again */
				if (rs.kids[i].n > 0 && WIFEXITED(st) &&
				    WEXITSTATUS(st) == 0) {
					giveback(rs.kids[i].ids, rs.kids[i].n);
				} else if (rs.kids[i].n > 0) {
					rs.needrun = 1;
				}
				if (rs.kids[i].cmd != -1) {
					close(rs.kids[i].cmd);
				}
				rs.kids[i] = (struct kid){ .pid = 0 };
			}
		}
	}
	reports();	/* a byte of a child reaped here: not for the next */
}

/* The delivery children alive. */
static int
busy(void)
{
	int i, n = 0;

	for (i = 0; i < MAXDELIVERY; i++) {
		n += rs.kids[i].pid != 0;
	}
	return n;
}

/* Hand k IDs to the child in place i, started first if there is none;
 * -1 when it cannot take them. */
static int
handover(int i, char (*ids)[QIDLEN], int k)
{
	struct kid *kd = &rs.kids[i];
	char line[MAXBATCH * QIDLEN + 1];
	size_t len = 0;
	int p[2], j;

	if (kd->pid == 0) {
		if (pipe2(p, O_CLOEXEC) == -1) {
			return -1;
		}
		if ((kd->pid = child(i + 1, p)) == 0) {
			close(p[0]);
			close(p[1]);
			return -1;
		}
		close(p[0]);
		kd->cmd = p[1];
	}
	for (j = 0; j < k; j++) {
		len += (size_t)snprintf(line + len, sizeof(line) - len, "%s ",
		    ids[j]);	/* an ID is shorter than QIDLEN: it fits */
	}
	/* at most PIPE_BUF bytes: written at once, or not at all (a child
	 * that went idle and away) */
	if (write(kd->cmd, line, len) != (ssize_t)len) {
		kd->n = -1;	/* going away: reaped soon, handed nothing */
		return -1;
	}
	memcpy(kd->ids, ids, (size_t)k * QIDLEN);
	kd->n = k;
	return 0;
}

/* Hand the waiting messages out to idle or new children, and start a
 * sweep if one is due. */
static void
startkids(void)
{
	int i, spare = 0, k;

	for (i = 0; i < MAXDELIVERY; i++) {
		spare += rs.kids[i].n == 0;
	}
	for (i = 0; i < MAXDELIVERY && rs.nids > 0; i++) {
		if (rs.kids[i].n != 0) {
			continue;
		}
		k = (rs.nids + spare - 1) / spare;
		k = k < MAXBATCH ? k : MAXBATCH;
		spare--;
		rs.nids -= k;
		if (handover(i, rs.ids + rs.nids, k) == 0) {
			continue;
		}
		if (rs.kids[i].pid != 0) {
			rs.nids += k;	/* it went idle and away: next time */
		} else {
			rs.needrun = 1;	/* no fork: a sweep will find them */
		}
	}
	if (rs.needrun && rs.sweep == 0) {
		rs.needrun = 0;
		rs.sweep = child(0, NULL);
	}
}

/* Lines from the daemon: "D<id>" deliver that message, "Q" sweep. */
static int
readcmds(int fd, char *buf, size_t *len, size_t cap)
{
	char *nl, *p;
	ssize_t n;

	if ((n = read(fd, buf + *len, cap - *len)) == 0) {
		return -1;
	}
	if (n < 0) {
		return errno == EINTR || errno == EAGAIN ? 0 : -1;
	}
	*len += (size_t)n;
	for (p = buf; (nl = memchr(p, '\n', *len - (size_t)(p - buf))) !=
	    NULL; p = nl + 1) {
		*nl = '\0';
		if (p[0] == 'D' && strlen(p + 1) < QIDLEN &&
		    rs.nids < (int)(sizeof(rs.ids) / sizeof(*rs.ids))) {
			memcpy(rs.ids[rs.nids++], p + 1, strlen(p));
		} else {
			rs.needrun = 1;		/* "Q", or no room */
		}
	}
	*len -= (size_t)(p - buf);
	memmove(buf, p, *len);
	if (*len == cap) {
		*len = 0;	/* garbage without newlines: forget it */
	}
	return 0;
}

/*
 * The daemon's runner (and -qINTERVAL alone): a process that keeps the
 * privileges local delivery needs while the SMTP side runs as
 * RunAsUser. It starts a child per accepted message (at most MAXDELIVERY
 * at once) and a queue run every interval; each child locks what it
 * delivers, so overlapping work is harmless.
 */
int
deliver_runner(int cmdfd, long every)
{
	struct sigaction sa = { .sa_handler = onsignal };
	struct timespec ts = { 0, 0 };	/* whole seconds */
	sigset_t chld, waitmask;
	fd_set r;
	char buf[4096];
	size_t len = 0;
	time_t next = time(NULL), now;
	int p[2], i, maxfd;

	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);	/* a batch for a child just gone */
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) == -1) {
		logmsg(LOG_ERR, "runner: pipe: %s", strerror(errno));
		return 1;
	}
	rs.done = p[0];
	rs.report = p[1];
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &waitmask);
	sigdelset(&waitmask, SIGCHLD);
	signal(SIGHUP, SIG_IGN);
	signal(SIGUSR1, SIG_IGN);
	for (;;) {
		reapkids();
		now = time(NULL);
		if (every > 0 && now >= next) {
			rs.needrun = 1;
			next = now + every;
		}
		if (!stopping) {
			startkids();
		}
		for (i = 0; stopping && i < MAXDELIVERY; i++) {
			if (rs.kids[i].pid != 0 && rs.kids[i].cmd != -1) {
				close(rs.kids[i].cmd);	/* no more: it ends */
				rs.kids[i].cmd = -1;
			}
		}
		if ((stopping || (cmdfd == -1 && every == 0)) && busy() == 0 &&
		    rs.sweep == 0) {
			return 0;
		}
		FD_ZERO(&r);
		FD_SET(rs.done, &r);
		maxfd = rs.done;
		if (cmdfd != -1) {
			FD_SET(cmdfd, &r);
			maxfd = cmdfd > maxfd ? cmdfd : maxfd;
		}
		ts.tv_sec = every > 0 && next - now < 60 ? next - now : 60;
		/* SIGCHLD is let through only while waiting: a child that
		 * ends at any other moment still wakes this wait at once */
		if (pselect(maxfd + 1, &r, NULL, NULL, &ts, &waitmask) > 0 &&
		    cmdfd != -1 && FD_ISSET(cmdfd, &r) &&
		    readcmds(cmdfd, buf, &len, sizeof(buf)) == -1) {
			close(cmdfd);	/* the daemon stopped: so do we */
			cmdfd = -1;
			stopping = 1;
		}
	}
}
