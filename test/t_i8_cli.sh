#!/bin/bash
# test/t_i8_cli.sh: issue 8, "the sendmail command line as scripts use it"
# and "DSNs", driven by the real programs that call mta as sendmail:
# s-nail and bsd-mailx (`mail`), mutt, PHP's mail(), git send-email and
# Debian cron's exact argv. Each client is pointed at ./sendmail, a wrapper
# that runs the binary under test with this sandbox's -O options and -odq,
# so that the queued qf (envelope: its S line) and df (the From: mta adds)
# can be read. A client that is not installed is "# skipped" (tools/deps
# installs them all). DSNs come from real deliveries to test/peer_smtp.py
# and are read from mail/root with Python's email package.
#
# Run by test/run (cwd = fresh temp dir, MTA and TOP set).

. "$(dirname "$0")/lib.sh"
set +e
shopt -s nullglob

BASE=$PWD
sandbox
export HOME=$BASE		# no client reads the user's own rc files
export MAILRC=/dev/null

# ./sendmail: the binary under test as the clients' sendmail; argv.log
# keeps each argv as the client passed it (one line, words in [ ]).
WRAP=$BASE/sendmail
{
	printf '#!/bin/sh\n'
	printf 'for a in "$@"; do printf "[%%s] " "$a"; done >>%q\n' "$BASE/argv.log"
	printf 'echo >>%q\n' "$BASE/argv.log"
	printf 'exec'
	printf ' %q' "$MTA" "${O[@]}" -odq
	printf ' "$@"\n'
} >"$WRAP"
chmod 755 "$WRAP"

# The caller's full name as the password file gives it, cut at a comma.
GECOS=$(getent passwd "$(id -u)" | cut -d: -f5 | cut -d, -f1)
ME=$(id -un)
# withname ADDR: the From: value mta adds for ADDR without -F
withname()
{
	if [ -n "$GECOS" ]; then
		printf '%s <%s>' "$GECOS" "$1"
	else
		printf '%s' "$1"
	fi
}

# clear: an empty queue and argv log before the next submission
clear()
{
	rm -f "$BASE"/spool/* "$BASE/argv.log"
}

# the one queued message: ID, its S line and its From: field(s)
lastq()
{
	ID=$(qids | head -n 1)
	NQ=$(qcount)
	S=
	FROM=
	NFROM=0
	if [ -n "$ID" ]; then
		S=$(qline "$ID" S)
		FROM=$(sed -n '/^$/q; s/^From: *//p' "spool/df$ID")
		NFROM=$(sed -n '/^$/q; /^From:/p' "spool/df$ID" | wc -l)
	fi
}

# expect NAME RC S FROM: the last submission's exit code, envelope sender
# and the From: field of the queued message
expect()
{
	local name=$1 rc=$2 s=$3 from=$4
	lastq
	if [ "$RC" = "$rc" ] && [ "$NQ" -eq 1 ] && [ "$S" = "$s" ] &&
	    [ "$FROM" = "$from" ] && [ "$NFROM" -eq 1 ]; then
		ok "$name"
	else
		fail "$name" "want: exit $rc, 1 queued, S<$s>, From: $from
got: exit $RC, $NQ queued, S<$S>, $NFROM From: ($FROM)
argv: $(cat "$BASE/argv.log" 2>/dev/null)
stderr: $ERR"
	fi
}

# cmdline NAME RC S FROM ARGS...: a message without From: through ./sendmail
cmdline()
{
	local name=$1 rc=$2 s=$3 from=$4
	shift 4
	clear
	ARGS=("$@")
	capture eval 'printf "To: root\nSubject: cli\n\nbody\n" | "$WRAP" "${ARGS[@]}"'
	expect "$name" "$rc" "$s" "$from"
}

have()
{
	if command -v "$1" >/dev/null 2>&1; then
		return 0
	fi
	echo "# skipped: $1 is not installed (tools/deps installs ${2:-$1})"
	return 1
}

# ================================================================ command line
# -f '' is the null sender (as in Postfix and busybox); so is -r ''
cmdline "i8-cli: -f '' is the null sender: exit 0, empty S line, From: MAILER-DAEMON" \
    0 "" "MAILER-DAEMON" -f '' root
