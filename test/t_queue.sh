#!/bin/bash
# t_queue.sh: the queue from outside: mailq/-bp, -q and its selectors
# (-qI, -qR, -qS), retry times, oldest first, start-up recovery (old tf and
# orphan df, qf without df, size mismatch, malformed qf) and the log lines.
# Only local recipients: nothing here leaves the machine.
. "$TOP/test/lib.sh"
sandbox

fresh()
{
	rm -rf spool mail log aliases
	sandbox
}

# queue MSGFILE ARGS...: mta -odq ARGS < MSGFILE; ID = the new queue ID.
queue()
{
	local msg=$1 before
	shift
	before=$(qids)
	capture mta -odq "$@" < "$msg"
	if [ -z "$before" ]; then
		ID=$(qids | head -n 1)
	else
		ID=$(qids | grep -vxF -e "$before" | head -n 1)
	fi
	if [ -z "$ID" ]; then
		echo "# queue $*: exit $RC, nothing queued: $ERR"
	fi
}

state()
{
	echo "exit $RC, $(qcount) qf file(s)"
	if [ -n "$OUT" ]; then
		echo "stdout: $OUT"
	fi
	if [ -n "$ERR" ]; then
		echo "stderr: $ERR"
	fi
	echo "spool: $(spoolfiles | tr '\n' ' ')"
	echo "mail: $(ls mail 2>/dev/null | tr '\n' ' ')"
	if [ -f log ]; then
		echo "--- log (end):"
		tail -n 8 log
	fi
}

# crashed: the last capture ended by a signal or a sanitizer report.
crashed()
{
	[ "$RC" -ge 128 ] || [ "$RC" -eq 124 ] ||
	    printf '%s' "$ERR" | grep -q 'Sanitizer\|runtime error'
}

mkmsg()
{
	printf 'Subject: %s\n\n%s body\n' "$1" "$1" > "$1.msg"
}
mkmsg plain

# --- mailq / -bp ----------------------------------------------------------------

mkdir -p names
ln -sf "$MTA" names/mailq
capture mta -bp
if [ "$RC" -eq 0 ] && printf '%s' "$OUT" | grep -q 'Mail queue is empty'; then
	ok "queue: -bp on an empty queue: 'Mail queue is empty', exit 0"
else
	fail "queue: -bp on an empty queue: 'Mail queue is empty', exit 0" "$(state)"
fi
capture names/mailq "${O[@]}"
if [ "$RC" -eq 0 ] && printf '%s' "$OUT" | grep -q 'Mail queue is empty'; then
	ok "queue: mailq on an empty queue: 'Mail queue is empty', exit 0"
else
	fail "queue: mailq on an empty queue: 'Mail queue is empty', exit 0" "$(state)"
fi
rm -rf nospool
capture "$MTA" -O "QueueDirectory=$PWD/nospool" -O "LogFile=$PWD/log" -bp
if [ "$RC" -eq 0 ] && printf '%s' "$OUT" | grep -q 'Mail queue is empty'; then
	ok "queue: -bp with a QueueDirectory that does not exist yet: empty, exit 0"
else
	fail "queue: -bp with a QueueDirectory that does not exist yet: empty, exit 0" "$(state)"
fi

queue plain.msg -f alice@example.org root daemon
ida=$ID
queue plain.msg -f '<>' root
idb=$ID
capture names/mailq "${O[@]}"
size=$(stat -c %s "spool/df$ida" 2>/dev/null)
miss=
for w in "$ida" "$idb" alice@example.org root daemon; do
	if ! printf '%s' "$OUT" | grep -qF -- "$w"; then
		miss="$miss $w"
	fi
done
if [ -n "$size" ] && ! printf '%s' "$OUT" | grep -qw -- "$size"; then
	miss="$miss size($size)"
fi
if [ "$RC" -eq 0 ] && [ -z "$miss" ] && ! printf '%s' "$OUT" | grep -q 'Mail queue is empty'; then
	ok "queue: mailq shows IDs, size, sender and recipients"
