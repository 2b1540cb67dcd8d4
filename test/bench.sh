#!/bin/sh
# test/bench.sh [BINARY]: `make bench`. Not a test: it asserts nothing
# about speed, it prints numbers (and says so when something went wrong).
#
# Part 1, local submission and delivery:
#  - local submissions per second: `mta -odq root < 4 KiB message`,
#    N times (default 1000) one after the other, and N split over 4
#    parallel loops;
#  - local deliveries per second: one `mta -q` over the N queued messages
#    (every one to root's mbox, on the same file system);
#  - medians over RUNS runs (default 3);
#  - fsync calls per message, by file (df, tf/qf, spool directory,
#    mailbox), counted with strace over 20 submissions and one queue run.
#
# Part 2, the SMTP daemon against Postfix (issue 3, "Benchmark"):
#  - Postfix's smtp-source, one message per connection, three loads:
#    1 session x 2000 messages of 4 KiB, 20 sessions x 5000 of 4 KiB,
#    20 sessions x 1000 of 100 KiB; against `mta -bD` and against a
#    private Postfix instance (its own config directory, a loopback
#    port, its queue on the same file system), one after the other.
#    Both get mail for a remote domain and keep it in their queue: Postfix
#    has every transport in defer_transports; mta has a SmartHost on a
#    loopback port where nothing listens (and a NameServer likewise), so
#    its immediate delivery attempt is refused at once (later ones are
#    skipped by the host status) and the message is deferred, which
#    rewrites its qf. The rate is messages / wall time of smtp-source;
#    every message must be queued afterwards (counted; a shortfall is
#    printed).
#  - the disk's own limit in the same run, on the same file system:
#    ../shared/bench/fsync_limit.c, serial, 16 committers, groups of 32
#    sharing one syncfs (4 KiB, and 100 KiB for the third load);
#  - RSS of the daemon idle, with 100 idle plaintext sessions and with
#    100 idle TLS sessions (STARTTLS done; a throwaway openssl cert);
#  - time from start to the first 220 (median of 20);
#  - the stripped binary size.
#  Postfix comes from Debian (apt-get install postfix, no configuration)
#  when missing; its packaged instance is never started or left running.
#  Without smtp-source the Postfix column is empty.
#
# Part 3, end-to-end relay (issue 4, "Benchmark"):
#  - smtp-source, 20 sessions x 5000 messages of 4 KiB to a remote
#    domain, into `mta -bD` with SmartHost=[127.0.0.2]:PORT and
#    SmartHostTLS=none, where Postfix's smtp-sink listens (it accepts
#    everything, throws it away and counts it); then the same into the
#    private Postfix instance with relayhost = [127.0.0.2]:PORT (no
#    defer_transports, default concurrency), one after the other, each
#    with a fresh sink and a fresh queue on the same file system.
#  - The rate is messages / time from the start of the injection until
#    the queue is empty (no qf left for mta; nothing in Postfix's
#    incoming, active, deferred or hold), polled every 50 ms. A queue
#    that stops shrinking for 30 s is given up on and what is left is
#    printed; so is a sink count other than the number sent, and every
#    unusual line of the mta log (BENCH_LOGDIR=dir keeps the logs).
#
# Part 4, bytes written per message (issue 11, flash wear):
#  - smtp-source, 1 session x 1000 and 20 sessions x 2000 messages of
#    4 KiB to a remote domain, relayed to smtp-sink (as in part 3), into
#    mta, the BENCH_BASE binary if given, and the private Postfix; each on
#    its own fresh 512 MiB journaled ext4 loop image holding nothing but
#    its queue (Postfix's queue and data directory; mta's spool);
#  - the bytes are the sectors the loop device was asked to write
#    (/sys/block/loopN/stat, field 7, x 512; the journal included), from
#    the start of the load until the queue is empty and, after `sync`,
#    the counter has stood still for 1 s (the journal committed, the
#    metadata written back), divided by the messages.
#
# Part 5, the ceilings of this machine, so that every rate shows its
# share of what the machine allows:
#  - smtp-source straight into smtp-sink (no MTA, no disk): 1 session x
#    2000 and 20 sessions x 5000 of 4 KiB, 20 x 1000 of 100 KiB (median
#    of BENCH_SMTP_RUNS); parts 2 and 3 print each rate's share of it;
#  - the disk's serial limits on the bench file system: a 4 KiB rewrite
#    + fdatasync of one file, for 2 s (the disk's flush alone, no journal
#    commit), and ../shared/bench/fsync_limit.c's serial commit (a 4 KiB
#    file written and fsynced, renamed, the directory fsynced; 1000 of
#    them), the "serial" of part 2.
#
# Part 6, the flush's scope: the 20 sessions x 2000 x 4 KiB load held in
# the queue (as in part 2), alone, then while dd writes 300 MiB files one
# after the other to the same file system (a NAS writing a backup); for
# mta and for the BENCH_BASE binary if given. A flush of the whole file
# system (syncfs) collapses here; a flush of the group's own files should
# not.
#
# Everything lives on a freshly made, loop-mounted, journaled ext4 image
# (1 GiB, in /var/tmp), so the numbers do not depend on whatever file
# system /tmp happens to be. Without root or loop devices it falls back to
# a plain directory and says so.
#
# Environment: BENCH_N (part 1 messages per run), BENCH_RUNS (part 1
# runs), BENCH_SMTP_RUNS (part 2 runs per load and MTA, median; default 3),
# BENCH_SCALE (part 2 message counts times this, e.g. 0.1; default 1),
# BENCH_PARTS ("1 5 2 3 4 6" by default, run in that order; "2" for the
# SMTP part alone, "4" for the bytes alone, "4 6" with BENCH_SCALE=0.2
# for a quick look at the spool's writes; parts 3 to 6 also use
# BENCH_SMTP_RUNS and BENCH_SCALE), BENCH_BASE (another build of mta,
# e.g. main's, measured beside this one in parts 2, 3, 4 and 6; in parts
# 2 and 3 each run measures mta and the base, the base first in even
# runs, then Postfix, so that the three share the machine's moods and
# neither build always has the second place; use an even BENCH_SMTP_RUNS
# for a fair split),
# BENCH_IMG_DIR (where the image goes), BENCH_NOMOUNT=1 (use a plain
# directory), BENCH_NOPOSTFIX=1 (do not install or run Postfix; part 3
# still needs smtp-source and smtp-sink, and then has no Postfix column),
# BENCH_LOGDIR (copy the mta and Postfix logs of part 3 there),
# BENCH_SHARED (the folder holding bench/fsync_limit.c, when it is not
# ../shared beside the checkout or its folder of worktrees).
set -eu

