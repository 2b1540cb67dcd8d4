#!/bin/bash
# test/t_crash.sh: crash consistency of the spool (SPEC "The spool",
# STYLE 7 and 9, issue 2 "Tests that must exist").
#
# 1. kill -9 the submission at every syscall of it (one strace run per
#    syscall name, SIGKILL injected at its Nth call for every N): after
#    recovery the message is delivered entirely or not at all, exactly once
#    when the submission had exited 0, and nothing but committed qf/df
#    pairs is left in the spool. Then: one recovery run removes ten old
#    tf files and their df files, whatever the directory order.
# 2. ENOSPC and EIO injected at every write, fsync, rename, close and spool
#    open of a submission: non-zero exit (75; 73 for a creation failure), a
#    message on stderr and nothing half left; or exit 0 and committed.
# 3. kill -9 a queue run at every fsync, rename, unlink (and other file
#    syscalls) while it delivers one message to five recipients: the next
#    run finishes, every recipient has it, at most one has it twice; a
#    dot-lock left by the killed runner does not hold up the next run.
# 3b. ENOSPC and EIO at every write and fsync of that queue run: no torn
#    mailbox, a forced run (-qI) finishes, at most one duplicate.
# 4. A real full disk (200 KiB tmpfs spool): exit 75, nothing left, then a
#    small message goes through; MinFreeSpace refuses, queue runs still work.
#
# Part 4 runs first: it needs no strace, and it is the only part that runs
# under an emulator (MTA_EMU). Run by test/run (cwd = fresh temp dir, MTA
# and TOP set). Needs strace.

. "$TOP/test/lib.sh"
set +e
shopt -s nullglob

L=60		# body lines of a test message (about 4.5 KiB: several writes)
CAP=40		# most kill points per syscall name (sampled above that)
BUDGET=50	# seconds each of parts 1 and 3 may take at most
BUDGET2=30	# seconds each of parts 2 and 3b may take at most
# The sanitizer build runs several times slower, and a fresh machine's
# first runs slower still: the budgets bound the suite's length, they do
# not measure speed, so they grow with it.
case $MTA in
*asan*) BUDGET=$((BUDGET * 3)) BUDGET2=$((BUDGET2 * 3)) ;;
esac

# Calls that cannot change what is on disk: killing there proves nothing
# beyond the call before it (and the ASan build makes hundreds of them).
SKIP='^(execve|brk|mmap|munmap|mprotect|mremap|madvise|arch_prctl|set_tid_address|set_robust_list|rseq|rt_sigaction|rt_sigprocmask|rt_sigreturn|sigaltstack|getpid|getppid|gettid|getuid|geteuid|getgid|getegid|getresuid|getresgid|getrandom|prlimit64|getrlimit|setrlimit|uname|clock_gettime|clock_nanosleep|nanosleep|gettimeofday|time|futex|membarrier|sched_getaffinity|sched_yield|personality|readlink|readlinkat|prctl|exit|exit_group)$'