cmdline "i8-cli: -r '' is the null sender too" 0 "" "MAILER-DAEMON" -r '' root
cmdline "i8-cli: -f '<>' is the null sender, From: MAILER-DAEMON (no -F name)" \
    0 "" "MAILER-DAEMON" -f '<>' -F 'Disk Monitor' root
# the From: mta adds follows the envelope
cmdline "i8-cli: -f monitor@box -F 'Disk Monitor' -> From: Disk Monitor <monitor@box>" \
    0 monitor@box "Disk Monitor <monitor@box>" -f monitor@box -F 'Disk Monitor' root
cmdline "i8-cli: -r monitor@box -> From: the caller's GECOS name <monitor@box>" \
    0 monitor@box "$(withname monitor@box)" -r monitor@box root
cmdline "i8-cli: -fmonitor@box (one word) -> From: follows it" \
    0 monitor@box "$(withname monitor@box)" -fmonitor@box root
cmdline "i8-cli: -f monitor (no domain) -> From: <monitor@HostName>" \
    0 monitor "$(withname monitor@test.example)" -f monitor root
cmdline "i8-cli: -f '\"a@b\"' (quoted, no domain) -> From: <\"a@b\"@HostName>" \
    0 '"a@b"' "$(withname '"a@b"@test.example')" -f '"a@b"' root
cmdline "i8-cli: no -f -> From: GECOS name <user@HostName>, as before" \
    0 "$ME@test.example" "$(withname "$ME@test.example")" root
# -F: an RFC 5322 display name, quoted and escaped when it must be
cmdline "i8-cli: -F 'Smith, John' -> \"Smith, John\" <...> (no GECOS comma cut)" \
    0 monitor@box '"Smith, John" <monitor@box>' -f monitor@box -F 'Smith, John' root
cmdline "i8-cli: -F 'A \"quoted\" name' -> \"A \\\"quoted\\\" name\" <...>" \
    0 "$ME@test.example" '"A \"quoted\" name" <'"$ME"'@test.example>' -F 'A "quoted" name' root
# a bad -f is still refused, and queues nothing
clear
capture eval 'printf "Subject: x\n\nbody\n" | "$WRAP" -f "a b@c" root'
if [ "$RC" = 64 ] && [ "$(qcount)" -eq 0 ] && printf '%s' "$ERR" | grep -q 'not a valid address'; then
	ok "i8-cli: -f 'a b@c' is still refused (exit 64), nothing queued"
else
	fail "i8-cli: -f 'a b@c' is still refused (exit 64), nothing queued" "exit $RC, $(qcount) queued: $ERR"
fi

# ================================================================ s-nail
if have s-nail; then
	# mta-arguments after "--" need expandargv; -r '' passes no -f
	clear
	capture eval 'echo body | s-nail -n -Smta="$WRAP" -Sexpandargv -s "snail null" root -- -f ""'
	expect "i8-cli: s-nail ... root -- -f '': null sender, From: MAILER-DAEMON" 0 "" "MAILER-DAEMON"
	clear
	capture eval 'echo body | s-nail -n -Smta="$WRAP" -Sexpandargv -s "snail monitor" root -- -f monitor@box -F "Disk Monitor"'
	expect "i8-cli: s-nail ... root -- -f monitor@box -F 'Disk Monitor': From: Disk Monitor <monitor@box>" \
	    0 monitor@box "Disk Monitor <monitor@box>"
	clear
	capture eval 'echo body | s-nail -n -Smta="$WRAP" -s "snail plain" root'
	expect "i8-cli: s-nail -s subj root: From: <user@HostName> added" \
	    0 "$ME@test.example" "$(withname "$ME@test.example")"
	# s-nail -r writes its own From: (kept, not doubled) and passes -f
	clear
	capture eval 'echo body | s-nail -n -Smta="$WRAP" -r monitor@box -s "snail -r" root'
	expect "i8-cli: s-nail -r monitor@box: -f passed, its own From: kept once" \
	    0 monitor@box "monitor@box"
fi

