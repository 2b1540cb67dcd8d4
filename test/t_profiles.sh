# t_profiles.sh: the profiles of config.h (WITH_SERVER, WITH_TLS), against
# whichever binary this is. -d0.1 must tell the truth about what is built
# in; a send-only binary refuses the server modes with EX_UNAVAILABLE and
# still runs the queue; a no-TLS binary refuses what needs TLS with
# EX_CONFIG, offers neither STARTTLS nor AUTH, and never sends a
# password in clear: such a smarthost delivery stays queued.
. "$TOP/test/lib.sh"

sandbox

# ---------------------------------------------------------------- -d0.1
capture "$MTA" -d0.1
if [ "$RC" -eq 0 ] && printf '%s\n' "$OUT" | head -n 1 | grep -Eq '^Version [0-9][0-9.]*$' &&
    printf '%s\n' "$OUT" | sed -n 2p | grep -Eq '^ Compiled with:( SERVER)?( TLS)?$' &&
    [ "$(printf '%s\n' "$OUT" | wc -l)" -eq 2 ]; then
	ok "profiles: -d0.1 prints 'Version X' and ' Compiled with: ...', exit 0"
else
	fail "profiles: -d0.1 prints 'Version X' and ' Compiled with: ...', exit 0" "exit $RC: $OUT $ERR"
fi
echo "# $(printf '%s' "$OUT" | tr '\n' ';')"
capture "$MTA" -d9.9
check "profiles: -d other than 0.x is a usage error (64)" [ "$RC" -eq 64 ]

# -d0.1 tells the truth: SERVER iff -bs answers, TLS iff SmartHostTLS=require
# is a setting this binary takes.
capture eval 'printf "QUIT\r\n" | timeout 10 "$MTA" "${O[@]}" -bs'
if built SERVER; then
	check "profiles: -d0.1 lists SERVER and -bs answers 220" eval \
	    'printf "%s\n" "$OUT" | grep -q "^220 "'
else
	check "profiles: -d0.1 lacks SERVER and -bs exits 69" [ "$RC" -eq 69 ]
fi
capture "$MTA" "${O[@]}" -O SmartHostTLS=require -bp
if built TLS; then
	check "profiles: -d0.1 lists TLS and SmartHostTLS=require is taken" [ "$RC" -eq 0 ]
else
	check "profiles: -d0.1 lacks TLS and SmartHostTLS=require exits 78" [ "$RC" -eq 78 ]
fi

# ---------------------------------------------------------------- send-only
if built SERVER; then
	echo "# this mta has the server: the send-only checks do not apply"
else
	for m in -bd -bD -bs "-bD -q15m"; do
		# shellcheck disable=SC2086
		capture timeout 10 "$MTA" "${O[@]}" -O PidFile= $m </dev/null
		if [ "$RC" -eq 69 ] && printf '%s\n' "$ERR" | grep -q 'built without the SMTP server'; then
			ok "profiles: send-only: $m exits 69 saying there is no SMTP server"
		else
			fail "profiles: send-only: $m exits 69 saying there is no SMTP server" "exit $RC: $ERR"
		fi
	done
	check "profiles: send-only: no daemon was left behind" eval \
	    '! pgrep -f -- "QueueDirectory=$PWD/spool" >/dev/null'
	# the server's settings are still taken (scripts keep working)
	capture "$MTA" "${O[@]}" -O "DaemonPortOptions=Addr=127.0.0.1,Port=2525" \
	    -O ServerCertFile=/nonexistent -O ServerKeyFile=/nonexistent \
	    -O AuthUsersFile=/nonexistent -O RelayFrom=10.0.0.0/8 \
	    -O MaxConnections=5 -O MaxConnectionsPerIP=2 -O RunAsUser=root -bp
	check "profiles: send-only: server settings accepted by -O and ignored" [ "$RC" -eq 0 ]
	# submission and queue runs work
	printf 'Subject: q\n\nqueued\n' | mta -odq root
	mta -q
	check "profiles: send-only: -odq then -q delivers to the mailbox" eval \
	    '[ "$(mbox_count mail/root)" -eq 1 ] && [ "$(qcount)" -eq 0 ]'
	printf 'Subject: d\n\nby the runner\n' | mta -odq root
	mta -q1s
	for p in $(pgrep -f -- "QueueDirectory=$PWD/spool"); do
		cleanup_add "$p"
	done
	check "profiles: send-only: -q1s alone is a queue-run daemon and delivers" \
	    waitfor 20 eval '[ "$(mbox_count mail/root)" -eq 2 ]'
