#!/bin/bash
# test/t_i8_client.sh: issue 8, the SMTP client beside a real Postfix 3.7
# (Debian's postfix, a private instance per case: its own config, queue
# and data directories, a loopback port, stopped at exit) as smarthost,
# which relays to an aiosmtpd sink (test/peer_smtp.py) that stores what
# it got.
#   (1) every session ends with QUIT: -odi, the default -odb, -bs on a
#       pipe, mta -q, and after a 535 at AUTH (Postfix's disconnect line
#       says quit=1, never "lost connection");
#   (2) 8-bit content to a Postfix without 8BITMIME (strict_8bitmime) is
#       converted (quoted-printable, base64) and decodes to the original;
#       what cannot be converted (8-bit headers) fails 5.6.3 with a DSN;
#   (3) SMTPUTF8: a UTF-8 recipient makes MAIL carry SMTPUTF8; a Postfix
#       with smtputf8_enable=no gets nothing, the sender a 5.6.7 DSN;
#   (4) a 535 retried later shows in the delay DSN as Status: 4.x.x
#       beside Action: delayed, the server's words in Diagnostic-Code.

. "$(dirname "$0")/lib.sh"

if [ ! -x /usr/sbin/postfix ] || ! getent passwd postfix >/dev/null; then
	echo "# skipped: postfix is not installed (tools/deps installs it)"
	exit 0
fi
if [ ! -x /usr/sbin/saslpasswd2 ] ||
    [ ! -e /usr/lib/x86_64-linux-gnu/sasl2/libplain.so ] &&
    [ -z "$(find /usr/lib -name 'libplain.so*' -path '*sasl2*' 2>/dev/null)" ]; then
	NOSASL=1
fi

BASE=$PWD
# Postfix's daemons run as postfix: its directories may not sit under
# the test's private cwd
PFBASE=$(mktemp -d /tmp/mta-i8pf.XXXXXX) || exit 1
chmod 755 "$PFBASE"
PFS=()
pf_stopall()
{
	local d pid
	for d in "${PFS[@]}"; do
		postfix -c "$d" stop >/dev/null 2>&1
	done
	for d in "${PFS[@]}"; do
		pid=$(cat "$d/q/pid/master.pid" 2>/dev/null | tr -d ' ')
		[ -n "$pid" ] && waitfor 10 eval "! kill -0 $pid 2>/dev/null"
	done
	rm -rf "$PFBASE"
}
cleanup_cmd pf_stopall

peer_smtp_start sink 127.0.0.1 || exit 1

# pf_start NAME [main.cf lines]: a Postfix relaying everything to the
# sink; NAME_PORT its port, NAME_LOG its maillog.
pf_start()
{
	local name=$1 d=$PFBASE/$1 port
	port=$(freeport)
	mkdir -p "$d/q"	# data_directory: Postfix makes it, its own
	cat >"$d/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $d/q
data_directory = $d/data
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = pf-$name.example
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
biff = no
relayhost = [127.0.0.1]:$sink_PORT
smtp_tls_security_level = none
smtpd_client_restrictions =
maillog_file_prefixes = $PFBASE
maillog_file = $d/maillog
${2:-}
EOF
	cat >"$d/master.cf" <<EOF
127.0.0.1:$port inet n - n - - smtpd
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
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
	PFS+=("$d")
	if ! postfix -c "$d" start >"$d/start.out" 2>&1 ||
	    ! waitfor 20 "$PY" -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)"; then
		echo "pf_start $name: postfix did not start:" >&2
		cat "$d/start.out" "$d/maillog" 2>/dev/null | tail -n 20 >&2
		return 1
	fi
	printf -v "${name}_PORT" '%s' "$port"
	printf -v "${name}_LOG" '%s' "$d/maillog"
}

# ndisc LOG: Postfix smtpd sessions ended so far
ndisc()
{
	# commands=0/0: pf_start's probe of the port
	grep 'smtpd\[[0-9]*\]: disconnect from' "$1" 2>/dev/null |
	    grep -vc 'commands=0/0'
}

