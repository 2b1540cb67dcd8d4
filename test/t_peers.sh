#!/bin/bash
# shellcheck disable=SC2154 # NAME_PORT etc. are set by peer_smtp_start
# t_peers.sh: self-test of the test peers (test/peer_smtp.py, test/peer_dns.py)
# and of their lib.sh helpers, with swaks and Python clients; no mta involved.
. "$(dirname "$0")/lib.sh"

# pc.py: small clients the checks below share.
cat >pc.py <<'EOF'
import json, os, socket, ssl, struct, sys, time

class Raw:
	"""A line-by-line SMTP client that sends exactly what it is told."""
	def __init__(self, host, port, ctx=None, name=None, timeout=5):
		fam = socket.AF_INET6 if ":" in host else socket.AF_INET
		self.s = socket.create_connection((host, port), timeout=timeout)
		if ctx is not None:
			self.s = ctx.wrap_socket(self.s, server_hostname=name)
		self.f = self.s.makefile("rb")
		self.greeting = self.reply()

	def reply(self):
		lines = []
		while True:
			l = self.f.readline()
			if not l:
				raise EOFError("connection closed; got %r" % lines)
			lines.append(l.decode().rstrip("\r\n"))
			if l[3:4] != b"-":
				return int(lines[-1][:3]), lines

	def send(self, b):
		self.s.sendall(b)

	def cmd(self, line):
		self.send(line.encode() + b"\r\n")
		return self.reply()

	def expect(self, line, code):
		got = self.cmd(line)
		if got[0] != code:
			raise AssertionError("%s: want %d, got %r" % (line, code, got))
		return got

	def starttls(self, ctx, name):
		self.expect("STARTTLS", 220)
		self.f.close()
		self.s = ctx.wrap_socket(self.s, server_hostname=name)
		self.f = self.s.makefile("rb")

	def data(self, body):
		"""body: bytes with CRLF line ends, ending in CRLF; dot-stuffed here."""
		self.expect("DATA", 354)
		out = b"".join((b"." + l if l.startswith(b".") else l)
		    for l in body.splitlines(keepends=True))
		self.send(out + b".\r\n")
		return self.reply()

def ctx(ca=None):
	if ca is None:
		c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
		c.check_hostname = False
		c.verify_mode = ssl.CERT_NONE
		return c
	return ssl.create_default_context(cafile=ca)

def msgs(d):
	out = []
	for n in sorted(os.listdir(d)):
		if n.startswith("msg-"):
			with open(os.path.join(d, n), "rb") as f:
				raw = f.read()
			head, sep, body = raw.partition(b"\n\n")
			assert sep and b"\n" not in head, n
			out.append((json.loads(head), body))
	return out

def eq(what, want, got):
	if want != got:
		raise AssertionError("%s: want %r, got %r" % (what, want, got))
EOF
export PYTHONPATH=$PWD


# ---------------------------------------------------------------- SMTP

peer_smtp_start sink 127.0.0.2 || exit 1

check smtp-ready-vars test -n "$sink_PORT" -a -d "$sink_DIR" -a -n "$sink_PID"

check smtp-byte-exact "$PY" - "$sink_ADDR" "$sink_PORT" "$sink_DIR" <<'EOF'
import sys
from pc import *
host, port, d = sys.argv[1], int(sys.argv[2]), sys.argv[3]
body = (b"Subject: dots\r\nX: y\r\n\r\n.leading dot\r\n..two dots\r\n.\r\n"
    b"\xc3\xa9t\xc3\xa9 8bit \xff\r\nbare\nlf inside\r\ntrailing space \r\n"
    b"\r\n\r\nlast\r\n")
c = Raw(host, port)
eq("greeting", 220, c.greeting[0])
code, lines = c.expect("EHLO client.example", 250)
for kw in ("PIPELINING", "SIZE 33554432", "8BITMIME", "DSN", "ENHANCEDSTATUSCODES", "SMTPUTF8"):
	assert "250-" + kw in lines or "250 " + kw in lines, (kw, lines)
assert not any("STARTTLS" in l or "AUTH" in l for l in lines), lines
c.expect("MAIL FROM:<s@x.example> SIZE=%d BODY=8BITMIME RET=HDRS ENVID=Ab+2BCd" % len(body), 250)
c.expect("RCPT TO:<a@b.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a@b.example", 250)
c.expect("RCPT TO:<c@b.example>", 250)
code, lines = c.data(body)
eq("dot reply", (250, ["250 2.0.0 Ok: queued as msg-000001"]), (code, lines))
c.expect("RSET", 250)
c.expect("MAIL FROM:<>", 250)
c.expect("RCPT TO:<postmaster@b.example>", 250)
eq("second dot", 250, c.data(b"Subject: 2\r\n\r\nx\r\n")[0])
c.expect("QUIT", 221)
m = msgs(d)
eq("count", 2, len(m))
e, b = m[0]
eq("body", body, b)
eq("mail_from", "s@x.example", e["mail_from"])
eq("rcpt_tos", ["a@b.example", "c@b.example"], e["rcpt_tos"])
eq("mail_params", {"SIZE": str(len(body)), "BODY": "8BITMIME", "RET": "HDRS",
    "ENVID": "Ab+2BCd"}, e["mail_params"])
