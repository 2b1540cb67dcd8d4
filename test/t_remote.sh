#!/bin/bash
# test/t_remote.sh: remote delivery (SPEC "Delivery", "Details"; issue 4
# "Tests that must exist") driven from outside: messages submitted with
# `mta -odq`, delivered by `mta -q` (or -qI/-qR to force a retry) to real
# peers: test/peer_smtp.py (aiosmtpd sinks, as smarthost or MX hosts on
# 127.0.0.2 / 127.0.0.3 / ::1) and test/peer_dns.py (dnslib, NameServer=
# 127.0.0.1:PORT). DSNs land in mail/root and are parsed with Python's
# `email` package, field by field. Every case runs in its own sub-sandbox
# (its own spool, so the host status cache of one case never leaks into
# another); every wait polls, none is a fixed sleep; every peer is stopped.
#
# Run by test/run (cwd = fresh temp dir, MTA and TOP set).

. "$(dirname "$0")/lib.sh"
set +e
shopt -s nullglob

BASE=$PWD
T0=$EPOCHREALTIME
export PYTHONPATH=$BASE

# ---------------------------------------------------------------- helpers

# dsn.py: parse mboxes and DSNs with the email package.
cat >"$BASE/dsn.py" <<'PYEOF'
import email, email.utils, mailbox, os, re, sys

def eq(what, want, got):
	if want != got:
		raise AssertionError("%s: want %r, got %r" % (what, want, got))

def has(what, needle, hay):
	if needle not in (hay or ""):
		raise AssertionError("%s: %r not in %r" % (what, needle, hay))

def msgs(path):
	"""The messages of an mbox, oldest first, as email.message.Message
	(none when the file does not exist)."""
	if not os.path.exists(path):
		return []
	mb = mailbox.mbox(path, create=False)
	out = []
	for k in mb.keys():
		out.append(email.message_from_bytes(mb.get_bytes(k)))
	mb.close()
	return out

def norm(v):
	"""'rfc822;  a@b' -> 'rfc822; a@b' (the space after ';' is optional)."""
	if v is None:
		return None
	v = re.sub(r"\s+", " ", v.strip())
	return re.sub(r"\s*;\s*", "; ", v, count=1)

def dsn(m, to=None, ret="full", envid=None, subject=None, rcpts=(),
    body_marker=None, orig_subject=None):
	"""Check one DSN message field by field; rcpts: list of dicts with
	final, orig (None: must be absent), action, status, remote (substring,
	None: must be absent), diag (substring, None: must be absent).
	Returns (per-message fields, [per-recipient fields], returned part)."""
	eq("Return-Path", "<>", m["Return-Path"])
	has("From", "MAILER-DAEMON@test.example", m["From"])
	if to is not None:
		eq("To", to, email.utils.parseaddr(m["To"])[1])
	if subject is not None:
		eq("Subject", subject, m["Subject"])
	eq("Auto-Submitted", "auto-replied", m["Auto-Submitted"])
	eq("content type", "multipart/report", m.get_content_type())
	eq("report-type", "delivery-status", m.get_param("report-type"))
	parts = m.get_payload()
	eq("number of parts", 3, len(parts))
	eq("part 1 type", "text/plain", parts[0].get_content_type())
	if not parts[0].get_payload(decode=True).strip():
		raise AssertionError("empty human-readable part")
	eq("part 2 type", "message/delivery-status", parts[1].get_content_type())
	blocks = parts[1].get_payload()
	if not isinstance(blocks, list) or len(blocks) < 2:
		raise AssertionError("delivery-status blocks: %r" % (blocks,))
	pm = blocks[0]
	eq("Reporting-MTA", "dns; test.example", norm(pm["Reporting-MTA"]))
	if pm["Arrival-Date"] is None or email.utils.parsedate_to_datetime(pm["Arrival-Date"]) is None:
		raise AssertionError("Arrival-Date: %r" % pm["Arrival-Date"])
	eq("Original-Envelope-Id", envid, pm["Original-Envelope-Id"])
	pr = blocks[1:]
	eq("number of recipient blocks", len(rcpts), len(pr))
	for want, got in zip(rcpts, pr):
		r = want["final"]
		eq(r + " Final-Recipient", "rfc822; " + r, norm(got["Final-Recipient"]))
		if "orig" in want:
			eq(r + " Original-Recipient", None if want["orig"] is None else
			    "rfc822; " + want["orig"], norm(got["Original-Recipient"]))
		act = (got["Action"] or "").strip().lower()
		if isinstance(want["action"], tuple):
			if act not in want["action"]:
				raise AssertionError("%s Action: want one of %r, got %r" % (r, want["action"], act))
		else:
			eq(r + " Action", want["action"], act)
		eq(r + " Status", want["status"], (got["Status"] or "").strip())
		if "remote" in want:
			if want["remote"] is None:
				eq(r + " Remote-MTA", None, got["Remote-MTA"])
			else:
				has(r + " Remote-MTA", want["remote"], got["Remote-MTA"])
				if not norm(got["Remote-MTA"]).startswith("dns; "):
					raise AssertionError("Remote-MTA type: %r" % got["Remote-MTA"])
		if "diag" in want:
			if want["diag"] is None:
				eq(r + " Diagnostic-Code", None, got["Diagnostic-Code"])
			else:
				has(r + " Diagnostic-Code", want["diag"], norm(got["Diagnostic-Code"]))
				if "dtype" in want:
					if not norm(got["Diagnostic-Code"]).startswith(want["dtype"] + "; "):
						raise AssertionError("Diagnostic-Code type: %r" % got["Diagnostic-Code"])
	rp = parts[2]
	if ret == "full":
		eq("part 3 type", "message/rfc822", rp.get_content_type())
		inner = rp.get_payload()[0]
		if orig_subject is not None:
			eq("returned Subject", orig_subject, inner["Subject"])
		if body_marker is not None:
			has("returned body", body_marker, inner.get_payload())
	elif ret == "hdrs":
		eq("part 3 type", "text/rfc822-headers", rp.get_content_type())
		text = rp.get_payload()
		if orig_subject is not None:
			has("returned headers", "Subject: " + orig_subject, text)
		if body_marker is not None and body_marker in text:
			raise AssertionError("body returned with the headers: %r" % text[-300:])
	return pm, pr, rp
PYEOF

# newcase NAME: a fresh sub-sandbox $BASE/NAME (cwd), O set for it.
newcase()
{
	cd "$BASE" || exit 1
	mkdir -p "$BASE/$1"
	cd "$BASE/$1" || exit 1
	sandbox
	O+=(-O "NameServer=127.0.0.1:$DNS_PORT")
}

# peer_stop NAME: SIGTERM the peer and wait for it.
peer_stop()
{
	local pid
	pid=$(eval "echo \"\${${1}_PID}\"")
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	waitfor 10 eval "! kill -0 $pid 2>/dev/null"
	wait "$pid" 2>/dev/null
	return 0
}

# submit ARGS... <MSG: mta -odq ARGS; ID = the new queue ID, SRC = exit code
submit()
{
	local before
	before=$(qids | sort)
	mta -odq "$@"
	SRC=$?
	ID=$(comm -13 <(printf '%s\n' "$before") <(qids | sort) | grep . | head -n 1)
}

# crlf FILE: FILE with LF line ends turned into CRLF
crlf()
{
	"$PY" -c 'import sys; sys.stdout.buffer.write(open(sys.argv[1], "rb").read().replace(b"\n", b"\r\n"))' "$1"
}

# lastmsg DIR: the newest message file a peer recorded
lastmsg()
{
	peer_files "$1" | tail -n 1
}

# ctx: text for a FAIL (log, spool, queue, the peers' count files)
ctx()
{
	echo "--- log:"
	tail -n 15 "$PWD/log" 2>/dev/null
	echo "--- spool: $(spoolfiles | tr '\n' ' ')"
	local c
	for c in "$PWD"/peer-*/conns; do
		echo "--- $c:"
		tail -n 5 "$c"
	done
}

# checkc NAME CMD...: like check, with the case's context on failure
checkc()
{
	local name=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	if [ "$rc" -eq 0 ]; then
		ok "$name"
	else
		fail "$name" "command: $* (exit $rc)
$out
$(ctx)"
	fi
}

# queued ID: the message ID is still in the queue
queued()
{
	[ -e "$PWD/spool/qf$1" ]
}

# gone ID: the message ID has left the queue
gone()
{
	[ ! -e "$PWD/spool/qf$1" ] && [ ! -e "$PWD/spool/df$1" ]
}

# nmsgs DIR N: the peer recorded exactly N messages
nmsgs()
{
	[ "$(peer_msgs "$1")" -eq "$2" ]
}

# mcount FILE N: the mbox FILE holds exactly N messages
mcount()
{
	[ "$(mbox_count "$1")" -eq "$2" ]
}

# next_in_future ID: every pending recipient of ID has an n line in the future
next_in_future()
{
	local now n
	now=$(date +%s)
	n=$(awk '/^R/ { r = 1 } /^sP/ { p = 1 } /^n/ && p { print substr($0, 2); p = 0 }' "$PWD/spool/qf$1")
	[ -n "$n" ] || return 1
	for v in $n; do
		[ "$v" -gt "$now" ] || return 1
	done
}

