#!/bin/bash
# test/t_sec_remote.sh: issue 7, the SMTP client's side (client.c, remote.c).
#
#  1. SmartHost credentials go only inside TLS whose certificate was verified
#     against CACertFile and names the SmartHost as configured, whatever
#     SmartHostTLS says; else no AUTH, the mail stays queued (4.7.4/4.7.5,
#     "credentials for X are sent only over verified TLS: why").
#     Ways in: opportunistic to a self-signed impostor (by name and by
#     address), none, a server with AUTH and no STARTTLS, implicit TLS with
#     a self-signed certificate, an MX record that sends the SmartHost name
#     to a host with a good certificate for its own name. Controls: a
#     certificate from the test CA (opportunistic, none, via MX) delivers.
#  2. No bare CR ever reaches the next hop: CRs in headers and body (shapes
#     "\r.\r", "x\r.\ny", a line "\r."), submitted by -odq -i and by -bs on
#     a pipe, relayed (and through the MasqueradeAs header path) to a raw
#     socket sink that records the bytes; no CR without LF, no LF without
#     CR, no line a lenient receiver would take for the end of the data,
#     every content line there, one message each.
#  3. AuthInfoFile: a symbolic link (to a good file), a FIFO, a file owned
#     by someone else are refused with a log line, nothing sent.
#  4. A server's reply with C1 controls / invalid UTF-8: neutralised in the
#     log and the queue file.
#
# Run by test/run (cwd = fresh temp dir, MTA and TOP set).

. "$(dirname "$0")/lib.sh"
set +e
shopt -s nullglob

BASE=$PWD
PW='s3cr3t pw:plugh'

# ---------------------------------------------------------------- helpers

newcase()
{
	cd "$BASE" || exit 1
	mkdir -p "$BASE/$1"
	cd "$BASE/$1" || exit 1
	sandbox
	O+=(-O "NameServer=127.0.0.1:$DNS_PORT" -O "AuthInfoFile=$PWD/authinfo")
}

# creds: a good AuthInfoFile (600) for every host
creds()
{
	printf '* user1 %s\n' "$PW" >"$PWD/authinfo"
	chmod 600 "$PWD/authinfo"
}

submit()
{
	local before
	before=$(qids | sort)
	mta -odq "$@"
	SRC=$?
	ID=$(comm -13 <(printf '%s\n' "$before") <(qids | sort) | grep . | head -n 1)
}

queued()
{
	[ -n "$1" ] && [ -e "$PWD/spool/qf$1" ]
}

gone()
{
	[ -n "$1" ] && [ ! -e "$PWD/spool/qf$1" ] && [ ! -e "$PWD/spool/df$1" ]
}

nmsgs()
{
	[ "$(peer_msgs "$1")" -eq "$2" ]
}

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

# peer NAME ARGS...: peer_smtp_start with its files in $BASE/peer-NAME
peer()
{
	cd "$BASE" || exit 1
	peer_smtp_start "$@"
}

ctx()
{
	echo "--- log:"
	tail -n 8 "$PWD/log" 2>/dev/null
	echo "--- spool: $(spoolfiles | tr '\n' ' ')"
	local c
	for c in "$BASE"/peer-*/conns; do
		[ -s "$c" ] && { echo "--- $c:"; tail -n 3 "$c"; }
	done
}

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

MSG=$BASE/msg
printf 'From: root@test.example\nTo: bob@example.org\nSubject: sec\n\nhello\n' >"$MSG"

# ---------------------------------------------------------------- DNS, certificates

cat >"$BASE/zone" <<'EOF'
relay.example       A 127.0.0.2
# a SmartHost name whose MX points elsewhere
smartmx.example     MX 10 evil.example
evil.example        A 127.0.0.2
EOF
peer_dns_start "$BASE/zone" || {
	fail "sec-remote: DNS peer starts" "$(cat "$BASE/peer-dns/err")"
	exit 1
}

