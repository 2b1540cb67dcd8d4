#!/bin/sh
# test/bench.sh [BINARY]: `make bench`, the first part of the benchmark.
# Not a test: it asserts nothing about speed, it prints numbers.
#
#  - local submissions per second: `mta -odq root < 4 KiB message`,
#    N times (default 1000) one after the other, and N split over 4
#    parallel loops;
#  - local deliveries per second: one `mta -q` over the N queued messages
#    (every one to root's mbox, on the same file system);
#  - medians over RUNS runs (default 3);
#  - fsync calls per message, by file (df, tf/qf, spool directory,
#    mailbox), counted with strace over 20 submissions and one queue run.
#
# The spool lives on a freshly made, loop-mounted, journaled ext4 image
# (1 GiB, in /var/tmp), so the numbers do not depend on whatever file
# system /tmp happens to be. Without root or loop devices it falls back to
# a plain directory and says so.
#
# Environment: BENCH_N (messages per run), BENCH_RUNS, BENCH_IMG_DIR (where
# the image goes), BENCH_NOMOUNT=1 (use a plain directory).
set -eu

MTA=${1:-./mta}
case $MTA in
/*)	;;
*)	MTA=$PWD/${MTA#./} ;;
esac
N=${BENCH_N:-1000}
RUNS=${BENCH_RUNS:-3}
P=4
STRACE_N=20
IMGDIR=${BENCH_IMG_DIR:-/var/tmp}

if [ ! -x "$MTA" ]; then
	echo "bench: $MTA: no such executable (run make first)" >&2
	exit 1
fi

work=$(mktemp -d "$IMGDIR/mta-bench.XXXXXX")
mnt=$work/fs
img=$work/fs.img
mounted=0
cleanup()
{
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
	printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 }
	    END { print v[int((NR + 1) / 2)] }'
}

fresh()
{
	rm -rf "$spool" "$mail" "$log"
	mkdir -p "$spool" "$mail"
}

qcount()
{
	find "$spool" -maxdepth 1 -name 'qf*' | wc -l
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
	queued=$(qcount)
	sync
	t0=$(now)
	"$MTA" "$@" -q
	t1=$(now)
	left=$(qcount)
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

# fsync calls: every fsync/fdatasync/syncfs of the mta processes, with the
# file it was called on (strace -y), sorted by kind of file.
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

echo
echo "mta bench: $MTA ($(wc -c <"$MTA") bytes)"
echo "spool and mailboxes: $fsdesc"
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