# after SECS: poll until SECS seconds have passed since $MARK (epoch)
after()
{
	waitfor $(($1 + 3)) eval "[ \$(date +%s) -ge \$((MARK + $1)) ]"
}

MSG=$BASE/msg
# the standard test message: dots, a lone dot (with -i), 8-bit bytes,
# trailing blanks, a "From " line, empty lines at the end
printf 'From: "Display Name" <root@test.example>\nTo: bob@example.org\nSubject: remote test\n\nfirst line\n.leading dot\n..two dots\n.\nFrom the middle\n\xc3\xa9t\xc3\xa9 8bit \xff\ntrailing blank \t\n\n\nlast line\n' >"$MSG"

# ---------------------------------------------------------------- DNS peer

cat >"$BASE/zone" <<'EOF'
# MX hosts on 127.0.0.2 (pref 10) and 127.0.0.3 (pref 20)
mx.example          MX 10 mx1.mx.example
mx.example          MX 20 mx2.mx.example
mx1.mx.example      A 127.0.0.2
mx2.mx.example      A 127.0.0.3
# no MX: the A record
amx.example         A 127.0.0.3
# null MX (RFC 7505)
nullmx.example      MX 0 .
# a temporary DNS failure
broken.example      SERVFAIL
# the MX host is a CNAME
cname.example       MX 10 alias.cname.example
alias.cname.example CNAME real.cname.example
real.cname.example  A 127.0.0.3
# no MX, the domain is a CNAME to a host with an A record
cdom.example        CNAME host.real.example
host.real.example   A 127.0.0.2
# the MX host has only an AAAA record
v6.example          MX 10 h6.v6.example
h6.v6.example       AAAA ::1
# a smarthost by name (no MX: its A record)
relay.example       A 127.0.0.2
# the usual MX for the 450/550/drop cases
sink.example        MX 10 mx1.mx.example
EOF
peer_dns_start "$BASE/zone" || {
	fail "remote: DNS peer starts" "$(cat "$BASE/peer-dns/err")"
	exit 1
}

# ---------------------------------------------------------------- certificates

peer_ca "$BASE/ca" relay.example 127.0.0.2 || exit 1
# same CA, another name
mkdir -p "$BASE/wrongname"
cp "$BASE/ca/ca.pem" "$BASE/ca/ca.key" "$BASE/wrongname/"
peer_ca "$BASE/wrongname" other.example || exit 1
# another CA, the right names
peer_ca "$BASE/otherca" relay.example 127.0.0.2 || exit 1
CA=$BASE/ca/ca.pem

# ================================================================ smarthost, plain

newcase plain
peer_smtp_start sink 127.0.0.2 || exit 1
SH=(-O "SmartHost=[127.0.0.2]:$sink_PORT" -O SmartHostTLS=none)
submit -i -f root@test.example bob@example.org carol@example.org dave@example.net <"$MSG"
cp "spool/df$ID" df.copy
capture mta -v -q "${SH[@]}"
f=$(lastmsg "$sink_DIR")
checkc "remote: smarthost plain: one message at the sink, queue empty" eval \
    'nmsgs "$sink_DIR" 1 && gone "$ID" && [ "$(qcount)" -eq 0 ]'
if [ -n "$f" ] && cmp -s <(crlf df.copy) <(peer_body "$f"); then
	ok "remote: smarthost plain: body byte-exact (df with CRLF, dot-stuffing undone)"
else
	fail "remote: smarthost plain: body byte-exact (df with CRLF, dot-stuffing undone)" \
	    "$( [ -n "$f" ] && cmp <(crlf df.copy) <(peer_body "$f"); diff <(crlf df.copy | cat -A) <(peer_body "$f" | cat -A) | head -n 20)"
fi
checkc "remote: smarthost plain: envelope sender and the 3 recipients" eval \
    '[ "$(peer_json "$f" mail_from)" = root@test.example ] &&
    [ "$(peer_json "$f" rcpt_tos)" = "[\"bob@example.org\", \"carol@example.org\", \"dave@example.net\"]" ]'
checkc "remote: smarthost plain: one connection for 3 recipients (EHLO, QUIT)" eval \
    '[ "$(peer_conns sink)" -eq 1 ] &&
    grep -q "helo=test.example esmtp=yes tls=no auth=- msgs=1 quit=yes cmds=EHLO,MAIL,RCPT,RCPT,RCPT,DATA,QUIT$" "$sink_CONNS"'
checkc "remote: smarthost plain: PIPELINING used when offered" \
    eval '[ "$(peer_json "$f" pipelined)" = true ]'
checkc "remote: smarthost plain: MAIL has SIZE= and BODY=8BITMIME" eval \
    '[ "$(peer_json "$f" mail_params.BODY)" = 8BITMIME ] &&
    [ "$(peer_json "$f" mail_params.SIZE)" -ge "$(stat -c %s df.copy)" ]'
# RFC 1870 section 3: the size counts the CRLF pairs as sent
checkc "remote: smarthost plain: SIZE= is the size as sent (CRLF line ends, RFC 1870)" eval \
    'a=$(peer_json "$f" mail_params.SIZE); b=$(peer_json "$f" size)
    echo "MAIL SIZE=$a, octets sent (CRLF, unstuffed)=$b, df=$(stat -c %s df.copy)"; [ "$a" -eq "$b" ]'
checkc "remote: smarthost plain: log to=<...> mailer=esmtp relay=... dsn=2.0.0 stat=Sent (250" eval \
    'for r in bob@example.org carol@example.org dave@example.net; do
	grep -q "$ID: to=<$r>, .*mailer=esmtp, relay=.*\[127.0.0.2\]:$sink_PORT, dsn=2.0.0, stat=Sent (250 " log || exit 1
    done'
checkc "remote: smarthost plain: -v shows Connecting ... via esmtp and Sent" eval \
    'grep -q "^bob@example.org... Connecting to .*\[127.0.0.2\]:$sink_PORT via esmtp" <<<"$OUT" &&
    grep -q "^dave@example.net... Sent" <<<"$OUT" && [ "$RC" -eq 0 ]'
# a second run sends nothing again
mta -q "${SH[@]}"
checkc "remote: smarthost plain: a second run sends nothing" eval \
    'nmsgs "$sink_DIR" 1 && [ "$(peer_conns sink)" -eq 1 ]'

# two messages in the queue: both delivered (one connection or two)
submit -f root@test.example x1@example.org <<<"Subject: one"
submit -f root@test.example x2@example.org <<<"Subject: two"
mta -q "${SH[@]}"
checkc "remote: smarthost plain: two queued messages both delivered once" eval \
    'nmsgs "$sink_DIR" 3 && [ "$(qcount)" -eq 0 ]'

# a body line of 2000 octets: split into lines of at most 998, nothing lost;
# the split point falls on a '.', which must be stuffed
"$PY" - >long.msg <<'EOF'
import sys
line = "a" * 998 + "." + "b" * 1001
assert len(line) == 2000
sys.stdout.write("Subject: long line\n\nbefore\n" + line + "\n.after the long one\nend\n")
EOF
submit -f root@test.example long@example.org <long.msg
cp "spool/df$ID" long.df
mta -q "${SH[@]}"
f=$(lastmsg "$sink_DIR")
checkc "remote: 2000-octet line: delivered" eval 'nmsgs "$sink_DIR" 4 && gone "$ID"'
checkc "remote: 2000-octet line: split into lines of at most 998 octets, joined content equal" \
    "$PY" - "$f" long.df <<'EOF'
import sys
from dsn import eq
raw = open(sys.argv[1], "rb").read().split(b"\n\n", 1)[1]
df = open(sys.argv[2], "rb").read()
lines = raw.split(b"\r\n")
assert lines[-1] == b"", "no CRLF at the end"
lines = lines[:-1]
long = [len(l) for l in lines if len(l) > 998]
assert not long, "lines over 998 octets: %r" % long
assert b"\n" not in b"".join(lines), "bare LF"
# the lines that came from the 2000-octet line: between "before" and ".after"
i = lines.index(b"before")
j = lines.index(b".after the long one")
eq("joined", b"a" * 998 + b"." + b"b" * 1001, b"".join(lines[i + 1:j]))
assert j - i - 1 >= 3, "2000 octets in %d lines" % (j - i - 1)
eq("rest", [b"end"], lines[j + 1:])
EOF
checkc "remote: a line starting with '.' arrives intact" eval \
    'peer_body "$f" | grep -q "^\.after the long one"$'"'\r'"'"$"'
peer_stop sink

