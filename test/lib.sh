# test/lib.sh: sourced by every test/t_*.sh. Each test file runs in a fresh
# temporary directory (its cwd, made by test/run) and prints one line per
# check: "ok NAME" or "FAIL NAME" (followed by indented detail lines).
#
# Contract (test/t_crash.sh and test/t_concurrent.sh rely on it):
#   ok NAME                 print "ok NAME"
#   fail NAME WHY           print "FAIL NAME" and WHY indented below it
#   check NAME CMD...       ok if CMD succeeds, else fail with its output
#   sandbox                 ./spool ./mail, empty ./aliases, array O=(-O ...)
#   mta ARGS...             "$MTA" "${O[@]}" ARGS...
#   waitfor SECS CMD...     poll CMD every 0.05 s until it succeeds (rc 0)
#                           or SECS pass (rc 1); never a fixed sleep
#   freeport                print a free TCP port on 127.0.0.1
#   cleanup_add PID         kill PID when the test file exits
#   qcount                  number of qf* files in ./spool
#   mbox_count FILE         number of messages ("From " lines) in FILE
#
# Extras (used by t_submit/t_local/t_queue, free for others):
#   cleanup_cmd STRING      eval STRING at exit (umount, ...), after the kills
#   capture CMD...          run CMD; set RC, OUT (stdout), ERR (stderr)
#   spoolfiles              names of every file in ./spool, one per line
#   qids                    queue IDs of the qf* files, one per line
#   qline ID TAG            the qf lines of ID that start with TAG (tag removed)
#   qrcpts ID               the R lines of ID (tag removed), sorted
#   pubdir                  set PUB to a new directory every user may write
#                           (for |programs, which run as RunAsUser, not root;
#                           the test's own cwd is private), removed at exit
#   PY                      /usr/bin/python3

: "${TOP:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
: "${MTA:=$TOP/mta}"
export TOP MTA
PY=/usr/bin/python3

# Never scribble a spool into the source tree when run by hand from there.
case "$PWD/" in
"$TOP"/*)
	cd "$(mktemp -d)" || exit 1
	echo "# lib.sh: running in $PWD (cwd was inside the repository)"
	;;
esac

T_PASSED=0
T_FAILED=0

ok()
{
	T_PASSED=$((T_PASSED + 1))
	printf 'ok %s\n' "$1"
}

# fail NAME WHY: the detail lines are indented so that no line of them
# can start with "ok " or "FAIL " and be miscounted; control bytes shown.
fail()
{
	local name=$1
	shift
	T_FAILED=$((T_FAILED + 1))
	printf 'FAIL %s\n' "$name"
	printf '%s\n' "$*" | head -n 40 | cut -c 1-300 | cat -v | sed 's/^/    /'
}

check()
{
	local name=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	if [ "$rc" -eq 0 ]; then
		ok "$name"
	else
		fail "$name" "command: $* (exit $rc)
$out"
	fi
}

sandbox()
{
	mkdir -p "$PWD/spool" "$PWD/mail"
	: > "$PWD/aliases"
	O=(-O "QueueDirectory=$PWD/spool" -O "MailSpool=$PWD/mail"
	    -O "AliasFile=$PWD/aliases" -O "LogFile=$PWD/log"
	    -O HostName=test.example)
}

mta()
{
	"$MTA" "${O[@]}" "$@"
}

waitfor()
{
	local secs=$1 end
	shift
	end=$(awk -v now="$EPOCHREALTIME" -v s="$secs" 'BEGIN { printf "%.3f", now + s }')
	while :; do
		if "$@" >/dev/null 2>&1; then
			return 0
		fi
		if awk -v now="$EPOCHREALTIME" -v end="$end" 'BEGIN { exit !(now > end) }'; then
			return 1
		fi
		sleep 0.05
	done
}

freeport()
{
	"$PY" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

T_PIDS=()
T_CMDS=()

cleanup_add()
{
	T_PIDS+=("$1")
}

cleanup_cmd()
{
	T_CMDS+=("$1")
}

t_alive()
{
	local p
	for p in "$@"; do
		if kill -0 "$p" 2>/dev/null; then
			return 0
		fi
	done
	return 1
}

t_cleanup()
{
	local rc=$? p c
	trap - EXIT
	if [ "${#T_PIDS[@]}" -gt 0 ]; then
		for p in "${T_PIDS[@]}"; do
			kill -TERM "$p" 2>/dev/null
		done
		if ! waitfor 5 eval '! t_alive "${T_PIDS[@]}"'; then
			for p in "${T_PIDS[@]}"; do
				kill -KILL "$p" 2>/dev/null
			done
		fi
	fi
	for c in "${T_CMDS[@]}"; do
		eval "$c" >/dev/null 2>&1
	done
	exit "$rc"
}
trap t_cleanup EXIT

qcount()
{
	local f n=0
	for f in "$PWD"/spool/qf*; do
		if [ -e "$f" ]; then
			n=$((n + 1))
		fi
	done
	echo "$n"
}

mbox_count()
{
	if [ -f "$1" ]; then
		grep -c '^From ' "$1" || true
	else
		echo 0
	fi
}

capture()
{
	local e
	e=$(mktemp "$PWD/.err.XXXXXX")
	OUT=$("$@" 2>"$e")
	RC=$?
	ERR=$(cat "$e")
	rm -f "$e"
	return 0
}

spoolfiles()
{
	ls -A "$PWD/spool" 2>/dev/null
}

qids()
{
	local f
	for f in "$PWD"/spool/qf*; do
		if [ -e "$f" ]; then
			f=${f##*/}
			echo "${f#qf}"
		fi
	done
}

qline()
{
	sed -n "s/^$2//p" "$PWD/spool/qf$1"
}

qrcpts()
{
	sed -n 's/^R//p' "$PWD/spool/qf$1" | LC_ALL=C sort
}

pubdir()
{
	PUB=$(mktemp -d /tmp/mta-pub.XXXXXX) || return 1
	chmod 777 "$PUB"
	cleanup_cmd "rm -rf '$PUB'"
}