# ================================================================ bsd-mailx
if have bsd-mailx; then
	printf 'set sendmail=%s\n' "$WRAP" >"$BASE/mailrc"
	# bsd-mailx -r '' runs "sendmail -i -t -f ''" with an empty From:
	clear
	capture eval 'echo body | MAILRC="$BASE/mailrc" bsd-mailx -r "" -s "mailx null" root'
	lastq
	if [ "$RC" = 0 ] && [ "$NQ" -eq 1 ] && [ -z "$S" ] &&
	    grep -qF '[-f] [] ' "$BASE/argv.log" 2>/dev/null; then
		ok "i8-cli: bsd-mailx -r '' (sendmail -i -t -f ''): queued from the null sender"
	else
		fail "i8-cli: bsd-mailx -r '' (sendmail -i -t -f ''): queued from the null sender" \
		    "exit $RC, $NQ queued, S<$S>; argv: $(cat "$BASE/argv.log" 2>/dev/null); $ERR"
	fi
	clear
	capture eval 'echo body | MAILRC="$BASE/mailrc" bsd-mailx -s "mailx plain" root'
	expect "i8-cli: bsd-mailx -s subj root (sendmail -i -t): From: added" \
	    0 "$ME@test.example" "$(withname "$ME@test.example")"
	clear
	capture eval 'echo body | MAILRC="$BASE/mailrc" bsd-mailx -r monitor@box -s "mailx -r" root'
	expect "i8-cli: bsd-mailx -r monitor@box: envelope monitor@box, its From: kept once" \
	    0 monitor@box "monitor@box"
fi

# ================================================================ mutt
if have mutt; then
	clear
	capture eval 'echo body | mutt -n -F /dev/null -e "set sendmail=\"$WRAP\"" \
	    -e "set use_envelope_from=yes" -e "set envelope_from_address=\"monitor@box\"" \
	    -e "set from=\"Disk Monitor <monitor@box>\"" -s "mutt test" root'
	expect "i8-cli: mutt with use_envelope_from: -f monitor@box, its From: kept once" \
	    0 monitor@box "Disk Monitor <monitor@box>"
fi

# ================================================================ PHP mail()
if have php php-cli; then
	clear
	capture php -n -d "sendmail_path=$WRAP -t -i" -r \
	    'exit(mail("root", "php test", "body\n", "", "-fmonitor@box") ? 0 : 1);'
	expect "i8-cli: PHP mail(..., \"-fmonitor@box\") (no From: header): From: GECOS name <monitor@box>" \
	    0 monitor@box "$(withname monitor@box)"
	clear
	capture php -n -d "sendmail_path=$WRAP -t -i" -r \
	    'exit(mail("root", "php test", "body\n", "", "-f \"\" -F \"Smith, John\"") ? 0 : 1);'
	expect "i8-cli: PHP mail(..., '-f \"\" -F ...'): null sender, From: MAILER-DAEMON" 0 "" "MAILER-DAEMON"
	clear
	capture php -n -d "sendmail_path=$WRAP -t -i" -r \
	    'exit(mail("root", "php test", "body\n", "", "-f monitor@box -F \"Smith, John\"") ? 0 : 1);'
	expect "i8-cli: PHP mail(..., '-f monitor@box -F \"Smith, John\"'): From: \"Smith, John\" <monitor@box>" \
	    0 monitor@box '"Smith, John" <monitor@box>'
fi

# ================================================================ git send-email
if git send-email --dump-aliases </dev/null >/dev/null 2>&1; then
	mkdir -p "$BASE/repo"
	(
		cd "$BASE/repo" && git init -q . && git config user.name "Patch Author" &&
		git config user.email author@example.org &&
		printf 'a\n' >f && git add f && git commit -qm "first" &&
		printf 'b\n' >>f && git commit -qam "second: caf\xc3\xa9" &&
		git format-patch -q -1 -o "$BASE/patches"
	) >/dev/null 2>&1
	clear
	capture eval '(cd "$BASE/repo" && git send-email --quiet --confirm=never \
	    --smtp-server="$WRAP" --envelope-sender=monitor@box.example --to=root \
	    --no-chain-reply-to --suppress-cc=all "$BASE"/patches/*.patch </dev/null)'
	expect "i8-cli: git send-email --envelope-sender=monitor@box.example: -f passed, its From: kept once" \
	    0 monitor@box.example "Patch Author <author@example.org>"
else
	echo "# skipped: git send-email is not installed (tools/deps installs git-email)"
fi

# ================================================================ busybox
# busybox's sendmail applet is an SMTP client (-H 'PROG' or -S HOST), not
# a caller of sendmail; Debian's busybox packages are built without it.
if ! built SERVER; then
	skip "i8-cli: busybox sendmail -H 'sendmail -bs'" "this mta was built without SERVER"