# quit_ok NAME LOG BEFORE: a new session ended, every new one with quit=1
quit_ok()
{
	local name=$1 log=$2 before=$3 new
	if ! waitfor 20 eval "[ \$(ndisc '$log') -gt $before ]"; then
		fail "$name" "no new 'disconnect from' in Postfix's log:
$(tail -n 8 "$log")
--- mta log:
$(tail -n 8 "$PWD/log")"
		return
	fi
	new=$(grep 'smtpd\[[0-9]*\]: disconnect from' "$log" |
	    grep -v 'commands=0/0' | tail -n "+$((before + 1))")
	if printf '%s\n' "$new" | grep -qv 'quit=1' ||
	    grep 'lost connection after' "$log" | grep -qv 'after CONNECT'; then
		fail "$name" "$new
$(grep 'lost connection' "$log" | grep -v 'after CONNECT')"
	else
		ok "$name"
	fi
}

newcase()
{
	cd "$BASE" || exit 1
	mkdir -p "$BASE/$1"
	cd "$BASE/$1" || exit 1
	sandbox
}

cat >"$BASE/delayed.py" <<'EOF'
import mailbox, sys
ms = list(mailbox.mbox(sys.argv[1]))
assert len(ms) == 1, "want 1 DSN, got %d" % len(ms)
ds = [p for p in ms[0].walk() if p.get_content_type() == "message/delivery-status"]
assert ds, ms[0].as_string()[:2000]
blocks = ds[0].get_payload()
r = blocks[1]
assert r["Action"].strip() == "delayed", r["Action"]
assert r["Status"].strip().startswith("4."), "Status: %s" % r["Status"]
if len(sys.argv) > 2:
	assert sys.argv[2] in r["Diagnostic-Code"], r["Diagnostic-Code"]
print(r["Status"], r["Diagnostic-Code"])
EOF
MSG=$BASE/msg.txt
printf 'From: root@test.example\nTo: r@remote.example\nSubject: i8 test\n\nhello\n' >"$MSG"

# ---------------------------------------------------------------- (1) QUIT
pf_start plain || exit 1
newcase quit
O+=(-O "SmartHost=[127.0.0.1]:$plain_PORT" -O SmartHostTLS=none)
n0=$(peer_msgs "$sink_DIR")

b=$(ndisc "$plain_LOG")
mta -odi -f root@test.example r@remote.example <"$MSG"
quit_ok "i8-client: (1) sendmail -odi ends its session with QUIT (quit=1)" \
    "$plain_LOG" "$b"

b=$(ndisc "$plain_LOG")
mta -f root@test.example r@remote.example <"$MSG"
quit_ok "i8-client: (1) sendmail (default -odb, background) ends with QUIT" \
    "$plain_LOG" "$b"

nbs=0
if built SERVER; then
	nbs=1
	b=$(ndisc "$plain_LOG")
	printf 'EHLO client.example\r\nMAIL FROM:<root@test.example>\r\nRCPT TO:<r@remote.example>\r\nDATA\r\nSubject: bs\r\n\r\nvia -bs\r\n.\r\nQUIT\r\n' |
	    mta -bs >bs.out 2>&1
	quit_ok "i8-client: (1) -bs on a pipe: the delivery after it ends with QUIT" \
	    "$plain_LOG" "$b"
else
	skip "i8-client: (1) -bs on a pipe: the delivery after it ends with QUIT" "this mta was built without SERVER"
fi

b=$(ndisc "$plain_LOG")
mta -odq -f root@test.example r@remote.example <"$MSG"
mta -odq -f root@test.example r2@remote.example <"$MSG"
mta -q
quit_ok "i8-client: (1) mta -q: two messages, one session, QUIT" \
    "$plain_LOG" "$b"
check "i8-client: (1) all $((4 + nbs)) messages reached the sink through Postfix" \
    waitfor 20 eval "[ \$(peer_msgs '$sink_DIR') -ge $((n0 + 4 + nbs)) ]"

if built TLS; then
# ------------------------------------------ (1)+(4) AUTH refused: 535
if [ -n "${NOSASL:-}" ]; then
	echo "# skipped: AUTH cases need sasl2-bin and libsasl2-modules"