eq("rcpt_params", [{"NOTIFY": "SUCCESS,FAILURE", "ORCPT": "rfc822;a@b.example"}, {}],
    e["rcpt_params"])
eq("helo", "client.example", e["helo"])
eq("esmtp", True, e["esmtp"])
eq("tls", (False, None, None), (e["tls"], e["tls_version"], e["auth_user"]))
eq("commands", ["EHLO", "MAIL", "RCPT", "RCPT", "DATA"], e["commands"])
eq("pipelined", False, e["pipelined"])
eq("dropped", False, e["dropped"])
eq("size", len(body), e["size"])
e, b = m[1]
eq("null sender", "", e["mail_from"])
eq("commands 2", ["EHLO", "MAIL", "RCPT", "RCPT", "DATA", "RSET", "MAIL", "RCPT", "DATA"],
    e["commands"])
eq("same conn", (m[0][0]["conn"], 2), (e["conn"], e["msg_in_conn"]))
EOF

check smtp-no-tmp-files eval '[ -z "$(ls -A "$sink_DIR" | grep -v "^msg-")" ]'
check smtp-peer_msgs eval '[ "$(peer_msgs "$sink_DIR")" = 2 ]'
check smtp-peer_json eval '[ "$(peer_json "$sink_DIR/msg-000001" rcpt_params.0.NOTIFY)" = SUCCESS,FAILURE ] &&
    [ "$(peer_json "$sink_DIR/msg-000001" rcpt_tos)" = "[\"a@b.example\", \"c@b.example\"]" ]'
check smtp-peer_body eval 'peer_body "$sink_DIR/msg-000002" | cmp -s - <(printf "Subject: 2\r\n\r\nx\r\n")'
# the count line is written before 221 goes out
check smtp-count-file grep -qx 'conn=1 peer=127.0.0.1 helo=client.example esmtp=yes tls=no auth=- msgs=2 quit=yes cmds=EHLO,MAIL,RCPT,RCPT,DATA,RSET,MAIL,RCPT,DATA,QUIT' "$sink_CONNS"

# swaks pipelines: the envelope says so
out=$(swaks -s "$sink_ADDR" -p "$sink_PORT" -f from@x.example -t to@y.example \
    --pipeline --helo swaks.example 2>&1)
f=$(peer_files "$sink_DIR" | tail -n 1)
if [ "$(peer_msgs "$sink_DIR")" = 3 ] && [ "$(peer_json "$f" pipelined)" = true ] &&
    [ "$(peer_json "$f" helo)" = swaks.example ]; then
	ok smtp-swaks-pipelined
else
	fail smtp-swaks-pipelined "$out"
fi

check smtp-smtplib-not-pipelined "$PY" - "$sink_ADDR" "$sink_PORT" "$sink_DIR" <<'EOF'
import smtplib, sys
from pc import *
s = smtplib.SMTP(sys.argv[1], int(sys.argv[2]), local_hostname="lib.example")
s.sendmail("a@x.example", ["b@y.example"], b"Subject: s\r\n\r\nbody\r\n")
s.quit()
e, b = msgs(sys.argv[3])[-1]
eq("pipelined", False, e["pipelined"])
eq("body", b"Subject: s\r\n\r\nbody\r\n", b)
EOF

check smtp-long-commands "$PY" - "$sink_ADDR" "$sink_PORT" <<'EOF'
from pc import *
import sys
c = Raw(sys.argv[1], int(sys.argv[2]))
c.expect("EHLO x", 250)
c.expect("MAIL FROM:<%s@x.example> SIZE=10 BODY=8BITMIME RET=FULL ENVID=%s" % ("s" * 200, "e" * 100), 250)
c.expect("RCPT TO:<%s@b.example> NOTIFY=FAILURE ORCPT=rfc822;%s@b.example" % ("r" * 200, "r" * 200), 250)
eq("too long", 500, c.cmd("RCPT TO:<%s@b.example>" % ("r" * 1000))[0])
c.expect("QUIT", 221)
EOF