# ---- no PIPELINING offered, no ESMTP
peer_smtp_start nopipe 127.0.0.2 --no-pipelining || exit 1
submit -f root@test.example p1@example.org p2@example.org <"$MSG"
mta -q -O "SmartHost=[127.0.0.2]:$nopipe_PORT" -O SmartHostTLS=none
f=$(lastmsg "$nopipe_DIR")
checkc "remote: --no-pipelining: delivered, commands one at a time" eval \
    'nmsgs "$nopipe_DIR" 1 && gone "$ID" && [ "$(peer_json "$f" pipelined)" = false ] &&
    [ "$(peer_json "$f" rcpt_tos)" = "[\"p1@example.org\", \"p2@example.org\"]" ]'
peer_stop nopipe

peer_smtp_start old 127.0.0.2 --no-esmtp || exit 1
submit -f root@test.example h1@example.org <"$MSG"
cp "spool/df$ID" df.old
mta -q -O "SmartHost=[127.0.0.2]:$old_PORT" -O SmartHostTLS=none
f=$(lastmsg "$old_DIR")
checkc "remote: --no-esmtp: HELO fallback, no MAIL parameters, delivered byte-exact" eval \
    'nmsgs "$old_DIR" 1 && gone "$ID" && [ "$(peer_json "$f" esmtp)" = false ] &&
    [ "$(peer_json "$f" helo)" = test.example ] && [ "$(peer_json "$f" mail_params)" = "{}" ] &&
    cmp -s <(crlf df.old) <(peer_body "$f")'
peer_stop old

# ---- DSN parameters passed on
peer_smtp_start dsn 127.0.0.2 || exit 1
submit -N success,failure -R hdrs -V envid1 -f root@test.example d1@example.org d2@example.org <"$MSG"
mta -q -O "SmartHost=[127.0.0.2]:$dsn_PORT" -O SmartHostTLS=none
f=$(lastmsg "$dsn_DIR")
checkc "remote: DSN offered: MAIL has RET=HDRS ENVID=envid1" eval \
    'nmsgs "$dsn_DIR" 1 && [ "$(peer_json "$f" mail_params.RET)" = HDRS ] &&
    [ "$(peer_json "$f" mail_params.ENVID)" = envid1 ]'
checkc "remote: DSN offered: each RCPT has NOTIFY=SUCCESS,FAILURE" eval \
    '[ "$(peer_json "$f" rcpt_params.0.NOTIFY | tr a-z A-Z)" = SUCCESS,FAILURE ] &&
    [ "$(peer_json "$f" rcpt_params.1.NOTIFY | tr a-z A-Z)" = SUCCESS,FAILURE ]'
# RFC 3461 6.2.1(e): NOTIFY=SUCCESS relayed to a DSN server: the next hop
# takes over, no "delivered"/"relayed" DSN from us
checkc "remote: DSN offered: NOTIFY=SUCCESS relayed to a DSN server, no DSN from us (RFC 3461)" \
    eval '[ "$(mbox_count mail/root)" -eq 0 ]'
peer_stop dsn

peer_smtp_start nodsn 127.0.0.2 --no-ext DSN || exit 1
submit -N success -V envid2 -f root@test.example n1@example.org <"$MSG"
mta -q -O "SmartHost=[127.0.0.2]:$nodsn_PORT" -O SmartHostTLS=none
f=$(lastmsg "$nodsn_DIR")
checkc "remote: DSN not offered: no DSN parameters sent, delivered" eval \
    'nmsgs "$nodsn_DIR" 1 && gone "$ID" && [ "$(peer_json "$f" rcpt_params.0)" = "{}" ] &&
    [ "$(peer_json "$f" mail_params | grep -c "RET\|ENVID")" -eq 0 ]'
# NOTIFY=SUCCESS to a server without DSN: we tell the sender (Action
# relayed per RFC 3461, "delivered" accepted too)
checkc "remote: NOTIFY=SUCCESS: a success DSN to the sender" \
    "$PY" - mail/root <<'EOF'
import sys
from dsn import *
m = msgs(sys.argv[1])
eq("DSNs in mail/root", 1, len(m))
dsn(m[0], to="root@test.example", envid="envid2", ret="full",
    subject="Successful Mail Delivery Report", orig_subject="remote test",
    rcpts=[{"final": "n1@example.org", "action": ("relayed", "delivered"),
    "status": "2.0.0", "remote": "127.0.0.2", "diag": "250 2.0.0 Ok"}])
EOF
peer_stop nodsn

if built TLS; then
# ================================================================ TLS to the smarthost

newcase tls
peer_smtp_start tls 127.0.0.2 --starttls "$BASE/ca/chain.pem" "$BASE/ca/key.pem" --tls-max 1.2 || exit 1
TLSO=(-O SmartHostTLS=require -O "CACertFile=$CA")
submit -f root@test.example t1@example.org <"$MSG"
cp "spool/df$ID" df.tls
mta -q -O "SmartHost=relay.example:$tls_PORT" "${TLSO[@]}"
f=$(lastmsg "$tls_DIR")
checkc "remote: SmartHostTLS=require, SmartHost=relay.example:PORT (A record): STARTTLS verified, delivered byte-exact" eval \
    'nmsgs "$tls_DIR" 1 && gone "$ID" && [ "$(peer_json "$f" tls_mode)" = starttls ] &&
    [ "$(peer_json "$f" tls_version)" = TLSv1.2 ] && cmp -s <(crlf df.tls) <(peer_body "$f")'
checkc "remote: SmartHostTLS=require: log \"ID: TLS to relay.example[127.0.0.2]:PORT: TLSv1.2 with cipher\"" \
    grep -q "$ID: TLS to relay.example\[127.0.0.2\]:$tls_PORT: TLSv1.2 with cipher" log
checkc "remote: SmartHostTLS=require: EHLO again after STARTTLS" \
    grep -q "cmds=EHLO,STARTTLS,EHLO,MAIL,RCPT,DATA,QUIT$" "$tls_CONNS"

# by address: the certificate names IP:127.0.0.2 in its SAN
newcase tlsip
submit -f root@test.example t2@example.org <"$MSG"
mta -q -O "SmartHost=[127.0.0.2]:$tls_PORT" "${TLSO[@]}"
checkc "remote: SmartHostTLS=require, SmartHost=[127.0.0.2]:PORT, certificate with IP:127.0.0.2: delivered" eval \
    'gone "$ID" && nmsgs "$tls_DIR" 2'
# a CACertFile with a broken PEM block after a good one: unusable for
# every message of the run, not only the first (it is read once)
newcase tlsbadca
{ cat "$CA"; printf -- '-----BEGIN CERTIFICATE-----\nnot base64 !\n-----END CERTIFICATE-----\n'; } >badca.pem
submit -f root@test.example t3@example.org <"$MSG"
ID1=$ID
submit -f root@test.example t4@example.org <"$MSG"
mta -q -O "SmartHost=[127.0.0.2]:$tls_PORT" -O SmartHostTLS=require -O "CACertFile=$PWD/badca.pem"
checkc "remote: CACertFile with a broken PEM block after a good one: both messages deferred, nothing sent, the log says why" eval \
    'queued "$ID1" && queued "$ID" && nmsgs "$tls_DIR" 2 &&
    grep -q "$ID1: .*badca.pem" log && grep -q "$ID: .*badca.pem" log'
peer_stop tls

# wrong certificate name (same CA): deferred, nothing sent, the log says why
newcase wrongname
peer_smtp_start wn 127.0.0.2 --starttls "$BASE/wrongname/chain.pem" "$BASE/wrongname/key.pem" || exit 1
submit -f root@test.example t3@example.org <"$MSG"
capture mta -q -O "SmartHost=relay.example:$wn_PORT" "${TLSO[@]}"
checkc "remote: require, wrong certificate name: deferred (qf stays), nothing at the sink" eval \
    'queued "$ID" && nmsgs "$wn_DIR" 0 && waitfor 5 test -s "$wn_CONNS" &&
    ! grep -q "MAIL\|RCPT\|DATA" "$wn_CONNS"'
checkc "remote: require, wrong certificate name: the log says why" \
    grep -qi "$ID: .*\(certificate\|x509\|name\|verif\)" log
checkc "remote: require, wrong certificate name: mailq shows the reason" eval \
    'mta -bp | grep -qi "certificate\|x509\|name\|verif\|TLS"'
checkc "remote: require, wrong certificate name: next try in the future" next_in_future "$ID"
peer_stop wn

# a certificate from another CA: deferred
newcase otherca
peer_smtp_start oc 127.0.0.2 --starttls "$BASE/otherca/chain.pem" "$BASE/otherca/key.pem" || exit 1
submit -f root@test.example t3@example.org <"$MSG"
mta -q -O "SmartHost=relay.example:$oc_PORT" "${TLSO[@]}"
checkc "remote: require, certificate of an unknown CA: deferred, nothing sent" eval \
    'queued "$ID" && nmsgs "$oc_DIR" 0 && waitfor 5 test -s "$oc_CONNS" &&
    ! grep -q "MAIL\|RCPT\|DATA" "$oc_CONNS"'
peer_stop oc