else
	fail "queue: mailq shows IDs, size, sender and recipients" "missing:$miss
$(state)"
fi
capture mta -bp
bp=$OUT
capture names/mailq "${O[@]}"
if [ "$bp" = "$OUT" ]; then
	ok "queue: -bp prints the same as mailq"
else
	fail "queue: -bp prints the same as mailq" "-bp: $bp
mailq: $OUT"
fi
if printf '%s' "$OUT" | grep -qF '<>' || printf '%s' "$OUT" | grep -q MAILER-DAEMON; then
	ok "queue: mailq shows the null sender as <> or MAILER-DAEMON"
else
	fail "queue: mailq shows the null sender as <> or MAILER-DAEMON" "$OUT"
fi

# --- -q, -v -q --------------------------------------------------------------------

capture mta -q
if [ "$RC" -eq 0 ] && [ "$(mbox_count mail/root)" -eq 2 ] && [ "$(mbox_count mail/daemon)" -eq 1 ] &&
    [ "$(qcount)" -eq 0 ]; then
	ok "queue: -q delivers every due message"
else
	fail "queue: -q delivers every due message" "$(state)"
fi
left=$(spoolfiles | grep -E '^(df|qf|tf|Qf)')
if [ -z "$left" ]; then
	ok "queue: -q removes df and qf of delivered messages"
else
	fail "queue: -q removes df and qf of delivered messages" "left: $left"
fi
capture mta -bp
if printf '%s' "$OUT" | grep -q 'Mail queue is empty'; then
	ok "queue: mailq is empty again after the run"
else
	fail "queue: mailq is empty again after the run" "$(state)"
fi

# the log of that run
if grep -Eq "$ida: from=<alice@example\.org>, size=$size, nrcpts=2" log 2>/dev/null; then
	ok "queue: log 'ID: from=<alice@example.org>, size=N, nrcpts=2'"
else
	fail "queue: log 'ID: from=<alice@example.org>, size=N, nrcpts=2'" "want size=$size
$(cat log 2>&1)"
fi
if grep -Eq "$idb: from=<>, size=" log 2>/dev/null; then
	ok "queue: log 'ID: from=<>, size=' for the null sender"
else
	fail "queue: log 'ID: from=<>, size=' for the null sender" "$(cat log 2>&1)"
fi
if grep -E "$ida: to=<(root|root@test\.example)>,.*stat=Sent" log >/dev/null 2>&1 &&
    grep -E "$ida: to=<(daemon|daemon@test\.example)>,.*stat=Sent" log >/dev/null 2>&1; then
	ok "queue: log 'ID: to=<rcpt>, ..., stat=Sent' for each recipient"
else
	fail "queue: log 'ID: to=<rcpt>, ..., stat=Sent' for each recipient" "$(cat log 2>&1)"
fi
if grep "$ida: to=" log 2>/dev/null | grep -q 'delay=.*dsn=2\.0\.0'; then
	ok "queue: to= log line has delay= and dsn=2.0.0"
else
	fail "queue: to= log line has delay= and dsn=2.0.0" "$(grep "$ida" log 2>&1)"
fi

fresh
queue plain.msg root
capture mta -v -q
if [ "$RC" -eq 0 ] && printf '%s' "$OUT$ERR" | grep -qF 'root... Connecting to local...' &&
    printf '%s' "$OUT$ERR" | grep -qF 'root... Sent'; then
	ok "queue: -v -q prints 'root... Connecting to local...' and 'root... Sent'"
else
	fail "queue: -v -q prints 'root... Connecting to local...' and 'root... Sent'" "$(state)"
fi
if printf '%s\n' "$OUT$ERR" | grep -n 'root\.\.\.' | head -n 1 | grep -q 'Connecting'; then
	ok "queue: -v -q: Connecting before Sent"
else
	fail "queue: -v -q: Connecting before Sent" "$OUT$ERR"
fi

