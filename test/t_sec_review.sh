#!/bin/bash
# test/t_sec_review.sh: holes found by the review of issue 7's change.
#
#  1. An address-literal SmartHost ([127.0.0.2]:port): BearSSL checks DNS
#     names only, so the address is looked for among the iPAddress
#     entries of the certificate's subjectAltName (tls.c tls_certaddr).
#     A certificate that chains to CACertFile but does not name the
#     address (anyone can get one for their own domain) gets no password
#     and, with `require`/`implicit`, no mail either: the mail waits, the
#     log says why ("4.7.5 credentials for 127.0.0.2 are sent only over
#     verified TLS: the certificate does not name 127.0.0.2").
#     Ways in: a certificate for evil.example (require, opportunistic,
#     none, implicit; with and without credentials), one for a DNS name
#     spelled "127.0.0.2" (and that CN), one for another address
#     (127.0.0.3, ::ffff:127.0.0.2), odd SAN encodings (an iPAddress of 5
#     bytes, one inside a constructed [7]), and
#     [::1] with a certificate for 127.0.0.1 only.
#     Controls: IP:127.0.0.2 (also after other names), IP:::1 for [::1]:
#     AUTH and delivery.
#
# Run by test/run (cwd = fresh temp dir, MTA and TOP set).

. "$(dirname "$0")/lib.sh"
need TLS
set +e
shopt -s nullglob

BASE=$PWD
PW='s3cr3t pw:plugh'

newcase()
{
	cd "$BASE" || exit 1
	mkdir -p "$BASE/$1"
	cd "$BASE/$1" || exit 1
	sandbox
	O+=(-O "AuthInfoFile=$PWD/authinfo")
}

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
	ID=$(comm -13 <(printf '%s\n' "$before") <(qids | sort) | grep . | head -n 1)
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
--- log:
$(tail -n 8 "$PWD/log" 2>/dev/null)
--- conns:
$(cat "$CONNS" 2>/dev/null)"
	fi
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

# sancert DIR CN SAN: DIR/chain.pem and DIR/key.pem, signed by the test
# CA, with this subjectAltName (openssl syntax, DER:hex for raw bytes)
sancert()
{
	local d=$1
	mkdir -p "$d"
	{
		printf '%s\n' "subjectAltName=$3" "basicConstraints=critical,CA:FALSE" \
		    "keyUsage=critical,digitalSignature,keyEncipherment" \
		    "extendedKeyUsage=serverAuth" >"$d/ext.cnf" &&
		openssl req -new -nodes -newkey rsa:2048 -keyout "$d/key.pem" \
		    -out "$d/req.csr" -subj "/CN=$2" &&
		openssl x509 -req -in "$d/req.csr" -CA "$CA" -CAkey "$BASE/ca/ca.key" \
		    -set_serial "0x$(openssl rand -hex 8)" -days 30 \
		    -out "$d/cert.pem" -extfile "$d/ext.cnf" &&
		cat "$d/cert.pem" "$CA" >"$d/chain.pem"
	} >"$d/openssl.log" 2>&1 || { cat "$d/openssl.log" >&2; return 1; }
}

# served NAME ADDR CERTDIR [ARGS]: a peer with STARTTLS and AUTH user1
served()
{
	local n=$1 a=$2 d=$3
	shift 3
	cd "$BASE" || exit 1
	peer_smtp_start "$n" "$a" --starttls "$d/chain.pem" "$d/key.pem" \
	    --auth "user1:$PW" "$@" || exit 1
	CONNS=$(eval "echo \"\${${n}_CONNS}\"")
	PORT=$(eval "echo \"\${${n}_PORT}\"")
}

# run HOST MODE [creds]: one message, one queue run to [HOST]:PORT;
# waits for the peer to record the connection
run()
{
	local host=$1 mode=$2 n
	newcase "c$((++NCASE))"
	[ "$3" = creds ] && creds
	submit -f root@test.example "r$NCASE@example.org" <"$MSG"
	n=$(wc -l <"$CONNS")
	mta -q -O "SmartHost=[$host]:$PORT" -O "SmartHostTLS=$mode" \
	    -O "CACertFile=$CA"
	waitfor 10 eval '[ "$(wc -l <"$CONNS")" -gt "$n" ]'
	LAST=$(tail -n 1 "$CONNS")
}

# the last connection's line at the peer: no login, no message, and
# neither AUTH nor MAIL among its commands
noauth()
{
	grep -q ' auth=- msgs=0 ' <<<"$LAST" &&
	    ! grep -Eq 'cmds=.*(AUTH|MAIL)' <<<"$LAST"
}

# refused WHAT HOST: the last run sent neither AUTH nor MAIL, the
# message waits, the log and the queue say why
refused()
{
	checkc "sec-review: $1: no AUTH, no MAIL reaches the peer" noauth
	checkc "sec-review: $1: the message is still queued" test -e "$PWD/spool/qf$ID"
	checkc "sec-review: $1: the log says why" grep -q \
	    "4.7.5 credentials for $2 are sent only over verified TLS: the certificate does not name $2" log
}

delivered()
{
	checkc "sec-review: $1: AUTH as user1 and delivered" eval \
	    'grep -q " auth=user1 msgs=1 " <<<"$LAST" &&
	    [ ! -e "$PWD/spool/qf$ID" ] &&
	    grep -q "$ID: to=<r$NCASE@example.org>.*stat=Sent" log'
}

MSG=$BASE/msg
printf 'From: root@test.example\nTo: bob@example.org\nSubject: sec\n\nhello\n' >"$MSG"
NCASE=0

# the test CA; its certificate for relay.example and IP:127.0.0.2
peer_ca "$BASE/ca" relay.example 127.0.0.2 || exit 1
CA=$BASE/ca/ca.pem