else
	peer_ca "$PFBASE/ca" localhost 127.0.0.1 || exit 1
	chmod 644 "$PFBASE/ca/key.pem"
	mkdir -p "$PFBASE/sasl"
	printf '%s\n' "pwcheck_method: auxprop" "auxprop_plugin: sasldb" \
	    "mech_list: PLAIN LOGIN" "sasldb_path: $PFBASE/sasl/sasldb2" \
	    >"$PFBASE/sasl/smtpd.conf"
	echo right | saslpasswd2 -p -f "$PFBASE/sasl/sasldb2" -c -u pf-auth.example user
	chmod 644 "$PFBASE/sasl/sasldb2"
	pf_start auth "smtpd_tls_cert_file = $PFBASE/ca/chain.pem
smtpd_tls_key_file = $PFBASE/ca/key.pem
smtpd_tls_security_level = may
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = cyrus
cyrus_sasl_config_path = $PFBASE/sasl
smtpd_sasl_local_domain = pf-auth.example
smtpd_tls_auth_only = yes
import_environment = MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C SASL_CONF_PATH=$PFBASE/sasl" || exit 1
	newcase auth
	printf '* user wrong\n' >authinfo
	chmod 600 authinfo
	O+=(-O "SmartHost=[127.0.0.1]:$auth_PORT" -O SmartHostTLS=require
	    -O "CACertFile=$PFBASE/ca/ca.pem" -O "AuthInfoFile=$PWD/authinfo")
	b=$(ndisc "$auth_LOG")
	mta -odi -f root@test.example r@remote.example <"$MSG"
	quit_ok "i8-client: (1) AUTH refused: QUIT all the same, no 'lost connection after AUTH'" \
	    "$auth_LOG" "$b"
	check "i8-client: (1) ... and Postfix did refuse the password, the message stays queued" \
	    eval "grep -q 'authentication failed' '$auth_LOG' && [ \$(qcount) -eq 1 ]"
	qf=$(ls spool/qf* | head -n 1)
	waitfor 5 eval "[ \$((\$(date +%s) - \$(stat -c %Y '$qf'))) -ge 2 ]"
	b=$(ndisc "$auth_LOG")
	mta -qRremote.example -O QueueWarn=1s
	quit_ok "i8-client: (1) mta -q after a refused AUTH: QUIT" "$auth_LOG" "$b"
	check "i8-client: (4) AUTH refused by Postfix, retried: the delay DSN says Action: delayed, Status: 4.x.x" \
	    "$PY" "$BASE/delayed.py" mail/root
fi

# (4) the 5xx case proper: Postfix 3.7's Cyrus SASL here answers a wrong
# password 454 (it finds no sasldb), so peer_smtp.py's 535 5.7.8 serves
newcase auth535
peer_ca "$BASE/ca535" localhost 127.0.0.1 || exit 1
peer_smtp_start a535 127.0.0.1 --starttls "$BASE/ca535/chain.pem" \
    "$BASE/ca535/key.pem" --auth user:right || exit 1
printf '* user wrong\n' >authinfo
chmod 600 authinfo
O+=(-O "SmartHost=[127.0.0.1]:$a535_PORT" -O SmartHostTLS=require
    -O "CACertFile=$BASE/ca535/ca.pem" -O "AuthInfoFile=$PWD/authinfo")
mta -odi -f root@test.example r@remote.example <"$MSG"
qf=$(ls spool/qf* | head -n 1)
waitfor 5 eval "[ \$((\$(date +%s) - \$(stat -c %Y '$qf'))) -ge 2 ]"
mta -qRremote.example -O QueueWarn=1s
check "i8-client: (4) 535 5.7.8 retried: the delay DSN says Action: delayed, Status: 4.7.8, 535 in Diagnostic-Code" \
    "$PY" "$BASE/delayed.py" mail/root 535
check "i8-client: (1) the 535 sessions ended with QUIT" \
    eval "[ \$(grep -c 'AUTH:PLAIN' '$a535_CONNS') -ge 2 ] && ! grep 'AUTH:PLAIN' '$a535_CONNS' | grep -q 'quit=no'"