fresh
queue plain.msg root
capture mta -q -v
if printf '%s' "$OUT$ERR" | grep -qF 'root... Sent'; then
	ok "queue: -q -v (flags in the other order)"
else
	fail "queue: -q -v (flags in the other order)" "$(state)"
fi

# --- selectors ------------------------------------------------------------------

fresh
mkmsg one
mkmsg two
queue one.msg root
id1=$ID
queue two.msg daemon
id2=$ID
capture mta -qI"$id1"
if [ "$RC" -eq 0 ] && [ "$(mbox_count mail/root)" -eq 1 ] && [ ! -e mail/daemon ] &&
    [ "$(qids)" = "$id2" ]; then
	ok "queue: -qI<id> delivers only that message"
else
	fail "queue: -qI<id> delivers only that message" "$(state)"
fi

fresh
queue one.msg root
id1=$ID
queue two.msg daemon
id2=$ID
# the shortest part of id2 at its end that is not in id1
sub=
for ((n = 4; n <= ${#id2}; n++)); do
	s=${id2: -n}
	case "$id1" in
	*"$s"*) ;;
	*) sub=$s; break ;;
	esac
done
capture mta -qI"$sub"
if [ -n "$sub" ] && [ "$RC" -eq 0 ] && [ "$(mbox_count mail/daemon)" -eq 1 ] && [ ! -e mail/root ] &&
    [ "$(qids)" = "$id1" ]; then
	ok "queue: -qI<substring of an id> delivers only the matching message"
else
	fail "queue: -qI<substring of an id> delivers only the matching message" "ids $id1 $id2, substring '$sub'
$(state)"
fi

fresh
queue one.msg root
id1=$ID
queue two.msg daemon
id2=$ID
capture mta -qRdaem
if [ "$RC" -eq 0 ] && [ "$(mbox_count mail/daemon)" -eq 1 ] && [ ! -e mail/root ] &&
    [ "$(qids)" = "$id1" ]; then
	ok "queue: -qR<recipient substring> delivers only the matching message"
else
	fail "queue: -qR<recipient substring> delivers only the matching message" "$(state)"
fi

fresh
queue one.msg -f alice@example.org root
id1=$ID
queue two.msg -f bob@example.org root
id2=$ID
capture mta -qSbob@
if [ "$RC" -eq 0 ] && [ "$(mbox_count mail/root)" -eq 1 ] && grep -q '^From bob@example\.org ' mail/root &&
    [ "$(qids)" = "$id1" ]; then
	ok "queue: -qS<sender substring> delivers only the matching message"
else
	fail "queue: -qS<sender substring> delivers only the matching message" "$(state)"
fi

capture mta -qInomatchatall
if [ "$RC" -eq 0 ] && [ "$(qids)" = "$id1" ]; then
	ok "queue: -qI matching nothing: exit 0, nothing delivered"
else
	fail "queue: -qI matching nothing: exit 0, nothing delivered" "$(state)"
fi

# --- retry times ----------------------------------------------------------------

fresh
queue plain.msg root
later=$(($(date +%s) + 3600))
if grep -q '^n' "spool/qf$ID" 2>/dev/null; then
	sed -i "s/^n[0-9]*\$/n$later/" "spool/qf$ID"
	capture mta -q
	if [ "$RC" -eq 0 ] && [ ! -e mail/root ] && [ "$(qcount)" -eq 1 ]; then
		ok "queue: -q skips a message whose next try is in the future"
	else
		fail "queue: -q skips a message whose next try is in the future" "$(state)"
	fi
	capture mta -qI"$ID"
	if [ "$RC" -eq 0 ] && [ "$(mbox_count mail/root)" -eq 1 ] && [ "$(qcount)" -eq 0 ]; then
		ok "queue: -qI ignores the retry time"
	else
		fail "queue: -qI ignores the retry time" "$(state)"
	fi
else
	fail "queue: -q skips a message whose next try is in the future" "no n line in the qf: $(cat "spool/qf$ID" 2>&1)"
fi

# oldest first: three messages queued newest-first, arrival times rewritten
fresh
now=$(date +%s)
for i in 3 2 1; do
	mkmsg "order$i"
	queue "order$i.msg" root
	sed -i "s/^T[0-9]*\$/T$((now - 100 * i))/" "spool/qf$ID"
done
capture mta -q
order=$(grep '^Subject: order' mail/root 2>/dev/null | tr '\n' ' ')
if [ "$order" = "Subject: order3 Subject: order2 Subject: order1 " ]; then
	ok "queue: -q delivers oldest first (by arrival time)"
else
	fail "queue: -q delivers oldest first (by arrival time)" "order: $order
$(state)"
fi

# a delivered recipient is never delivered again when the message is retried
fresh
pubdir		# |programs run as RunAsUser and cannot reach our private cwd
printf '#!/bin/sh\ncat > /dev/null\nexit 75\n' > "$PUB/p75.sh"
chmod 755 "$PUB/p75.sh"
printf 'later: |%s/p75.sh\n' "$PUB" > aliases
queue plain.msg -f alice@example.org root later
pid_=$ID
capture mta -q
capture mta -qI"$pid_"
if [ "$(mbox_count mail/root)" -eq 1 ] && [ "$(qcount)" -eq 1 ]; then
	ok "queue: a retried message is not delivered again to a recipient already done"
else
	fail "queue: a retried message is not delivered again to a recipient already done" "$(state)"
fi
capture mta -bp
if printf '%s' "$OUT" | grep -q 'later\|p75\.sh' && ! printf '%s' "$OUT" | grep -qw root; then
	ok "queue: mailq shows the pending recipient, not the delivered one"
else
	fail "queue: mailq shows the pending recipient, not the delivered one" "$OUT"
fi
if printf '%s' "$OUT" | grep -q '75'; then
	ok "queue: mailq shows the pending recipient's last error"
else
	fail "queue: mailq shows the pending recipient's last error" "mailq: $OUT
qf: $(cat "spool/qf$pid_" 2>&1)"
fi

# --- recovery ---------------------------------------------------------------------

fresh
echo partial > spool/tfTESTOLD0001
touch -d '2 hours ago' spool/tfTESTOLD0001
echo partial > spool/tfTESTNEW0001
echo orphan > spool/dfTESTORPH001
touch -d '2 hours ago' spool/dfTESTORPH001
echo orphan > spool/dfTESTORPH002
capture mta -q
if crashed; then
	fail "queue: recovery run does not crash" "$(state)"
fi
if [ ! -e spool/tfTESTOLD0001 ]; then
	ok "queue: recovery removes a tf older than an hour"
else
	fail "queue: recovery removes a tf older than an hour" "$(state)"
fi
if [ -e spool/tfTESTNEW0001 ]; then
	ok "queue: recovery keeps a fresh tf"
else
	fail "queue: recovery keeps a fresh tf" "$(state)"
fi
if [ ! -e spool/dfTESTORPH001 ]; then
	ok "queue: recovery removes an orphan df older than an hour"
else
	fail "queue: recovery removes an orphan df older than an hour" "$(state)"
fi
if [ -e spool/dfTESTORPH002 ]; then
	ok "queue: recovery keeps a fresh orphan df"
else
	fail "queue: recovery keeps a fresh orphan df" "$(state)"
fi
if grep -q TESTOLD0001 log 2>/dev/null && grep -q TESTORPH001 log; then
	ok "queue: recovery removals are logged"
else
	fail "queue: recovery removals are logged" "$(cat log 2>&1)"
fi

fresh
queue plain.msg root
idx=$ID
rm -f "spool/df$idx"
queue plain.msg daemon
capture mta -q
if crashed; then
	fail "queue: qf without df: runner does not crash" "$(state)"
fi
if [ -e "spool/Qf$idx" ] && [ ! -e "spool/qf$idx" ] && [ ! -e mail/root ]; then
	ok "queue: a qf without df is renamed Qf and not delivered"
else
	fail "queue: a qf without df is renamed Qf and not delivered" "$(state)"
fi
if grep -q "$idx" log 2>/dev/null; then
	ok "queue: the qf without df is logged"
else
	fail "queue: the qf without df is logged" "$(cat log 2>&1)"
fi
if [ "$(mbox_count mail/daemon)" -eq 1 ]; then
	ok "queue: a quarantined message does not stop the others"
else
	fail "queue: a quarantined message does not stop the others" "$(state)"
fi

fresh
queue plain.msg root
idz=$ID
printf 'x' >> "spool/df$idz"
capture mta -qI"$idz"
if [ ! -e mail/root ] && [ ! -e "spool/qf$idz" ] && [ -e "spool/Qf$idz" ]; then
	ok "queue: a qf whose Z differs from the df size: renamed Qf, not delivered (-qI)"
else
	fail "queue: a qf whose Z differs from the df size: renamed Qf, not delivered (-qI)" "$(state)"
fi
fresh
queue plain.msg root
idz=$ID
truncate -s -1 "spool/df$idz"
capture mta -q
if [ ! -e mail/root ] && [ ! -e "spool/qf$idz" ] && [ -e "spool/Qf$idz" ] && grep -q "$idz" log 2>/dev/null; then
	ok "queue: a df shorter than Z (torn df): renamed Qf, not delivered, logged (-q)"
else
	fail "queue: a df shorter than Z (torn df): renamed Qf, not delivered, logged (-q)" "$(state)"
fi

# malformed qf files: never a crash, the good message still delivered, and
# the bad one either quarantined (Qf) or left alone with a log line.
good_qf=
fresh
queue plain.msg root
if [ -n "$ID" ]; then
	good_qf=$(cat "spool/qf$ID")
	good_df=spool/df$ID
	cp "$good_df" good.df
fi
bad()
{
	local name=$1 bid=TESTBAD$2 strict=${3:-1}
	fresh
	cat > "spool/qf$bid"
	cp good.df "spool/df$bid" 2>/dev/null
	queue plain.msg daemon
	capture timeout 60 "$MTA" "${O[@]}" -q
	if crashed; then
		fail "queue: malformed qf ($name): runner does not crash" "$(state)"
		return
	fi
	if [ "$(mbox_count mail/daemon)" -eq 1 ] && { [ "$strict" = 0 ] || [ ! -e mail/root ]; } &&
	    { [ -e "spool/Qf$bid" ] || grep -q "$bid" log 2>/dev/null; }; then
		ok "queue: malformed qf ($name): quarantined or logged, others delivered (exit $RC)"
	else
		fail "queue: malformed qf ($name): quarantined or logged, others delivered" "$(state)"
	fi
}
if [ -n "$good_qf" ]; then
	size=$(stat -c %s good.df)
	head -c 3000 /dev/urandom | bad "random bytes" 01
	: | bad "empty" 02
	printf '%s\n' "$good_qf" | sed '$d' | bad "no final '.'" 03
	printf '%s\n' "$good_qf" | sed 's/^V1$/V99/' | bad "version V99" 04
	printf '%s\n' "$good_qf" | sed 's/^Z.*/Zbanana/' | bad "Z not a number" 05
	printf '%s\n' "$good_qf" | sed '/^S/d' | bad "no S line" 06
	printf '%s\n' "$good_qf" | sed '/^R/d' | bad "no R line" 07
	printf '%s\n' "$good_qf" | sed 's/^s.*/sQ/' | bad "unknown state sQ" 08
	printf '%s\n' "$good_qf" | sed "s/^Z.*/Z99999999999999999999999/" | bad "Z overflows" 09
	{ printf '%s\n' "$good_qf" | sed '$d'; printf 'R'; head -c 200000 /dev/zero | tr '\0' a; printf '\n.\n'; } |
	    bad "200000-octet R line" 10 0
	printf '%s\n' "$good_qf" | tr '\n' '\0' | bad "NUL instead of newlines" 11
else
	fail "queue: malformed qf: could not make a good qf to start from" "$(state)"
fi

exit 0