# the test CA: relay.example, 127.0.0.2; the same CA, evil.example only;
# the same CA, smartmx.example (the SmartHost name, served via the MX)
peer_ca "$BASE/ca" relay.example 127.0.0.2 || exit 1
CA=$BASE/ca/ca.pem
mkdir -p "$BASE/evil" "$BASE/smx"
cp "$BASE/ca/ca.pem" "$BASE/ca/ca.key" "$BASE/evil/"
cp "$BASE/ca/ca.pem" "$BASE/ca/ca.key" "$BASE/smx/"
peer_ca "$BASE/evil" evil.example || exit 1
peer_ca "$BASE/smx" smartmx.example || exit 1
# an impostor: self-signed, with every name the client could check
mkdir -p "$BASE/self"
openssl req -x509 -new -nodes -newkey rsa:2048 -keyout "$BASE/self/key.pem" \
    -out "$BASE/self/cert.pem" -days 30 -subj "/CN=relay.example" \
    -addext "subjectAltName=DNS:relay.example,IP:127.0.0.2" \
    >"$BASE/self/openssl.log" 2>&1 || { cat "$BASE/self/openssl.log"; exit 1; }

if built TLS; then
# ================================================================ 1. credentials

# noauth NAME CONNS: the peer saw at least one connection, none with AUTH
noauth()
{
	waitfor 10 test -s "$2" && ! grep -q 'AUTH' "$2" && nmsgs "$1" 0
}

# deferred: the message waits, the log and mailq say why
credlog()
{
	grep -q "$ID: .*stat=Deferred (4\.7\.[45] credentials for $1 are sent only over verified TLS: " log &&
	    mta -bp | grep -q "credentials for $1 are sent only over verified TLS"
}

# --- an impostor with a self-signed certificate, STARTTLS and AUTH
peer imp 127.0.0.2 --starttls "$BASE/self/cert.pem" "$BASE/self/key.pem" \
    --auth "user1:$PW" --require-auth || exit 1

newcase opp
creds
submit -f root@test.example a1@example.org <"$MSG"
mta -q -O "SmartHost=relay.example:$imp_PORT" -O SmartHostTLS=opportunistic -O "CACertFile=$CA"
checkc "sec-remote: opportunistic, self-signed impostor with STARTTLS+AUTH: no AUTH, nothing delivered" \
    noauth "$imp_DIR" "$imp_CONNS"
checkc "sec-remote: opportunistic, self-signed impostor: deferred, queued" queued "$ID"
checkc "sec-remote: opportunistic, self-signed impostor: log and mailq say 'credentials for relay.example are sent only over verified TLS'" \
    credlog relay.example
checkc "sec-remote: opportunistic, self-signed impostor: the reason is the certificate" \
    grep -q "$ID: .*not trusted by CACertFile" log

newcase oppaddr
creds
: >"$imp_CONNS"
submit -f root@test.example a2@example.org <"$MSG"
mta -q -O "SmartHost=[127.0.0.2]:$imp_PORT" -O SmartHostTLS=opportunistic -O "CACertFile=$CA"
checkc "sec-remote: opportunistic, SmartHost=[127.0.0.2] (no name check), self-signed: no AUTH, deferred" eval \
    'noauth "$imp_DIR" "$imp_CONNS" && queued "$ID" && credlog 127.0.0.2'

newcase none
creds
: >"$imp_CONNS"
submit -f root@test.example a3@example.org <"$MSG"
mta -q -O "SmartHost=relay.example:$imp_PORT" -O SmartHostTLS=none -O "CACertFile=$CA"
checkc "sec-remote: SmartHostTLS=none with credentials, impostor: no AUTH, deferred" eval \
    'noauth "$imp_DIR" "$imp_CONNS" && queued "$ID"'
checkc "sec-remote: SmartHostTLS=none with credentials: the log says why" credlog relay.example

newcase defaultca
creds
: >"$imp_CONNS"
submit -f root@test.example a4@example.org <"$MSG"
mta -q -O "SmartHost=relay.example:$imp_PORT" -O SmartHostTLS=opportunistic \
    -O "CACertFile=$BASE/nonexistent.pem"
checkc "sec-remote: opportunistic, CACertFile missing: no AUTH, deferred, log says why" eval \
    'noauth "$imp_DIR" "$imp_CONNS" && queued "$ID" && credlog relay.example'
peer_stop imp