MTA=${1:-./mta}
case $MTA in
/*)	;;
*)	MTA=$PWD/${MTA#./} ;;
esac
N=${BENCH_N:-1000}
RUNS=${BENCH_RUNS:-3}
SRUNS=${BENCH_SMTP_RUNS:-3}
SCALE=${BENCH_SCALE:-1}
PARTS=${BENCH_PARTS:-1 5 2 3 4 6}
P=4
STRACE_N=20
IMGDIR=${BENCH_IMG_DIR:-/var/tmp}
# ../shared/bench beside the checkout (/work/main), or beside the folder of
# worktrees (/work/wt/NAME); BENCH_SHARED names it otherwise
TOPDIR=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${BENCH_SHARED:-$TOPDIR/../shared}
if [ -z "${BENCH_SHARED:-}" ] && [ ! -d "$SHARED" ]; then
	SHARED=$TOPDIR/../../shared
fi

if [ ! -x "$MTA" ]; then
	echo "bench: $MTA: no such executable (run make first)" >&2
	exit 1
fi

part()
{
	case " $PARTS " in
	*" $1 "*)	return 0 ;;
	esac
	return 1
}

work=$(mktemp -d "$IMGDIR/mta-bench.XXXXXX")
chmod 755 "$work"	# Postfix's unprivileged daemons work in here
mnt=$work/fs
img=$work/fs.img
mounted=0
mpid=	# an mta -bD of ours, while it runs
pfcfg=	# our Postfix instance's config directory, while it runs
sinkpid=	# an smtp-sink of ours, while it runs
ddpid=	# part 6's dd loop (a session of its own), while it runs
mnt0=	# the main mount, while part 4 points $mnt at its own image
fbdev=	# part 4's loop device, while its image is mounted
cleanup()
{
	if [ -n "$mpid" ]; then
		mta_stop
	fi
	if [ -n "$sinkpid" ]; then
		sink_stop
	fi
	if [ -n "$pfcfg" ]; then
		postfix -c "$pfcfg" stop >/dev/null 2>&1 || true
		pfwait
	fi
	if [ -n "$ddpid" ]; then
		kill -TERM "-$ddpid" 2>/dev/null || true
	fi
	if [ -n "$mnt0" ]; then
		mnt=$mnt0
	fi
	if [ -n "$fbdev" ]; then
		fb_drop
	fi
	if [ "$mounted" -eq 1 ]; then
		umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir "$mnt"

# A journaled ext4 (data=ordered, the default) on a loop device. The image
# is allocated up front so the loop device never waits for the backing
# file to grow.
fsdesc=
if [ -z "${BENCH_NOMOUNT:-}" ] && [ "$(id -u)" -eq 0 ] &&
    { fallocate -l 1G "$img" 2>/dev/null || truncate -s 1G "$img"; } &&
    mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$img" \
    >/dev/null 2>&1 &&
    mount -o loop "$img" "$mnt" 2>/dev/null; then
	mounted=1
	fsdesc="ext4 (journaled, data=ordered) on a loop device, 1 GiB image in $IMGDIR"
else
	rm -f "$img"
	fstype=$(stat -f -c %T "$mnt" 2>/dev/null || echo unknown)
	if [ -n "${BENCH_NOMOUNT:-}" ]; then
		why="BENCH_NOMOUNT is set"
	else
		why="could not loop-mount an ext4 image (needs root and a loop device)"
	fi
	fsdesc="a plain directory on $fstype ($mnt): $why"
	echo "bench: NOTE: $fsdesc" >&2
fi

spool=$mnt/spool
mail=$mnt/mail
msg=$work/msg
log=$mnt/mta.log
: >"$work/aliases"
set -- -O QueueDirectory="$spool" -O MailSpool="$mail" \
    -O AliasFile="$work/aliases" -O LogFile="$log" \
    -O HostName=bench.example -O MinFreeSpace=1M

now()
{
	date +%s.%N
}

# rate COUNT START END: COUNT per second, one decimal.
rate()
{
	awk -v n="$1" -v a="$2" -v b="$3" \
	    'BEGIN { d = b - a; if (d <= 0) d = 1e-9; printf "%.1f\n", n / d }'
}

median()
{
	printf '%s\n' "$@" | awk '$1 != "" && $1 != "-"' | sort -n |
	    awk '{ v[NR] = $1 }
	    END { if (NR == 0) print "-"; else print v[int((NR + 1) / 2)] }'
}

# basefirst RUN: does the BENCH_BASE binary go before mta in this run of
# parts 2 and 3? In the even ones: whichever of two binaries runs second
# gained about 8% in part 3, so each gets both places.
basefirst()
{
	[ -n "${BENCH_BASE:-}" ] && [ $(($1 % 2)) -eq 0 ]
}

# ---- part 1: local submission and delivery ----

# The 4 KiB message: headers, then body lines up to exactly 4096 bytes.
{
	printf 'From: bench <root@bench.example>\n'
	printf 'To: root\n'
	printf 'Subject: mta bench\n'
	printf 'Date: Thu, 1 Jan 2026 00:00:00 +0000\n'
	printf 'Message-ID: <bench@bench.example>\n'
	printf '\n'
} >"$msg"
have=$(wc -c <"$msg")
awk -v have="$have" 'BEGIN {
	line = "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz"
	left = 4096 - have
	while (left > length(line) + 1) {
		print line
		left -= length(line) + 1
	}
	s = ""
	while (length(s) < left - 1)
		s = s "x"
	print s
}' >>"$msg"

fresh()
{
	rm -rf "$spool" "$mail" "$log"
	mkdir -p "$spool" "$mail"
}

qcount()
{
	find "$1" -maxdepth 1 -name 'qf*' | wc -l
}

# opts_submit COUNT -O ...: COUNT submissions in a row, stopping at the
# first failure.
opts_submit()
{
	n=$1
	shift
	i=0
	while [ "$i" -lt "$n" ]; do
		if ! "$MTA" "$@" -odq root <"$msg"; then
			echo "bench: submission failed; see $log" >&2
			return 1
		fi
		i=$((i + 1))
	done
}

# classify FILE: "df tfqf dir mailbox other syncfs" counts per message.
classify()
{
	awk -v s="$spool" -v m="$mail" -v n="$STRACE_N" '
	/resumed>/ { next }
	/(fsync|fdatasync|syncfs)\(/ {
		if ($0 ~ /syncfs\(/) { k["syncfs"]++; next }
		p = $0
		sub(/^[^<]*</, "", p)
		sub(/>.*$/, "", p)
		if (p == s) k["dir"]++
		else if (index(p, s "/df") == 1) k["df"]++
		else if (index(p, s "/tf") == 1 || index(p, s "/qf") == 1) k["tfqf"]++
		else if (p == m || index(p, m "/") == 1) k["mailbox"]++
		else k["other"]++
	}
	END {
		t = 0
		split("df tfqf dir mailbox other syncfs", names, " ")
		for (i = 1; i <= 6; i++) {
			printf "%9.2f", k[names[i]] / n
			t += k[names[i]]
		}
		printf "%9.2f\n", t / n
	}' "$1"
}

part1()
{
	ser=
	par=
	del=
	r=1
	while [ "$r" -le "$RUNS" ]; do
		# Serial submissions, then one queue run over them.
		fresh
		sync
		t0=$(now)
		opts_submit "$N" "$@"
		t1=$(now)
		ser="$ser $(rate "$N" "$t0" "$t1")"
		queued=$(qcount "$spool")
		sync
		t0=$(now)
		"$MTA" "$@" -q
		t1=$(now)
		left=$(qcount "$spool")
		done_n=$((queued - left))
		if [ "$left" -ne 0 ]; then
			echo "bench: run $r: $left of $queued messages still queued after mta -q" >&2
		fi
		del="$del $(rate "$done_n" "$t0" "$t1")"

		# The same number split over P parallel loops.
		fresh
		sync
		each=$((N / P))
		t0=$(now)
		pids=
		j=0
		while [ "$j" -lt "$P" ]; do
			opts_submit "$each" "$@" &
			pids="$pids $!"
			j=$((j + 1))
		done
		ok=1
		for pid in $pids; do
			wait "$pid" || ok=0
		done
		t1=$(now)
		if [ "$ok" -ne 1 ]; then
			echo "bench: a parallel submission failed" >&2
			exit 1
		fi
		par="$par $(rate $((each * P)) "$t0" "$t1")"
		echo "bench: run $r of $RUNS: serial$(echo "$ser" | awk '{ print " " $NF }')/s," \
		    "parallel$(echo "$par" | awk '{ print " " $NF }')/s," \
		    "queue run$(echo "$del" | awk '{ print " " $NF }')/s" >&2
		r=$((r + 1))
	done

	# fsync calls: every fsync/fdatasync/syncfs of the mta processes,
	# with the file it was called on (strace -y), sorted by kind of file.
	fsyncs=
	if command -v strace >/dev/null 2>&1; then
		fresh
		# shellcheck disable=SC2016
		strace -f -y -qq -e trace=fsync,fdatasync,syncfs -o "$work/st.sub" \
		    sh -c 'n=$1; shift; i=0
		    while [ "$i" -lt "$n" ]; do
			"$0" "$@" -odq root <"'"$msg"'" || exit 1; i=$((i + 1))
		    done' "$MTA" "$STRACE_N" "$@"
		strace -f -y -qq -e trace=fsync,fdatasync,syncfs -o "$work/st.run" \
		    "$MTA" "$@" -q
		fsyncs=1
	else
		echo "bench: strace not found: no fsync counts (sh tools/deps installs it)" >&2
	fi

	{
		echo
		echo "== part 1: local submission and delivery"
		echo "$N messages of $(wc -c <"$msg") bytes to root per run; medians of $RUNS runs"
		echo
		# shellcheck disable=SC2086 # the lists are split on purpose
		printf '  %-40s %10s\n' "local submissions/s, serial (-odq)" "$(median $ser)"
		# shellcheck disable=SC2086
		printf '  %-40s %10s\n' "local submissions/s, $P in parallel" "$(median $par)"
		# shellcheck disable=SC2086
		printf '  %-40s %10s\n' "local deliveries/s (one mta -q, mbox)" "$(median $del)"
		if [ -n "$fsyncs" ]; then
			echo
			echo "fsync calls per message ($STRACE_N messages, strace -f):"
			printf '  %-18s%9s%9s%9s%9s%9s%9s%9s\n' "" df "tf/qf" "spooldir" mailbox other syncfs total
			printf '  %-18s%s\n' "submission -odq" "$(classify "$work/st.sub")"
			printf '  %-18s%s\n' "queue run -q" "$(classify "$work/st.run")"
		fi
	} >>"$work/report"
}

# ---- part 2: the SMTP daemon against Postfix ----

freeport()
{
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# waitport PORT [ADDR]: until a 220 greeting comes (10 s at most).
waitport()
{
	python3 - "$1" "${2:-127.0.0.1}" <<'EOF'
import socket, sys, time
end = time.monotonic() + 10
while time.monotonic() < end:
    try:
        s = socket.create_connection((sys.argv[2], int(sys.argv[1])), 1)
        s.settimeout(5)
        ok = s.recv(512).startswith(b"220")
        s.sendall(b"QUIT\r\n")
        s.close()
        if ok:
            sys.exit(0)
    except OSError:
        time.sleep(0.02)
sys.exit(1)
EOF
}

# mta_start SPOOL [-O ...]: mta -bD on a free port ($mport), in the
# foreground of a background job ($mpid).
mta_start()
{
	mspool=$1
	shift
	mport=$(freeport)
	mkdir -p "$mspool"
	# a session of its own, so that mta_stop can find every process
	# of the daemon, its runner and their delivery children
	setsid "${MTABIN:-$MTA}" -bD -O QueueDirectory="$mspool" -O MailSpool="$mail" \
	    -O AliasFile="$work/aliases" -O LogFile="$work/mta-daemon.log" \
	    -O HostName=bench.example -O MinFreeSpace=1M \
	    -O PidFile="$work/mta.pid" -O RunAsUser=root \
	    -O DaemonPortOptions=Addr=127.0.0.1,Port="$mport" \
	    -O MaxConnections=256 -O MaxConnectionsPerIP=256 "$@" \
	    </dev/null >>"$work/mta-daemon.out" 2>&1 &
	mpid=$!
	if ! waitport "$mport"; then
		echo "bench: mta -bD did not answer on port $mport; see $work/mta-daemon.log" >&2
		cat "$work/mta-daemon.out" >&2
		exit 1
	fi
}

# SIGTERM to the daemon; then to what is left of its process group (the
# runner, and delivery children still retrying the queue, which would
# otherwise go on working beside the next measurement); SIGKILL after
# 10 s each.
mta_stop()
{
	kill -TERM "$mpid" 2>/dev/null || true
	i=0
	while kill -0 "$mpid" 2>/dev/null && [ "$i" -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if kill -0 "$mpid" 2>/dev/null; then
		echo "bench: mta -bD (pid $mpid) ignored SIGTERM for 10 s" >&2
		kill -KILL "$mpid" 2>/dev/null || true
	fi
	wait "$mpid" 2>/dev/null || true
	if [ "$(ps -o pgid= -p "$mpid" 2>/dev/null | tr -d ' ')" = "" ] &&
	    pgrep -g "$mpid" >/dev/null 2>&1; then
		kill -TERM "-$mpid" 2>/dev/null || true
		i=0
		while pgrep -g "$mpid" >/dev/null 2>&1 && [ "$i" -lt 100 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		kill -KILL "-$mpid" 2>/dev/null || true
	fi
	mpid=
}

# Postfix from Debian, unless it would remove another package; the
# packaged instance (no configuration) is never started.
postfix_ready()
{
	if [ -n "${BENCH_NOPOSTFIX:-}" ]; then
		echo "bench: BENCH_NOPOSTFIX is set: no Postfix comparison" >&2
		return 1
	fi
	if command -v smtp-source >/dev/null 2>&1 || [ -x /usr/sbin/smtp-source ]; then
		return 0
	fi
	if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
		echo "bench: no smtp-source, and cannot install postfix" >&2
		return 1
	fi
	if apt-get install -s postfix 2>/dev/null | grep -q '^Remv'; then
		echo "bench: installing postfix would remove packages; no Postfix comparison:" >&2
		apt-get install -s postfix 2>/dev/null | grep '^Remv' >&2
		return 1
	fi
	before25=$(ss -ltn 2>/dev/null | grep -c ':25 ' || true)
	echo "bench: installing postfix (for smtp-source and the comparison)" >&2
	echo "postfix postfix/main_mailer_type select No configuration" |
	    debconf-set-selections 2>/dev/null || true
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	    --no-install-recommends postfix >"$work/apt.log" 2>&1; then
		DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null 2>&1 || true
		if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		    --no-install-recommends postfix >"$work/apt.log" 2>&1; then
			echo "bench: apt-get install postfix failed:" >&2
			tail -5 "$work/apt.log" >&2
			return 1
		fi
	fi
	# the package's own instance stays off, now and at boot
	if command -v systemctl >/dev/null 2>&1; then
		systemctl disable --now postfix >/dev/null 2>&1 || true
	fi
	if [ -f /etc/postfix/main.cf ]; then
		postfix stop >/dev/null 2>&1 || true
	fi
	if [ "$(ss -ltn 2>/dev/null | grep -c ':25 ' || true)" -gt "$before25" ]; then
		echo "bench: WARNING: something listens on port 25 since postfix was installed" >&2
	fi
	[ -x /usr/sbin/smtp-source ]
}

# pfsetup [RELAYHOST]: our own Postfix: config in $work/postfix, queue
# set by pfstart. Without RELAYHOST it holds everything in its queue;
# with it, it relays everything there.
pfsetup()
{
	pfdir=$work/postfix
	mkdir -p "$pfdir"
	pfport=$(freeport)
	if [ -n "${1:-}" ]; then
		pfrelay="relayhost = $1"
	else
		pfrelay="relayhost =
# hold everything in the queue: no delivery is attempted
defer_transports = smtp, relay, local, virtual, lmtp"
	fi
	cat >"$pfdir/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $mnt/pfqueue
data_directory = $mnt/pfdata
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = pf.bench.example
mydomain = bench.example
myorigin = \$myhostname
mydestination = \$myhostname, localhost
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
biff = no
$pfrelay
maillog_file_prefixes = $work
maillog_file = $work/postfix.log
EOF
	# Debian's master.cf without chroot (nothing is copied into the
	# queue) and smtpd on our port only.
	cat >"$pfdir/master.cf" <<EOF
127.0.0.1:$pfport inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
}

pfstart()
{
	rm -rf "$mnt/pfqueue" "$mnt/pfdata"
	mkdir -p "$mnt/pfqueue"
	if ! postfix -c "$pfdir" start >>"$work/postfix.out" 2>&1; then
		echo "bench: postfix did not start; see $work/postfix.log" >&2
		tail -5 "$work/postfix.log" >&2 2>/dev/null || true
		return 1
	fi
	pfcfg=$pfdir
	if ! waitport "$pfport"; then
		echo "bench: postfix did not answer on port $pfport" >&2
		return 1
	fi
}

pfwait()
{
	i=0
	while [ -f "$mnt/pfqueue/pid/master.pid" ] &&
	    kill -0 "$(cat "$mnt/pfqueue/pid/master.pid" 2>/dev/null || echo 0)" \
	    2>/dev/null && [ "$i" -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
}

pfstop()
{
	postfix -c "$pfcfg" stop >>"$work/postfix.out" 2>&1 || true
	pfwait
	pfcfg=
}

# Messages in Postfix's queue (incoming, active, deferred, hold).
pfcount()
{
	find "$mnt/pfqueue/incoming" "$mnt/pfqueue/active" \
	    "$mnt/pfqueue/deferred" "$mnt/pfqueue/hold" -type f 2>/dev/null |
	    wc -l
}

# settle COUNTFN WANT: wait (5 s at most) until the queue holds WANT.
settle()
{
	i=0
	while [ "$($1)" -lt "$2" ] && [ "$i" -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	$1
}

mtacount()
{
	qcount "$mspool"
}

# load NAME SESSIONS COUNT SIZE PORT: one smtp-source run; prints msg/s,
# or "-" when smtp-source failed.
load()
{
	sync
	t0=$(now)
	if ! /usr/sbin/smtp-source -s "$2" -m "$3" -l "$4" -M client.example \
	    -f sender@client.example -t rcpt@remote.example \
	    "127.0.0.1:$5" >"$work/source.out" 2>&1; then
		echo "bench: smtp-source against $1 failed:" >&2
		tail -3 "$work/source.out" >&2
		echo -
		return 0
	fi
	t1=$(now)
	rate "$3" "$t0" "$t1"
}

# fsync_limit MODE SIZE COUNT THREADS BATCH: commits per second.
limit()
{
	rm -rf "$mnt/fsl"
	sync
	"$work/fsync_limit" "$1" "$2" "$3" "$4" "$5" "$mnt/fsl" |
	    sed -n 's/.*msgs_per_s=\([0-9.]*\).*/\1/p'
}