fi

# ---------------------------------------------------------------- no TLS
if built TLS; then
	echo "# this mta has TLS: the no-TLS checks do not apply"
	exit 0
fi
capture "$MTA" "${O[@]}" -O SmartHostTLS=implicit -bp
check "profiles: no TLS: SmartHostTLS=implicit exits 78" eval \
    '[ "$RC" -eq 78 ] && printf "%s\n" "$ERR" | grep -q "built without TLS"'
capture "$MTA" "${O[@]}" -O SmartHostTLS=opportunistic -bp
check "profiles: no TLS: SmartHostTLS=opportunistic is taken (as none)" [ "$RC" -eq 0 ]

if built SERVER; then
	for s in ServerCertFile ServerKeyFile AuthUsersFile; do
		capture eval 'printf "QUIT\r\n" | timeout 10 "$MTA" "${O[@]}" -O "$s=/etc/passwd" -bs'
		check "profiles: no TLS: $s in -bs exits 78 naming it" eval \
		    '[ "$RC" -eq 78 ] && printf "%s\n" "$ERR" | grep -q "^[^:]*: $s: .*without TLS"'
	done
	capture eval 'printf "EHLO c.example\r\nSTARTTLS\r\nAUTH PLAIN AHUAcA==\r\nQUIT\r\n" | timeout 10 "$MTA" "${O[@]}" -bs'
	check "profiles: no TLS: EHLO offers neither STARTTLS nor AUTH" eval \
	    'printf "%s\n" "$OUT" | grep -q "^250 " && ! printf "%s\n" "$OUT" | grep -Eq "^250.(STARTTLS|AUTH)"'
	check "profiles: no TLS: STARTTLS gets 454" eval \
	    'printf "%s\n" "$OUT" | grep -q "^454 4.7.0"'
	check "profiles: no TLS: AUTH gets 503" eval \
	    'printf "%s\n" "$OUT" | grep -q "^503 5.5.1 Error: authentication not enabled"'
else
	skip "profiles: no TLS: the server's refusals" "this mta was built without SERVER"
fi

# A smarthost that offers AUTH in clear, and credentials for it: they are
# never sent; the message stays queued with a 4.7.4 reason, and is logged.
peer_smtp_start relay 127.0.0.1 --auth user:secret --auth-plaintext
printf '127.0.0.1 user secret\n' >authinfo
chmod 600 authinfo
SH=(-O "SmartHost=[127.0.0.1]:$relay_PORT" -O "AuthInfoFile=$PWD/authinfo")
printf 'Subject: cred\n\nnever in clear\n' | mta "${SH[@]}" -odq user@remote.example
id=$(qids | head -n 1)
mta "${SH[@]}" -q
waitfor 5 eval '[ "$(peer_conns relay)" -ge 1 ]'
check "profiles: no TLS: no AUTH command reached the smarthost" eval \
    '! grep -q "AUTH" "$relay_CONNS" && [ "$(peer_msgs "$relay_DIR")" -eq 0 ]'
check "profiles: no TLS: the message stays queued" eval \
    '[ "$(qcount)" -eq 1 ] && [ -n "$id" ] && [ -f "spool/qf$id" ]'
check "profiles: no TLS: deferred with 4.7.4, logged" eval \
    'grep -q "4.7.4 credentials for 127.0.0.1 are sent only over verified TLS: this mta was built without TLS" log'
if [ -f authinfo ]; then
	rm -f authinfo
fi

# Without credentials the smarthost gets the mail in clear (SmartHostTLS
# defaults to none without TLS).
SH=(-O "SmartHost=[127.0.0.1]:$relay_PORT" -O "AuthInfoFile=$PWD/none")
mta "${SH[@]}" -qI"$id"	# -qI: now, whatever the retry time says
check "profiles: no TLS: without credentials the smarthost gets it in clear" eval \
    '[ "$(peer_msgs "$relay_DIR")" -eq 1 ] && [ "$(qcount)" -eq 0 ]'