# ================================================================ 1. literal SmartHost

# --- the test CA signs a certificate for evil.example only: good chain,
# wrong host (an impostor on the path with a certificate of its own)
sancert "$BASE/evil" evil.example DNS:evil.example || exit 1
served evil 127.0.0.2 "$BASE/evil"
for mode in require opportunistic none; do
	run 127.0.0.2 "$mode" creds
	refused "SmartHost=[127.0.0.2] ($mode), a CA-signed certificate for evil.example" 127.0.0.2
done

# require without credentials: verified means the name too, as for a
# DNS name; nothing is sent, the mail waits
run 127.0.0.2 require
checkc "sec-review: SmartHost=[127.0.0.2] (require, no credentials), certificate for evil.example: no MAIL, still queued, log says why" eval \
    'noauth && [ -e "$PWD/spool/qf$ID" ] &&
    grep -q "4.7.5 the certificate does not name 127.0.0.2" log'

# opportunistic without credentials: not verified (RFC 7435), delivered
run 127.0.0.2 opportunistic
checkc "sec-review: SmartHost=[127.0.0.2] (opportunistic, no credentials): encrypted, not verified, delivered" eval \
    'grep -q " tls=TLSv1.* auth=- msgs=1 " <<<"$LAST" &&
    [ ! -e "$PWD/spool/qf$ID" ]'
peer_stop evil

# --- implicit TLS (port 465 style), the same certificate
cd "$BASE" || exit 1
peer_smtp_start evilssl 127.0.0.2 --implicit-tls "$BASE/evil/chain.pem" \
    "$BASE/evil/key.pem" --auth "user1:$PW" || exit 1
CONNS=$evilssl_CONNS
PORT=$evilssl_PORT
run 127.0.0.2 implicit creds
refused "SmartHost=[127.0.0.2] (implicit), a CA-signed certificate for evil.example" 127.0.0.2
peer_stop evilssl

# --- names that spell the address are not the address (RFC 6125 6.2.1)
sancert "$BASE/dnsstr" 127.0.0.2 DNS:127.0.0.2 || exit 1
served dnsstr 127.0.0.2 "$BASE/dnsstr"
for mode in require opportunistic; do
	run 127.0.0.2 "$mode" creds
	refused "SmartHost=[127.0.0.2] ($mode), CN and dNSName \"127.0.0.2\", no iPAddress" 127.0.0.2
done
peer_stop dnsstr

# --- other addresses: 127.0.0.3; ::ffff:127.0.0.2 (16 bytes, not 4)
sancert "$BASE/other" relay.example \
    DNS:relay.example,IP:127.0.0.3,IP:::ffff:127.0.0.2 || exit 1
served other 127.0.0.2 "$BASE/other"
run 127.0.0.2 require creds
refused "SmartHost=[127.0.0.2] (require), certificate for IP:127.0.0.3 and IP:::ffff:127.0.0.2" 127.0.0.2
peer_stop other

# --- odd encodings of the SAN, signed by the CA: an iPAddress of 5
# bytes; 127.0.0.2 inside a constructed [7]. (Malformed DER, a length
# past its end, is refused by BearSSL's own parse before ours, and
# Python's ssl will not even load it for the peer: tls.c's reader was
# fuzzed on its own with libFuzzer and ASan instead.)
i=0
for der in 300787057f00000200 3008a70604047f000002; do
	i=$((i + 1))
	sancert "$BASE/odd$i" relay.example "DER:$der" || exit 1
	served "odd$i" 127.0.0.2 "$BASE/odd$i"
	run 127.0.0.2 require creds
	checkc "sec-review: SmartHost=[127.0.0.2], SAN bytes $der: no AUTH, no MAIL, still queued" eval \
	    'noauth && [ -e "$PWD/spool/qf$ID" ] &&
	    grep -q "4.7.5 credentials for 127.0.0.2 are sent only over verified TLS" log'
	peer_stop "odd$i"
done

# --- controls: the address among the iPAddress names
served good 127.0.0.2 "$BASE/ca"
for mode in require opportunistic; do
	run 127.0.0.2 "$mode" creds
	delivered "SmartHost=[127.0.0.2] ($mode), certificate with IP:127.0.0.2"
done
run 127.0.0.2 require
checkc "sec-review: SmartHost=[127.0.0.2] (require, no credentials), certificate with IP:127.0.0.2: delivered" eval \
    'grep -q " msgs=1 " <<<"$LAST" && [ ! -e "$PWD/spool/qf$ID" ]'
peer_stop good

sancert "$BASE/late" relay.example \
    DNS:relay.example,IP:10.0.0.1,IP:::1,email:a@b.example,IP:127.0.0.2 || exit 1
served late 127.0.0.2 "$BASE/late"
run 127.0.0.2 require creds
delivered "SmartHost=[127.0.0.2] (require), IP:127.0.0.2 after other names"
peer_stop late

# --- IPv6: [::1]
if "$PY" -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null; then
	sancert "$BASE/v6" relay.example DNS:relay.example,IP:::1 || exit 1
	served v6 ::1 "$BASE/v6"
	run ::1 require creds
	delivered "SmartHost=[::1] (require), certificate with IP:::1"
	peer_stop v6

	sancert "$BASE/v6bad" localhost DNS:localhost,IP:127.0.0.1 || exit 1
	served v6bad ::1 "$BASE/v6bad"
	run ::1 require creds
	refused "SmartHost=[::1] (require), certificate for localhost and IP:127.0.0.1 only" ::1
	peer_stop v6bad
else
	echo "# no ::1 here: the IPv6 literal is not tested"
fi