# --- AUTH in plaintext, no STARTTLS
peer pa 127.0.0.2 --auth "user1:$PW" --auth-plaintext || exit 1
for mode in opportunistic none; do
	newcase "clear-$mode"
	creds
	: >"$pa_CONNS"
	submit -f root@test.example a5@example.org <"$MSG"
	mta -q -O "SmartHost=relay.example:$pa_PORT" -O "SmartHostTLS=$mode" -O "CACertFile=$CA"
	checkc "sec-remote: $mode, server with AUTH and no STARTTLS: no AUTH, no MAIL, deferred" eval \
	    'noauth "$pa_DIR" "$pa_CONNS" && ! grep -q MAIL "$pa_CONNS" && queued "$ID"'
	checkc "sec-remote: $mode, server without STARTTLS: log says 'does not offer STARTTLS'" eval \
	    'credlog relay.example && grep -q "$ID: .*4\.7\.4 .*does not offer STARTTLS" log'
done
# the same server takes the mail when there are no credentials (opportunistic)
rm -f authinfo
mta -qI"$ID" -O "SmartHost=relay.example:$pa_PORT" -O SmartHostTLS=opportunistic
checkc "sec-remote: opportunistic without credentials, no STARTTLS: delivered in clear, no AUTH" eval \
    'gone "$ID" && nmsgs "$pa_DIR" 1 && ! grep -q AUTH "$pa_CONNS"'
peer_stop pa

# --- implicit TLS, self-signed
peer ssl 127.0.0.2 --implicit-tls "$BASE/self/cert.pem" "$BASE/self/key.pem" \
    --auth "user1:$PW" || exit 1
newcase implicit
creds
submit -f root@test.example a6@example.org <"$MSG"
mta -q -O "SmartHost=relay.example:$ssl_PORT" -O SmartHostTLS=implicit -O "CACertFile=$CA"
# (a handshake that fails leaves no SMTP session, so no count-file line)
checkc "sec-remote: implicit TLS, self-signed: no AUTH, deferred, log says why" eval \
    '! grep -q AUTH "$ssl_CONNS" && nmsgs "$ssl_DIR" 0 && queued "$ID" && credlog relay.example &&
    grep -q "$ID: .*not trusted by CACertFile" log'
peer_stop ssl

# --- SmartHost=smartmx.example, whose MX is evil.example with a good
# certificate for evil.example: the SmartHost's own name is what counts
peer evil 127.0.0.2 --starttls "$BASE/evil/chain.pem" "$BASE/evil/key.pem" \
    --auth "user1:$PW" || exit 1
newcase mxname
creds
submit -f root@test.example a7@example.org <"$MSG"
mta -q -O "SmartHost=smartmx.example:$evil_PORT" -O SmartHostTLS=require -O "CACertFile=$CA"
checkc "sec-remote: SmartHost name -> MX evil.example, certificate for evil.example only: no AUTH, deferred" eval \
    'noauth "$evil_DIR" "$evil_CONNS" && queued "$ID" && credlog smartmx.example'
checkc "sec-remote: ... the log says the certificate does not name smartmx.example" \
    grep -q "$ID: .*does not name smartmx.example" log
# without credentials, require keeps checking the host it connects to
rm -f authinfo
mta -qI"$ID" -O "SmartHost=smartmx.example:$evil_PORT" -O SmartHostTLS=require -O "CACertFile=$CA"
checkc "sec-remote: the same without credentials (require): delivered, no AUTH" eval \
    'gone "$ID" && nmsgs "$evil_DIR" 1 && ! grep -q AUTH "$evil_CONNS"'
peer_stop evil

# --- controls: a certificate that verifies
peer good 127.0.0.2 --starttls "$BASE/ca/chain.pem" "$BASE/ca/key.pem" \
    --auth "user1:$PW" --require-auth || exit 1