else
	skip "i8-client: (1)+(4) AUTH refused (AUTH needs TLS)" "this mta was built without TLS"
fi

# ---------------------------------------------- (2) no 8BITMIME: converted
pf_start no8 "smtpd_discard_ehlo_keywords = 8bitmime
strict_8bitmime = yes
strict_8bitmime_body = yes" || exit 1
newcase eight
O+=(-O "SmartHost=[127.0.0.1]:$no8_PORT" -O SmartHostTLS=none)
export PYTHONPATH=$BASE
cat >"$BASE/mk8.py" <<'EOF'
# The test messages: bytes on stdout, by name.
import sys
long = ("é" * 700 + "x").encode()
text = ("Grüße aus Köln = 100 %\n.a line starting with a dot\n"
        "trailing space \ntab\t\n").encode() + long + b"\nend\n"
att = bytes(range(128, 256)) + b"\n" + bytes(range(1, 9)) + b"\x7f\xff\n"
which = sys.argv[1]
if which == "plain":
	m = (b"From: root@test.example\nTo: r@remote.example\nSubject: plain\n"
	     b"MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n"
	     b"Content-Transfer-Encoding: 8bit\n\n" + text)
elif which == "nomime":
	m = b"From: root@test.example\nSubject: nomime\n\n" + text
elif which == "multi":
	inner = (b"From: x@y.example\nSubject: inner\nContent-Type: text/plain; "
	         b"charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" + text)
	m = (b"From: root@test.example\nTo: r@remote.example\nSubject: multi\n"
	     b"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"=_outer\"\n\n"
	     b"preamble\n--=_outer\n"
	     b"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
	     + text +
	     b"--=_outer\nContent-Type: application/octet-stream\n"
	     b"Content-Disposition: attachment; filename=a.bin\n"
	     b"Content-Transfer-Encoding: 8bit\n\n" + att +
	     b"--=_outer\nContent-Type: multipart/alternative; boundary=inner1\n\n"
	     b"--inner1\nContent-Type: text/html; charset=utf-8\n"
	     b"Content-Transfer-Encoding: 8bit\n\n<p>" + text + b"--inner1--\n"
	     b"\n--=_outer\nContent-Type: message/rfc822\n"
	     b"Content-Transfer-Encoding: 8bit\n\n" + inner +
	     b"--=_outer\nContent-Type: text/plain\n\nseven bit only\n"
	     b"--=_outer--\nepilogue\n")
elif which == "hdr8":
	m = ("From: root@test.example\nSubject: Grüße\n\nbody ü\n").encode()
sys.stdout.buffer.write(m)
EOF
cat >"$BASE/cmp8.py" <<'EOF'
# cmp8.py ORIGINAL PEERFILE: the message the sink got is 7-bit, and every
# leaf part decodes to the original's (line ends compared as LF).
import email, sys
orig = email.message_from_bytes(open(sys.argv[1], "rb").read())
raw = open(sys.argv[2], "rb").read().split(b"\n", 2)[2].replace(b"\r\n", b"\n")
assert max(raw) < 128, "8-bit byte on the wire"
got = email.message_from_bytes(raw)
def leaves(m):
	return [p for p in m.walk() if not p.is_multipart() and
	    p.get_content_type() != "message/rfc822"]
lo, lg = leaves(orig), leaves(got)
assert len(lo) == len(lg), (len(lo), len(lg))
for a, b in zip(lo, lg):
	x = a.get_payload(decode=True).replace(b"\r\n", b"\n")
	y = b.get_payload(decode=True).replace(b"\r\n", b"\n")
	assert x == y, (a.get_content_type(), x[:80], y[:80])
	cte = (b["Content-Transfer-Encoding"] or "7bit").lower()
	if max(x, default=0) >= 128:
		assert cte in ("quoted-printable", "base64"), cte
		if b.get_content_maintype() == "text":
			assert cte == "quoted-printable", cte