# RSS (KiB) of a process.
rss()
{
	awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo -
}

# hold BINARY SESSIONS COUNT SIZE: one load into BINARY -bD, its mail
# held in the queue (the SmartHost and the name server refuse at once);
# prints msg/s and checks that every message was queued.
hold()
{
	dead=$(freeport)
	MTABIN=$1 mta_start "$mnt/mspool" -O SmartHost="[127.0.0.1]:$dead" \
	    -O SmartHostTLS=none -O NameServer="127.0.0.1:$dead"
	h=$(load "$1" "$2" "$3" "$4" "$mport")
	got=$(settle mtacount "$3")
	mta_stop
	if [ "$got" -ne "$3" ]; then
		echo "bench: $1: $got of $3 messages in the queue after the load" >&2
	fi
	rm -rf "$mnt/mspool"
	echo "$h"
}

part2()
{
	havepf=0
	if postfix_ready; then
		pfsetup
		havepf=1
	fi
	if [ ! -x /usr/sbin/smtp-source ]; then
		echo "bench: no smtp-source: skipping the SMTP loads" >&2
	fi

	# the disk's limits, first, on the same file system
	cc -O2 -pthread -o "$work/fsync_limit" "$SHARED/bench/fsync_limit.c"
	cnt=$(awk -v s="$SCALE" 'BEGIN { n = int(4000 * s); print n < 64 ? 64 : n }')
	lser=$(limit fsync 4096 $((cnt / 2)) 1 1)
	l16=$(limit fsync 4096 "$cnt" 16 1)
	lb32=$(limit batch-syncfs 4096 "$cnt" 1 32)
	l16b=$(limit fsync 102400 $((cnt / 4)) 16 1)
	lb32b=$(limit batch-syncfs 102400 $((cnt / 4)) 1 32)
	rm -rf "$mnt/fsl"
	echo "bench: disk limit: serial $lser/s, 16 committers $l16/s, groups of 32 $lb32/s (4 KiB)" >&2

	loads="1:2000:4096 20:5000:4096 20:1000:102400"
	table=
	for l in $loads; do
		s=${l%%:*}
		rest=${l#*:}
		cnt=$(awk -v n="${rest%%:*}" -v f="$SCALE" 'BEGIN { n = int(n * f); print n < 20 ? 20 : n }')
		size=${rest#*:}
		mr=
		br=
		pr=
		z=
		r=1
		while [ "$r" -le "$SRUNS" ] && [ -x /usr/sbin/smtp-source ]; do
			# the base goes first in even runs (basefirst)
			if basefirst "$r"; then
				z=$(hold "$BENCH_BASE" "$s" "$cnt" "$size")
			fi
			x=$(hold "$MTA" "$s" "$cnt" "$size")
			mr="$mr $x"
			if [ -n "${BENCH_BASE:-}" ] && ! basefirst "$r"; then
				z=$(hold "$BENCH_BASE" "$s" "$cnt" "$size")
			fi
			[ -z "${BENCH_BASE:-}" ] || br="$br $z"
			if [ "$havepf" -eq 1 ] && pfstart; then
				y=$(load postfix "$s" "$cnt" "$size" "$pfport")
				got=$(settle pfcount "$cnt")
				pfstop
				# (Postfix may add a notice of its own: only a
				# shortfall counts)
				if [ "$got" -lt "$cnt" ]; then
					echo "bench: postfix: $got of $cnt messages in the queue after the load" >&2
				fi
				pr="$pr $y"
			fi
			echo "bench: $s x $cnt x $size: mta $x/s, ${z:+base $z/s, }postfix ${y:--}/s$(! basefirst "$r" || echo " (base first)")" >&2
			y=
			r=$((r + 1))
		done
		# shellcheck disable=SC2086
		mr=$(median $mr)
		# shellcheck disable=SC2086
		br=$(median $br)
		# shellcheck disable=SC2086
		pr=$(median $pr)
		if [ "$size" -gt 4096 ]; then
			best=$(awk -v a="$l16b" -v b="$lb32b" 'BEGIN { print (a + 0 > b + 0) ? a : b }')
		else
			best=$(awk -v a="$l16" -v b="$lb32" 'BEGIN { print (a + 0 > b + 0) ? a : b }')
		fi
		table="$table$s $cnt $size $mr $pr $best $br
"
	done

	# memory, start-up time and size
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
	    -nodes -keyout "$work/key.pem" -out "$work/cert.pem" -days 2 \
	    -subj /CN=bench.example >/dev/null 2>&1
	mta_start "$mnt/rspool" -O ServerCertFile="$work/cert.pem" \
	    -O ServerKeyFile="$work/key.pem"
	runner=$(pgrep -P "$mpid" | head -n 1)
	sleep 0.5
	python3 - "$mport" "$mpid" >"$work/rss" 2>"$work/rss.err" <<'EOF' || true
import smtplib, ssl, sys, time

port, pid = int(sys.argv[1]), sys.argv[2]

def rss():
    with open("/proc/%s/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return line.split()[1]
    return "-"

def sessions(tls):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    conns = []
    for _ in range(100):
        c = smtplib.SMTP("127.0.0.1", port, timeout=30)
        c.ehlo("bench.client")
        if tls:
            c.starttls(context=ctx)
            c.ehlo("bench.client")
        conns.append(c)
    time.sleep(0.5)
    r = rss()
    for c in conns:
        c.quit()
    time.sleep(0.5)
    return r

print("idle", rss())
print("plain", sessions(False))
print("tls", sessions(True))
EOF
	ridle=$(awk '$1 == "idle" { print $2 }' "$work/rss")
	rplain=$(awk '$1 == "plain" { print $2 }' "$work/rss")
	rtls=$(awk '$1 == "tls" { print $2 }' "$work/rss")
	if [ -z "$rtls" ]; then
		echo "bench: the RSS measurement failed:" >&2
		tail -3 "$work/rss.err" >&2
	fi
	rrunner=$(rss "${runner:-0}")
	mta_stop
	rm -rf "$mnt/rspool"

	# start to the first 220: a fresh daemon each time, median of 20
	sport=$(freeport)
	python3 - "$sport" "$MTA" -bD -O QueueDirectory="$mnt/sspool" \
	    -O MailSpool="$mail" -O AliasFile="$work/aliases" \
	    -O LogFile="$work/mta-daemon.log" -O HostName=bench.example \
	    -O PidFile="$work/mta-s.pid" -O RunAsUser=root \
	    -O DaemonPortOptions=Addr=127.0.0.1,Port="$sport" \
	    >"$work/start" 2>"$work/start.err" <<'EOF' || true
import signal, socket, subprocess, sys, time

port, cmd = int(sys.argv[1]), sys.argv[2:]
times = []
for _ in range(20):
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    got = None
    while got is None and time.monotonic() - t0 < 10:
        try:
            s = socket.create_connection(("127.0.0.1", port), 1)
            s.settimeout(5)
            if s.recv(512).startswith(b"220"):
                got = time.monotonic() - t0
            s.sendall(b"QUIT\r\n")
            s.close()
        except OSError:
            time.sleep(0.0002)
    p.send_signal(signal.SIGTERM)
    p.wait()
    if got is None:
        sys.exit("no 220 within 10 s")
    times.append(got)
    time.sleep(0.05)
times.sort()
print("%.1f" % (times[len(times) // 2] * 1000))
EOF
	tstart=$(cat "$work/start")
	if [ -z "$tstart" ]; then
		echo "bench: start-up timing failed:" >&2
		tail -3 "$work/start.err" >&2
	fi
	strip -o "$work/stripped" "$MTA" 2>/dev/null || cp "$MTA" "$work/stripped"
	bsize=$(wc -c <"$work/stripped")

	{
		echo
		echo "== part 2: SMTP acceptance, mta -bD against Postfix" \
		    "$(/usr/sbin/postconf -d -h mail_version 2>/dev/null || echo '(none)')"
		echo "smtp-source on loopback, one message per connection, to a remote domain"
		echo "held in the queue; median of $SRUNS run(s) per load and MTA"
		echo
		printf '  %-28s %9s %9s %8s %11s %11s %8s\n' "load (sessions x msgs x size)" \
		    "mta/s" "postfix/s" "ratio" "of serial" "of best" "of sink"
		printf '%s' "$table" | while read -r s cnt size mr pr best br; do
			if [ "$s" -eq 1 ]; then
				sk=$sink1
			elif [ "$size" -gt 4096 ]; then
				sk=$sink20b
			else
				sk=$sink20
			fi
			printf '  %-28s %9s %9s %8s %11s %11s %8s\n' \
			    "$s x $cnt x $((size / 1024)) KiB" "$mr" "$pr" \
			    "$(ratio "$mr" "$pr")" \
			    "$(awk -v a="$mr" -v b="$lser" 'BEGIN { if (a == "-" || b == "" || b == 0) print "-"; else printf "%.0f%%\n", 100 * a / b }')" \
			    "$(awk -v a="$mr" -v b="$best" 'BEGIN { if (a == "-" || b == "" || b == 0) print "-"; else printf "%.0f%%\n", 100 * a / b }')" \
			    "$(share "$mr" "$sk")"
		done
		echo
		echo "  disk limit, same file system (fsync_limit commits/s):"
		printf '    %-44s %9s\n' "4 KiB, one at a time (fsync)" "$lser"
		printf '    %-44s %9s\n' "4 KiB, 16 committers (fsync)" "$l16"
		printf '    %-44s %9s\n' "4 KiB, groups of 32, one syncfs" "$lb32"
		printf '    %-44s %9s\n' "100 KiB, 16 committers (fsync)" "$l16b"
		printf '    %-44s %9s\n' "100 KiB, groups of 32, one syncfs" "$lb32b"
		if [ -n "${BENCH_BASE:-}" ]; then
			echo
			echo "  base mta ($BENCH_BASE), the same loads, alternately with mta (first in even runs):"
			printf '  %-28s %9s %9s %8s %8s\n' "load (sessions x msgs x size)" \
			    "mta/s" "base/s" "mta/base" "base/pf"
			printf '%s' "$table" | while read -r s cnt size mr pr best br; do
				printf '  %-28s %9s %9s %8s %8s\n' \
				    "$s x $cnt x $((size / 1024)) KiB" "$mr" "$br" \
				    "$(ratio "$mr" "$br")" "$(ratio "$br" "$pr")"
			done
			echo
		fi
		echo "  ('of serial': mta's rate over the one-at-a-time limit; 'of best':"
		echo "  over the better of 16 committers and groups of 32, same size;"
		echo "  'of sink': over smtp-sink's rate for the same load, part 5)"
		echo
		echo "  daemon:"
		printf '    %-44s %9s\n' "RSS idle (KiB)" "${ridle:--}"
		printf '    %-44s %9s\n' "RSS, 100 idle plaintext sessions (KiB)" "${rplain:--}"
		printf '    %-44s %9s\n' "RSS, 100 idle TLS sessions (KiB)" "${rtls:--}"
		printf '    %-44s %9s\n' "RSS of the runner child, idle (KiB)" "${rrunner:--}"
		printf '    %-44s %9s\n' "start to first 220, median of 20 (ms)" "${tstart:--}"
		printf '    %-44s %9s\n' "stripped binary (bytes)" "$bsize"
	} >>"$work/report"
}

# ---- part 3: end-to-end relay, mta -bD against Postfix ----

# sink_start: a fresh smtp-sink on 127.0.0.2:$sinkport ($sinkpid),
# counting what it gets in $work/sink.out.
sink_start()
{
	if [ "$(id -u)" -eq 0 ]; then
		set -- -u nobody	# it refuses to run as root
	else
		set --
	fi
	/usr/sbin/smtp-sink -c "$@" "127.0.0.2:$sinkport" 1000 \
	    </dev/null >"$work/sink.out" 2>"$work/sink.err" &
	sinkpid=$!
	if ! waitport "$sinkport" 127.0.0.2; then
		echo "bench: smtp-sink did not answer on 127.0.0.2:$sinkport:" >&2
		tail -3 "$work/sink.err" >&2
		exit 1
	fi
}

sink_stop()
{
	kill -TERM "$sinkpid" 2>/dev/null || true
	wait "$sinkpid" 2>/dev/null || true
	sinkpid=
}

# Messages the sink has taken (its -c counters, one "\r"-ended line
# per session end, QUIT or final dot).
sink_count()
{
	tr '\r' '\n' <"$work/sink.out" |
	    sed -n 's/.*mesg=\([0-9][0-9]*\).*/\1/p' | tail -n 1 |
	    awk '{ n = $1 } END { print n + 0 }'
}

# drain COUNTFN: until the queue is empty, every 50 ms; given up when it
# has not shrunk for 30 s. Prints what is left.
drain()
{
	left=$($1)
	last=$left
	still=0
	while [ "$left" -gt 0 ] && [ "$still" -lt 600 ]; do
		sleep 0.05
		left=$($1)
		if [ "$left" -lt "$last" ]; then
			last=$left
			still=0
		else
			still=$((still + 1))
		fi
	done
	echo "$left"
}

# relay NAME COUNT PORT COUNTFN: smtp-source (20 sessions, 4 KiB) into
# PORT, then until the queue is empty. Prints "relayed/s accepted/s
# left" ("-" for a rate that could not be had).
relay()
{
	sync
	t0=$(now)
	if ! /usr/sbin/smtp-source -s 20 -m "$2" -l 4096 -M client.example \
	    -f sender@client.example -t rcpt@remote.example \
	    "127.0.0.1:$3" >"$work/source.out" 2>&1; then
		echo "bench: smtp-source against $1 failed:" >&2
		tail -3 "$work/source.out" >&2
		echo "- - $($4)"
		return 0
	fi
	t1=$(now)
	left=$(drain "$4")
	t2=$(now)
	if [ "$left" -ne 0 ]; then
		echo "- $(rate "$2" "$t0" "$t1") $left"
	else
		echo "$(rate "$2" "$t0" "$t2") $(rate "$2" "$t0" "$t1") 0"
	fi
}

# ratio A B: A / B, two decimals, or "-".
ratio()
{
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a == "-" || b == "-" || b == 0) print "-"; else printf "%.2f\n", a / b }'
}

# lines FILE: how many it has (0 when missing).
lines()
{
	if [ -f "$1" ]; then
		wc -l <"$1" | tr -d ' '
	else
		echo 0
	fi
}

# relaymta BINARY TAG: one relay run of BINARY -bD through the sink;
# sets x (relayed/s), a (accepted/s), left and got (at the sink), and
# keeps the log's unusual lines.
relaymta()
{
	sink_start
	before=$(lines "$mlog")
	MTABIN=$1 mta_start "$mnt/mspool" -O SmartHost="[127.0.0.2]:$sinkport" \
	    -O SmartHostTLS=none
	res=$(relay "$2" "$cnt" "$mport" mtacount)
	mta_stop
	got=$(sink_count)
	sink_stop
	x=${res%% *}
	res=${res#* }
	a=${res%% *}
	left=${res#* }
	tail -n "+$((before + 1))" "$mlog" >"$work/relay-mta.log"
	sent=$(grep -c 'stat=Sent' "$work/relay-mta.log" || true)
	if [ "$left" -ne 0 ] || [ "$got" -ne "$cnt" ] || [ "$sent" -ne "$cnt" ]; then
		echo "bench: $2 run $r: $left message(s) left in the queue," \
		    "$got of $cnt at the sink, $sent stat=Sent log lines" >&2
	fi
	# anything but the ordinary lines of a message's way through
	grep -v -E ': (from=<|to=<.*stat=Sent)|(connect|disconnect) from \[127\.0\.0\.1\]|: (starting daemon|stopping on signal)' \
	    "$work/relay-mta.log" | sed "s/^/$2 run $r: /" >>"$work/relay-odd" || true
	rm -rf "$mnt/mspool"
}

part3()
{
	havepf=0
	if postfix_ready; then
		havepf=1
	fi
	if [ ! -x /usr/sbin/smtp-source ] || [ ! -x /usr/sbin/smtp-sink ]; then
		echo "bench: no smtp-source or smtp-sink: skipping part 3" >&2
		{
			echo
			echo "== part 3: end-to-end relay: skipped (no smtp-source/smtp-sink;" \
			    "they come with postfix)"
		} >>"$work/report"
		return 0
	fi
	sinkport=$(freeport)
	if [ "$havepf" -eq 1 ]; then
		pfsetup "[127.0.0.2]:$sinkport"
	fi
	cnt=$(awk -v n=5000 -v f="$SCALE" 'BEGIN { n = int(n * f); print n < 20 ? 20 : n }')
	mlog=$work/mta-daemon.log
	plog=$work/postfix.log
	mr=
	ma=
	br=
	ba=
	pr=
	pa=
	msink=0 psink=0 mleft=0 pleft=0 mruns=0 pruns=0
	: >"$work/relay-odd"
	r=1
	while [ "$r" -le "$SRUNS" ]; do
		if basefirst "$r"; then
			relaymta "$BENCH_BASE" base
			bx=$x bacc=$a
		fi
		relaymta "$MTA" mta
		mr="$mr $x"
		ma="$ma $a"
		mleft=$((mleft + left))
		msink=$((msink + got))
		mruns=$((mruns + 1))
		mline="mta $x/s (accepting $a/s)"
		if [ -n "${BENCH_BASE:-}" ] && ! basefirst "$r"; then
			relaymta "$BENCH_BASE" base
			bx=$x bacc=$a
		fi
		if [ -n "${BENCH_BASE:-}" ]; then
			br="$br $bx"
			ba="$ba $bacc"
			mline="$mline, base $bx/s (accepting $bacc/s)"
		fi

		# Postfix, with the same sink
		pline=
		if [ "$havepf" -eq 1 ]; then
			sink_start
			before=$(lines "$plog")
			if pfstart; then
				res=$(relay postfix "$cnt" "$pfport" pfcount)
				pfstop
				got=$(sink_count)
				x=${res%% *}
				res=${res#* }
				a=${res%% *}
				left=${res#* }
				pr="$pr $x"
				pa="$pa $a"
				pleft=$((pleft + left))
				psink=$((psink + got))
				pruns=$((pruns + 1))
				sent=$(tail -n "+$((before + 1))" "$plog" | grep -c 'status=sent' || true)
				if [ "$left" -ne 0 ] || [ "$got" -ne "$cnt" ]; then
					echo "bench: postfix run $r: $left message(s) left in the queue," \
					    "$got of $cnt at the sink, $sent status=sent log lines" >&2
				fi
				pline=", postfix $x/s (accepting $a/s)"
			fi
			sink_stop
		fi
		echo "bench: relay $cnt x 4 KiB, run $r of $SRUNS: $mline${pline:-, postfix -}$(! basefirst "$r" || echo " (base first)")" >&2
		r=$((r + 1))
	done
	if [ -s "$work/relay-odd" ]; then
		echo "bench: unusual lines in the mta log during part 3" \
		    "($(wc -l <"$work/relay-odd" | tr -d ' '); the first 20):" >&2
		head -n 20 "$work/relay-odd" >&2
	fi
	if [ -n "${BENCH_LOGDIR:-}" ]; then
		mkdir -p "$BENCH_LOGDIR"
		cp "$mlog" "$BENCH_LOGDIR/mta-daemon.log" 2>/dev/null || true
		cp "$plog" "$BENCH_LOGDIR/postfix.log" 2>/dev/null || true
		cp "$work/relay-odd" "$BENCH_LOGDIR/relay-odd.log" 2>/dev/null || true
	fi

	# shellcheck disable=SC2086 # the lists are split on purpose
	mr=$(median $mr)
	# shellcheck disable=SC2086
	ma=$(median $ma)
	# shellcheck disable=SC2086
	pr=$(median $pr)
	# shellcheck disable=SC2086
	pa=$(median $pa)
	# shellcheck disable=SC2086
	br=$(median $br)
	# shellcheck disable=SC2086
	ba=$(median $ba)
	{
		echo
		echo "== part 3: end-to-end relay, mta -bD against Postfix" \
		    "$(/usr/sbin/postconf -d -h mail_version 2>/dev/null || echo '(none)')"
		echo "smtp-source (20 sessions, one message per connection) -> MTA ->"
		echo "smtp-sink on 127.0.0.2, $cnt messages of 4 KiB to a remote domain;"
		echo "mta: SmartHost, no TLS; Postfix: relayhost, default concurrency;"
		echo "from the first injection until the queue is empty; median of $SRUNS run(s)"
		echo
		printf '  %-38s %9s %9s %8s\n' "" "mta" "postfix" "ratio"
		printf '  %-38s %9s %9s %8s\n' "relayed/s (injection to empty queue)" \
		    "$mr" "$pr" "$(ratio "$mr" "$pr")"
		if [ -n "$sink20" ]; then
			printf '  %-38s %9s %9s\n' "  of smtp-sink's 20-session rate" \
			    "$(share "$mr" "$sink20")" "$(share "$pr" "$sink20")"
		fi
		printf '  %-38s %9s %9s %8s\n' "accepted/s (smtp-source alone)" \
		    "$ma" "$pa" "$(ratio "$ma" "$pa")"
		printf '  %-38s %9s %9s\n' "at the sink, all runs (of $((cnt * SRUNS)))" \
		    "$msink" "$([ "$pruns" -gt 0 ] && echo "$psink" || echo -)"
		printf '  %-38s %9s %9s\n' "left in the queue, all runs" \
		    "$mleft" "$([ "$pruns" -gt 0 ] && echo "$pleft" || echo -)"
		if [ -n "${BENCH_BASE:-}" ]; then
			echo
			echo "  base mta ($BENCH_BASE), alternately with mta (first in even runs):"
			printf '  %-38s %9s %9s %8s %8s\n' "" "mta" "base" \
			    "mta/base" "base/pf"
			printf '  %-38s %9s %9s %8s %8s\n' "relayed/s" "$mr" "$br" \
			    "$(ratio "$mr" "$br")" "$(ratio "$br" "$pr")"
			printf '  %-38s %9s %9s %8s %8s\n' "accepted/s" "$ma" "$ba" \
			    "$(ratio "$ma" "$ba")" "$(ratio "$ba" "$pa")"
		fi
	} >>"$work/report"
}


# ---- part 4: bytes written per message (issue 11, flash wear) ----

# fb_make: a fresh journaled ext4 image (512 MiB) of its own, mounted at
# $fbmnt on a loop device ($fbdev, e.g. loop3), so that its write counter
# sees nothing but the MTA under test.
fbmnt=$work/fb
fbimg=$work/fb.img
fb_make()
{
	fb_drop
	rm -f "$fbimg"
	mkdir -p "$fbmnt"
	{ fallocate -l 512M "$fbimg" 2>/dev/null || truncate -s 512M "$fbimg"; } &&
	    mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$fbimg" \
	    >/dev/null 2>&1 &&
	    mount -o loop "$fbimg" "$fbmnt" 2>/dev/null || return 1
	fbdev=$(basename "$(findmnt -n -o SOURCE "$fbmnt")")
	[ -r "/sys/block/$fbdev/stat" ] || { fb_drop; return 1; }
}

fb_drop()
{
	if [ -n "$fbdev" ]; then
		umount "$fbmnt" 2>/dev/null || umount -l "$fbmnt" 2>/dev/null || true
		fbdev=
	fi
}

# Sectors (512 bytes) the loop device was asked to write so far.
written()
{
	awk '{ print $7 }' "/sys/block/$fbdev/stat"
}

# quiet: sync, then wait until the write counter has not moved for 1 s
# (the journal committed, the metadata written back; 30 s at most);
# prints the counter.
quiet()
{
	sync
	last=$(written)
	still=0
	i=0
	while [ "$still" -lt 5 ] && [ "$i" -lt 150 ]; do
		sleep 0.2
		cur=$(written)
		if [ "$cur" = "$last" ]; then
			still=$((still + 1))
		else
			still=0
			last=$cur
		fi
		i=$((i + 1))
	done
	echo "$last"
}

# inject SESSIONS COUNT PORT: smtp-source, 4 KiB messages to a remote
# domain; 0 when it went through.
inject()
{
	/usr/sbin/smtp-source -s "$1" -m "$2" -l 4096 -M client.example \
	    -f sender@client.example -t rcpt@remote.example \
	    "127.0.0.1:$3" >"$work/source.out" 2>&1 && return 0
	echo "bench: smtp-source failed:" >&2
	tail -3 "$work/source.out" >&2
	return 1
}

# wear WHO SESSIONS COUNT: relay COUNT messages through WHO (mta, the
# binary in BENCH_BASE as "base", or postfix) to smtp-sink, its spool on
# a fresh image; prints KiB written per message ("-" when something
# failed).
wear()
{
	if ! fb_make; then
		echo "bench: could not make the image for part 4" >&2
		echo -
		return 0
	fi
	sink_start
	case $1 in
	postfix)
		mnt0=$mnt
		mnt=$fbmnt	# pfsetup/pfstart/pfcount put the queue in $mnt
		pfsetup "[127.0.0.2]:$sinkport"
		if ! pfstart; then
			mnt=$mnt0
			mnt0=
			sink_stop
			fb_drop
			echo -
			return 0
		fi
		port=$pfport
		cf=pfcount
		;;
	*)
		bin=$MTA
		if [ "$1" = base ]; then
			bin=$BENCH_BASE
		fi
		MTABIN=$bin mta_start "$fbmnt/mspool" \
		    -O SmartHost="[127.0.0.2]:$sinkport" -O SmartHostTLS=none
		port=$mport
		cf=mtacount
		;;
	esac
	s0=$(quiet)
	out=-
	if inject "$2" "$3" "$port"; then
		left=$(drain "$cf")
		s1=$(quiet)
		if [ "$left" -ne 0 ]; then
			echo "bench: $1: $left messages still queued" >&2
		else
			out=$(awk -v a="$s0" -v b="$s1" -v n="$3" \
			    'BEGIN { printf "%.1f\n", (b - a) * 512 / n / 1024 }')
		fi
	fi
	if [ "$1" = postfix ]; then
		pfstop
		mnt=$mnt0
		mnt0=
	else
		mta_stop
	fi
	got=$(sink_count)
	sink_stop
	if [ "$got" -ne "$3" ]; then
		echo "bench: $1: the sink got $got of $3" >&2
	fi
	fb_drop
	echo "$out"
}

part4()
{
	if [ "$mounted" -ne 1 ] || [ ! -x /usr/sbin/smtp-source ] ||
	    [ ! -x /usr/sbin/smtp-sink ]; then
		echo "bench: part 4 needs root, loop devices, smtp-source and smtp-sink: skipped" >&2
		return 0
	fi
	havepf=0
	if postfix_ready; then
		havepf=1
	fi
	sinkport=$(freeport)
	who=mta
	if [ -n "${BENCH_BASE:-}" ]; then
		who="base mta"
	fi
	if [ "$havepf" -eq 1 ]; then
		who="$who postfix"
	fi
	table=
	for l in 1:1000 20:2000; do
		s=${l%%:*}
		cnt=$(awk -v n="${l#*:}" -v f="$SCALE" 'BEGIN { n = int(n * f); print n < 50 ? 50 : n }')
		row="$s $cnt"
		for w in $who; do
			b=$(wear "$w" "$s" "$cnt")
			echo "bench: bytes, $s session(s) x $cnt, $w: $b KiB/msg" >&2
			row="$row $b"
		done
		table="$table$row
"
	done
	{
		echo
		echo "== part 4: bytes written per message (flash wear)"
		echo "4 KiB messages from smtp-source relayed to smtp-sink; each MTA on a"
		echo "fresh 512 MiB journaled ext4 loop image; sectors written by the loop"
		echo "device (/sys/block/loopN/stat, journal included) from the start of the"
		echo "load until the queue is empty and, after sync, the counter stands"
		echo "still, divided by the messages: KiB per message (one run each)"
		echo
		printf '  %-22s' "sessions x messages"
		for w in $who; do
			if [ "$w" = base ]; then
				w="base mta"
			fi
			printf ' %10s' "$w"
		done
		echo
		printf '%s' "$table" | while read -r s cnt rest; do
			printf '  %-22s' "$s x $cnt"
			for v in $rest; do
				printf ' %10s' "$v"
			done
			echo
		done
		if [ -n "${BENCH_BASE:-}" ]; then
			echo "  (mta: $MTA; base mta: $BENCH_BASE)"
		fi
	} >>"$work/report"
}

# ---- part 5: the ceilings of this machine ----

# sinkrate SESSIONS COUNT SIZE: smtp-source straight into smtp-sink (no
# MTA, no disk): messages per second.
sinkrate()
{
	sink_start
	t0=$(now)
	if /usr/sbin/smtp-source -s "$1" -m "$2" -l "$3" -M client.example \
	    -f sender@client.example -t rcpt@remote.example \
	    "127.0.0.2:$sinkport" >"$work/source.out" 2>&1; then
		t1=$(now)
		rate "$2" "$t0" "$t1"
	else
		echo -
	fi
	sink_stop
}

# serialrate DIR: a 4 KiB rewrite of one file and its fdatasync, one
# after the other for 2 s, per second: the disk's own flush, with no
# journal commit (the file's size and blocks never change).
serialrate()
{
	python3 - "$1" <<'PYEOF'
import os, sys, time
d = sys.argv[1]
os.makedirs(d, exist_ok=True)
buf = b"x" * 4096
fd = os.open(os.path.join(d, "f"), os.O_WRONLY | os.O_CREAT, 0o600)
os.pwrite(fd, buf, 0)
os.fsync(fd)
n, t0 = 0, time.monotonic()
while time.monotonic() - t0 < 2:
    os.pwrite(fd, buf, 0)
    os.fdatasync(fd)
    n += 1
print("%.1f" % (n / (time.monotonic() - t0)))
PYEOF
	rm -rf "$1"
}

# share RATE CEILING: RATE as a percentage of CEILING, or "-".
share()
{
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a == "-" || a == "" || b == "-" || b == "" || b == 0) print "-"
		else printf "%.0f%%\n", 100 * a / b }'
}

sink1=
sink20=
sink20b=
part5()
{
	if [ ! -x /usr/sbin/smtp-source ] || [ ! -x /usr/sbin/smtp-sink ]; then
		echo "bench: no smtp-source or smtp-sink: no sink ceiling" >&2
	else
		sinkport=$(freeport)
		c1=$(awk -v f="$SCALE" 'BEGIN { n = int(2000 * f); print n < 20 ? 20 : n }')
		c20=$(awk -v f="$SCALE" 'BEGIN { n = int(5000 * f); print n < 20 ? 20 : n }')
		c20b=$(awk -v f="$SCALE" 'BEGIN { n = int(1000 * f); print n < 20 ? 20 : n }')
		a=
		b=
		c=
		r=1
		while [ "$r" -le "$SRUNS" ]; do
			a="$a $(sinkrate 1 "$c1" 4096)"
			b="$b $(sinkrate 20 "$c20" 4096)"
			c="$c $(sinkrate 20 "$c20b" 102400)"
			r=$((r + 1))
		done
		# shellcheck disable=SC2086
		sink1=$(median $a)
		# shellcheck disable=SC2086
		sink20=$(median $b)
		# shellcheck disable=SC2086
		sink20b=$(median $c)
		echo "bench: smtp-sink ceiling: 1 session $sink1/s, 20 sessions $sink20/s, 20 x 100 KiB $sink20b/s" >&2
	fi
	sdata=$(serialrate "$mnt/ceil")
	cc -O2 -pthread -o "$work/fsync_limit" "$SHARED/bench/fsync_limit.c"
	scommit=$(limit fsync 4096 1000 1 1)
	echo "bench: serial ceilings: fdatasync $sdata/s, one commit at a time $scommit/s" >&2
	{
		echo
		echo "== part 5: the ceilings of this machine (sink: median of $SRUNS)"
		echo
		printf '  %-52s %9s\n' "smtp-source -> smtp-sink, 1 session x 4 KiB (msg/s)" "${sink1:--}"
		printf '  %-52s %9s\n' "smtp-source -> smtp-sink, 20 sessions x 4 KiB" "${sink20:--}"
		printf '  %-52s %9s\n' "smtp-source -> smtp-sink, 20 sessions x 100 KiB" "${sink20b:--}"
		printf '  %-52s %9s\n' "serial: 4 KiB rewrite + fdatasync of one file (/s)" "$sdata"
		printf '  %-52s %9s\n' "serial: write, fsync, rename, fsync dir (fsync_limit)" "$scommit"
		echo "  (parts 2 and 3 give each rate's share of the sink's rate for its load)"
	} >>"$work/report"
}

# ---- part 6: the flush's scope: 20 sessions while dd writes ----

part6()
{
	if [ ! -x /usr/sbin/smtp-source ]; then
		echo "bench: no smtp-source: part 6 skipped" >&2
		return 0
	fi
	cnt=$(awk -v f="$SCALE" 'BEGIN { n = int(2000 * f); print n < 20 ? 20 : n }')
	bins=$MTA
	if [ -n "${BENCH_BASE:-}" ]; then
		bins="$MTA $BENCH_BASE"
	fi
	table=
	for b in $bins; do
		row=
		for dd in no yes; do
			if [ "$dd" = yes ]; then
				# a backup that never ends: 300 MiB files one
				# after the other, through the page cache
				# shellcheck disable=SC2016
				setsid sh -c 'while :; do
				    dd if=/dev/zero of="$1" bs=1M count=300 2>/dev/null
				    rm -f "$1"; done' sh "$mnt/dd.big" &
				ddpid=$!
				sleep 1
			fi
			dead=$(freeport)
			MTABIN=$b mta_start "$mnt/mspool" -O SmartHost="[127.0.0.1]:$dead" \
			    -O SmartHostTLS=none -O NameServer="127.0.0.1:$dead"
			x=$(load mta 20 "$cnt" 4096 "$mport")
			got=$(settle mtacount "$cnt")
			mta_stop
			if [ -n "$ddpid" ]; then
				kill -TERM "-$ddpid" 2>/dev/null || true
				wait "$ddpid" 2>/dev/null || true
				ddpid=
				rm -f "$mnt/dd.big"
			fi
			rm -rf "$mnt/mspool"
			sync
			if [ "$got" -ne "$cnt" ]; then
				echo "bench: part 6: $got of $cnt queued" >&2
			fi
			echo "bench: 20 x $cnt x 4 KiB, dd $dd, $b: $x/s" >&2
			row="$row $x"
		done
		table="$table$b$row
"
	done
	{
		echo
		echo "== part 6: the flush's scope: 20 sessions x $cnt x 4 KiB held in the"
		echo "queue, alone and while dd writes 300 MiB files one after the other"
		echo "to the same file system (msg/s, one run each)"
		echo
		printf '  %-40s %10s %10s\n' "binary" "alone" "beside dd"
		printf '%s' "$table" | while read -r b x y; do
			printf '  %-40s %10s %10s\n' "$b" "$x" "$y"
		done
	} >>"$work/report"
}

: >"$work/report"
if part 1; then
	part1 "$@"
fi
if part 5; then
	part5
fi
if part 2; then
	part2
fi
if part 3; then
	part3
fi
if part 4; then
	part4
fi
if part 6; then
	part6
fi
echo
echo "mta bench: $MTA ($(wc -c <"$MTA") bytes)"
echo "file system: $fsdesc"
cat "$work/report"