n=0
for mode in opportunistic none require; do
	newcase "good-$mode"
	creds
	submit -f root@test.example "g-$mode@example.org" <"$MSG"
	mta -q -O "SmartHost=relay.example:$good_PORT" -O "SmartHostTLS=$mode" -O "CACertFile=$CA"
	n=$((n + 1))
	f=$(peer_files "$good_DIR" | tail -n 1)
	checkc "sec-remote: control, SmartHostTLS=$mode, certificate from CACertFile: AUTH inside TLS, delivered" eval \
	    'gone "$ID" && nmsgs "$good_DIR" $n && [ "$(peer_json "$f" auth_user)" = user1 ] &&
	    [ "$(peer_json "$f" tls)" = true ] &&
	    grep -q "cmds=EHLO,STARTTLS,EHLO,AUTH:PLAIN,MAIL" "$good_CONNS"'
done
peer_stop good

peer smx 127.0.0.2 --starttls "$BASE/smx/chain.pem" "$BASE/smx/key.pem" \
    --auth "user1:$PW" --require-auth || exit 1
newcase good-mx
creds
submit -f root@test.example g-mx@example.org <"$MSG"
mta -q -O "SmartHost=smartmx.example:$smx_PORT" -O SmartHostTLS=opportunistic -O "CACertFile=$CA"
checkc "sec-remote: control, SmartHost via MX, certificate names the SmartHost: AUTH, delivered" eval \
    'gone "$ID" && nmsgs "$smx_DIR" 1 &&
    [ "$(peer_json "$(peer_files "$smx_DIR" | tail -n 1)" auth_user)" = user1 ]'
peer_stop smx

# ================================================================ 3. AuthInfoFile

peer au 127.0.0.2 --starttls "$BASE/ca/chain.pem" "$BASE/ca/key.pem" \
    --auth "user1:$PW" --require-auth || exit 1
AO=(-O "SmartHost=relay.example:$au_PORT" -O SmartHostTLS=require -O "CACertFile=$CA")

# refused NAME WHY: the case's authinfo is refused: deferred, no connection
refused()
{
	local name=$1 why=$2 c0
	c0=$(wc -l <"$au_CONNS")
	submit -f root@test.example "$name@example.org" <"$MSG"
	timeout 30 "$MTA" "${O[@]}" -q "${AO[@]}"
	checkc "sec-remote: AuthInfoFile $name: deferred, nothing sent (no connection)" eval \
	    'queued "$ID" && [ "$(wc -l <"$au_CONNS")" -eq "$c0" ] && nmsgs "$au_DIR" 0'
	checkc "sec-remote: AuthInfoFile $name: the log says '$why'" \
	    grep -q "$ID: .*stat=Deferred (4\.7\.0 AuthInfoFile .*$why" log
}

newcase link
printf '* user1 %s\n' "$PW" >real
chmod 600 real
ln -s "$PWD/real" authinfo
refused symlink "is a symbolic link"
rm -f authinfo
ln -s "$PWD/nowhere" authinfo
refused dangling-symlink "is a symbolic link"

newcase fifo
mkfifo -m 600 authinfo
refused fifo "is not a regular file"

newcase owner
creds
if [ "$(id -u)" -eq 0 ] && chown 65534 authinfo; then
	refused other-owner "neither root nor us"
else
	echo "# not root: the other-owner case is skipped"
fi
peer_stop au
else
	skip "sec-remote: (1) credentials and (3) AuthInfoFile, which need TLS" "this mta was built without TLS"
fi

# ================================================================ 2. bare CR

# rawsink.py PORTFILE DIR: a raw SMTP sink on 127.0.0.2 that records the
# bytes: DIR/wire-N (all the client sent on connection N), DIR/msg-N (the
# DATA bytes as on the wire, up to the strict <CRLF>.<CRLF>).
cat >"$BASE/rawsink.py" <<'PYEOF'
import os, socket, sys, threading
d = sys.argv[1]
os.makedirs(d, exist_ok=True)
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.2", 0))
srv.listen(8)
state = {"conn": 0, "msg": 0}
lock = threading.Lock()

