#!/bin/bash
# test/t_concurrent.sh: concurrency of the spool (SPEC "The spool": a message
# being delivered is locked, so two queue runners never deliver it twice;
# queue IDs unique across processes).
#
# 1. 200 messages queued (-odq), each to root and to an alias of a /path
#    file; two `mta -q` released at the same moment: each recipient gets
#    each message exactly once, the spool ends empty.
# 2. 4 submitters in parallel, 50 messages each: all exit 0, 200 qf files
#    and 200 distinct queue IDs; a queue run then delivers all 200.
#
# Run by test/run (cwd = fresh temp dir, MTA and TOP set).

. "$TOP/test/lib.sh"
set +e
shopt -s nullglob

N=200

now()
{
	local t=${EPOCHREALTIME//[.,]/}
	echo $((t / 1000))
}

# sp: the spool's tf/df/qf/Qf files, one name a line
sp()
{
	local f
	for f in spool/tf* spool/df* spool/qf* spool/Qf*; do
		echo "${f##*/}"
	done
}

# msg TAG I: a small message with a unique subject and Message-ID
msg()
{
	printf 'From: conc@test.example\nTo: root\nSubject: %s %03d\nMessage-ID: <%s.%03d@test.example>\n\nbody of %s %03d\n' \
	    "$1" "$2" "$1" "$2" "$1" "$2"
}

# perbox FILE TAG: "MESSAGES SUBJECTS DISTINCT-SUBJECTS DISTINCT-MSGIDS"
# counted over the messages of TAG in mailbox FILE
perbox()
{
	if [ ! -f "$1" ]; then
		echo "0 0 0 0"
		return
	fi
	awk -v t="$2" '
	/^From / { m++ }
	$1 == "Subject:" && $2 == t { s++; if (!(($3) in su)) { su[$3]; ds++ } }
	tolower($1) == "message-id:" && index($2, "<" t ".") == 1 { if (!($2 in mi)) { mi[$2]; dm++ } }
	END { print m + 0, s + 0, ds + 0, dm + 0 }' "$1"
}

sandbox
echo "box: $PWD/box" > aliases

# ---------------------------------------------------------------------
# 1. two queue runners over 200 messages
# ---------------------------------------------------------------------
t1=$(now)
bad=0
for ((i = 1; i <= N; i++)); do
	msg conc "$i" | mta -odq root box >out 2>err
	rc=$?
	if [ "$rc" -ne 0 ]; then
		bad=$((bad + 1))
		if [ "$bad" -eq 1 ]; then
			first="message $i: exit $rc: $(cat err)"
		fi
	fi
done
n=$(qcount)
if [ "$bad" -eq 0 ] && [ "$n" -eq "$N" ]; then
	ok "concurrent: $N messages queued with -odq"
else
	fail "concurrent: $N messages queued with -odq" "$bad failed, $n qf files; first failure: ${first:-}"
fi
echo "# queued $N messages in $(($(now) - t1)) ms"

# Both runners wait on a FIFO that the test holds open read-write (so
# nobody blocks in open); one line each releases them together.
t2=$(now)
mkfifo go
exec 3<>go
(
	exec 3>&-
	read -r _ < go
	exec "$MTA" "${O[@]}" -q >q1.out 2>q1.err
) &
p1=$!
cleanup_add "$p1"
(
	exec 3>&-
	read -r _ < go
	exec "$MTA" "${O[@]}" -q >q2.out 2>q2.err
) &
p2=$!
cleanup_add "$p2"
printf 'go\ngo\n' >&3
wait "$p1"
r1=$?
wait "$p2"
r2=$?
exec 3>&-
echo "# two queue runs: $(($(now) - t2)) ms"
if [ "$r1" -eq 0 ] && [ "$r2" -eq 0 ]; then
	ok "concurrent: both mta -q exit 0"
else
	fail "concurrent: both mta -q exit 0" "runner 1: exit $r1: $(head -c 500 q1.err)
runner 2: exit $r2: $(head -c 500 q2.err)"
fi
for f in mail/root box; do
	read -r m s ds dm <<<"$(perbox "$f" conc)"
	if [ "$m" -eq "$N" ] && [ "$s" -eq "$N" ] && [ "$ds" -eq "$N" ] && [ "$dm" -eq "$N" ]; then
		ok "concurrent: $f got each of the $N messages exactly once"
	else
		dups=$(awk '$1 == "Subject:" && $2 == "conc" { print $3 }' "$f" 2>/dev/null | sort | uniq -d | head -n 10 | tr '\n' ' ')
		fail "concurrent: $f got each of the $N messages exactly once" \
		    "$m From_ lines, $s subjects, $ds distinct subjects, $dm distinct Message-IDs; duplicated: $dups"
	fi
done
# how the work was shared (a note: one runner may legitimately get it all)
echo "# deliveries per runner pid: $(grep 'stat=Sent' log 2>/dev/null | sed -n 's/.*mta\[\([0-9]*\)\].*/\1/p' | sort | uniq -c | tr '\n' ' ' | tr -s ' ')"
left=$(sp | tr '\n' ' ')
if [ -z "$left" ]; then
	ok "concurrent: spool empty after the two runs"
else
	fail "concurrent: spool empty after the two runs" "$(sp | wc -l) files left: $(echo "$left" | cut -c 1-200)
$(for f in spool/[qQ]f*; do [ -e "$f" ] && { echo "--- $f:"; head -c 600 "$f"; id=${f##*/}; grep -F "${id#?f}" log | cut -c 1-300; }; done 2>&1 | head -n 40)"
fi
rm -f spool/* mail/* box log

# The same race without a shared mailbox (above, the runner that loses the
# mailbox lock naps, so the spool locks see little contention): message i
# goes to its own file, so both runners race on the qf locks throughout.
mkdir files
for ((i = 1; i <= N; i++)); do
	echo "f$i: $PWD/files/f$i"
done > aliases
bad=0
for ((i = 1; i <= N; i++)); do
	msg own "$i" | mta -odq "f$i" >/dev/null 2>err || bad=$((bad + 1))
done
t2=$(now)
(
	exec 3>&-
	read -r _ < go
	exec "$MTA" "${O[@]}" -q >q1.out 2>q1.err
) &
p1=$!
cleanup_add "$p1"
(
	exec 3>&-
	read -r _ < go
	exec "$MTA" "${O[@]}" -q >q2.out 2>q2.err
) &
p2=$!
cleanup_add "$p2"
exec 3<>go
printf 'go\ngo\n' >&3
wait "$p1"
r1=$?
wait "$p2"
r2=$?
exec 3>&-
echo "# two queue runs over $N own-file messages: $(($(now) - t2)) ms; deliveries per runner pid: $(grep 'stat=Sent' log 2>/dev/null | sed -n 's/.*mta\[\([0-9]*\)\].*/\1/p' | sort | uniq -c | tr '\n' ' ' | tr -s ' ')"
wrong=""
for ((i = 1; i <= N; i++)); do
	read -r m s ds dm <<<"$(perbox "files/f$i" own)"
	if [ "$m" -ne 1 ] || [ "$s" -ne 1 ]; then
		wrong+=" f$i:$m"
	fi
done
if [ "$bad" -eq 0 ] && [ "$r1" -eq 0 ] && [ "$r2" -eq 0 ] && [ -z "$wrong" ] && [ -z "$(sp)" ]; then
	ok "concurrent: two mta -q over $N messages to $N files: each file has its message exactly once"
else
	fail "concurrent: two mta -q over $N messages to $N files: each file has its message exactly once" \
	    "$bad submissions failed; runners exit $r1 and $r2; files with a wrong count (file:messages):$(echo "$wrong" | cut -c 1-200); spool: $(sp | wc -l) files
$(head -c 300 q1.err q2.err)"
fi
rm -rf spool/* mail/* files log
: > aliases

# ---------------------------------------------------------------------
# 2. 4 parallel submitters x 50 messages
# ---------------------------------------------------------------------
t3=$(now)
pids=()
for k in 1 2 3 4; do
	(
		for ((i = 1; i <= 50; i++)); do
			msg "par$k" "$i" | "$MTA" "${O[@]}" -odq root >/dev/null 2>"e$k"
			rc=$?
			if [ "$rc" -ne 0 ]; then
				echo "submitter $k message $i: exit $rc: $(cat "e$k")" >> fails
			fi
		done
	) &
	pids+=($!)
	cleanup_add "$!"
done
for p in "${pids[@]}"; do
	wait "$p"
done
echo "# 4 x 50 parallel submissions: $(($(now) - t3)) ms"
if [ ! -s fails ]; then
	ok "concurrent: 4 parallel submitters x 50: all exit 0"
else
	fail "concurrent: 4 parallel submitters x 50: all exit 0" "$(wc -l < fails) failed:
$(head -n 5 fails)"
fi
nq=$(qcount)
nd=$(sp | grep -c '^df')
nt=$(sp | grep -c '^tf')
if [ "$nq" -eq 200 ] && [ "$nd" -eq 200 ] && [ "$nt" -eq 0 ]; then
	ok "concurrent: 200 qf and 200 df files, no tf"
else
	fail "concurrent: 200 qf and 200 df files, no tf" "$nq qf, $nd df, $nt tf"
fi
# the IDs as the log names them ("ID: from=<...>"): distinct, and the same
# set as the qf files
grep -oE '[^ :]+: from=' log 2>/dev/null | sed 's/: from=$//' | sort > logids
qids | sort > qfids
nl=$(wc -l < logids)
nu=$(sort -u logids | wc -l)
if [ "$nl" -eq 200 ] && [ "$nu" -eq 200 ] && cmp -s logids qfids; then
	ok "concurrent: 200 distinct queue IDs (log from= lines match the qf files)"
else
	fail "concurrent: 200 distinct queue IDs (log from= lines match the qf files)" \
	    "$nl from= lines, $nu distinct, $(wc -l < qfids) qf IDs; differences: $(diff logids qfids | head -n 6 | tr '\n' ' ')"
fi
mta -q >out 2>err
rc=$?
bad=""
for k in 1 2 3 4; do
	read -r m s ds dm <<<"$(perbox mail/root "par$k")"
	if [ "$s" -ne 50 ] || [ "$ds" -ne 50 ]; then
		bad+=" par$k: $s copies of $ds distinct;"
	fi
done
if [ "$rc" -eq 0 ] && [ "$(grep -c '^From ' mail/root 2>/dev/null)" = 200 ] && [ -z "$bad" ] && [ -z "$(sp)" ]; then
	ok "concurrent: a queue run delivers the 200 parallel submissions once each"
else
	fail "concurrent: a queue run delivers the 200 parallel submissions once each" \
	    "mta -q exit $rc:$bad $(grep -c '^From ' mail/root 2>/dev/null) From_ lines; spool: $(sp | wc -l) files; stderr: $(head -c 300 err)"
fi
exit 0