# A client that vanishes anywhere must not upset the peer.
check smtp-abrupt-clients "$PY" - "$sink_ADDR" "$sink_PORT" <<'EOF'
import socket, sys
from pc import *
host, port = sys.argv[1], int(sys.argv[2])
c = Raw(host, port); c.s.close()
c = Raw(host, port); c.expect("EHLO x", 250); c.send(b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\nhalf a line"); c.s.close()
c = Raw(host, port); c.expect("EHLO x", 250); c.expect("MAIL FROM:<a@b>", 250); c.expect("RCPT TO:<c@d>", 250); c.expect("DATA", 354); c.send(b"Subject: x\r\n\r\npartial\r\n"); c.s.close()
c = Raw(host, port); c.send(b"EHLO x\r\n"); c.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0"); c.s.close()
c = Raw(host, port); c.expect("NOOP", 250); c.expect("EHLO x", 250)
c.expect("QUIT", 221)
EOF
check smtp-abrupt-nothing-recorded eval '[ "$(peer_msgs "$sink_DIR")" = 4 ]'
check smtp-abrupt-conns waitfor 5 eval '[ "$(peer_conns sink)" -ge 8 ]'

peer_smtp_start six ::1 --port "$sink_PORT" || exit 1
check smtp-ipv6-same-port test "$six_PORT" = "$sink_PORT"
check smtp-ipv6-delivery "$PY" - "$six_PORT" "$six_DIR" <<'EOF'
import smtplib, sys
from pc import *
s = smtplib.SMTP("::1", int(sys.argv[1]), local_hostname="v6.example")
s.sendmail("a@x.example", ["b@y.example"], b"Subject: v6\r\n\r\n")
s.quit()
e, b = msgs(sys.argv[2])[0]
eq("peer", "::1", e["peer"])
EOF
peer_smtp_start three 127.0.0.3 --port "$sink_PORT" || exit 1
check smtp-127.0.0.3-same-port test "$three_PORT" = "$sink_PORT"

# -------- capabilities

peer_smtp_start caps 127.0.0.2 --no-pipelining --no-ext DSN --max-size 2000 --max-rcpts 2 \
    --hostname mx.caps.example || exit 1
check smtp-capabilities "$PY" - "$caps_ADDR" "$caps_PORT" "$caps_DIR" <<'EOF'
import sys
from pc import *
c = Raw(sys.argv[1], int(sys.argv[2]))
eq("banner", "220 mx.caps.example ESMTP peer_smtp", c.greeting[1][0])
code, lines = c.expect("EHLO c.example", 250)
eq("ehlo", ["250-mx.caps.example", "250-SIZE 2000", "250-8BITMIME",
    "250-ENHANCEDSTATUSCODES", "250 SMTPUTF8"], lines)
eq("RET refused", 555, c.cmd("MAIL FROM:<a@b> RET=FULL")[0])
eq("too big", 552, c.cmd("MAIL FROM:<a@b> SIZE=2001")[0])
eq("bad param", 555, c.cmd("MAIL FROM:<a@b> FOO=1")[0])
c.expect("MAIL FROM:<a@b> SIZE=2000", 250)
eq("NOTIFY refused", 555, c.cmd("RCPT TO:<x@y> NOTIFY=NEVER")[0])
c.expect("RCPT TO:<x1@y>", 250)
c.expect("RCPT TO:<x2@y>", 250)
eq("max rcpts", (452, ["452 4.5.3 Too many recipients"]), c.cmd("RCPT TO:<x3@y>"))
eq("data too big", 552, c.data(b"x" * 998 + b"\r\n" + b"y" * 998 + b"\r\n" + b"z\r\n")[0])
c.expect("MAIL FROM:<a@b>", 250)
c.expect("RCPT TO:<x1@y>", 250)
eq("long line", 500, c.data(b"z" * 1001 + b"\r\n")[0])
c.expect("QUIT", 221)
eq("nothing recorded", 0, len(msgs(sys.argv[3])))
EOF

peer_smtp_start old 127.0.0.2 --no-esmtp || exit 1
check smtp-no-esmtp "$PY" - "$old_ADDR" "$old_PORT" "$old_DIR" <<'EOF'
import smtplib, sys
from pc import *
c = Raw(sys.argv[1], int(sys.argv[2]))
eq("EHLO", 502, c.cmd("EHLO x")[0])
c.expect("HELO x", 250)
eq("no params after HELO", 501, c.cmd("MAIL FROM:<a@b> SIZE=10")[0])
c.expect("QUIT", 221)
s = smtplib.SMTP(sys.argv[1], int(sys.argv[2]), local_hostname="helo.example")
s.sendmail("a@x.example", ["b@y.example"], b"Subject: helo\r\n\r\n")
s.quit()
e, b = msgs(sys.argv[3])[0]
eq("esmtp", (False, "helo.example"), (e["esmtp"], e["helo"]))
eq("commands", ["EHLO", "HELO", "MAIL", "RCPT", "DATA"], e["commands"])
EOF

# -------- injected replies

peer_smtp_start g421 127.0.0.2 --greeting-code 421 || exit 1
peer_smtp_start g554 127.0.0.2 --greeting-code 554 5.7.1 go away || exit 1
check smtp-greeting-code "$PY" - "$g421_ADDR" "$g421_PORT" "$g554_PORT" <<'EOF'
import sys
from pc import *
c = Raw(sys.argv[1], int(sys.argv[2]))
eq("421", 421, c.greeting[0])
eq("closed", b"", c.f.readline())
c = Raw(sys.argv[1], int(sys.argv[3]))
eq("554", (554, ["554 5.7.1 go away"]), c.greeting)
eq("EHLO", 503, c.cmd("EHLO x")[0])
eq("QUIT", 221, c.cmd("QUIT")[0])
EOF
check smtp-greeting-count waitfor 5 grep -q 'cmds=GREETING:421$' "$g421_CONNS"
check smtp-greeting-554-count waitfor 5 grep -q 'quit=yes cmds=GREETING:554,EHLO,QUIT$' "$g554_CONNS"

peer_smtp_start rj 127.0.0.2 --rcpt-reply 'bad=550 5.1.1 no such user' \
    --rcpt-reply later=450 4.2.0 try later --mail-reply 250 2.1.0 sender fine || exit 1
check smtp-rcpt-reply "$PY" - "$rj_ADDR" "$rj_PORT" "$rj_DIR" <<'EOF'
import sys
from pc import *
c = Raw(sys.argv[1], int(sys.argv[2]))
c.expect("EHLO x", 250)
eq("MAIL", (250, ["250 2.1.0 sender fine"]), c.cmd("MAIL FROM:<a@b>"))
eq("bad", (550, ["550 5.1.1 no such user"]), c.cmd("RCPT TO:<bad@b.example>"))
eq("later", (450, ["450 4.2.0 try later"]), c.cmd("RCPT TO:<later@b.example>"))
c.expect("RCPT TO:<good@b.example>", 250)
eq("dot", 250, c.data(b"Subject: r\r\n\r\n")[0])
c.expect("MAIL FROM:<a@b>", 250)
c.expect("RCPT TO:<bad2@b.example>", 550)
eq("DATA without recipients", 554, c.cmd("DATA")[0])
c.expect("QUIT", 221)
m = msgs(sys.argv[3])
eq("one message", 1, len(m))
eq("rcpt_tos", ["good@b.example"], m[0][0]["rcpt_tos"])
eq("rejected", [{"rcpt": "bad@b.example", "reply": "550 5.1.1 no such user"},
    {"rcpt": "later@b.example", "reply": "450 4.2.0 try later"}], m[0][0]["rejected_rcpts"])
EOF

peer_smtp_start d451 127.0.0.2 --data-reply 451 4.3.0 not now --faults 1 || exit 1
check smtp-data-reply-faults "$PY" - "$d451_ADDR" "$d451_PORT" "$d451_DIR" <<'EOF'
import sys
from pc import *
c = Raw(sys.argv[1], int(sys.argv[2]))
c.expect("EHLO x", 250)
for want in (451, 250):
	c.expect("MAIL FROM:<a@b>", 250)
	c.expect("RCPT TO:<c@d>", 250)
	eq("dot", want, c.data(b"Subject: %d\r\n\r\n" % want)[0])
c.expect("QUIT", 221)
m = msgs(sys.argv[3])
eq("only the accepted one", [b"Subject: 250\r\n\r\n"], [b for e, b in m])
eq("msg_in_conn", 2, m[0][0]["msg_in_conn"])
EOF

peer_smtp_start d421 127.0.0.2 --data-reply 421 || exit 1
check smtp-data-reply-421-closes "$PY" - "$d421_ADDR" "$d421_PORT" "$d421_DIR" <<'EOF'
import sys
from pc import *
c = Raw(sys.argv[1], int(sys.argv[2]))
c.expect("EHLO x", 250)
c.expect("MAIL FROM:<a@b>", 250)
c.expect("RCPT TO:<c@d>", 250)
code, lines = c.data(b"Subject: x\r\n\r\n")
eq("421", 421, code)
assert lines[0].startswith("421 4.3.2"), lines
eq("closed", b"", c.f.readline())
eq("nothing recorded", 0, len(msgs(sys.argv[3])))
EOF

peer_smtp_start drop 127.0.0.2 --drop-after-dot --faults 1 || exit 1
check smtp-drop-after-dot "$PY" - "$drop_ADDR" "$drop_PORT" "$drop_DIR" <<'EOF'
import sys
from pc import *
def send():
	c = Raw(sys.argv[1], int(sys.argv[2]))
	c.expect("EHLO x", 250)
	c.expect("MAIL FROM:<a@b>", 250)
	c.expect("RCPT TO:<c@d>", 250)
	try:
		return c.data(b"Subject: lost ack\r\n\r\n")[0]
	except (EOFError, ConnectionError):
		return "no reply"
eq("first: no reply", "no reply", send())
eq("second: accepted", 250, send())
m = msgs(sys.argv[3])
eq("both recorded", 2, len(m))
eq("dropped flags", [True, False], [e["dropped"] for e, b in m])
eq("reply", None, m[0][0]["reply"])
eq("same bytes", m[0][1], m[1][1])
EOF
check smtp-drop-count-line waitfor 5 grep -q 'msgs=1 quit=no cmds=EHLO,MAIL,RCPT,DATA,DROPPED$' "$drop_CONNS"

peer_smtp_start heal 127.0.0.2 --rcpt-reply 'c@=450 4.2.0 later' --delay rcpt=0.2 || exit 1
check smtp-heal "$PY" - "$heal_ADDR" "$heal_PORT" "$heal_DIR" "$heal_PID" <<'EOF'
import os, signal, sys, time
from pc import *
def rcpt():
	c = Raw(sys.argv[1], int(sys.argv[2]))
	c.expect("EHLO x", 250)
	c.expect("MAIL FROM:<a@b>", 250)
	t = time.monotonic()
	r = c.cmd("RCPT TO:<c@d>")[0]
	return r, time.monotonic() - t
r, t = rcpt()
eq("before", 450, r)
assert t >= 0.2, ("delay", t)
EOF
check smtp-heal-signal peer_heal heal
check smtp-healed "$PY" - "$heal_ADDR" "$heal_PORT" <<'EOF'
import sys
from pc import *
c = Raw(sys.argv[1], int(sys.argv[2]))
c.expect("EHLO x", 250)
c.expect("MAIL FROM:<a@b>", 250)
c.expect("RCPT TO:<c@d>", 250)
EOF

# -------- TLS and AUTH

peer_ca ca mx1.example.org 127.0.0.2 || exit 1
peer_ca wrongca mx1.example.org || exit 1
peer_smtp_start tls 127.0.0.2 --starttls ca/cert.pem ca/key.pem --require-tls \
    --auth 'user:pa ss:w' --auth other:x || exit 1
check smtp-starttls-auth "$PY" - "$tls_ADDR" "$tls_PORT" "$tls_DIR" <<'EOF'
import base64, ssl, sys
from pc import *
host, port = sys.argv[1], int(sys.argv[2])
c = Raw(host, port)
code, lines = c.expect("EHLO x", 250)
assert lines[-1] == "250 STARTTLS" and not any("AUTH" in l for l in lines), lines
eq("MAIL before TLS", 530, c.cmd("MAIL FROM:<a@b>")[0])
eq("AUTH before TLS", 530, c.cmd("AUTH PLAIN " + base64.b64encode(b"\0user\0pa ss:w").decode())[0])
c.starttls(ctx("ca/ca.pem"), "mx1.example.org")
code, lines = c.expect("EHLO x2", 250)
assert lines[-1] == "250 AUTH PLAIN LOGIN" and not any("STARTTLS" in l for l in lines), lines
eq("bad password", 535, c.cmd("AUTH PLAIN " + base64.b64encode(b"\0user\0nope").decode())[0])
c.expect("AUTH PLAIN " + base64.b64encode(b"\0user\0pa ss:w").decode(), 235)
c.expect("MAIL FROM:<a@b> AUTH=<>", 250)
c.expect("RCPT TO:<c@d>", 250)
eq("dot", 250, c.data(b"Subject: tls\r\n\r\n")[0])
c.expect("QUIT", 221)
e, b = msgs(sys.argv[3])[0]
eq("tls", (True, "starttls"), (e["tls"], e["tls_mode"]))
assert e["tls_version"] in ("TLSv1.2", "TLSv1.3") and e["tls_cipher"], e
eq("auth", ("user", "PLAIN"), (e["auth_user"], e["auth_mech"]))
eq("helo after TLS", "x2", e["helo"])
eq("commands", ["EHLO", "MAIL", "AUTH:PLAIN", "STARTTLS", "EHLO", "AUTH:PLAIN",
    "AUTH:PLAIN", "MAIL", "RCPT", "DATA"], e["commands"])
# the certificate is checked: the wrong name or the wrong CA fails
for name, ca in (("other.example", "ca/ca.pem"), ("mx1.example.org", "wrongca/ca.pem")):
	c = Raw(host, port)
	c.expect("EHLO x", 250)
	try:
		c.starttls(ctx(ca), name)
		raise AssertionError("verified %s with %s" % (name, ca))
	except ssl.SSLCertVerificationError:
		pass
EOF

check smtp-starttls-login-smtplib "$PY" - "$tls_ADDR" "$tls_PORT" "$tls_DIR" <<'EOF'
import smtplib, sys
from pc import *
s = smtplib.SMTP(sys.argv[1], int(sys.argv[2]), local_hostname="lib.example")
s._host = "mx1.example.org"
s.starttls(context=ctx("ca/ca.pem"))
s.ehlo()
s.user, s.password = "other", "x"
s.auth("LOGIN", s.auth_login, initial_response_ok=False)
s.sendmail("a@x.example", ["b@y.example"], b"Subject: login\r\n\r\n")
s.quit()
e, b = msgs(sys.argv[3])[-1]
eq("auth", ("other", "LOGIN"), (e["auth_user"], e["auth_mech"]))
eq("commands", ["EHLO", "STARTTLS", "EHLO", "AUTH:LOGIN", "MAIL", "RCPT", "DATA"], e["commands"])
EOF

out=$(swaks -s "$tls_ADDR" -p "$tls_PORT" -f a@x.example -t b@y.example --tls \
    --tls-verify --tls-ca-path ca/ca.pem -a PLAIN -au user -ap 'pa ss:w' 2>&1)
if [ "$(peer_msgs "$tls_DIR")" = 3 ]; then
	ok smtp-swaks-starttls-auth
else
	fail smtp-swaks-starttls-auth "$out"
fi
check smtp-tls-count-line waitfor 5 grep -q 'tls=TLSv1.[23] auth=user msgs=1 quit=yes cmds=EHLO,STARTTLS,EHLO,AUTH:PLAIN,MAIL,RCPT,DATA,QUIT$' "$tls_CONNS"

# a client that says STARTTLS and then goes away, or speaks garbage instead of TLS
check smtp-starttls-abandoned "$PY" - "$tls_ADDR" "$tls_PORT" <<'EOF'
import sys
from pc import *
c = Raw(sys.argv[1], int(sys.argv[2])); c.expect("EHLO x", 250); c.expect("STARTTLS", 220); c.s.close()
c = Raw(sys.argv[1], int(sys.argv[2])); c.expect("EHLO x", 250); c.expect("STARTTLS", 220)
c.send(b"this is not a TLS record\r\n" * 4)
c.s.settimeout(5)
try:
	while c.s.recv(100):
		pass
except (ConnectionError, OSError):
	pass
c = Raw(sys.argv[1], int(sys.argv[2])); c.expect("EHLO x", 250); c.expect("QUIT", 221)
EOF

peer_smtp_start ssl 127.0.0.2 --implicit-tls ca/cert.pem ca/key.pem --auth u:p --tls-max 1.2 || exit 1
check smtp-implicit-tls "$PY" - "$ssl_ADDR" "$ssl_PORT" "$ssl_DIR" <<'EOF'
import smtplib, ssl, sys
from pc import *
s = smtplib.SMTP_SSL(sys.argv[1], int(sys.argv[2]), local_hostname="lib.example",
    context=ctx("ca/ca.pem"))
code, text = s.ehlo()
assert b"AUTH PLAIN LOGIN" in text and b"STARTTLS" not in text, text
s.login("u", "p")
s.sendmail("a@x.example", ["b@y.example"], b"Subject: 465\r\n\r\n")
s.quit()
e, b = msgs(sys.argv[3])[0]
eq("tls", (True, "implicit", "TLSv1.2", "u"), (e["tls"], e["tls_mode"], e["tls_version"], e["auth_user"]))
try:
	c = Raw(sys.argv[1], int(sys.argv[2]), ctx("ca/ca.pem"), "wrong.example")
	raise AssertionError("wrong name verified")
except ssl.SSLCertVerificationError:
	pass
# plain text to a TLS port: the peer just drops it
import socket
x = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
x.sendall(b"EHLO plain\r\n")
try:
	x.recv(100)
except OSError:
	pass
x.close()
EOF
out=$(swaks -s "$ssl_ADDR" -p "$ssl_PORT" -f a@x.example -t b@y.example --tls-on-connect \
    --tls-verify --tls-ca-path ca/ca.pem -a LOGIN -au u -ap p 2>&1)
if [ "$(peer_msgs "$ssl_DIR")" = 2 ] &&
    [ "$(peer_json "$(peer_files "$ssl_DIR" | tail -n 1)" auth_mech)" = LOGIN ]; then
	ok smtp-swaks-implicit-tls
else
	fail smtp-swaks-implicit-tls "$out"
fi

peer_smtp_start pa 127.0.0.2 --auth u:p --auth-plaintext --require-auth || exit 1
check smtp-auth-plaintext "$PY" - "$pa_ADDR" "$pa_PORT" <<'EOF'
import sys
from pc import *
c = Raw(sys.argv[1], int(sys.argv[2]))
code, lines = c.expect("EHLO x", 250)
assert "250-AUTH PLAIN LOGIN" in lines or "250 AUTH PLAIN LOGIN" in lines, lines
eq("MAIL before AUTH", 530, c.cmd("MAIL FROM:<a@b>")[0])
c.expect("AUTH LOGIN dQ==", 334)
c.expect("cA==", 235)
c.expect("MAIL FROM:<a@b>", 250)
EOF

# nothing on any peer's stderr (no traceback, whatever the clients did)
bad=
for p in peer-*/err; do
	if [ -s "$p" ]; then
		bad="$bad$p: $(head -n 20 "$p")
"
	fi
done
if [ -z "$bad" ]; then
	ok smtp-stderr-clean
else
	fail smtp-stderr-clean "$bad"
fi

# SIGTERM: prompt exit 0, nothing half-written
kill -TERM "$tls_PID"
if waitfor 5 eval '! kill -0 "$tls_PID" 2>/dev/null'; then
	wait "$tls_PID"
	rc=$?
	check smtp-sigterm-exit0 test "$rc" -eq 0
else
	fail smtp-sigterm-exit0 "still running"
fi

# ---------------------------------------------------------------- DNS

cat >zone <<'EOF'
# test zone
example.org        MX 10 mx1.example.org
example.org.       MX 20 MX2.example.org.
mx1.example.org    A 127.0.0.2
mx1.example.org    AAAA ::1
mx2.example.org    600 A 127.0.0.3
alias.example.org  CNAME alias2.example.org
alias2.example.org CNAME real.example.org
real.example.org   A 127.0.0.3
dangling.example   CNAME nowhere.example
nullmx.example     MX 0 .
noemx.example      A 127.0.0.2
broken.example     SERVFAIL
slow.example       TIMEOUT
big.example        TRUNCATE
big.example        MX 10 mx1.example.org
mx3.example.org    A 127.0.0.3
mx3.example.org    AAAA TIMEOUT
flaky.example      DROP 1
flaky.example      A 127.0.0.2
spoof.example      BADID
spoof.example      A 127.0.0.2
bad.example        GARBAGE
EOF
for i in $(seq 1 40); do
	echo "many.example A 127.0.1.$i"
done >>zone
peer_dns_start zone || exit 1

check dns-answers "$PY" - "$DNS_PORT" <<'EOF'
import sys
from dnslib import DNSRecord, QTYPE, RCODE
from pc import eq
port = int(sys.argv[1])
def q(name, t, tcp=False):
	r = DNSRecord.parse(DNSRecord.question(name, t).send("127.0.0.1", port, tcp=tcp, timeout=3))
	return RCODE.get(r.header.rcode), [(str(x.rname), QTYPE.get(x.rtype), str(x.rdata)) for x in r.rr], r
eq("MX", ("NOERROR", [("example.org.", "MX", "10 mx1.example.org."),
    ("example.org.", "MX", "20 MX2.example.org.")]), q("example.org", "MX")[:2])
eq("A (case-insensitive, echoed)", ("NOERROR", [("MX1.Example.ORG.", "A", "127.0.0.2")]), q("MX1.Example.ORG", "A")[:2])
eq("AAAA", ("NOERROR", [("mx1.example.org.", "AAAA", "::1")]), q("mx1.example.org", "AAAA")[:2])
r = q("mx2.example.org", "A")[2]
eq("TTL", 600, r.rr[0].ttl)
eq("CNAME chain", ("NOERROR", [("alias.example.org.", "CNAME", "alias2.example.org."),
    ("alias2.example.org.", "CNAME", "real.example.org."),
    ("real.example.org.", "A", "127.0.0.3")]), q("alias.example.org", "A")[:2])
eq("CNAME asked", ("NOERROR", [("alias.example.org.", "CNAME", "alias2.example.org.")]),
    q("alias.example.org", "CNAME")[:2])
eq("dangling CNAME", ("NXDOMAIN", [("dangling.example.", "CNAME", "nowhere.example.")]),
    q("dangling.example", "A")[:2])
code, rr, r = q("nullmx.example", "MX")
eq("null MX", ("NOERROR", [("nullmx.example.", "MX", "0 .")]), (code, rr))
eq("null MX wire", b"\x00\x03\x00\x00\x00", bytes(r.pack())[-5:])
eq("no MX -> NODATA", ("NOERROR", []), q("noemx.example", "MX")[:2])
eq("no MX but A", ("NOERROR", [("noemx.example.", "A", "127.0.0.2")]), q("noemx.example", "A")[:2])
eq("NXDOMAIN", ("NXDOMAIN", []), q("nosuch.example", "MX")[:2])
eq("SERVFAIL", ("SERVFAIL", []), q("broken.example", "MX")[:2])
eq("SERVFAIL tcp", ("SERVFAIL", []), q("broken.example", "A", True)[:2])
eq("per-type only", ("NOERROR", [("mx3.example.org.", "A", "127.0.0.3")]), q("mx3.example.org", "A")[:2])
code, rr, r = q("big.example", "MX")
eq("TC over UDP", (1, []), (r.header.tc, rr))
code, rr, r = q("big.example", "MX", True)
eq("full over TCP", (0, [("big.example.", "MX", "10 mx1.example.org.")]), (r.header.tc, rr))
code, rr, r = q("many.example", "A")
eq("large answer truncated over UDP", (1, 0), (r.header.tc, len(rr)))
code, rr, r = q("many.example", "A", True)
eq("large answer over TCP", (0, 40), (r.header.tc, len(rr)))
EOF

check dns-timeout "$PY" - "$DNS_PORT" <<'EOF'
import socket, sys
from dnslib import DNSRecord
port = int(sys.argv[1])
for name, t, tcp in (("slow.example", "MX", False), ("slow.example", "A", True),
    ("mx3.example.org", "AAAA", False)):
	try:
		DNSRecord.question(name, t).send("127.0.0.1", port, tcp=tcp, timeout=0.5)
		raise AssertionError("%s %s answered" % (name, t))
	except (socket.timeout, TimeoutError):
		pass
EOF

check dns-drop-then-answer "$PY" - "$DNS_PORT" <<'EOF'
import socket, sys
from dnslib import DNSRecord
port = int(sys.argv[1])
try:
	DNSRecord.question("flaky.example", "A").send("127.0.0.1", port, timeout=0.5)
	raise AssertionError("first query answered")
except (socket.timeout, TimeoutError):
	pass
r = DNSRecord.parse(DNSRecord.question("flaky.example", "A").send("127.0.0.1", port, timeout=3))
assert str(r.rr[0].rdata) == "127.0.0.2", r
EOF

check dns-badid-garbage "$PY" - "$DNS_PORT" <<'EOF'
import socket, sys
from dnslib import DNSRecord
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
q = DNSRecord.question("spoof.example", "A")
s.sendto(q.pack(), ("127.0.0.1", port))
first = DNSRecord.parse(s.recv(600))
second = DNSRecord.parse(s.recv(600))
assert first.header.id != q.header.id and second.header.id == q.header.id, (first, second)
assert str(second.rr[0].rdata) == "127.0.0.2"
q = DNSRecord.question("bad.example", "MX")
s.sendto(q.pack(), ("127.0.0.1", port))
p = s.recv(600)
assert p[:2] == q.pack()[:2] and p[12:14] == b"\xc0\x0c", p
EOF

check dns-log-transport eval 'grep -qx "big.example MX udp TC" "$DNS_LOG" &&
    grep -qx "big.example MX tcp NOERROR" "$DNS_LOG" &&
    grep -qx "slow.example MX udp TIMEOUT" "$DNS_LOG" &&
    grep -qx "nosuch.example MX udp NXDOMAIN" "$DNS_LOG" &&
    grep -qx "mx1.example.org A udp NOERROR" "$DNS_LOG"'

# the zone is re-read when it changes
echo 'late.example MX 5 mx1.example.org' >>zone
check dns-zone-reload "$PY" - "$DNS_PORT" <<'EOF'
import sys
from dnslib import DNSRecord
r = DNSRecord.parse(DNSRecord.question("late.example", "MX").send("127.0.0.1", int(sys.argv[1]), timeout=3))
assert r.header.rcode == 0 and str(r.rr[0].rdata) == "5 mx1.example.org.", r
EOF
sed -i 's/^broken.example .*/broken.example A 127.0.0.9/' zone
check dns-zone-reload-edit "$PY" - "$DNS_PORT" <<'EOF'
import sys
from dnslib import DNSRecord
r = DNSRecord.parse(DNSRecord.question("broken.example", "A").send("127.0.0.1", int(sys.argv[1]), timeout=3))
assert r.header.rcode == 0 and str(r.rr[0].rdata) == "127.0.0.9", r
EOF
check dns-stderr-clean eval '[ ! -s peer-dns/err ]'

kill -TERM "$DNS_PID"
if waitfor 5 eval '! kill -0 "$DNS_PID" 2>/dev/null'; then
	wait "$DNS_PID"
	rc=$?
	check dns-sigterm-exit0 test "$rc" -eq 0
else
	fail dns-sigterm-exit0 "still running"
fi