print(len(lo), "parts equal")
EOF
for kind in plain nomime multi; do
	"$PY" "$BASE/mk8.py" $kind >"$kind.eml"
	n0=$(peer_msgs "$sink_DIR")
	mta -odi -f root@test.example r@remote.example <"$kind.eml"
	if waitfor 20 eval "[ \$(peer_msgs '$sink_DIR') -gt $n0 ]"; then
		check "i8-client: (2) no 8BITMIME, $kind: Postfix (strict_8bitmime) took it, it decodes to the original" \
		    "$PY" "$BASE/cmp8.py" "$kind.eml" "$(peer_files "$sink_DIR" | tail -n 1)"
	else
		fail "i8-client: (2) no 8BITMIME, $kind: Postfix (strict_8bitmime) took it, it decodes to the original" \
		    "$(tail -n 5 log; grep -i 'improper\|reject' "$no8_LOG" | tail -n 3)"
	fi
done
check "i8-client: (2) Postfix never saw improper 8-bit data" \
    eval "! grep -q 'Improper use of 8-bit' '$no8_LOG'"
"$PY" "$BASE/mk8.py" hdr8 >hdr8.eml
b=$(ndisc "$no8_LOG")
mta -odi -f root@test.example r@remote.example <hdr8.eml
check "i8-client: (2) an 8-bit header cannot be converted: 5.6.3 DSN, nothing sent" \
    eval "grep -q 'dsn=5.6.3' log && [ \$(qcount) -eq 0 ] &&
    grep -q 'Status: 5.6.3' mail/root && ! grep -q 'Improper use of 8-bit' '$no8_LOG'"
quit_ok "i8-client: (2) ... and the session still ends with QUIT" "$no8_LOG" "$b"

# ------------------------------------------------------------ (3) SMTPUTF8
pf_start u8 "smtputf8_enable = yes" || exit 1
pf_start nou8 "smtputf8_enable = no" || exit 1
newcase utf8
O+=(-O "SmartHost=[127.0.0.1]:$u8_PORT" -O SmartHostTLS=none)
n0=$(peer_msgs "$sink_DIR")
mta -odi -f root@test.example 'üser@remote.example' <"$MSG"
if waitfor 20 eval "[ \$(peer_msgs '$sink_DIR') -gt $n0 ]"; then
	f=$(peer_files "$sink_DIR" | tail -n 1)
	check "i8-client: (3) a UTF-8 recipient: MAIL carried SMTPUTF8, Postfix relayed it (SMTPUTF8 kept)" \
	    eval "[ \"\$(peer_json '$f' mail_params.SMTPUTF8)\" = true ] &&
	    [ \"\$(peer_json '$f' rcpt_tos.0)\" = 'üser@remote.example' ] &&
	    grep -q 'smtputf8=1\|SMTPUTF8\|üser' '$u8_LOG'"
else
	fail "i8-client: (3) a UTF-8 recipient: MAIL carried SMTPUTF8, Postfix relayed it (SMTPUTF8 kept)" \
	    "$(tail -n 5 log; tail -n 5 "$u8_LOG")"
fi
newcase nou8
O+=(-O "SmartHost=[127.0.0.1]:$nou8_PORT" -O SmartHostTLS=none)
b=$(ndisc "$nou8_LOG")
mta -odi -f root@test.example 'ascii@remote.example' 'üser@remote.example' <"$MSG"
check "i8-client: (3) Postfix without SMTPUTF8: nothing sent, 5.6.7 DSN for the message" \
    eval "grep -q 'dsn=5.6.7' log && [ \$(qcount) -eq 0 ] &&
    grep -q 'Status: 5.6.7' mail/root && ! grep -q 'from=<root@test.example>' '$nou8_LOG'"
quit_ok "i8-client: (3) ... and the session ends with QUIT" "$nou8_LOG" "$b"
b=$(ndisc "$nou8_LOG")
mta -odi -f 'rööt@test.example' 'r@remote.example' <"$MSG"
check "i8-client: (3) a UTF-8 sender to Postfix without SMTPUTF8: 5.6.7, nothing sent" \
    eval "[ \$(grep -c 'dsn=5.6.7' log) -ge 2 ] && ! grep -q 'from=<r' '$nou8_LOG'"

echo "# $T_PASSED passed, $T_FAILED failed"
[ "$T_FAILED" -eq 0 ]