# a server without STARTTLS: deferred, nothing in clear
newcase nostarttls
peer_smtp_start clear 127.0.0.2 || exit 1
submit -f root@test.example t3@example.org <"$MSG"
mta -q -O "SmartHost=relay.example:$clear_PORT" "${TLSO[@]}"
checkc "remote: require, server without STARTTLS: deferred, no MAIL in clear" eval \
    'queued "$ID" && nmsgs "$clear_DIR" 0 && waitfor 5 test -s "$clear_CONNS" &&
    ! grep -q "MAIL\|RCPT\|DATA" "$clear_CONNS"'
checkc "remote: require, server without STARTTLS: the log says why" \
    grep -qi "$ID: .*STARTTLS" log
# opportunistic to the same server: sent in clear
mta -qI"$ID" -O HostStatusTimeout=0 -O "SmartHost=relay.example:$clear_PORT" -O SmartHostTLS=opportunistic
checkc "remote: SmartHostTLS=opportunistic, no STARTTLS offered: delivered in clear" eval \
    'gone "$ID" && nmsgs "$clear_DIR" 1'
peer_stop clear

# implicit TLS (port 465 style)
newcase implicit
peer_smtp_start ssl 127.0.0.2 --implicit-tls "$BASE/ca/chain.pem" "$BASE/ca/key.pem" || exit 1
submit -f root@test.example t4@example.org <"$MSG"
cp "spool/df$ID" df.ssl
mta -q -O "SmartHost=relay.example:$ssl_PORT" -O SmartHostTLS=implicit -O "CACertFile=$CA"
f=$(lastmsg "$ssl_DIR")
checkc "remote: SmartHostTLS=implicit: TLS from the first byte, delivered byte-exact" eval \
    'nmsgs "$ssl_DIR" 1 && gone "$ID" && [ "$(peer_json "$f" tls_mode)" = implicit ] &&
    cmp -s <(crlf df.ssl) <(peer_body "$f")'
checkc "remote: SmartHostTLS=implicit: log \"TLS to ...\"" grep -q "$ID: TLS to .*TLSv1.2" log
peer_stop ssl

# an EC (P-256) certificate
newcase ec
PEER_CA_ALG=ec peer_ca "$BASE/ecca" relay.example 127.0.0.2 || exit 1
peer_smtp_start ec 127.0.0.2 --starttls "$BASE/ecca/chain.pem" "$BASE/ecca/key.pem" || exit 1
submit -f root@test.example t5@example.org <"$MSG"
mta -q -O "SmartHost=relay.example:$ec_PORT" -O SmartHostTLS=require -O "CACertFile=$BASE/ecca/ca.pem"
checkc "remote: SmartHostTLS=require with an EC certificate: delivered" eval \
    'nmsgs "$ec_DIR" 1 && gone "$ID"'
peer_stop ec

# ================================================================ AUTH

PW='s3cr3t pw:xyzzy'
AUTHOUT=
newcase auth
peer_smtp_start au 127.0.0.2 --starttls "$BASE/ca/chain.pem" "$BASE/ca/key.pem" \
    --auth "user1:$PW" --require-auth || exit 1
AO=(-O "SmartHost=relay.example:$au_PORT" -O SmartHostTLS=require -O "CACertFile=$CA"
    -O "AuthInfoFile=$PWD/authinfo")
printf 'relay.example user1 %s\n' "$PW" >authinfo
chmod 600 authinfo
submit -f root@test.example a1@example.org <"$MSG"
capture mta -v -q "${AO[@]}"
AUTHOUT="$AUTHOUT$OUT$ERR"
f=$(lastmsg "$au_DIR")
checkc "remote: AUTH (AuthInfoFile 600, 'relay.example user pass') over STARTTLS: delivered, the sink saw user1" eval \
    'nmsgs "$au_DIR" 1 && gone "$ID" && [ "$(peer_json "$f" auth_user)" = user1 ] &&
    [ "$(peer_json "$f" tls)" = true ]'

printf 'elsewhere.example nobody wrong\n* user1 %s\n' "$PW" >authinfo
submit -f root@test.example a2@example.org <"$MSG"
mta -q "${AO[@]}"
checkc "remote: AUTH with a '* user pass' line (after a line for another host): delivered as user1" eval \
    'nmsgs "$au_DIR" 2 && gone "$ID" && [ "$(peer_json "$(lastmsg "$au_DIR")" auth_user)" = user1 ]'

# SmartHost=[127.0.0.2]:PORT: the host field is the address without brackets
newcase authip
printf '127.0.0.2 user1 %s\n' "$PW" >authinfo
chmod 600 authinfo
submit -f root@test.example a3@example.org <"$MSG"
mta -q -O "SmartHost=[127.0.0.2]:$au_PORT" -O SmartHostTLS=require -O "CACertFile=$CA" \
    -O "AuthInfoFile=$PWD/authinfo"
checkc "remote: AUTH with a '127.0.0.2 user pass' line for SmartHost=[127.0.0.2]:PORT: delivered as user1" eval \
    'gone "$ID" && [ "$(peer_json "$(lastmsg "$au_DIR")" auth_user)" = user1 ]'

# mode 644: refused, deferred, the log says why
newcase auth644
printf '* user1 %s\n' "$PW" >authinfo
chmod 644 authinfo
AO=(-O "SmartHost=relay.example:$au_PORT" -O SmartHostTLS=require -O "CACertFile=$CA"
    -O "AuthInfoFile=$PWD/authinfo")
n0=$(peer_msgs "$au_DIR")
c0=$(wc -l <"$au_CONNS")
submit -f root@test.example a4@example.org <"$MSG"
capture mta -v -q "${AO[@]}"
AUTHOUT="$AUTHOUT$OUT$ERR"
checkc "remote: AuthInfoFile mode 644: deferred, nothing delivered" eval \
    'queued "$ID" && nmsgs "$au_DIR" "$n0"'
checkc "remote: AuthInfoFile mode 644: log \"readable by group or others\"" \
    grep -q "$ID: .*readable by group or others" log
checkc "remote: AuthInfoFile mode 644: no AUTH sent" eval \
    '! tail -n +$((c0 + 1)) "$au_CONNS" | grep -q "AUTH"'
chmod 600 authinfo
mta -qI"$ID" "${AO[@]}"
checkc "remote: AuthInfoFile back to 600: the forced run delivers it" eval \
    'gone "$ID" && nmsgs "$au_DIR" $((n0 + 1))'
peer_stop au

# plaintext AUTH offered, SmartHostTLS=none: the credentials never go out
newcase authclear
printf '* user1 %s\n' "$PW" >authinfo
chmod 600 authinfo
peer_smtp_start pa 127.0.0.2 --auth "user1:$PW" --auth-plaintext --require-auth || exit 1
submit -f root@test.example a5@example.org <"$MSG"
capture mta -v -q -O "SmartHost=relay.example:$pa_PORT" -O SmartHostTLS=none -O "AuthInfoFile=$PWD/authinfo"
AUTHOUT="$AUTHOUT$OUT$ERR"
waitfor 5 test -s "$pa_CONNS"
checkc "remote: SmartHostTLS=none, AUTH offered in clear: credentials NOT sent" eval \
    'test -s "$pa_CONNS" && ! grep -q "AUTH" "$pa_CONNS" && nmsgs "$pa_DIR" 0'
checkc "remote: SmartHostTLS=none, AUTH required in clear: deferred, not bounced" eval \
    'queued "$ID" && [ "$(mbox_count mail/root)" -eq 0 ]'
# opportunistic, no STARTTLS offered, AUTH in clear: still not sent
capture mta -v -qI"$ID" -O HostStatusTimeout=0 -O "SmartHost=relay.example:$pa_PORT" \
    -O SmartHostTLS=opportunistic -O "AuthInfoFile=$PWD/authinfo"
AUTHOUT="$AUTHOUT$OUT$ERR"
checkc "remote: SmartHostTLS=opportunistic, AUTH offered in clear: credentials NOT sent, deferred" eval \
    '! grep -q "AUTH" "$pa_CONNS" && nmsgs "$pa_DIR" 0 && queued "$ID"'
peer_stop pa

cd "$BASE" || exit 1
AUTHOUT="$AUTHOUT$(for d in auth authip auth644 authclear; do
	(cd "$d" && sandbox && mta -bp 2>&1 && mta -bp -v 2>&1)
done)"
checkc "remote: the password is in no log, qf, spool file or mailq/-v output" eval \
    'for d in auth authip auth644 authclear; do
	! grep -rqF "xyzzy" "$d/log" "$d/spool" || { echo "found in $d"; exit 1; }
    done; ! grep -qF "xyzzy" <<<"$AUTHOUT"'
else
	skip "remote: TLS to the smarthost, and AUTH (which needs it)" "this mta was built without TLS"
fi

# ================================================================ MX routing

cd "$BASE" || exit 1
echo 'self.example        MX 10 test.example' >>"$BASE/zone"