def serve(c, n):
	wire = open(os.path.join(d, "wire-%d" % n), "wb")
	buf = b""
	data = None
	c.sendall(b"220 raw ESMTP\r\n")
	while True:
		b = c.recv(65536)
		if not b:
			break
		wire.write(b)
		wire.flush()
		buf += b
		while True:
			if data is not None:
				k = (b"\r\n" + buf).find(b"\r\n.\r\n")
				if k == -1:
					break
				with lock:
					state["msg"] += 1
					m = state["msg"]
				with open(os.path.join(d, "msg-%d" % m), "wb") as f:
					f.write(buf[:k])
				buf = buf[k + 3:] if k > 0 else buf[3:]
				data = None
				c.sendall(b"250 2.0.0 ok msg-%d\r\n" % m)
				continue
			k = buf.find(b"\r\n")
			if k == -1:
				break
			line, buf = buf[:k].upper(), buf[k + 2:]
			if line.startswith(b"EHLO"):
				c.sendall(b"250-raw\r\n250 8BITMIME\r\n")
			elif line.startswith(b"DATA"):
				data = b""
				c.sendall(b"354 go\r\n")
			elif line.startswith(b"QUIT"):
				c.sendall(b"221 bye\r\n")
				c.close()
				wire.close()
				return
			else:
				c.sendall(b"250 ok\r\n")
	c.close()
	wire.close()

print("ready %d" % srv.getsockname()[1], flush=True)
while True:
	c, _ = srv.accept()
	state["conn"] += 1
	threading.Thread(target=serve, args=(c, state["conn"]), daemon=True).start()
PYEOF

# crcheck.py DIR NMSGS MARKER...: the checks on what the sink recorded
cat >"$BASE/crcheck.py" <<'PYEOF'
import glob, os, re, sys
d, want, markers = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
bad = []
for w in sorted(glob.glob(os.path.join(d, "wire-*"))):
	b = open(w, "rb").read()
	for m in re.finditer(rb"\r(?!\n)", b):
		bad.append("%s: bare CR at %d: %r" % (w, m.start(), b[max(0, m.start() - 20):m.start() + 20]))
	for m in re.finditer(rb"(?<!\r)\n", b):
		bad.append("%s: bare LF at %d: %r" % (w, m.start(), b[max(0, m.start() - 20):m.start() + 20]))
msgs = sorted(glob.glob(os.path.join(d, "msg-*")))
alltext = []
if len(msgs) != want:
	bad.append("messages at the sink: want %d, got %d" % (want, len(msgs)))
for p in msgs:
	b = open(p, "rb").read()
	# a lenient receiver (CR, LF or CRLF ends a line) must not see a lone
	# dot before the real end: that would end the DATA early
	for i, l in enumerate(re.split(rb"\r\n|\r|\n", b)):
		if l == b".":
			bad.append("%s: a lenient receiver ends the DATA at line %d" % (p, i + 1))
	lines = [l[1:] if l.startswith(b".") else l for l in b.split(b"\r\n")]
	text = b"\n".join(lines).decode("latin-1")
	hdr = text.split("\n\n", 1)[0]
	for l in hdr.split("\n"):
		if l.lower().startswith("bcc:"):
			bad.append("%s: a header field appeared: %r" % (p, l))
	alltext.append(text)
for mk in markers:
	if mk not in "\n".join(alltext):
		bad.append("content missing: %r" % mk)
if bad:
	print("\n".join(bad[:20]))
	sys.exit(1)
PYEOF

# rawsink_start: a raw sink for this case, in ./raw; sets RAWPORT
rawsink_start()
{
	local pid
	"$PY" "$BASE/rawsink.py" "$PWD/raw" >raw.out 2>raw.err &
	pid=$!
	cleanup_add "$pid"
	RAWPID=$pid
	waitfor 10 grep -q '^ready ' raw.out || { fail "sec-remote: raw sink starts" "$(cat raw.err)"; exit 1; }
	RAWPORT=$(sed -n 's/^ready //p' raw.out)
}

if built SERVER; then
newcase bare
rawsink_start