elif busybox sendmail --help >/dev/null 2>&1; then
	clear
	capture eval 'printf "Subject: bb\n\nbody\n" | busybox sendmail -H "$WRAP -bs" -f "" root'
	lastq
	if [ "$RC" = 0 ] && [ "$NQ" -eq 1 ] && [ -z "$S" ]; then
		ok "i8-cli: busybox sendmail -H 'sendmail -bs' -f '': MAIL FROM:<>"
	else
		fail "i8-cli: busybox sendmail -H 'sendmail -bs' -f '': MAIL FROM:<>" "exit $RC, $NQ queued, S<$S>: $ERR"
	fi
else
	echo "# skipped: busybox sendmail (Debian's busybox has no sendmail applet)"
fi

# ================================================================ cron
# Debian cron 3.0pl1 runs "/usr/sbin/sendmail -FCronDaemon -i -B8BITMIME
# -oem MAILTO" (its MAILFMT, split on blanks) and writes these fields.
clear
capture eval 'printf "From: root (Cron Daemon)\nTo: root\nSubject: Cron <root@box> echo \xc3\xa9t\xc3\xa9\nMIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\nContent-Transfer-Encoding: 8bit\nX-Cron-Env: <SHELL=/bin/sh>\nX-Cron-Env: <HOME=/root>\n\n\xc3\xa9t\xc3\xa9\n.\nend\n" |
    "$WRAP" -FCronDaemon -i -B8BITMIME -oem root'
expect "i8-cli: cron's argv (-FCronDaemon -i -B8BITMIME -oem root): queued, its From: kept once" \
    0 "$ME@test.example" "root (Cron Daemon)"
if [ -n "$ID" ] && grep -q '^end$' "spool/df$ID" && grep -qx '\.' "spool/df$ID"; then
	ok "i8-cli: cron's -i: a lone '.' line does not end the message"
else
	fail "i8-cli: cron's -i: a lone '.' line does not end the message" "$(cat "spool/df$ID" 2>&1)"
fi

# ================================================================ DSNs
# A real failure (550 at RCPT) and a real deferral (451 with a class-5
# enhanced code, as misconfigured servers send) from test/peer_smtp.py;
# the DSNs are delivered to mail/root and read with the email package.
cat >"$BASE/dsncheck.py" <<'PYEOF'
import email, mailbox, sys

def msgs(path):
	mb = mailbox.mbox(path, create=False)
	out = [email.message_from_bytes(mb.get_bytes(k)) for k in mb.keys()]
	mb.close()
	return out

def cte(part):
	return (part.get("Content-Transfer-Encoding") or "7bit").strip().lower()

path, subj, want = sys.argv[1], sys.argv[2], sys.argv[3]
found = [m for m in msgs(path)
    if any(subj in p.as_string() for p in m.walk() if not p.is_multipart())]
if len(found) != 1:
	sys.exit("%d DSNs about %r" % (len(found), subj))
m = found[0]
parts = m.get_payload()
if m.get_content_type() != "multipart/report" or len(parts) != 3:
	sys.exit("not a 3-part multipart/report: %s" % m.get_content_type())
ret = parts[2]
print("top:", cte(m), "returned:", ret.get_content_type(), cte(ret))
if want == "8bit":
	if cte(m) != "8bit" or cte(ret) != "8bit":
		sys.exit("want Content-Transfer-Encoding: 8bit on both")
	if ret.get_content_type() == "message/rfc822":
		inner = ret.get_payload()[0]
		if "\u00e9" not in inner.get_payload(decode=True).decode("utf-8", "replace"):
			sys.exit("the returned body lost its 8-bit text")
elif want == "7bit":
	if cte(m) != "7bit" or cte(ret) != "7bit":
		sys.exit("a 7-bit DSN labelled 8bit")
else:
	# want: "status:ACTION:CODE" of the only recipient block
	_, action, code = want.split(":")
	blocks = parts[1].get_payload()
	r = blocks[1]
	got = ((r["Action"] or "").strip(), (r["Status"] or "").strip())
	print("Action/Status:", got, "Diagnostic-Code:", r["Diagnostic-Code"])
	if got != (action, code):
		sys.exit("want Action %s, Status %s" % (action, code))