now()
{
	local t=${EPOCHREALTIME//[.,]/}
	echo $((t / 1000))
}

# ms START: milliseconds since START (a value of now)
ms()
{
	echo $(( $(now) - $1 ))
}

# mkmsg TAG: a message whose body is framed by BEGIN-TAG and END-TAG, so a
# torn copy is visible in a mailbox.
mkmsg()
{
	local tag=$1 i
	printf 'From: crash@test.example\nTo: root\nSubject: crash %s\n\nBEGIN-%s\n' "$tag" "$tag"
	for ((i = 1; i <= L; i++)); do
		printf 'line %04d of %s ........................................\n' "$i" "$tag"
	done
	printf 'END-%s\n' "$tag"
}

# copies FILE TAG: "BEGINS ENDS LINES" of TAG's message in mailbox FILE
copies()
{
	if [ ! -f "$1" ]; then
		echo "0 0 0"
		return
	fi
	awk -v t="$2" '
	BEGIN { b = 0; e = 0; l = 0 }
	$0 == "BEGIN-" t { b++ }
	$0 == "END-" t { e++ }
	/^line [0-9]+ of / && $4 == t { l++ }
	END { print b, e, l }' "$1"
}

# whole B E LN: true when the copies counted by copies are all complete
whole()
{
	[ "$1" -eq "$2" ] && [ "$3" -eq $(($1 * L)) ]
}

# sp [DIR]: the spool's tf/df/qf/Qf files, one name a line
sp()
{
	local d=${1:-spool} f
	for f in "$d"/tf* "$d"/df* "$d"/qf* "$d"/Qf*; do
		echo "${f##*/}"
	done
}

# orphans: tf files, and df files without their qf
orphans()
{
	local f id
	for f in spool/tf*; do
		echo "${f##*/}"
	done
	for f in spool/df*; do
		id=${f##*/df}
		if [ ! -e "spool/qf$id" ]; then
			echo "df$id"
		fi
	done
}

# sccount TRACE: "NAME COUNT" for each syscall of an strace -f -o file,
# COUNT the most calls of NAME by one process (injection counts per tracee).
sccount()
{
	awk '
	{
		pid = 0
		if ($1 ~ /^[0-9]+$/) {
			pid = $1
			sub(/^[0-9]+ +/, "")
		}
		if ($0 ~ /^(<\.\.\.|\+\+\+|---)/) {
			next
		}
		name = $0
		sub(/\(.*/, "", name)
		if (name !~ /^[a-z_0-9]+$/) {
			next
		}
		if (++c[pid, name] > m[name]) {
			m[name] = c[pid, name]
		}
	}
	END { for (n in m) print n, m[n] }' "$1" | LC_ALL=C sort
}

# points K: the Ns to try for a call made K times: all, or CAP of them
# spread evenly (first and last included) when K > CAP.
points()
{
	local k=$1 i
	if [ "$k" -le "$CAP" ]; then
		seq 1 "$k"
		return
	fi
	for ((i = 0; i < CAP; i++)); do
		echo $((1 + i * (k - 1) / (CAP - 1)))
	done | uniq
}

# traced ARGS...: strace ARGS, with LeakSanitizer off for the -asan build
# (it cannot run under ptrace and would turn every exit into a failure)
traced()
{
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" strace "$@"
}

# under SPEC CMD...: run CMD under strace with the injection SPEC (e.g.
# fsync:signal=SIGKILL:when=3); stdout to ./out, stderr to ./err, RC set.
# The subshell (kept from exec'ing strace by the exit after it) takes
# bash's "Killed" notice away from the test's stderr.
under()
{
	local spec=$1 sc=${1%%:*}
	shift
	(traced -f -qq -o /dev/null -e trace="$sc" -e inject="$spec" "$@" \
	    >out 2>err; exit $?) 2>/dev/null
	RC=$?
}

# note LIST LINE: append LINE to the named failure list (kept short)
note()
{
	local -n _l=$1
	_l+=("$2")
}

# report NAME LISTNAME: ok NAME, or FAIL NAME with the first failures
report()
{
	local name=$1
	local -n _r=$2
	if [ "${#_r[@]}" -eq 0 ]; then
		ok "$name"
	else
		fail "$name" "${#_r[@]} failing point(s):
$(printf '%s\n' "${_r[@]}" | head -n 12)"
	fi
}

# cleanspool: remove everything from the spool and the mailboxes
cleanspool()
{
	rm -f spool/* mail/* box*
}

sandbox

# ---------------------------------------------------------------------
# 4. a real full disk: 200 KiB tmpfs as the spool
# ---------------------------------------------------------------------
t4=$(now)
SMALL=$PWD/small
mkdir -p "$SMALL"
if ! mount -t tmpfs -o size=200k,mode=0755 tmpfs "$SMALL" 2>mount.err; then
	ok "crash: full disk (skipped: no mount: $(head -n 1 mount.err))"
else
	cleanup_cmd "umount -l '$SMALL'"
	S=()
	for a in "${O[@]}"; do
		case "$a" in
		QueueDirectory=*) S+=("QueueDirectory=$SMALL/spool") ;;
		*) S+=("$a") ;;
		esac
	done
	big()
	{
		local i
		printf 'From: crash@test.example\nTo: root\nSubject: big\n\n'
		for ((i = 0; i < 6000; i++)); do
			printf 'big line %05d ..........................................\n' "$i"
		done
	}
	big > bigmsg
	"$MTA" "${S[@]}" -O MinFreeSpace=0 -odq root < bigmsg >out 2>err
	rc=$?
	left=$(sp "$SMALL/spool" | tr '\n' ' ')
	if [ "$rc" -eq 75 ] && [ -s err ] && [ -z "$left" ]; then
		ok "crash: disk full (400 KiB message, 200 KiB spool): exit 75, message, nothing left"
	else
		fail "crash: disk full (400 KiB message, 200 KiB spool): exit 75, message, nothing left" \
		    "$MTA ... -O QueueDirectory=$SMALL/spool -O MinFreeSpace=0 -odq root < 400KiB: exit $rc; left: $left; stderr: $(cat err)
$(df -k "$SMALL" | tail -n 1)"
		rm -f "$SMALL"/spool/*
	fi
	mkmsg small > msg
	"$MTA" "${S[@]}" -O MinFreeSpace=0 -odq root < msg >out 2>err
	rc=$?
	n=$(sp "$SMALL/spool" | grep -c '^qf')
	if [ "$rc" -eq 0 ] && [ "$n" -eq 1 ]; then
		ok "crash: after disk full, a small message is queued"
	else
		fail "crash: after disk full, a small message is queued" "exit $rc, $n qf; stderr: $(cat err)"
	fi
	# MinFreeSpace (default 10M) is above what this file system has
	mkmsg minfree > msg
	"$MTA" "${S[@]}" -odq root < msg >out 2>err
	rc=$?
	n=$(sp "$SMALL/spool" | grep -c '^qf')
	if [ "$rc" -eq 75 ] && [ -s err ] && [ "$n" -eq 1 ] && [ "$(sp "$SMALL/spool" | wc -l)" -eq 2 ]; then
		ok "crash: MinFreeSpace above the free space: exit 75 with a message, nothing queued"
	else
		fail "crash: MinFreeSpace above the free space: exit 75 with a message, nothing queued" \
		    "exit $rc; spool: $(sp "$SMALL/spool" | tr '\n' ' '); stderr: $(cat err)"
	fi
	# ...while queue runs still deliver (the small message above)
	"$MTA" "${S[@]}" -q >out 2>err
	rc=$?
	read -r b e l <<<"$(copies mail/root small)"
	if [ "$rc" -eq 0 ] && [ "$b" -eq 1 ] && whole "$b" "$e" "$l" && [ -z "$(sp "$SMALL/spool")" ]; then
		ok "crash: queue run under MinFreeSpace still delivers"
	else
		fail "crash: queue run under MinFreeSpace still delivers" \
		    "exit $rc; copies $b/$e/$l; spool: $(sp "$SMALL/spool" | tr '\n' ' '); stderr: $(cat err)"
	fi
	umount "$SMALL" 2>/dev/null || umount -l "$SMALL"
fi
echo "# part 4: $(ms "$t4") ms"
cleanspool

# Parts 1 to 3b inject faults with strace. Under an emulator (MTA_EMU, the
# qemu suites of make test) strace would see the emulator's system calls,
# not the program's: those parts are skipped there.
if [ -n "${MTA_EMU:-}" ]; then
	skip "crash: parts 1, 2, 3 and 3b" "strace under $MTA_EMU traces the emulator, not mta"
	exit 0
fi
if ! command -v strace >/dev/null 2>&1; then
	fail "crash: strace installed" "strace not found (tools/deps installs it)"
	exit 0
fi

# ---------------------------------------------------------------------
# 1. kill -9 at every syscall of a submission
# ---------------------------------------------------------------------
t1=$(now)
mkmsg base > msg
traced -f -qq -o trace "$MTA" "${O[@]}" -odq root < msg >out 2>err
rc=$?
mta -q >/dev/null 2>qerr
qrc=$?
read -r b e l <<<"$(copies mail/root base)"
if [ "$rc" -ne 0 ] || [ "$qrc" -ne 0 ] || [ "$b" -ne 1 ] || ! whole "$b" "$e" "$l" || [ -n "$(sp)" ]; then
	fail "crash: baseline submission and delivery (kill points skipped)" \
	    "mta -odq root: exit $rc; mta -q: exit $qrc; copies: $b begin $e end $l lines; spool: $(sp | tr '\n' ' ')
$(cat err qerr)"
	: > trace
fi
sccount trace | awk -v re="$SKIP" '$1 !~ re' > counts.submit
echo "# submission syscalls: $(tr '\n' ' ' < counts.submit)"
cleanspool

total=0
killed=0
stopped=""
while read -r sc k <&4; do
	bad=()
	for n in $(points "$k"); do
		if [ $(($(now) - t1)) -gt $((BUDGET * 1000)) ]; then
			stopped=" (time budget reached at $sc $n)"
			break
		fi
		total=$((total + 1))
		tag="s-$sc-$n"
		mkmsg "$tag" > msg
		under "$sc:signal=SIGKILL:when=$n" "$MTA" "${O[@]}" -odq root < msg
		src=$RC
		if [ "$src" -eq 137 ]; then
			killed=$((killed + 1))
		elif [ "$src" -ne 0 ]; then
			note bad "$sc #$n: submission exited $src (not 0, not killed): $(head -c 300 err)"
		fi
		young=$(orphans)
		mta -q >qout 2>qerr
		qrc=$?
		why=""
		for f in $young; do
			if [ ! -e "spool/$f" ]; then
				why+="; a queue run removed the young $f"
			fi
		done
		read -r b e l <<<"$(copies mail/root "$tag")"
		if [ "$src" -eq 0 ] && [ "$b" -ne 1 ]; then
			why+="; exited 0 but delivered $b times"
		elif [ "$b" -gt 1 ]; then
			why+="; delivered $b times"
		fi
		if ! whole "$b" "$e" "$l"; then
			why+="; torn: $b BEGIN, $e END, $l of $((b * L)) lines"
		fi
		if [ "$qrc" -ne 0 ]; then
			why+="; mta -q exited $qrc: $(head -c 200 qerr)"
		fi
		# recovery: what is left is now two hours old
		if [ -n "$(sp)" ]; then
			touch -d '2 hours ago' spool/*
		fi
		mta -q >/dev/null 2>&1
		left=$(sp | tr '\n' ' ')
		if [ -n "$left" ]; then
			why+="; left after recovery: $left"
			rm -f spool/*
		fi
		read -r b2 e2 l2 <<<"$(copies mail/root "$tag")"
		if [ "$b2" -ne "$b" ]; then
			why+="; recovery run delivered again ($b -> $b2)"
		fi
		if [ -n "$why" ]; then
			note bad "$sc #$n (exit $src)${why}"
		fi
	done
	report "crash: kill -9 at each $sc of a submission (1..$k): all or nothing, exit 0 => delivered once, recovery cleans" bad
	if [ -n "$stopped" ]; then
		break
	fi
done 4< counts.submit
echo "# part 1: $total kill points, $killed killed, $(ms "$t1") ms$stopped"

# One recovery pass removes an old tf and its df together, whatever order
# the directory lists them in: ten submissions killed at the fsync of
# their tf, made old, then a single mta -q.
tfsync=$(awk '
{
	pid = 0
	if ($1 ~ /^[0-9]+$/) {
		pid = $1
		sub(/^[0-9]+ +/, "")
	}
	if ($0 ~ /^open(at)?\(/ && match($0, /\) += [0-9]+/)) {
		fd = substr($0, RSTART, RLENGTH)
		sub(/^\) += /, "", fd)
		istf[pid, fd] = ($0 ~ /["\/]tf[^"\/]*"/)
	} else if ($0 ~ /^(fsync|fdatasync)\(/) {
		n = ++c[pid]
		fd = $0
		sub(/^[a-z]+\(/, "", fd)
		sub(/\).*/, "", fd)
		if (istf[pid, fd]) {
			print n
			exit
		}
	}
}' trace)
if [ -n "$tfsync" ]; then
	name="crash: one recovery run removes 10 old tf files and their df files"
	cleanspool
	for i in 1 2 3 4 5 6 7 8 9 10; do
		mkmsg "pair$i" > msg
		under "fsync:signal=SIGKILL:when=$tfsync" "$MTA" "${O[@]}" -odq root < msg
	done
	before=$(sp | wc -l)
	touch -d '2 hours ago' spool/*
	mta -q >/dev/null 2>qerr
	left=$(sp | tr '\n' ' ')
	if [ "$before" -eq 20 ] && [ -z "$left" ]; then
		ok "$name"
	else
		fail "$name" "10 x (strace -e inject=fsync:signal=SIGKILL:when=$tfsync mta -odq root) left $before files; after touch -d '2 hours ago' and one mta -q: $left
log: $(grep -c 'removed stale tf' log) 'removed stale tf', $(grep -c 'removed orphan df' log) 'removed orphan df'"
	fi
	cleanspool
fi
if [ "$total" -gt 0 ] && [ "$killed" -eq 0 ]; then
	fail "crash: kill points reached" "no submission was killed: is strace injection working?"
fi
cleanspool

# ---------------------------------------------------------------------
# 2. ENOSPC / EIO at each write, fsync, rename, close, spool open
# ---------------------------------------------------------------------
t2=$(now)
# the Ns of openat that open something in the spool (an error on
# /etc/passwd or the aliases is another test's business)
awk '
{
	if ($1 ~ /^[0-9]+$/) {
		pid = $1
		sub(/^[0-9]+ +/, "")
	}
	if ($0 ~ /^openat\(/ || $0 ~ /^open\(/) {
		n = ++c[pid]
		if (index($0, spool "/") || index($0, "\"" spool "\"")) {
			print n
		}
	}
}' spool="$PWD/spool" trace | sort -nu > spoolopens
# the Ns of close that close a spool file or the spool directory (an
# error from closing a shared library in ld.so is not ours to judge)
awk '
{
	pid = 0
	if ($1 ~ /^[0-9]+$/) {
		pid = $1
		sub(/^[0-9]+ +/, "")
	}
	if ($0 ~ /^open(at)?\(/ && match($0, /\) += [0-9]+/)) {
		fd = substr($0, RSTART, RLENGTH)
		sub(/^\) += /, "", fd)
		isspool[pid, fd] = index($0, spool "/") || index($0, "\"" spool "\"")
	} else if ($0 ~ /^close\(/) {
		n = ++c[pid]
		fd = $0
		sub(/^close\(/, "", fd)
		sub(/\).*/, "", fd)
		if (isspool[pid, fd]) {
			print n
		}
		isspool[pid, fd] = 0
	}
}' spool="$PWD/spool" trace | sort -nu > spoolcloses
ncalls()
{
	awk -v s="$1" '$1 == s { print $2 }' counts.submit
}
# inject SYSCALL ERRNO ALLOWED-CODES [Ns]
inject()
{
	local sc=$1 er=$2 codes=$3 ns=$4 k n tag why bad=()
	k=$(ncalls "$sc")
	if [ -z "$k" ]; then
		return
	fi
	if [ -z "$ns" ]; then
		ns=$(points "$k")
	fi
	for n in $ns; do
		if [ $(($(now) - t2)) -gt $((BUDGET2 * 1000)) ]; then
			note bad "time budget reached before $sc #$n"
			break
		fi
		tag="e-$sc-$er-$n"
		mkmsg "$tag" > msg
		under "$sc:error=$er:when=$n" "$MTA" "${O[@]}" -odq root < msg
		why=""
		left=$(sp | tr '\n' ' ')
		if [ "$RC" -eq 0 ]; then
			if [ "$(qcount)" -ne 1 ]; then
				why+="; exit 0 but spool holds: $left"
			fi
		else
			case " $codes " in
			*" $RC "*) ;;
			*) why+="; exit $RC (want $codes)" ;;
			esac
			if [ ! -s err ]; then
				why+="; nothing on stderr"
			fi
			if [ -n "$left" ]; then
				why+="; left behind: $left"
			fi
		fi
		mta -q >/dev/null 2>&1
		read -r b e l <<<"$(copies mail/root "$tag")"
		if [ "$RC" -eq 0 ] && { [ "$b" -ne 1 ] || ! whole "$b" "$e" "$l"; }; then
			why+="; exit 0 but delivered $b/$e/$l"
		elif [ "$RC" -ne 0 ] && [ "$b" -ne 0 ]; then
			why+="; exit $RC but delivered anyway"
		fi
		if [ -n "$why" ]; then
			note bad "$sc=$er #$n${why}; stderr: $(head -c 200 err)"
		fi
		rm -f spool/*
	done
	if [ -z "$ns" ]; then
		return
	fi
	report "crash: $er at each $sc of a submission ($(echo $ns | wc -w) points): exit $codes + stderr + nothing left, or committed" bad
}
inject write ENOSPC "75"
inject write EIO "75"
inject fsync EIO "75"
inject fsync ENOSPC "75"
inject fdatasync EIO "75"
inject sync_file_range EIO "75"
inject rename EIO "75"
inject rename ENOSPC "75"
inject renameat EIO "75"
inject renameat2 EIO "75"
if [ -s spoolcloses ]; then
	inject close EIO "75" "$(cat spoolcloses)"
fi
inject ftruncate EIO "75"
inject linkat ENOSPC "75 73"
if [ -s spoolopens ]; then
	inject openat ENOSPC "75 73" "$(cat spoolopens)"
	inject openat EIO "75 73" "$(cat spoolopens)"
fi
echo "# part 2: $(ms "$t2") ms"
cleanspool

# ---------------------------------------------------------------------
# 3. kill -9 a queue run mid-delivery (one message, five recipients)
# ---------------------------------------------------------------------
t3=$(now)
{
	echo "grp: r1, r2, r3, r4, r5"
	for i in 1 2 3 4 5; do
		echo "r$i: $PWD/box$i"
	done
} > aliases

# run3 TAG: queue TAG's message to grp (exit status of the submission)
queue3()
{
	mkmsg "$1" > msg
	mta -odq grp < msg >/dev/null 2>err3
}

queue3 base
traced -f -qq -o trace3 "$MTA" "${O[@]}" -q >/dev/null 2>err
rc=$?
why=""
for i in 1 2 3 4 5; do
	read -r b e l <<<"$(copies "box$i" base)"
	if [ "$b" -ne 1 ] || ! whole "$b" "$e" "$l"; then
		why+="; box$i has $b/$e/$l"
	fi
done
if [ "$rc" -ne 0 ] || [ -n "$why" ] || [ -n "$(sp)" ]; then
	fail "crash: baseline queue run to 5 file recipients (kill points skipped)" \
	    "mta -odq grp; mta -q: exit $rc$why; spool: $(sp | tr '\n' ' '); stderr: $(cat err)"
	: > trace3
fi
sccount trace3 | awk -v re="$SKIP" '$1 !~ re' > counts.run
rm -f done3
echo "# queue run syscalls: $(tr '\n' ' ' < counts.run)"
cleanspool

# The first fsync of a mailbox (box1): a runner killed there holds box1's
# dot-lock, if it takes one. The next run must still finish the job (issue
# 2: "the next run finishes the job"); the owner's pid is in the lock and
# it is dead, so waiting LOCK_STALE seconds for it is not needed.
boxsync=$(awk '
{
	pid = 0
	if ($1 ~ /^[0-9]+$/) {
		pid = $1
		sub(/^[0-9]+ +/, "")
	}
	if ($0 ~ /^open(at)?\(/ && match($0, /\) += [0-9]+/)) {
		fd = substr($0, RSTART, RLENGTH)
		sub(/^\) += /, "", fd)
		isbox[pid, fd] = index($0, box "\"") > 0
	} else if ($0 ~ /^(fsync|fdatasync)\(/) {
		n = ++c[pid]
		fd = $0
		sub(/^[a-z]+\(/, "", fd)
		sub(/\).*/, "", fd)
		if (isbox[pid, fd]) {
			print n
			exit
		}
	}
}' box="$PWD/box1" trace3)
if [ -n "$boxsync" ]; then
	name="crash: a queue run killed while it holds a mailbox lock does not hold up the next run"
	queue3 lock
	under "fsync:signal=SIGKILL:when=$boxsync" "$MTA" "${O[@]}" -q
	krc=$RC
	locks=$(for f in box*.lock; do printf '%s (%s) ' "$f" "$(head -c 20 "$f" | tr '\n' ' ')"; done)
	t=$(now)
	mta -q >qout 2>qerr
	qrc=$?
	el=$(($(now) - t))
	miss=""
	for i in 1 2 3 4 5; do
		read -r b e l <<<"$(copies "box$i" lock)"
		if [ "$e" -lt 1 ]; then
			miss+=" box$i"
		fi
	done
	if [ "$qrc" -eq 0 ] && [ -z "$miss" ] && [ "$(qcount)" -eq 0 ]; then
		ok "$name"
	else
		fail "$name" "strace -e inject=fsync:signal=SIGKILL:when=$boxsync mta -q (exit $krc) left: ${locks:-no lock file}