# the sink on 127.0.0.3; 127.0.0.2 has no listener on that port
newcase mxdown
peer_smtp_start m3 127.0.0.3 || exit 1
P=$m3_PORT
MXO=(-O "SMTPPort=$P")
submit -f root@test.example bob@mx.example <"$MSG"
cp "spool/df$ID" df.mx
capture mta -v -q "${MXO[@]}"
f=$(lastmsg "$m3_DIR")
checkc "remote: MX: best MX (127.0.0.2, pref 10) down -> second MX (127.0.0.3, pref 20) gets it" eval \
    'nmsgs "$m3_DIR" 1 && gone "$ID" && cmp -s <(crlf df.mx) <(peer_body "$f") &&
    [ "$(peer_json "$f" rcpt_tos)" = "[\"bob@mx.example\"]" ]'
checkc "remote: MX: log relay=mx2.mx.example[127.0.0.3]:PORT" \
    grep -q "$ID: to=<bob@mx.example>, .*relay=mx2.mx.example\[127.0.0.3\]:$P, dsn=2.0.0, stat=Sent" log
checkc "remote: MX: the refused host is in spool/.hoststat and mailq -v" eval \
    'grep -q "^\[127.0.0.2\]:$P	" spool/.hoststat && mta -bp -v | grep -q "127.0.0.2\]:$P"'

# both up: the best one
newcase mxboth
peer_smtp_start m2 127.0.0.2 --port "$P" || exit 1
submit -f root@test.example bob@mx.example <"$MSG"
mta -q "${MXO[@]}"
checkc "remote: MX: both up -> the best MX (127.0.0.2) gets it" eval \
    'nmsgs "$m2_DIR" 1 && nmsgs "$m3_DIR" 1 && gone "$ID"'

newcase mxa
submit -f root@test.example bob@amx.example <"$MSG"
mta -q "${MXO[@]}"
checkc "remote: MX: no MX -> the domain's A record (127.0.0.3)" eval \
    'nmsgs "$m3_DIR" 2 && gone "$ID" && [ "$(peer_json "$(lastmsg "$m3_DIR")" rcpt_tos)" = "[\"bob@amx.example\"]" ]'

newcase mxcname
submit -f root@test.example bob@cname.example <"$MSG"
mta -q "${MXO[@]}"
checkc "remote: MX: the MX host is a CNAME -> its target's A (127.0.0.3)" eval \
    'nmsgs "$m3_DIR" 3 && gone "$ID"'
submit -f root@test.example bob@cdom.example <"$MSG"
mta -q "${MXO[@]}"
checkc "remote: MX: the domain is a CNAME (no MX) -> the target's A (127.0.0.2)" eval \
    'nmsgs "$m2_DIR" 2 && gone "$ID"'

newcase mxv6
if "$PY" -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null; then
	peer_smtp_start m6 ::1 --port "$P" || exit 1
	submit -f root@test.example bob@v6.example <"$MSG"
	mta -q "${MXO[@]}"
	checkc "remote: MX: an AAAA-only MX host (::1) gets it" eval \
	    'nmsgs "$m6_DIR" 1 && gone "$ID" && [ "$(peer_json "$(lastmsg "$m6_DIR")" peer)" = ::1 ] &&
	    grep -q "$ID: to=<bob@v6.example>, .*relay=h6.v6.example\[::1\]" log'
	peer_stop m6
else
	echo "# no ::1 here: AAAA delivery not tested"
fi

newcase nullmx
submit -f root@test.example bob@nullmx.example <"$MSG"
mta -q "${MXO[@]}"
checkc "remote: null MX -> bounced at once (queue empty), DSN Status 5.1.10 to the sender" eval \
    'gone "$ID" && "$PY" - mail/root' <<'EOF'
import sys
from dsn import *
m = msgs(sys.argv[1])
eq("DSNs", 1, len(m))
dsn(m[0], to="root@test.example", subject="Undelivered Mail Returned to Sender",
    orig_subject="remote test", body_marker="first line",
    rcpts=[{"final": "bob@nullmx.example", "action": "failed", "status": "5.1.10"}])
EOF

newcase nxdomain
submit -f root@test.example bob@nosuch.example <"$MSG"
mta -q "${MXO[@]}"
checkc "remote: NXDOMAIN -> bounced at once, DSN Status 5.1.2" eval \
    'gone "$ID" && "$PY" - mail/root' <<'EOF'
import sys
from dsn import *
m = msgs(sys.argv[1])
eq("DSNs", 1, len(m))
dsn(m[0], to="root@test.example", orig_subject="remote test",
    rcpts=[{"final": "bob@nosuch.example", "action": "failed", "status": "5.1.2"}])
EOF

newcase servfail
submit -f root@test.example bob@broken.example <"$MSG"
mta -q "${MXO[@]}"
checkc "remote: SERVFAIL -> stays queued (deferred, next try in the future), no DSN" eval \
    'queued "$ID" && next_in_future "$ID" && [ "$(mbox_count mail/root)" -eq 0 ] &&
    grep -q "$ID: to=<bob@broken.example>, .*stat=Deferred" log'
# a SmartHost name that does not resolve: deferred, never bounced
submit -f root@test.example bob@example.org <"$MSG"
mta -q -O "SmartHost=nosuchrelay.example:$P" -O SmartHostTLS=none
checkc "remote: SmartHost name NXDOMAIN -> deferred, not bounced" eval \
    'queued "$ID" && [ "$(mbox_count mail/root)" -eq 0 ]'

newcase mxself
submit -f root@test.example bob@self.example <"$MSG"
mta -q "${MXO[@]}"
checkc "remote: the only MX names us -> bounce 5.4.6 (no loop)" eval \
    'gone "$ID" && "$PY" - mail/root' <<'EOF'
import sys
from dsn import *
m = msgs(sys.argv[1])
eq("DSNs", 1, len(m))
dsn(m[0], rcpts=[{"final": "bob@self.example", "action": "failed", "status": "5.4.6"}])
EOF
peer_stop m2
peer_stop m3

# ================================================================ replies: 450, 550, 421, lost ack

newcase r450
peer_smtp_start s450 127.0.0.2 --rcpt-reply 'later=450 4.2.0 try later' || exit 1
MXO=(-O "SMTPPort=$s450_PORT")
submit -f root@test.example later@sink.example <"$MSG"
mta -q "${MXO[@]}"
checkc "remote: 450 for the recipient -> stays queued, qf n line in the future" eval \
    'queued "$ID" && next_in_future "$ID" && nmsgs "$s450_DIR" 0'
checkc "remote: 450: mailq shows the reply" eval \
    'mta -bp | grep -q "450 4.2.0 try later" && mta -bp | grep -q "later@sink.example"'
c0=$(wc -l <"$s450_CONNS")
mta -q "${MXO[@]}"
checkc "remote: 450: a plain -q before the retry time does not try again" eval \
    '[ "$(wc -l <"$s450_CONNS")" -eq "$c0" ] && queued "$ID"'
peer_heal s450
mta -qRlater@sink "${MXO[@]}"
checkc "remote: 450, then the sink accepts: -qRlater@sink delivers it once" eval \
    'nmsgs "$s450_DIR" 1 && gone "$ID" && [ "$(mbox_count mail/root)" -eq 0 ]'
mta -qRlater@sink "${MXO[@]}"
mta -q "${MXO[@]}"
checkc "remote: 450: and not again" nmsgs "$s450_DIR" 1
peer_stop s450

newcase r550
peer_smtp_start s550 127.0.0.2 --rcpt-reply 'bad=550 5.1.1 no such user here' || exit 1
MXO=(-O "SMTPPort=$s550_PORT")
submit -i -f root@test.example good@sink.example bad@sink.example <"$MSG"
cp "spool/df$ID" df.orig
mta -q "${MXO[@]}"
mta -q "${MXO[@]}"
checkc "remote: 550 for one of two: the other delivered once, queue empty" eval \
    'nmsgs "$s550_DIR" 1 && gone "$ID" &&
    [ "$(peer_json "$(lastmsg "$s550_DIR")" rcpt_tos)" = "[\"good@sink.example\"]" ]'
checkc "remote: 550 for one of two: one DSN to the sender, checked field by field" \
    "$PY" - mail/root <<'EOF'
import sys
from dsn import *
m = msgs(sys.argv[1])
eq("DSNs", 1, len(m))
dsn(m[0], to="root@test.example", subject="Undelivered Mail Returned to Sender",
    ret="full", orig_subject="remote test", body_marker="..two dots",
    rcpts=[{"final": "bad@sink.example", "orig": None, "action": "failed", "status": "5.1.1",
    "remote": "mx1.mx.example", "diag": "550 5.1.1 no such user here", "dtype": "smtp"}])
EOF
checkc "remote: 550: the returned message/rfc822 part is the original df, byte for byte" \
    "$PY" - mail/root df.orig <<'EOF'
import re, sys
from dsn import *
raw = open(sys.argv[1], "rb").read()
raw = re.sub(rb"(?m)^>(>*From )", rb"\1", raw)
df = open(sys.argv[2], "rb").read()
m = msgs(sys.argv[1])[0]
inner = m.get_payload()[2].get_payload()[0]
eq("From", '"Display Name" <root@test.example>', inner["From"])
if df not in raw:
	raise AssertionError("df not found in the DSN; DSN tail: %r" % raw[-600:])
EOF
peer_stop s550

