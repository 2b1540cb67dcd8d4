/*
 * mailq.c: the queue listing of mailq and -bp, in sendmail's layout:
 * each message's ID, size, arrival and sender, then each recipient still
 * pending or failed, under its last reply. Nothing is locked: a message
 * that a runner is delivering is listed all the same. Start at
 * mailq_print().
 */
#include <stdio.h>
#include <stdlib.h>

#include "mta.h"

/* One message; nothing when it went away since the listing. */
static void
listone(const char *id)
{
	char when[32];
	struct msg m;
	struct tm tm;
	int i;

	if ((i = spool_read(id, &m)) != 0) {
		if (i == -1) {
			printf("%-16s (unreadable queue file)\n", id);
		}
		msg_free(&m);	/* 1: delivered meanwhile, or not a qf */
		return;
	}
	localtime_r(&m.arrival, &tm);
	strftime(when, sizeof(when), "%a %b %d %H:%M", &tm);
	printf("%-16s %8lld %s <%s>\n", id, (long long)m.size, when,
	    m.sender);
	for (i = 0; i < m.nrcpt; i++) {
		struct rcpt *r = &m.rcpt[i];

		if (r->state != R_PENDING && r->state != R_FAILED) {
			continue;
		}
		if (r->reply != NULL) {
			printf("%17s(%s%s)\n", "",
			    r->state == R_FAILED ? "Failed: " : "", r->reply);
		}
		printf("%25s<%s>\n", "", r->addr);
	}
	msg_free(&m);
}

static void
printstat(const char *line)
{
	printf("    %s\n", line);
}

/*
 * -bp, mailq: the whole queue, oldest first, and with -v the hosts
 * skipped for now; -1 when the queue cannot be read.
 */
int
mailq_print(void)
{
	char **ids;
	int n, i;

	if ((n = spool_list(&ids)) == -1) {
		return -1;
	}
	if (n == 0) {
		printf("Mail queue is empty\n");
	} else {
		printf("\t\t%s (%d request%s)\n", set.queuedir, n,
		    n == 1 ? "" : "s");
		printf("----Q-ID-------- --Size-- ---Q-Time----- "
		    "------------Sender/Recipient-----------\n");
		for (i = 0; i < n; i++) {
			listone(ids[i]);
			free(ids[i]);
		}
		free(ids);
		printf("\t\tTotal requests: %d\n", n);
	}
	if (verbose) {
		printf("Host status (hosts skipped for HostStatusTimeout):\n");
		remote_dumpstat(printstat);
	}
	return 0;
}