then mta -q: exit $qrc after $el ms; no copy in:$miss; qf left: $(qcount)
$(grep -h '^e' spool/qf* 2>/dev/null | sort | uniq -c | head -n 5)"
	fi
	cleanspool
fi

total=0
killed=0
staled=0
stopped=""
# fsync first: those are the points the brief names
for sc in fsync fdatasync sync_file_range rename renameat renameat2 unlink unlinkat \
    $(awk '{ print $1 }' counts.run); do
	k=$(awk -v s="$sc" '$1 == s { print $2 }' counts.run)
	if [ -z "$k" ] || grep -qx "$sc" done3 2>/dev/null; then
		continue
	fi
	echo "$sc" >> done3
	bad=()
	for n in $(points "$k"); do
		if [ $(($(now) - t3)) -gt $((BUDGET * 1000)) ]; then
			stopped=" (time budget reached at $sc $n)"
			break
		fi
		total=$((total + 1))
		tag="q-$sc-$n"
		cleanspool
		rm -f box*.lock
		if ! queue3 "$tag"; then
			note bad "$sc #$n: could not queue: $(cat err3)"
			continue
		fi
		under "$sc:signal=SIGKILL:when=$n" "$MTA" "${O[@]}" -q
		krc=$RC
		if [ "$krc" -eq 137 ]; then
			killed=$((killed + 1))
		fi
		# A dot-lock the killed run left is the subject of the check
		# above; here it is made stale (older than any LOCK_STALE) so
		# that this loop judges the spool alone.
		for f in box*.lock; do
			touch -d '2 hours ago' "$f"
			staled=$((staled + 1))
		done
		mta -q >qout 2>qerr
		qrc=$?
		why=""
		if [ "$qrc" -ne 0 ]; then
			why+="; second mta -q exited $qrc: $(head -c 200 qerr)"
		fi
		if [ -n "$(sp spool | grep -E '^(qf|Qf)')" ]; then
			why+="; after the second run: $(sp | tr '\n' ' ')$(cat spool/qf* 2>/dev/null | grep '^e' | head -n 3 | tr '\n' ' ')"
		fi
		# recovery of what the killed run left (a young tf or df)
		if [ -n "$(sp)" ]; then
			touch -d '2 hours ago' spool/*
		fi
		mta -q >/dev/null 2>&1
		left=$(sp | tr '\n' ' ')
		if [ -n "$left" ]; then
			why+="; left after recovery: $left"
		fi
		extra=0
		counts=""
		for i in 1 2 3 4 5; do
			read -r b e l <<<"$(copies "box$i" "$tag")"
			counts+=" $b/$e"
			if [ "$e" -lt 1 ]; then
				why+="; box$i has no complete copy"
			fi
			if [ "$b" -gt 1 ]; then
				extra=$((extra + b - 1))
			fi
		done
		if [ "$extra" -gt 1 ]; then
			why+="; $extra extra copies (only the recipient in flight may get one)"
		fi
		if [ -n "$why" ]; then
			note bad "$sc #$n (killed run exit $krc; copies begin/end per box:$counts)${why}"
		fi
	done
	report "crash: kill -9 a queue run at each $sc (1..$k): next run completes, no recipient lost, at most one duplicate" bad
	if [ -n "$stopped" ]; then
		break
	fi
done
echo "# part 3: $total kill points, $killed killed, $staled dot-locks left by killed runs (aged), $(ms "$t3") ms$stopped"
if [ "$total" -gt 0 ] && [ "$killed" -eq 0 ]; then
	fail "crash: queue-run kill points reached" "no queue run was killed"
fi
cleanspool

# 3b. ENOSPC / EIO at each write and fsync of the same queue run: no torn
# copy in any mailbox (a failed append is truncated back), the qf stays
# consistent, and a forced run (-qI, retry time ignored) finishes the job.
t3b=$(now)
qerror()
{
	local sc=$1 er=$2 k n tag id why counts extra i b e l bad=()
	k=$(awk -v s="$sc" '$1 == s { print $2 }' counts.run)
	if [ -z "$k" ]; then
		return
	fi
	for n in $(points "$k"); do
		if [ $(($(now) - t3b)) -gt $((BUDGET2 * 1000)) ]; then
			note bad "time budget reached before $sc #$n"
			break
		fi
		tag="r-$sc-$er-$n"
		cleanspool
		rm -f box*.lock
		if ! queue3 "$tag"; then
			note bad "$sc=$er #$n: could not queue: $(cat err3)"
			continue
		fi
		id=$(qids)
		under "$sc:error=$er:when=$n" "$MTA" "${O[@]}" -q
		why=""
		if [ "$RC" -ne 0 ] && [ "$RC" -ne 75 ]; then
			why+="; the run with the error exited $RC: $(head -c 200 err)"
		fi
		for i in 1 2 3 4 5; do
			read -r b e l <<<"$(copies "box$i" "$tag")"
			if ! whole "$b" "$e" "$l"; then
				why+="; torn box$i after the error: $b BEGIN $e END $l lines"
			fi
		done
		if [ -n "$(sp | grep '^Qf')" ]; then
			why+="; quarantined: $(sp | tr '\n' ' ')"
		fi
		mta -qI"$id" >qout 2>qerr
		if [ -n "$(sp | grep -E '^(qf|df|tf)')" ]; then
			why+="; after mta -qI$id: $(sp | tr '\n' ' ') $(grep -h '^e' spool/qf* 2>/dev/null | sort -u | head -n 3 | tr '\n' ' ')"
		fi
		extra=0
		counts=""
		for i in 1 2 3 4 5; do
			read -r b e l <<<"$(copies "box$i" "$tag")"
			counts+=" $b/$e"
			if [ "$e" -lt 1 ]; then
				why+="; box$i has no complete copy"
			fi
			if ! whole "$b" "$e" "$l"; then
				why+="; torn box$i: $b BEGIN $e END $l lines"
			fi
			if [ "$b" -gt 1 ]; then
				extra=$((extra + b - 1))
			fi
		done
		if [ "$extra" -gt 1 ]; then
			why+="; $extra extra copies"
		fi
		if [ -n "$why" ]; then
			note bad "$sc=$er #$n (exit $RC; copies per box:$counts)$why"
		fi
	done
	report "crash: $er at each $sc of a queue run (1..$k): no torn mailbox, -qI finishes, at most one duplicate" bad
}
if [ -s counts.run ]; then
	qerror write ENOSPC
	qerror write EIO
	qerror fsync EIO
	qerror fsync ENOSPC
	qerror fdatasync EIO
	qerror renameat EIO
	qerror rename EIO
fi
echo "# part 3b: $(ms "$t3b") ms"
cleanspool
exit 0