# by sendmail -odq -i: CRs in a header, "\r.\r", "x\r.\ny", a line "\r.",
# a smuggled transaction behind a "p1\r.\r\n" line
printf 'From: root@test.example\nTo: bob@example.org\nSubject: s1\rBcc: injected@evil.example\nX-Dot: H1\r.\rH2\n\nB1 p1\r.\r\nMAIL FROM:<evil@example.net>\nRCPT TO:<victim@example.net>\nDATA\nSMUGGLED1\n.\nB2 a\r.\rb\nB3 x\r.\nB4 y\n\r.\nB5 last\n' >m1
submit -i -f root@test.example bob@example.org <m1
ID1=$ID
# by -bs on a pipe (LF line ends and CRLF ones)
printf 'EHLO local\r\nMAIL FROM:<root@test.example>\r\nRCPT TO:<carol@example.org>\r\nDATA\r\nFrom: root@test.example\r\nSubject: s2\rX-Evil: 1\r\n\r\nC1 p\r.\r\nMAIL FROM:<evil@example.net>\r\nC2 q\r.\nC3 \r.\r\nC4 end\r\n.\r\nQUIT\r\n' |
    mta -bs -odq >bs.out 2>&1
ID2=$(qids | grep -v "^$ID1\$" | head -n 1)
checkc "sec-remote: bare CR: both messages queued (-odq -i and -bs)" eval \
    'queued "$ID1" && queued "$ID2" && grep -q "^250 .*" bs.out'
checkc "sec-remote: bare CR: the CRs are in the df (the test really has them)" eval \
    'grep -q $'"'"'\r'"'"' "spool/df$ID1" && grep -q $'"'"'\r'"'"' "spool/df$ID2"'
mta -q -O "SmartHost=[127.0.0.2]:$RAWPORT" -O SmartHostTLS=none
checkc "sec-remote: bare CR: both delivered" eval 'gone "$ID1" && gone "$ID2"'
checkc "sec-remote: bare CR: no bare CR or LF on the wire, no early end of DATA, 2 messages, every line there" \
    "$PY" "$BASE/crcheck.py" "$PWD/raw" 2 "s1" "injected@evil.example" "H1" "H2" "B1 p1" \
    "MAIL FROM:<evil@example.net>" "SMUGGLED1" "B2 a" "B3 x" "B4 y" "B5 last" \
    "s2" "X-Evil: 1" "C1 p" "C2 q" "C3" "C4 end"

# the MasqueradeAs header path (sendheaders) writes the headers itself
kill "$RAWPID" 2>/dev/null
else
	skip "sec-remote: bare CR by -odq -i and by -bs (the -bs half needs the server)" "this mta was built without SERVER"
fi

newcase bare-masq
rawsink_start
printf 'From: "Name\rX" <root@test.example>\rFrom: other@evil.example\nSubject: m1\rBcc: x@evil.example\nX-Dot: M1\r.\rM2\n\nM3 body\r.\r\nM4 x\r.\nM5 end\n' >m3
submit -i -f root@test.example bob@example.org <m3
mta -q -O "SmartHost=[127.0.0.2]:$RAWPORT" -O SmartHostTLS=none -O MasqueradeAs=@masq.example
checkc "sec-remote: bare CR with MasqueradeAs: delivered" gone "$ID"
checkc "sec-remote: bare CR with MasqueradeAs: no bare CR on the wire, one From: field, every line there" eval \
    '"$PY" "$BASE/crcheck.py" "$PWD/raw" 1 "M1" "M2" "M3 body" "M4 x" "M5 end" \
    "other@evil.example" && [ "$(grep -aci "^From:" "$PWD/raw/msg-1")" -eq 1 ] &&
    grep -aq "^From: .*<root@masq.example>" "$PWD/raw/msg-1"'
kill "$RAWPID" 2>/dev/null

# ================================================================ 4. reply text

# linepeer.py KEY=REPLY...: an SMTP server on 127.0.0.2 that prints
# "ready PORT" and answers each command line with the REPLY of the first
# KEY that starts it (upper-cased), else that of "*", else "250 ok".
# DATA gets 354 and the end of the data gets the REPLY of ".". A REPLY
# may hold \r\n (several lines) and \xNN (any octet); CRLF ends it.
cat >"$BASE/linepeer.py" <<'PYEOF'
import socket, sys
rep = []
for a in sys.argv[1:]:
	k, v = a.split("=", 1)
	rep.append((k.encode(), v.encode().decode("unicode_escape").encode("latin-1") + b"\r\n"))
def answer(line):
	for k, v in rep:
		if line.upper().startswith(k) or k == b"*":
			return v
	return b"250 ok\r\n"