newcase r421
peer_smtp_start s421 127.0.0.2 --data-reply 421 --faults 1 || exit 1
MXO=(-O "SMTPPort=$s421_PORT")
submit -f root@test.example d421@sink.example <"$MSG"
mta -q "${MXO[@]}"
checkc "remote: 421 at the final dot -> deferred, nothing recorded" eval \
    'queued "$ID" && nmsgs "$s421_DIR" 0 && grep -q "$ID: to=<d421@sink.example>, .*stat=Deferred (421" log'
mta -qI"$ID" "${MXO[@]}"
checkc "remote: 421 at the final dot: the next forced run delivers" eval \
    'gone "$ID" && nmsgs "$s421_DIR" 1'
peer_stop s421

newcase drop
peer_smtp_start sdrop 127.0.0.2 --drop-after-dot --faults 1 || exit 1
MXO=(-O "SMTPPort=$sdrop_PORT")
submit -f root@test.example lost@sink.example <"$MSG"
mta -q "${MXO[@]}"
checkc "remote: connection dropped after the dot -> deferred (the sink has 1 copy)" eval \
    'queued "$ID" && nmsgs "$sdrop_DIR" 1'
mta -qI"$ID" "${MXO[@]}"
checkc "remote: dropped after the dot: the next forced run delivers again (2 copies)" eval \
    'gone "$ID" && nmsgs "$sdrop_DIR" 2'
mta -qI"$ID" "${MXO[@]}"
mta -q "${MXO[@]}"
checkc "remote: dropped after the dot: not a third time" nmsgs "$sdrop_DIR" 2
peer_stop sdrop

# ================================================================ host status

newcase hoststat
P=$(freeport)
HO=(-O "SmartHost=[127.0.0.2]:$P" -O SmartHostTLS=none)
submit -f root@test.example hs@example.org <"$MSG"
mta -q "${HO[@]}"
checkc "remote: host status: connection refused -> deferred, mailq -v lists [127.0.0.2]:PORT" eval \
    'queued "$ID" && mta -bp -v | grep -q "\[127.0.0.2\]:$P"'
checkc "remote: host status: plain mailq (no -v) shows the message" eval \
    'mta -bp | grep -q "hs@example.org"'
# a message whose only host is marked down is not tried, and its qf is
# not rewritten for it (no wear while the link is down): logged, still due
H1=$ID
submit -f root@test.example hs2@example.org <"$MSG"
H2=$ID
MARK=$(qline "$H2" T)
touch -d '2 minutes ago' "spool/qf$H2"
q2=$(stat -c '%i %Y %s' "spool/qf$H2")
mta -q "${HO[@]}"
checkc "remote: host status: a message for a host marked down: deferred in the log, its qf untouched" eval \
    'grep -q "$H2: to=<hs2@example.org>, .*stat=Deferred (4.4.1 connect to 127.0.0.2: " log &&
    [ "$(stat -c "%i %Y %s" "spool/qf$H2")" = "$q2" ]'
mta -qI"$H2" "${HO[@]}"
checkc "remote: host status: and a forced run leaves it as it was too" eval \
    '[ "$(stat -c "%i %Y %s" "spool/qf$H2")" = "$q2" ] && [ "$(grep -c "$H2: to=<hs2" log)" -eq 2 ]'
after 2
mta -qI"$H2" -O QueueReturn=1s "${HO[@]}"
checkc "remote: host status: past QueueReturn it fails all the same (4.4.7, DSN to the sender)" eval \
    'gone "$H2" && grep -q "$H2: to=<hs2@example.org>, .*stat=Failed (4.4.7 " log'
ID=$H1
peer_smtp_start hs 127.0.0.2 --port "$P" || exit 1
mta -qI"$ID" "${HO[@]}"
checkc "remote: host status: a forced run within HostStatusTimeout does not try the host" eval \
    'queued "$ID" && [ ! -s "$hs_CONNS" ] && nmsgs "$hs_DIR" 0'
mta -qI"$ID" -O HostStatusTimeout=0 "${HO[@]}"
checkc "remote: host status: with HostStatusTimeout=0 it does (delivered)" eval \
    'gone "$ID" && nmsgs "$hs_DIR" 1'
peer_stop hs

# ================================================================ expiry and delay warnings

newcase expire
peer_smtp_start sx 127.0.0.2 --rcpt-reply '@=450 4.2.0 try later' || exit 1
MXO=(-O "SMTPPort=$sx_PORT")
submit -f root@test.example slow@sink.example <"$MSG"
MARK=$(qline "$ID" T)
mta -q "${MXO[@]}"
checkc "remote: expiry: first attempt deferred" eval 'queued "$ID" && [ "$(mbox_count mail/root)" -eq 0 ]'
after 2
mta -qI"$ID" -O QueueReturn=1s "${MXO[@]}"
checkc "remote: expiry: QueueReturn=1s -> the message leaves the queue" gone "$ID"
checkc "remote: expiry: DSN Action: failed, Status: 4.4.7" \
    "$PY" - mail/root <<'EOF'
import sys
from dsn import *
m = msgs(sys.argv[1])
eq("DSNs", 1, len(m))
dsn(m[0], to="root@test.example", subject="Undelivered Mail Returned to Sender",
    orig_subject="remote test",
    rcpts=[{"final": "slow@sink.example", "action": "failed", "status": "4.4.7"}])
EOF

newcase warn
submit -f root@test.example slow@sink.example <"$MSG"
W1=$ID
MARK=$(qline "$ID" T)
submit -N failure -f root@test.example slow2@sink.example <"$MSG"
W2=$ID
mta -q "${MXO[@]}"
after 2
mta -qRslow -O QueueWarn=1s "${MXO[@]}"
checkc "remote: QueueWarn=1s: one \"delayed\" DSN, message still queued, qf W line" eval \
    'queued "$W1" && [ "$(mbox_count mail/root)" -eq 1 ] && grep -qx W "spool/qf$W1"'
checkc "remote: QueueWarn: the delayed DSN, field by field" \
    "$PY" - mail/root <<'EOF'
import sys
from dsn import *
m = msgs(sys.argv[1])
eq("DSNs", 1, len(m))
dsn(m[0], to="root@test.example", subject="Delayed Mail (still being retried)",
    orig_subject="remote test",
    rcpts=[{"final": "slow@sink.example", "action": "delayed", "status": "4.2.0",
    "diag": "450 4.2.0 try later"}])
EOF
checkc "remote: QueueWarn: NOTIFY=FAILURE (no DELAY) -> no delayed DSN for that message" eval \
    'queued "$W2" && "$PY" -c "