PYEOF

dsncase()
{
	cd "$BASE" && rm -rf "$BASE/$1" && mkdir -p "$BASE/$1" && cd "$BASE/$1" || exit 1
	sandbox
}

if peer_smtp_start sink 127.0.0.1 --rcpt-reply 'bad@=550 5.1.1 no such user' \
    --rcpt-reply 'slow@=451 5.7.1 greylisted, come back later'; then
	dsncase dsn
	SH=(-O "SmartHost=[127.0.0.1]:$sink_PORT" -O SmartHostTLS=none)
	printf 'From: root@test.example\nTo: bad@example.org\nSubject: ret-8bit\n\nK\xc3\xa4se \xc3\xa9t\xc3\xa9\n' |
	    mta -odq -R full -f root@test.example bad@example.org
	printf 'From: root@test.example\nTo: bad@example.org\nSubject: default-8bit\n\n\xc3\xa9\n' |
	    mta -odq -f root@test.example bad@example.org
	printf 'From: root@test.example\nTo: bad@example.org\nSubject: ret-7bit\n\nplain ascii\n' |
	    mta -odq -R full -f root@test.example bad@example.org
	printf 'From: root@test.example\nTo: bad@example.org\nSubject: hdrs-8bit-body\n\n\xc3\xa9\n' |
	    mta -odq -R hdrs -f root@test.example bad@example.org
	printf 'From: root@test.example\nTo: bad@example.org\nSubject: hdrutf8-\xc3\xa9\n\nplain\n' |
	    mta -odq -R hdrs -f root@test.example bad@example.org
	mta -q "${SH[@]}"
	waitfor 20 eval '[ "$(mbox_count mail/root)" -ge 5 ] && [ "$(qcount)" -eq 0 ]'
	check "i8-dsn: RET=FULL of an 8-bit message: report and message/rfc822 say Content-Transfer-Encoding: 8bit" \
	    "$PY" "$BASE/dsncheck.py" mail/root ret-8bit 8bit
	check "i8-dsn: default RET (small message, returned whole), 8-bit: both labelled 8bit" \
	    "$PY" "$BASE/dsncheck.py" mail/root default-8bit 8bit
	check "i8-dsn: RET=FULL of a 7-bit message: no 8bit label" \
	    "$PY" "$BASE/dsncheck.py" mail/root ret-7bit 7bit
	check "i8-dsn: RET=HDRS, 8-bit body only: the returned headers are 7-bit, no 8bit label" \
	    "$PY" "$BASE/dsncheck.py" mail/root hdrs-8bit-body 7bit
	check "i8-dsn: RET=HDRS, raw UTF-8 in a returned header: both labelled 8bit" \
	    "$PY" "$BASE/dsncheck.py" mail/root hdrutf8- 8bit

	# a deferral whose reply carries class 5: the delayed DSN says 4.7.1
	dsncase delay
	printf 'From: root@test.example\nTo: slow@example.org\nSubject: delay-5xx\n\nwait\n' |
	    mta -odq -f root@test.example slow@example.org
	DID=$(qids | head -n 1)
	MARK=$(qline "$DID" T)
	mta -q "${SH[@]}"
	waitfor 5 eval '[ $(date +%s) -ge $((MARK + 2)) ]'
	mta -qI"$DID" -O QueueWarn=1s "${SH[@]}"
	waitfor 20 eval '[ "$(mbox_count mail/root)" -ge 1 ]'
	check "i8-dsn: deferred by '451 5.7.1': Action: delayed beside Status: 4.7.1, never 5.x.x" \
	    "$PY" "$BASE/dsncheck.py" mail/root delay-5xx status:delayed:4.7.1
	if [ -f "spool/qf$DID" ] && grep -q 'Diagnostic-Code: smtp; 451 5.7.1' mail/root; then
		ok "i8-dsn: the delayed message stays queued; Diagnostic-Code keeps the server's text"
	else
		fail "i8-dsn: the delayed message stays queued; Diagnostic-Code keeps the server's text" \
		    "$(ls spool); $(grep -a 'Diagnostic-Code' mail/root)"
	fi
else
	fail "i8-dsn: peer_smtp starts" "$(cat "$BASE/peer-sink/err" 2>/dev/null)"
fi

exit 0