s = socket.socket()
s.bind(("127.0.0.2", 0))
s.listen(4)
print("ready %d" % s.getsockname()[1], flush=True)
while True:
	c, _ = s.accept()
	f = c.makefile("rb")
	c.sendall(b"220 linepeer ESMTP\r\n")
	for l in f:
		v = l[:4].upper()
		if v == b"QUIT":
			c.sendall(b"221 bye\r\n")
			break
		if v == b"DATA":
			c.sendall(b"354 go\r\n")
			for d in f:
				if d == b".\r\n":
					break
			l = b"."
		c.sendall(answer(l))
	c.close()
PYEOF

# linepeer NAME KEY=REPLY...: start one for this case; sets LPPORT
linepeer()
{
	local name=$1 pid
	shift
	"$PY" "$BASE/linepeer.py" "$@" >"$name.out" 2>"$name.err" &
	pid=$!
	cleanup_add "$pid"
	LPPID=$pid
	waitfor 10 grep -q '^ready ' "$name.out" ||
	    { fail "sec-remote: $name server starts" "$(cat "$name.err")"; exit 1; }
	LPPORT=$(sed -n 's/^ready //p' "$name.out")
}

# a server whose replies carry C1 controls and broken UTF-8
newcase c1
linepeer c1 "EHLO=250 c1" \
    'RCPT=450 4.2.0 busy \x1b[31mRED\x9b31m \xc2\x9bC1 \xff\xfe ok-\xc3\xa9'
submit -f root@test.example c1@example.org <"$MSG"
mta -q -O "SmartHost=[127.0.0.2]:$LPPORT" -O SmartHostTLS=none
checkc "sec-remote: a reply with ESC, C1 controls and bad UTF-8: deferred with its text" eval \
    'queued "$ID" && grep -aq "$ID: .*busy .*RED" log'
checkc "sec-remote: ... no ESC, C1 control or invalid UTF-8 in the log, qf or mailq" eval \
    '! LC_ALL=C grep -aqP "[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]" log "spool/qf$ID" &&
    ! mta -bp | LC_ALL=C grep -aqP "[\x1b\x9b]" &&
    "$PY" -c "import sys; [open(p, \"rb\").read().decode(\"utf-8\") for p in sys.argv[1:]]" log "spool/qf$ID" &&
    grep -aq "ok-é" log'
kill "$LPPID" 2>/dev/null

# a server whose multi-line replies end in a bare "250" or "450" (RFC 5321
# 4.2: the text is optional); the client must not read the rest of the line
# before it, as once, into the reply or the EHLO keywords
newcase bareend
linepeer be 'EHLO=250-be\r\n250-PIPELINING\r\n250' \
    'RCPT TO:<DEFER=450-4.2.0 first part\r\n450-second part\r\n450' \
    '.=250-2.0.0 queued as be1\r\n250' '*=250'
submit -f root@test.example defer@example.org <"$MSG"
ID1=$ID
submit -f root@test.example ok@example.org <"$MSG"
mta -q -O "SmartHost=[127.0.0.2]:$LPPORT" -O SmartHostTLS=none
checkc "sec-remote: replies ending in a bare code: one deferred, one sent" eval \
    'queued "$ID1" && gone "$ID" && grep -q "$ID: .*queued as be1" log'
checkc "sec-remote: ... each line of the reply once in the log and the qf" eval \
    '[ "$(grep "$ID1: .*first part" log | grep -c "second part.*second part")" -eq 0 ] &&
    grep -q "$ID1: .*dsn=4.2.0, stat=Deferred (450 4.2.0 first part second part)" log &&
    [ "$(grep -o "second part" "spool/qf$ID1" | wc -l)" -eq 1 ] &&
    [ "$(grep "$ID: .*be1" log | grep -c "be1.*be1")" -eq 0 ]'
kill "$LPPID" 2>/dev/null

cd "$BASE" || exit 1
checkc "sec-remote: the password is in no log, spool file or peer record" eval \
    '! grep -rqaF "plugh" --include=log --include="qf*" --include="df*" . &&
    ! grep -rqaF "plugh" peer-*/spool peer-*/conns'