import sys
from dsn import *
for m in msgs(\"mail/root\"):
	if \"slow2@\" in m.as_string().split(\"Content-Type: message/rfc822\")[0]:
		sys.exit(\"delayed DSN for slow2\")
"'
mta -qRslow -O QueueWarn=1s "${MXO[@]}"
checkc "remote: QueueWarn: only once across two runs" eval \
    'queued "$W1" && [ "$(mbox_count mail/root)" -eq 1 ]'
peer_stop sx

# ================================================================ DSN details

newcase dsnfields
peer_smtp_start sd 127.0.0.2 --rcpt-reply 'bad=550 5.1.1 no such user here' || exit 1
MXO=(-O "SMTPPort=$sd_PORT")
# ORCPT (xtext: orig+2Bx = orig+x) and ENVID over SMTP
if built SERVER; then
capture mta -odq -bs "${MXO[@]}" < <(printf '%s\r\n' 'EHLO client.example' \
    'MAIL FROM:<root@test.example> RET=FULL ENVID=env42' \
    'RCPT TO:<bad1@sink.example> NOTIFY=FAILURE ORCPT=rfc822;orig+2Bx@orig.example' \
    'RCPT TO:<bad2@sink.example>' \
    'RCPT TO:<ok@sink.example> NOTIFY=FAILURE,DELAY ORCPT=rfc822;ok-orig@orig.example' \
    'DATA' 'Subject: over smtp' '' 'smtp body marker' '.' 'QUIT')
ID=$(sed -n 's/^250 .*queued as \([^ ]*\).*/\1/p' <<<"$OUT" | tr -d '\r')
checkc "remote: DSN: ORCPT/ENVID submission over mta -bs accepted" eval \
    '[ "$RC" -eq 0 ] && [ -n "$ID" ]'
# (-bs may start a delivery at once: wait for the outcome, then a queue run)
waitfor 15 eval '! queued "$ID" || grep -q "$ID: to=<ok@sink.example>" log'
mta -q "${MXO[@]}"
waitfor 10 test -s mail/root
f=$(lastmsg "$sd_DIR")
checkc "remote: DSN: ORCPT, NOTIFY and ENVID passed on to the next hop" eval \
    '[ "$(peer_json "$f" rcpt_tos)" = "[\"ok@sink.example\"]" ] &&
    [ "$(peer_json "$f" rcpt_params.0.ORCPT)" = "rfc822;ok-orig@orig.example" ] &&
    [ "$(peer_json "$f" rcpt_params.0.NOTIFY)" = "FAILURE,DELAY" ] &&
    [ "$(peer_json "$f" mail_params.ENVID)" = env42 ] && [ "$(peer_json "$f" mail_params.RET)" = FULL ]'
checkc "remote: DSN field by field: 2 recipients, Original-Recipient (xtext decoded), Original-Envelope-Id" \
    "$PY" - mail/root <<'EOF'
import sys
from dsn import *
m = msgs(sys.argv[1])
eq("DSNs", 1, len(m))
dsn(m[0], to="root@test.example", envid="env42", ret="full", orig_subject="over smtp",
    body_marker="smtp body marker",
    rcpts=[{"final": "bad1@sink.example", "orig": "orig+x@orig.example", "action": "failed",
    "status": "5.1.1", "remote": "mx1.mx.example", "diag": "550 5.1.1 no such user here",
    "dtype": "smtp"},
    {"final": "bad2@sink.example", "action": "failed", "status": "5.1.1",
    "remote": "mx1.mx.example", "diag": "550 5.1.1 no such user here"}])
EOF

# -bs with -odq: queued only, no delivery attempt (SPEC "Details")
newcase bsodq
capture mta -odq -bs < <(printf '%s\r\n' 'EHLO client.example' 'MAIL FROM:<root@test.example>' \
    'RCPT TO:<odq@sink.example>' 'DATA' 'Subject: odq' '' 'x' '.' 'QUIT')
BSID=$(sed -n 's/^250 .*queued as \([^ ]*\).*/\1/p' <<<"$OUT" | tr -d '\r')
if [ -n "$BSID" ] && ! waitfor 3 grep -q "$BSID: to=<odq@sink.example>" log &&
    [ "$(qline "$BSID" a)" = 0 ]; then
	ok "remote: mta -odq -bs: the message is only queued (no delivery attempt)"
else
	fail "remote: mta -odq -bs: the message is only queued (no delivery attempt)" "id=$BSID
$(ctx)"
fi
else
	skip "remote: DSN parameters over mta -bs, and -odq -bs" "this mta was built without SERVER"
fi

newcase rethdrs
submit -R hdrs -i -f root@test.example bad3@sink.example <"$MSG"
mta -q "${MXO[@]}"
checkc "remote: DSN with -R hdrs: text/rfc822-headers, no body" eval \
    'gone "$ID" && "$PY" - mail/root' <<'EOF'
import sys
from dsn import *
m = msgs(sys.argv[1])
eq("DSNs", 1, len(m))
dsn(m[0], ret="hdrs", orig_subject="remote test", body_marker="first line",
    rcpts=[{"final": "bad3@sink.example", "action": "failed", "status": "5.1.1"}])
EOF

newcase bigret
"$PY" -c 'import sys
sys.stdout.write("Subject: big one\n\n" + "BIGMARKER line of the big message, 64 octets long.........\n" * 2400)' >big.msg
submit -f root@test.example bad4@sink.example <big.msg
mta -q "${MXO[@]}"
checkc "remote: DSN of a >100 KiB message: only its headers (text/rfc822-headers)" eval \
    '[ "$(stat -c %s big.msg)" -gt 102400 ] && gone "$ID" && "$PY" - mail/root' <<'EOF'
import sys
from dsn import *
m = msgs(sys.argv[1])
eq("DSNs", 1, len(m))
dsn(m[0], ret="hdrs", orig_subject="big one", body_marker="BIGMARKER",
    rcpts=[{"final": "bad4@sink.example", "action": "failed", "status": "5.1.1"}])
EOF

newcase never
submit -N never -f root@test.example bad5@sink.example <"$MSG"
mta -q "${MXO[@]}"
mta -q "${MXO[@]}"
checkc "remote: NOTIFY=NEVER: failed, no DSN, queue empty" eval \
    'gone "$ID" && [ "$(qcount)" -eq 0 ] && [ "$(mbox_count mail/root)" -eq 0 ] &&
    grep -q "$ID: to=<bad5@sink.example>, .*stat=Failed" log'

# RFC 3461 4.1: a NOTIFY without FAILURE asks for no failure DSN
newcase successonly
submit -N success,delay -f root@test.example bad7@sink.example <"$MSG"
mta -q "${MXO[@]}"
mta -q "${MXO[@]}"
checkc "remote: NOTIFY=SUCCESS,DELAY and the recipient fails: no DSN, queue empty" eval \
    'gone "$ID" && [ "$(qcount)" -eq 0 ] && [ "$(mbox_count mail/root)" -eq 0 ] &&
    grep -q "$ID: to=<bad7@sink.example>, .*stat=Failed" log'

newcase successlocal
submit -N success -f root@test.example daemon <"$MSG"
mta -q
checkc "remote: NOTIFY=SUCCESS for a local recipient: a \"delivered\" DSN to the sender" eval \
    '[ "$(mbox_count mail/daemon)" -eq 1 ] && "$PY" - mail/root' <<'EOF'
import sys
from dsn import *
m = msgs(sys.argv[1])
eq("DSNs", 1, len(m))
dsn(m[0], to="root@test.example", subject="Successful Mail Delivery Report",
    rcpts=[{"final": "daemon@test.example", "action": "delivered", "status": "2.0.0"}])
EOF

# ---- double bounce: a message from <> fails -> postmaster (-> root)
newcase dbl
submit -f '<>' bad6@sink.example <"$MSG"
mta -q "${MXO[@]}"
checkc "remote: double bounce: a failing message from <> -> DSN to postmaster (mail/root), queue empty" eval \
    'gone "$ID" && [ "$(qcount)" -eq 0 ] && "$PY" - mail/root' <<'EOF'
import email.utils, sys
from dsn import *
m = msgs(sys.argv[1])
eq("DSNs", 1, len(m))
to = email.utils.parseaddr(m[0]["To"])[1]
if to.split("@")[0].lower() != "postmaster":
	raise AssertionError("To: %r" % m[0]["To"])
dsn(m[0], rcpts=[{"final": "bad6@sink.example", "action": "failed", "status": "5.1.1",
    "diag": "550 5.1.1 no such user here"}])
EOF

# a bounce to a sender that cannot be reached -> postmaster
newcase bounce2pm
submit -f alice@nosuch.example bad7@sink.example <"$MSG"
mta -q "${MXO[@]}"
checkc "remote: a bounce that cannot be delivered (sender domain NXDOMAIN) -> postmaster (mail/root)" eval \
    '[ "$(qcount)" -eq 0 ] && "$PY" - mail/root' <<'EOF'
import email.utils, sys
from dsn import *
m = msgs(sys.argv[1])
eq("DSNs", 1, len(m))
dsn(m[0], rcpts=[{"final": "alice@nosuch.example", "action": "failed", "status": "5.1.2"}])
EOF

# postmaster unreachable too -> DeadLetterFile
newcase dead
echo 'postmaster: nobody@unreachable.example' >aliases
submit -f '<>' bad8@sink.example <"$MSG"
mta -q -O "DeadLetterFile=$PWD/dead.letter" "${MXO[@]}"
checkc "remote: double bounce, postmaster unreachable (NXDOMAIN) -> DeadLetterFile, queue empty" eval \
    '[ "$(qcount)" -eq 0 ] && [ "$(mbox_count dead.letter)" -eq 1 ] && [ ! -s mail/root ] &&
    grep -q "^Final-Recipient: rfc822; *bad8@sink.example" dead.letter'
checkc "remote: DeadLetterFile: the message in it parses (mbox), a DSN from <>" eval \
    '"$PY" - dead.letter' <<'EOF'
import sys
from dsn import *
m = msgs(sys.argv[1])
eq("messages", 1, len(m))
eq("content type", "multipart/report", m[0].get_content_type())
EOF
checkc "remote: DeadLetterFile: logged" grep -qi "dead.letter\|DeadLetter" log

# PostmasterCopy: headers-only copy of a bounce
newcase pmcopy
submit -i -f daemon@test.example bad9@sink.example <"$MSG"
mta -q -O PostmasterCopy=root "${MXO[@]}"
checkc "remote: PostmasterCopy=root: the sender gets the full bounce" eval \
    '"$PY" - mail/daemon' <<'EOF'
import sys
from dsn import *
m = msgs(sys.argv[1])
eq("DSNs", 1, len(m))
dsn(m[0], to="daemon@test.example", ret="full", body_marker="first line",
    rcpts=[{"final": "bad9@sink.example", "action": "failed", "status": "5.1.1"}])
EOF
checkc "remote: PostmasterCopy=root: root gets a headers-only copy" eval \
    '"$PY" - mail/root' <<'EOF'
import sys
from dsn import *
m = msgs(sys.argv[1])
eq("copies", 1, len(m))
dsn(m[0], ret="hdrs", orig_subject="remote test", body_marker="first line",
    rcpts=[{"final": "bad9@sink.example", "action": "failed", "status": "5.1.1"}])
EOF
peer_stop sd

# ================================================================ MasqueradeAs

newcase masq
peer_smtp_start mq 127.0.0.2 --rcpt-reply 'bad=550 5.1.1 no such user here' || exit 1
SH=(-O "SmartHost=[127.0.0.2]:$mq_PORT" -O SmartHostTLS=none)
submit -O MasqueradeAs=alerts@isp.example -f root@test.example bob@example.org <"$MSG"
mta -q -O MasqueradeAs=alerts@isp.example "${SH[@]}"
f=$(lastmsg "$mq_DIR")
checkc "remote: MasqueradeAs=alerts@isp.example: MAIL FROM:<alerts@isp.example>" eval \
    'gone "$ID" && [ "$(peer_json "$f" mail_from)" = alerts@isp.example ]'
checkc "remote: MasqueradeAs=alerts@isp.example: From: \"Display Name\" <alerts@isp.example>, rest unchanged" \
    "$PY" - "$f" <<'EOF'
import email, email.utils, sys
from dsn import *
raw = open(sys.argv[1], "rb").read().split(b"\n\n", 1)[1]
m = email.message_from_bytes(raw)
eq("From headers", 1, len(m.get_all("From")))
eq("From", ("Display Name", "alerts@isp.example"), email.utils.parseaddr(m["From"]))
eq("To", "bob@example.org", m["To"])
eq("Subject", "remote test", m["Subject"])
has("body", "first line", m.get_payload())
EOF

submit -O MasqueradeAs=@isp.example -f root@test.example bob2@example.org <"$MSG"
mta -q -O MasqueradeAs=@isp.example "${SH[@]}"
f=$(lastmsg "$mq_DIR")
checkc "remote: MasqueradeAs=@isp.example: MAIL FROM:<root@isp.example>, From: \"Display Name\" <root@isp.example>" eval \
    'gone "$ID" && [ "$(peer_json "$f" mail_from)" = root@isp.example ] && "$PY" - "$f"' <<'EOF'
import email, email.utils, sys
from dsn import *
raw = open(sys.argv[1], "rb").read().split(b"\n\n", 1)[1]
m = email.message_from_bytes(raw)
eq("From", ("Display Name", "root@isp.example"), email.utils.parseaddr(m["From"]))
EOF

n0=$(peer_msgs "$mq_DIR")
submit -O MasqueradeAs=alerts@isp.example -f '<>' bob3@example.org <"$MSG"
mta -q -O MasqueradeAs=alerts@isp.example "${SH[@]}"
f=$(lastmsg "$mq_DIR")
checkc "remote: MasqueradeAs: a message from <> is relayed with MAIL FROM:<>" eval \
    'gone "$ID" && nmsgs "$mq_DIR" $((n0 + 1)) && [ "$(peer_json "$f" mail_from)" = "" ]'

# our own bounce to a remote sender: from <>, From: MAILER-DAEMON, not masqueraded
submit -O MasqueradeAs=alerts@isp.example -f alice@remote.example bad@example.org <"$MSG"
mta -q -O MasqueradeAs=alerts@isp.example "${SH[@]}"
mta -q -O MasqueradeAs=alerts@isp.example "${SH[@]}"
f=$(lastmsg "$mq_DIR")
checkc "remote: MasqueradeAs: our DSN to a remote sender goes out as MAIL FROM:<>, From: MAILER-DAEMON@test.example" eval \
    '[ "$(qcount)" -eq 0 ] && nmsgs "$mq_DIR" $((n0 + 2)) && [ "$(peer_json "$f" mail_from)" = "" ] &&
    [ "$(peer_json "$f" rcpt_tos)" = "[\"alice@remote.example\"]" ] &&
    peer_body "$f" | grep -q "^From: .*MAILER-DAEMON@test.example" && ! peer_body "$f" | grep -qi "^From: .*isp.example"'
peer_stop mq

# ================================================================ SMTP daemon relay

newcase daemon
if built SERVER; then
# relayd SMARTPORT TAG: "mta -bD" relaying to [127.0.0.2]:SMARTPORT on
# a free port DP (DPID; PidFile pidTAG, output daemonTAG.out)
relayd() {
	DP=$(freeport)
	"$MTA" "${O[@]}" -bD -O "DaemonPortOptions=Addr=127.0.0.1,Port=$DP" \
	    -O "PidFile=$PWD/pid$2" -O RunAsUser=root \
	    -O "SmartHost=[127.0.0.2]:$1" -O SmartHostTLS=none >"daemon$2.out" 2>&1 &
	DPID=$!
	cleanup_add "$DPID"
}
peer_smtp_start dm 127.0.0.2 || exit 1
relayd "$dm_PORT" ""
if waitfor 15 "$PY" -c 'import socket, sys
socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$DP"; then
	capture "$PY" - "$DP" <<'EOF'
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), local_hostname="client.example", timeout=20)
s.sendmail("alice@client.example", ["bob@example.org"],
    b"From: alice@client.example\r\nTo: bob@example.org\r\nSubject: via the daemon\r\n\r\ndaemon relay marker\r\n")
s.quit()
EOF
	if [ "$RC" -eq 0 ] && waitfor 20 nmsgs "$dm_DIR" 1 && waitfor 10 eval '[ "$(qcount)" -eq 0 ]'; then
		f=$(lastmsg "$dm_DIR")
		checkc "remote: daemon relay: SMTP to mta -bD for bob@example.org reaches the smarthost without -q" eval \
		    '[ "$(peer_json "$f" mail_from)" = alice@client.example ] &&
		    [ "$(peer_json "$f" rcpt_tos)" = "[\"bob@example.org\"]" ] &&
		    peer_body "$f" | grep -q "^daemon relay marker" && peer_body "$f" | grep -q "^Received: from client.example"'
	else
		fail "remote: daemon relay: SMTP to mta -bD for bob@example.org reaches the smarthost without -q" \
		    "client: rc=$RC $OUT $ERR
$(cat daemon.out)
$(ctx)"
	fi
else
	fail "remote: daemon relay: SMTP to mta -bD for bob@example.org reaches the smarthost without -q" \
	    "daemon not listening on $DP: $(cat daemon.out)"
fi
# twenty more, one after another: each is handed to a delivery child on
# its own, and an idle child takes the next one on the session it kept
capture "$PY" - "$DP" <<'EOF'
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), local_hostname="client.example", timeout=20)
for i in range(20):
    s.sendmail("alice@client.example", ["bob@example.org"],
        b"From: alice@client.example\r\nSubject: burst %d\r\n\r\nburst\r\n" % i)
s.quit()
EOF
waitfor 30 nmsgs "$dm_DIR" 21
kill -TERM "$DPID" 2>/dev/null
waitfor 10 eval "! kill -0 $DPID 2>/dev/null"
# a session's line is written when it ends: wait for all 21 messages
msgsum() { awk -F' msgs=' '{ split($2, a, " "); n += a[1] } END { print n + 0 }' "$1"; }
waitfor 10 eval '[ "$(msgsum "$dm_CONNS")" = 21 ]'
checkc "remote: daemon relay: 20 messages one after another reach the smarthost on a few sessions (idle delivery children keep theirs), each ended by QUIT when the daemon stops" eval \
    'nmsgs "$dm_DIR" 21 && [ "$(peer_conns dm)" -le 6 ] && ! grep -q "quit=no" "$dm_CONNS" &&
    [ "$(grep -c "stat=Sent" log)" -eq 21 ]'
peer_stop dm
# a child that went idle says QUIT to a slow server (its 221 takes 8 s):
# a message handed over meanwhile must not wait for that 221
peer_smtp_start dq 127.0.0.2 --delay quit=8 || exit 1
relayd "$dq_PORT" 2
sendone() {
	"$PY" - "$DP" "$1" <<'EOF'
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), local_hostname="client.example", timeout=20)
s.sendmail("alice@client.example", ["bob@example.org"],
    b"From: alice@client.example\r\nSubject: %s\r\n\r\nslow quit\r\n" % sys.argv[2].encode())
s.quit()
EOF
}
waitfor 15 "$PY" -c 'import socket, sys
socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$DP"
sendone quit-1
waitfor 20 nmsgs "$dq_DIR" 1
# the child goes idle after KIDIDLE (2 s) and waits for its 221 until 8 s
MARK=$(date +%s)
after 4
sendone quit-2
checkc "remote: daemon relay: a message handed over while an idle child waits for a slow 221 goes out at once (not after it)" \
    waitfor 4 nmsgs "$dq_DIR" 2
kill -TERM "$DPID" 2>/dev/null
waitfor 15 eval "! kill -0 $DPID 2>/dev/null"
peer_stop dq
else
	skip "remote: daemon relay (mta -bD)" "this mta was built without SERVER"
fi

# ================================================================ the peers themselves

cd "$BASE" || exit 1
bad=
for e in "$BASE"/*/peer-*/err "$BASE"/peer-dns/err; do
	if [ -s "$e" ]; then
		bad="$bad$e: $(head -n 10 "$e")
"
	fi
done
if [ -z "$bad" ]; then
	ok "remote: no peer wrote to stderr (no traceback)"
else
	fail "remote: no peer wrote to stderr (no traceback)" "$bad"
fi
echo "# t_remote.sh: $(awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s"
