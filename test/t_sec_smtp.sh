#!/bin/bash
# t_sec_smtp.sh: the SMTP server's holes of issue 7 ("SMTP input",
# "Resources"), each from outside against the real binary: "mta -bD" on a
# free 127.0.0.1 port (RunAsUser=root, a box of its own per daemon) and
# "mta -bs" on a socketpair. Clients: raw Python sockets (byte-exact
# shapes, replies counted), Python ssl for STARTTLS and AUTH.
#
#  1. smuggling: only <CRLF>.<CRLF> ends DATA, whatever the line lengths:
#     overlong lines (over the 4 KiB input buffer) ending in a bare LF,
#     spanning several buffers, split over many TCP writes, inside TLS;
#     an overlong line ending in CRLF (the CR last in the buffer) still
#     lets the next dot end the data.
#  2. a bare CR in DATA ends no line and no data; it is kept as a byte.
#  3. HELO/EHLO: a domain or an address literal, else 501 5.5.4 (TAB,
#     two words, control and 8-bit bytes); nothing forged in Received:.
#  4. a MAIL refused for SIZE= leaves nothing behind.
#  5. AUTH PLAIN per RFC 4616 (authzid, trailing fields, strict base64),
#     AUTH LOGIN alike; an unknown user takes as long as a wrong password.
#  6. a client that may not relay gets a success DSN without the body.
#  7. -bs on an AF_UNIX socket: a network client ([unix], no relay,
#     only <CRLF>.<CRLF>); on a pipe still a local user.
#  8. descriptors: under a low RLIMIT_NOFILE the daemon caps its
#     sessions, never spins, keeps its log small, and serves afterwards.
#
# Run by test/run (cwd = fresh temp dir, MTA and TOP set).
. "$TOP/test/lib.sh"
need SERVER
set +e

BASE=$PWD

# ---- the Python side ------------------------------------------------------------

cat >sec.py <<'EOF'
import base64, os, re, select, socket, ssl, sys, time, traceback

PORT = int(os.environ.get('PORT', '25'))
D = os.environ.get('D', '.')
TR = []


def show(b):
    if isinstance(b, str):
        b = b.encode('utf-8', 'surrogateescape')
    return ''.join(chr(c) if 32 <= c < 127 else '\\x%02x' % c for c in b)


class C:
    """A raw SMTP client on a socket (TCP unless sock is given)."""

    def __init__(self, port=None, sock=None, banner=True):
        self.s = sock or socket.create_connection(('127.0.0.1',
                                                    port or PORT))
        self.s.settimeout(20)
        self.buf = b''
        self.banner = self.reply() if banner else None

    def send(self, b):
        if isinstance(b, str):
            b = b.encode()
        TR.append('C: ' + (show(b) if len(b) < 200 else
                  show(b[:80]) + '...(%d bytes)...' % len(b) + show(b[-60:])))
        self.s.sendall(b)

    def line(self):
        while b'\n' not in self.buf:
            try:
                d = self.s.recv(65536)
            except (OSError, ssl.SSLError) as e:
                TR.append('(%s)' % e)
                d = b''
            if not d:
                r, self.buf = self.buf, b''
                return r
            self.buf += d
        i = self.buf.index(b'\n') + 1
        r, self.buf = self.buf[:i], self.buf[i:]
        return r

    def reply(self):
        out = []
        while True:
            l = self.line()
            if not l:
                break
            t = l.decode('utf-8', 'replace').rstrip('\r\n')
            TR.append('S: ' + show(t))
            out.append(t)
            if len(t) < 4 or t[3] != '-':
                break
        return out

    def cmd(self, line):
        self.send(line + b'\r\n' if isinstance(line, bytes) else
                  line + '\r\n')
        return self.reply()

    def quiet(self, secs):
        """True when nothing more arrives within secs."""
        if self.buf:
            return False
        r, _, _ = select.select([self.s], [], [], secs)
        if not r:
            return True
        l = self.line()
        TR.append('S (unexpected): ' + show(l))
        return False

    def starttls(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.s = ctx.wrap_socket(self.s, server_hostname='test.example')

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def last(r):
    return r[-1] if r else '<EOF>'


def starts(r, p):
    return bool(r) and r[-1].startswith(p)


def ck(name, cond, why=''):
    if cond:
        print('ok ' + name, flush=True)
    else:
        print('FAIL ' + name)
        for l in str(why).splitlines():
            print('    ' + show(l)[:290])
        for l in TR[-25:]:
            print('      ' + l[:280])
        sys.stdout.flush()
    del TR[:]
    return bool(cond)


def mbox(user):
    try:
        with open(os.path.join(D, 'mail', user), 'rb') as f:
            data = f.read()
    except FileNotFoundError:
        return []
    return [m for m in re.split(rb'(?m)^(?=From )', data) if m]


def waitmail(user, needle, secs=20, n=1):
    end = time.time() + secs
    while True:
        got = [m for m in mbox(user) if needle in m]
        if len(got) >= n or time.time() > end:
            return got
        time.sleep(0.05)


def spooled(needle):
    d = os.path.join(D, 'spool')
    for f in os.listdir(d):
        try:
            with open(os.path.join(d, f), 'rb') as fh:
                if needle in fh.read():
                    return True
        except OSError:
            pass
    return False


def logtext():
    try:
        with open(os.path.join(D, 'log'), encoding='utf-8',
                  errors='replace') as f:
            return f.read()
    except FileNotFoundError:
        return ''


def hook(t, v, tb):
    print('FAIL python exception')
    for l in traceback.format_exception(t, v, tb, limit=4):
        for x in l.splitlines():
            print('    ' + x)
    for l in TR[-20:]:
        print('      ' + l[:280])
    sys.exit(2)


sys.excepthook = hook
EOF

py()
{
	PYTHONPATH=$BASE timeout -k 5 300 "$PY" - "$@" || echo "# python exited $?"
}

# box NAME: a sandbox in ./NAME; sets D (exported) and BO (the -O options).
box()
{
	D=$BASE/$1
	mkdir -p "$D/spool" "$D/mail"
	: >"$D/aliases"
	BO=(-O "QueueDirectory=$D/spool" -O "MailSpool=$D/mail"
	    -O "AliasFile=$D/aliases" -O "LogFile=$D/log"
	    -O HostName=test.example -O RunAsUser=root -O "PidFile=$D/pid")
	export D
}

probe()
{
	"$PY" - "$1" <<'EOF'
import socket, sys
try:
    s = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=3)
    f = s.makefile('rb')
    if not f.readline().startswith(b'220 '):
        sys.exit(1)
    s.sendall(b'QUIT\r\n')
    while f.readline():
        pass
except OSError:
    sys.exit(1)
EOF
}

# startd NAME [ARGS...]: mta -bD in box D on a free port (PORT, exported),
# DPID its pid; waits for its 220.
startd()
{
	local name=$1
	shift
	PORT=$(freeport)
	export PORT
	"$MTA" "${BO[@]}" -O "DaemonPortOptions=Addr=127.0.0.1,Port=$PORT" \
	    "$@" -bD >"$D/out" 2>"$D/err" </dev/null &
	DPID=$!
	cleanup_add "$DPID"
	if waitfor 30 probe "$PORT"; then
		return 0
	fi
	fail "sec-smtp: $name: the daemon answers 220" "$(cat "$D/err"; tail -n 5 "$D/log")"
	return 1
}

stopd()
{
	kill -TERM "$DPID" 2>/dev/null
	waitfor 20 eval "! kill -0 $DPID 2>/dev/null" || kill -KILL "$DPID" 2>/dev/null
	wait "$DPID" 2>/dev/null
}

# a throwaway certificate for STARTTLS (not verified by the clients here)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$BASE/key.pem" -out "$BASE/cert.pem" -days 2 \
    -subj /CN=test.example >"$BASE/openssl.log" 2>&1 ||
    fail "sec-smtp: openssl makes a certificate" "$(cat "$BASE/openssl.log")"

# ==== 1-4: a plain daemon (loopback may relay) with STARTTLS ====================

box a
if built TLS; then
	startd a -O "ServerCertFile=$BASE/cert.pem" -O "ServerKeyFile=$BASE/key.pem"
else
	export NOTLS=1	# the Python side skips its trials inside TLS
	startd a
fi

# 1 and 2: each shape comes after a first CRLF line of the message and is
# followed by a whole second transaction; only <CRLF>.<CRLF> may end the
# data, so the server answers once (the smuggled commands are text) and
# the second message never exists on its own.
py <<'EOF'
from sec import *

SMUG = (b'MAIL FROM:<evil@evil.example>\r\nRCPT TO:<root>\r\nDATA\r\n'
        b'Subject: smuggled-%d\r\n\r\nevil\r\n.\r\n')


def settle():
    """Every message delivered (no qf left)."""
    d = os.path.join(D, 'spool')
    end = time.time() + 20
    while any(f.startswith('qf') for f in os.listdir(d)) and \
            time.time() < end:
        time.sleep(0.05)


def trial(n, what, shape, want, tls=False, chunk=0, smuggle=True):
    if tls and os.environ.get('NOTLS'):
        print('skip sec-smtp: (1) %s (this mta was built without TLS)' %
              what, flush=True)
        return None
    c = C()
    if tls:
        c.cmd('EHLO tls.example')
        c.cmd('STARTTLS')
        c.starttls()
    c.cmd('EHLO sec.example')
    c.cmd('MAIL FROM:<root@test.example>')
    c.cmd('RCPT TO:<root>')
    c.cmd('DATA')
    data = b'Subject: smuggle-%d\r\n\r\nfirst line\r\n' % n + shape
    if smuggle:
        data += SMUG % n
    if chunk:
        c.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1) \
            if not tls else None
        for i in range(0, len(data), chunk):
            c.send(data[i:i + chunk])
            time.sleep(0.002)
    else:
        c.send(data)
    r = c.reply()
    quiet = c.quiet(1.0)
    q = c.cmd('QUIT')
    c.close()
    settle()
    alone = [m for m in mbox('root') if b'smuggled-%d' % n in m and
             b'Subject: smuggle-%d\n' % n not in m]
    ck('sec-smtp: (1) %s: one reply (%s), the smuggled commands are text, '
       'then QUIT 221' % (what, want),
       starts(r, want) and quiet and starts(q, '221') and not alone,
       'reply to the data: %s; nothing more before QUIT: %s; QUIT: %s; '
       'smuggled messages on their own: %d' % (r, quiet, q, len(alone)))
    return c


trial(1, 'a 5000-octet line ending in a bare LF, then .<CRLF>',
      b'a' * 5000 + b'\n.\r\n', '500 5.5.2')
trial(2, 'a 4096-octet line (just over the buffer) ending in a bare LF, '
      'then .<CRLF>', b'a' * 4096 + b'\n.\r\n', '500 5.5.2')
trial(3, 'a 9000-octet line (three buffers) ending in a bare LF, then '
      '.<CRLF>', b'a' * 9000 + b'\n.\r\n', '500 5.5.2')
trial(4, 'the same split over many small TCP writes',
      b'a' * 5000 + b'\n.\r\n', '500 5.5.2', chunk=97)
trial(5, 'the same inside TLS', b'a' * 5000 + b'\n.\r\n', '500 5.5.2',
      tls=True)
trial(6, 'a 5000-octet line ending in a bare LF, then .<LF>',
      b'a' * 5000 + b'\n.\n', '500 5.5.2')
trial(7, 'a 5000-octet line ending in <CR>.<CRLF> (a bare CR before the '
      'dot)', b'a' * 5000 + b'\r.\r\n', '500 5.5.2')
trial(8, 'a short line ending in a bare LF, then .<CRLF>',
      b'text\n.\r\n', '250 2.0.0')
trial(9, 'a line ending <CR>.<CRLF>', b'text\r.\r\n', '250 2.0.0')
trial(10, 'a dot line .<CR><CRLF>', b'.\r\r\n', '250 2.0.0')
trial(11, 'a 5000-octet line ending in a bare CR and a bare LF at once',
      b'a' * 5000 + b'\n\r.\r\n', '500 5.5.2')
m = waitmail('root', b'Subject: smuggle-8\n')
ck('sec-smtp: (1) after a bare-LF line, ".<CRLF>" (dot-stuffing undone) '
   'and the smuggled commands arrive as text of the one message',
   len(m) == 1 and b'\ntext\n\nMAIL FROM:<evil@evil.example>\nRCPT TO:<root>\n'
   b'DATA\nSubject: smuggled-8\n' in m[0], m[:1])

# the legitimate ends after an overlong line: CRLF (its CR the last
# byte of the full buffer, or not), then .<CRLF>: the data ends there
for n, what, shape in (
        (20, 'a 4096-octet line whose CR is the buffer\'s last byte',
         b'a' * 4095 + b'\r\n.\r\n'),
        (21, 'a 5000-octet line ending in CRLF', b'a' * 5000 + b'\r\n.\r\n'),
        (22, 'a 9000-octet line ending in CRLF, in small writes',
         b'a' * 8999 + b'\r\n.\r\n')):
    c = C()
    c.cmd('EHLO sec.example')
    c.cmd('MAIL FROM:<root@test.example>')
    c.cmd('RCPT TO:<root>')
    c.cmd('DATA')
    data = b'Subject: long-%d\r\n\r\n' % n + shape
    if n == 22:
        for i in range(0, len(data), 1000):
            c.send(data[i:i + 1000])
            time.sleep(0.002)
    else:
        c.send(data)
    r = c.reply()
    ck('sec-smtp: (1) %s, then .<CRLF>: the data ends (500 5.5.2 line too '
       'long) and the session goes on' % what,
       starts(r, '500 5.5.2') and starts(c.cmd('NOOP'), '250'), r)
    c.cmd('QUIT')
    c.close()

# 2: a bare CR is a byte of its line
c = C()
c.cmd('EHLO sec.example')
c.cmd('MAIL FROM:<root@test.example>')
c.cmd('RCPT TO:<root>')
c.cmd('DATA')
c.send(b'Subject: bare-cr\r\n\r\nab\rcd\r\nx\r\r.\r\n\r\r\n.\r\n')
r = c.reply()
c.cmd('QUIT')
m = waitmail('root', b'Subject: bare-cr\n')
ck('sec-smtp: (2) a bare CR in DATA ends no line and no data: kept as a '
   'byte of its line',
   starts(r, '250 2.0.0') and len(m) == 1 and
   m[0].endswith(b'\n\nab\rcd\nx\r\r.\n\r\n\n'), (r, m[:1]))
EOF

# 3: HELO/EHLO
py <<'EOF'
from sec import *
bad = [
    (b'EHLO client.example\tby\tforged.example', 'a TAB'),
    (b'EHLO client.example forged.example', 'two words'),
    (b'HELO client.example\tforged.example', 'a TAB'),
    (b'HELO two words', 'two words'),
    (b'EHLO cli\x01ent.example', 'a control byte'),
    (b'EHLO client.example\x7f', 'DEL'),
    (b'EHLO cli\x1b[2Jent', 'an escape sequence'),
    (b'EHLO \xff\xfe\x80.example', '8-bit junk'),
    (b'EHLO caf\xc3\xa9.example', 'UTF-8'),
    (b'EHLO (forged)', 'parentheses'),
    (b'EHLO a..example', 'an empty label'),
    (b'EHLO [1.2.3.4 x]', 'a literal with a space'),
    (b'EHLO [999.1.1.1]', 'a bad IPv4 literal'),
    (b'EHLO [IPv6:zz::1]', 'a bad IPv6 literal'),
    (b'EHLO [1.2.3.4', 'an unclosed literal'),
]
for line, what in bad:
    c = C()
    r = c.cmd(line)
    ck('sec-smtp: (3) %s with %s: 501 5.5.4' % (line[:4].decode(), what),
       starts(r, '501 5.5.4'), r)
    c.close()
for arg in ('client.example', '[1.2.3.4]', '[IPv6:::1]',
            '[IPv6:2001:db8::1]', 'host_name', 'localhost', 'x'):
    c = C()
    r1 = c.cmd('EHLO ' + arg)
    r2 = c.cmd('HELO ' + arg)
    ck('sec-smtp: (3) EHLO and HELO %s: 250' % arg,
       starts(r1, '250 ') and starts(r2, '250 '), (r1, r2))
    c.close()

# the forgery of old: TABs turned into words of Received: and the log
c = C()
r0 = c.cmd(b'EHLO real.example\tby\tforged.example\twith\tESMTP')
c.cmd('EHLO real.example')
c.cmd('MAIL FROM:<root@test.example>')
c.cmd('RCPT TO:<root>')
c.cmd('DATA')
r = c.cmd(b'Subject: helo-forge\r\n\r\nhi\r\n.')
c.cmd('QUIT')
m = waitmail('root', b'Subject: helo-forge\n')
hdr = m[0].split(b'\n\n', 1)[0] if m else b''
ck('sec-smtp: (3) after an EHLO with TABs was refused, Received: names '
   'the valid EHLO and no forged words; the log has none either',
   starts(r0, '501') and starts(r, '250') and
   b'Received: from real.example ([127.0.0.1])' in hdr and
   b'forged' not in hdr and 'forged' not in logtext(), hdr)
EOF

# 4: SIZE
py <<'EOF'
from sec import *
c = C()
c.cmd('EHLO size.example')
r1 = c.cmd('MAIL FROM:<root@test.example> SIZE=999999999999')
r2 = c.cmd('MAIL FROM:<root@test.example>')
ck('sec-smtp: (4) MAIL with SIZE over the limit: 552 5.3.4; the next MAIL '
   'without SIZE: 250', starts(r1, '552 5.3.4') and starts(r2, '250 2.1.0'),
   (r1, r2))
c.cmd('RSET')
r1 = c.cmd('MAIL FROM:<root@test.example> SIZE=999999999999')
r2 = c.cmd('RSET')
r3 = c.cmd('MAIL FROM:<root@test.example>')
ck('sec-smtp: (4) 552 for SIZE, RSET, MAIL without SIZE: 250',
   starts(r1, '552') and starts(r2, '250') and starts(r3, '250 2.1.0'),
   (r1, r2, r3))
c.cmd('RSET')
r1 = c.cmd('MAIL FROM:<root@test.example> SIZE=999999999999')
r2 = c.cmd('MAIL FROM:<root@test.example> SIZE=1000')
r3 = c.cmd('RCPT TO:<root>')
r4 = c.cmd('DATA')
r5 = c.cmd('Subject: size-after\r\n\r\nsmall\r\n.')
ck('sec-smtp: (4) 552 for SIZE, then MAIL with a valid SIZE=1000: the '
   'message is accepted', starts(r1, '552') and starts(r2, '250') and
   starts(r3, '250') and starts(r4, '354') and starts(r5, '250 2.0.0'),
   (r1, r2, r3, r4, r5))
r1 = c.cmd('MAIL FROM:<root@test.example> SIZE=12x')
r2 = c.cmd('MAIL FROM:<root@test.example>')
ck('sec-smtp: (4) a bad SIZE= (555), then MAIL without SIZE: 250',
   starts(r1, '555') and starts(r2, '250'), (r1, r2))
c.cmd('RSET')
r1 = c.cmd(b'MAIL FROM:<"a\x01b\x1b[2J"@x.example>')
c.cmd('MAIL FROM:<root@test.example>')
r2 = c.cmd(b'RCPT TO:<"r\x1b[31m\x7f"@test.example>')
r3 = c.cmd(b'RCPT TO:<root> NOTIFY=SUCCESS\x01')
c.cmd('QUIT')
ck('sec-smtp: control bytes in MAIL and RCPT: refused, and the log holds '
   'no control byte at all',
   starts(r1, '501') and starts(r2, '501') and starts(r3, '555') and
   not re.search(r'[\x00-\x08\x0b-\x1f\x7f]', logtext()), (r1, r2, r3))
EOF
stopd

if built TLS; then
# ==== 5: AUTH inside STARTTLS ===================================================

box s
# many rounds, so that a crypt takes a time one can measure
printf 'alice:%s\n' "$(mkpasswd -m sha-512 -R 400000 secret)" >"$D/users"
printf 'bob:%s\n' "$(mkpasswd -m sha-512 -R 400000 hunter2)" >>"$D/users"
startd s -O "ServerCertFile=$BASE/cert.pem" -O "ServerKeyFile=$BASE/key.pem" \
    -O "AuthUsersFile=$D/users" -O RelayFrom=
py <<'EOF'
from sec import *
import smtplib


def b64(b):
    return base64.b64encode(b).decode()


def tls():
    c = C()
    c.cmd('EHLO auth.example')
    c.cmd('STARTTLS')
    c.starttls()
    c.cmd('EHLO auth.example')
    return c


def plain(raw, initial=True):
    c = tls()
    if initial:
        r = c.cmd('AUTH PLAIN ' + (raw if isinstance(raw, str) else b64(raw)))
    else:
        c.cmd('AUTH PLAIN')
        r = c.cmd(raw if isinstance(raw, str) else b64(raw))
    relay = c.cmd('MAIL FROM:<a@example.org>')
    relay = c.cmd('RCPT TO:<x@elsewhere.example>') \
        if starts(relay, '250') else relay
    c.cmd('QUIT')
    c.close()
    return r, relay


for raw, what in ((b'\0alice\0secret', 'an empty authzid'),
                  (b'alice\0alice\0secret', 'the authzid equal to the user')):
    for initial in (True, False):
        r, relay = plain(raw, initial)
        ck('sec-smtp: (5) AUTH PLAIN with %s (%s): 235, then relaying is '
           'allowed' % (what, 'initial response' if initial else 'after 334'),
           starts(r, '235 2.7.0') and starts(relay, '250'), (r, relay))

for raw, want, what in (
        (b'bob\0alice\0secret', '535', 'another authzid (bob for alice)'),
        (b'\0alice\0secret\0', '501', 'a NUL after the password'),
        (b'\0alice\0secret\0junk', '501', 'an extra field after the '
         'password'),
        (b'\0alice\0secret\0\0', '501', 'two extra NULs'),
        (b'\0\0secret', '501', 'an empty user'),
        (b'\0alice\0', '501', 'an empty password'),
        (b'alice\0secret', '501', 'two fields only'),
        (b64(b'\0alice\0secret') + 'AAAA', '501', 'base64 with data after '
         'the padding'),
        (b64(b'\0alice\0secret') + '=', '501', 'base64 with extra padding'),
        ('AGFsaWNl*HNlY3JldA==', '501', 'a byte that is no base64')):
    r, relay = plain(raw)
    ck('sec-smtp: (5) AUTH PLAIN with %s: %s, and no relaying' % (what, want),
       starts(r, want) and not starts(relay, '250'), (r, relay))

# AUTH LOGIN alike
def login(user, pw):
    c = tls()
    r1 = c.cmd('AUTH LOGIN')
    r2 = c.cmd(b64(user))
    r3 = c.cmd(b64(pw)) if starts(r2, '334') else r2
    relay = c.cmd('MAIL FROM:<a@example.org>')
    relay = c.cmd('RCPT TO:<x@elsewhere.example>') \
        if starts(relay, '250') else relay
    c.cmd('QUIT')
    c.close()
    return r3, relay


r, relay = login(b'evil\x1b[2J\x7fuser', b'x')
ck('sec-smtp: (5) AUTH LOGIN with control bytes in the user: 535',
   starts(r, '535'), r)
r, relay = login(b'alice', b'secret')
ck('sec-smtp: (5) AUTH LOGIN alice: 235, then relaying is allowed',
   starts(r, '235') and starts(relay, '250'), (r, relay))
for u, p, want, what in ((b'alice\0bob', b'secret', '501', 'a NUL in the user'),
                         (b'alice', b'secret\0x', '501', 'a NUL in the password'),
                         (b'a' * 200, b'secret', '501', 'a 200-octet user'),
                         (b'alice', b'', '501', 'an empty password')):
    r, relay = login(u, p)
    ck('sec-smtp: (5) AUTH LOGIN with %s: %s, and no relaying' % (what, want),
       starts(r, want) and not starts(relay, '250'), (r, relay))

# smtplib: its login() is AUTH PLAIN with an empty authzid
s = smtplib.SMTP('127.0.0.1', PORT, timeout=30)
s.starttls(context=ssl._create_unverified_context())
code = s.login('alice', 'secret')[0]
s.quit()
ck('sec-smtp: (5) smtplib login (AUTH PLAIN) as alice: 235', code == 235, code)


# an unknown user takes as long as a wrong password (each in a session
# of its own: the pause after a failure is per session)
def timed(raw):
    c = tls()
    t = time.monotonic()
    r = c.cmd('AUTH PLAIN ' + b64(raw))
    t = time.monotonic() - t
    c.close()
    return r, t


def timedlogin(u, p):
    c = tls()
    c.cmd('AUTH LOGIN')
    c.cmd(b64(u))
    t = time.monotonic()
    r = c.cmd(b64(p))
    t = time.monotonic() - t
    c.close()
    return r, t


# Under an emulator (MTA_EMU: make test's qemu suites) code is translated
# as it first runs and timings spread out: the bounds are loosened there,
# the check kept (an unknown user must still not be answered at once).
lo, hi, slack = (0.6, 1.6, 0.05)
if os.environ.get('MTA_EMU'):
    lo, hi, slack = (0.3, 3.0, 0.5)
    print('# (5) AUTH timing under %s: loosened bounds %.1f..%.1f x + %.1f s'
          % (os.environ['MTA_EMU'], lo, hi, slack))
for kind, fn, wrong, unknown in (
        ('PLAIN', timed, (b'\0alice\0wrong',), (b'\0mallory\0wrong',)),
        ('LOGIN', timedlogin, (b'alice', b'wrong'), (b'mallory', b'wrong'))):
    tw, tu = [], []
    for i in range(3):
        r1, t1 = fn(*wrong)
        r2, t2 = fn(*unknown)
        tw.append(t1)
        tu.append(t2)
    w, u = sorted(tw)[1], sorted(tu)[1]
    ck('sec-smtp: (5) AUTH %s: an unknown user is refused (535) as slowly '
       'as a wrong password (median %.3f s vs %.3f s)' % (kind, u, w),
       starts(r1, '535') and starts(r2, '535') and w > 0.04 and
       u > lo * w and u < hi * w + slack,
       'wrong password: %s; unknown user: %s' % (tw, tu))

log = logtext()
ck('sec-smtp: (5) the log names the failed users without control bytes',
   'authentication failed for user mallory' in log and
   not re.search(r'[\x00-\x08\x0b-\x1f\x7f]', log))
EOF
stopd
else
	skip "sec-smtp: (5) AUTH inside STARTTLS" "this mta was built without TLS"
fi

# ==== 6: a success DSN for a client that may not relay ==========================

box d
startd d -O RelayFrom=10.9.9.0/24
py <<'EOF'
from sec import *
c = C()
c.cmd('EHLO outside.example')
r1 = c.cmd('MAIL FROM:<root@test.example> RET=FULL')
r2 = c.cmd('RCPT TO:<root> NOTIFY=SUCCESS')
r3 = c.cmd('RCPT TO:<x@elsewhere.example>')
c.cmd('DATA')
r4 = c.cmd('Subject: dsn-outside\r\n\r\nBODY-SECRET-OUTSIDE\r\n.')
c.cmd('QUIT')
ck('sec-smtp: (6) a client outside RelayFrom: MAIL RET=FULL and RCPT '
   'NOTIFY=SUCCESS to a local user accepted (relaying still denied)',
   starts(r1, '250') and starts(r2, '250') and starts(r3, '554 5.7.1') and
   starts(r4, '250 2.0.0'), (r1, r2, r3, r4))
dsn = waitmail('root', b'multipart/report')
orig = [m for m in mbox('root') if b'multipart/report' not in m]
ck('sec-smtp: (6) its success DSN returns the headers only: no body text',
   len(dsn) == 1 and b'Subject: dsn-outside' in dsn[0] and
   b'text/rfc822-headers' in dsn[0] and
   b'BODY-SECRET-OUTSIDE' not in dsn[0] and len(orig) == 1 and
   b'BODY-SECRET-OUTSIDE' in orig[0], dsn[:1])
EOF
# the control: a local submission (-bs on a pipe may relay) keeps RET=FULL
printf '%s\r\n' 'EHLO local.example' 'MAIL FROM:<root@test.example> RET=FULL' \
    'RCPT TO:<root> NOTIFY=SUCCESS' DATA 'Subject: dsn-local' '' \
    'BODY-SECRET-LOCAL' . QUIT | "$MTA" "${BO[@]}" -bs >bs6.out 2>&1
if waitfor 30 eval '[ "$(grep -c "^BODY-SECRET-LOCAL" "$D/mail/root")" -ge 2 ]'; then
	ok "sec-smtp: (6) control: a client that may relay gets its RET=FULL success DSN with the body"
else
	fail "sec-smtp: (6) control: a client that may relay gets its RET=FULL success DSN with the body" \
	    "$(cat bs6.out; tail -n 5 "$D/log")"
fi
stopd

# ==== 7: -bs on an AF_UNIX socket ===============================================

box u
py "$MTA" "${BO[@]}" <<'EOF'
from sec import *
import subprocess
argv = sys.argv[1:]

a, b = socket.socketpair()
p = subprocess.Popen(argv + ['-odq', '-bs'], stdin=b.fileno(),
                     stdout=b.fileno(), stderr=open('bs7.err', 'wb'))
b.close()
c = C(sock=a)
r0 = c.cmd('EHLO unix.example')
r1 = c.cmd('MAIL FROM:<spam@evil.example>')
r2 = c.cmd('RCPT TO:<victim@outside.example>')
r3 = c.cmd('RCPT TO:<root@test.example>')
ck('sec-smtp: (7) -bs on a socketpair: no STARTTLS offered; RCPT to an '
   'outside domain 554 5.7.1 (in no RelayFrom network), a local one 250',
   starts(r0, '250') and not any('STARTTLS' in l for l in r0) and
   starts(r1, '250') and starts(r2, '554 5.7.1') and starts(r3, '250'),
   (r0, r1, r2, r3))
c.cmd('DATA')
c.send(b'Subject: unix-bs\r\n\r\nbody\n.\nMAIL FROM:<x@y>\r\n'
       b'after\r\n.\r\n')
r = c.reply()
quiet = c.quiet(1.0)
q = c.cmd('QUIT')
try:
    rc = p.wait(20)
except subprocess.TimeoutExpired:
    p.kill()
    rc = 'timeout'
ck('sec-smtp: (7) -bs on a socketpair: <LF>.<LF> does not end DATA, only '
   '<CRLF>.<CRLF>; 221 and exit 0',
   starts(r, '250 2.0.0') and quiet and starts(q, '221') and rc == 0,
   (r, quiet, q, rc, open('bs7.err').read()))
c.close()
log = logtext()
df = [open(os.path.join(D, 'spool', f), 'rb').read()
      for f in os.listdir(os.path.join(D, 'spool')) if f.startswith('df')]
ck('sec-smtp: (7) the log and Received: name the peer [unix]',
   'connect from [unix] (-bs)' in log and len(df) == 1 and
   b'Received: from unix.example ([unix])' in df[0] and
   b'\nafter\n' in df[0], log[-600:])

# the control: -bs on a pipe is a local user, who may relay
p = subprocess.run(argv + ['-odq', '-bs'], input=b'EHLO pipe.example\r\n'
                   b'MAIL FROM:<root@test.example>\r\n'
                   b'RCPT TO:<x@outside.example>\r\nQUIT\r\n',
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
ck('sec-smtp: (7) control: -bs on a pipe is a local user (RCPT to an '
   'outside domain 250)', b'\r\n250 2.1.5' in p.stdout, p.stdout)
EOF
# the same through socat, which hands the session a socketpair too
if command -v socat >/dev/null 2>&1; then
	printf '#!/bin/sh\nexec "$@"\n' >"$BASE/bs.sh"
	chmod +x "$BASE/bs.sh"
	printf '%s ' "$MTA" "${BO[@]}" -odq -bs >"$BASE/bs.args"
	socat UNIX-LISTEN:"$D/sock" EXEC:"$BASE/bs.sh $(cat "$BASE/bs.args")" \
	    >socat.out 2>&1 &
	cleanup_add $!
	waitfor 10 test -S "$D/sock"
	py "$D/sock" <<'EOF2'
from sec import *
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
c = C(sock=s)
c.cmd('EHLO socat.example')
c.cmd('MAIL FROM:<spam@evil.example>')
r = c.cmd('RCPT TO:<victim@outside.example>')
c.cmd('QUIT')
ck('sec-smtp: (7) -bs under socat (UNIX-LISTEN, EXEC): RCPT to an outside '
   'domain 554 5.7.1', starts(r, '554 5.7.1'), r)
EOF2
else
	echo "# socat is not installed: the AF_UNIX case uses a Python socketpair only"
fi

# ==== 8: descriptor exhaustion ==================================================

cat >flood.py <<'EOF'
# flood.py PID PORT N HOLD: N clients connect at once and stay HOLD
# seconds; prints the banners seen, the daemon's CPU ticks (utime+stime)
# over that time, then closes them all.
import os, select, socket, sys, time
pid, port, n, hold = (int(a) for a in sys.argv[1:5])


def cpu():
    with open('/proc/%d/stat' % pid) as f:
        v = f.read().rsplit(')', 1)[1].split()
    return int(v[11]) + int(v[12])


c0, t0 = cpu(), time.monotonic()
socks = []
for i in range(n):
    s = socket.socket()
    s.setblocking(False)
    s.connect_ex(('127.0.0.1', port))
    socks.append(s)
got = {}
end = t0 + hold
while time.monotonic() < end:
    left = [s for s in socks if s not in got]
    if not left:
        time.sleep(0.05)
        continue
    r, _, _ = select.select(left, [], [], max(0.01, end - time.monotonic()))
    for s in r:
        try:
            got[s] = s.recv(512)
        except OSError:
            got[s] = b''
c1 = cpu()
lines = [got.get(s, b'') for s in socks]
print('220=%d 421=%d other=%d none=%d ticks=%d secs=%.1f' % (
    sum(l.startswith(b'220 ') for l in lines),
    sum(l.startswith(b'421 4.7.0') for l in lines),
    sum(bool(l) and not l.startswith((b'220 ', b'421 4.7.0')) for l in lines),
    sum(not l for l in lines), c1 - c0, time.monotonic() - t0))
for s in socks:
    s.close()
EOF

# startl LIMIT NAME [ARGS...]: startd under "ulimit -n LIMIT"
startl()
{
	local limit=$1 name=$2
	shift 2
	PORT=$(freeport)
	export PORT
	(ulimit -n "$limit" && exec "$MTA" "${BO[@]}" \
	    -O "DaemonPortOptions=Addr=127.0.0.1,Port=$PORT" "$@" -bD) \
	    >"$D/out" 2>"$D/err" </dev/null &
	DPID=$!
	cleanup_add "$DPID"
	waitfor 30 probe "$PORT" && return 0
	fail "sec-smtp: $name: the daemon answers 220 under ulimit -n $limit" \
	    "$(cat "$D/err"; tail -n 5 "$D/log")"
	return 1
}

# fdsend PORT SUBJECT: one message to root; prints the final reply
fdsend()
{
	"$PY" - "$1" "$2" <<'EOF'
import smtplib, sys
try:
    s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=20)
    s.ehlo('fd.example')
    r = s.sendmail('root@test.example', ['root'],
                   'Subject: %s\r\n\r\nafter the flood\r\n' % sys.argv[2])
    s.quit()
    print('250 sent')
except Exception as e:
    print('error: %r' % e)
EOF
}

# A: ulimit -n 40: sessions capped (4 with FD_RESERVE 32), the rest 421;
# MaxConnectionsPerIP high, so that all come through
box fa
if startl 40 fa -O MaxConnectionsPerIP=200; then
	B=$(ls "/proc/$DPID/fd" | wc -l)
	log0=$(stat -c %s "$D/log")
	res=$("$PY" flood.py "$DPID" "$PORT" 100 3)
	echo "# ulimit -n 40, 100 clients for 3 s: $res (idle daemon: $B fds)"
	ticks=$(sed 's/.*ticks=\([0-9]*\).*/\1/' <<<"$res")
	n220=$(sed 's/^220=\([0-9]*\).*/\1/' <<<"$res")
	grow=$(($(stat -c %s "$D/log") - log0))
	if [ "$n220" -ge 1 ] && [ "$n220" -le 4 ] && [ "$ticks" -le 60 ] &&
	    grep -q 'other=0' <<<"$res" && [ "$grow" -le 8192 ]; then
		ok "sec-smtp: (8) ulimit -n 40, 100 clients: at most 4 sessions (the rest 421 4.7.0 or the backlog), CPU $ticks ticks in 3 s, log +$grow bytes"
	else
		fail "sec-smtp: (8) ulimit -n 40, 100 clients: at most 4 sessions (the rest 421 4.7.0 or the backlog), little CPU, small log" \
		    "$res; log grew $grow bytes
$(tail -n 5 "$D/log")"
	fi
	grep -q 'smtp: 4 sessions at most, not 64' "$D/log" &&
	    ok "sec-smtp: (8) the log says the sessions are capped by RLIMIT_NOFILE" ||
	    fail "sec-smtp: (8) the log says the sessions are capped by RLIMIT_NOFILE" "$(head -n 5 "$D/log")"
	out=$(fdsend "$PORT" fd-after-a)
	if [ "$out" = "250 sent" ] && waitfor 20 grep -q '^Subject: fd-after-a' "$D/mail/root"; then
		ok "sec-smtp: (8) after the flood a new client gets 220 and its mail is delivered"
	else
		fail "sec-smtp: (8) after the flood a new client gets 220 and its mail is delivered" "$out
$(tail -n 5 "$D/log")"
	fi
	stopd

	# B: a limit that leaves no descriptor once a session is in DATA
	# (B idle + socket + df): accept() fails with EMFILE; the listener
	# must rest instead of spinning, and the log stay small.
	box fb
	if startl $((B + 2)) fb; then
		res=$("$PY" - "$DPID" "$PORT" <<'EOF'
import os, select, socket, subprocess, sys, time
pid, port = int(sys.argv[1]), int(sys.argv[2])
c = socket.create_connection(('127.0.0.1', port), timeout=20)
f = c.makefile('rb')
out = [f.readline()]
for cmd in (b'EHLO fd.example', b'MAIL FROM:<root@test.example>',
            b'RCPT TO:<root>', b'DATA'):
    c.sendall(cmd + b'\r\n')
    while True:
        l = f.readline()
        if l[3:4] != b'-':
            break
    out.append(l)
# in DATA: the session holds its socket and its df; now the flood
r = subprocess.run([sys.executable, 'flood.py', str(pid), str(port), '30',
                    '3'], stdout=subprocess.PIPE, text=True)
c.sendall(b'Subject: fd-b\r\n\r\nheld through the flood\r\n.\r\n')
out.append(f.readline())
c.sendall(b'QUIT\r\n')
out.append(f.readline())
print(r.stdout.strip(), '|', b' / '.join(l.strip() for l in out).decode())
EOF
)
		echo "# ulimit -n $((B + 2)), one session in DATA, 30 clients for 3 s: $res"
		ticks=$(sed 's/.*ticks=\([0-9]*\).*/\1/' <<<"$res")
		naccept=$(grep -c 'accept: ' "$D/log")
		if [ -n "$ticks" ] && [ "$ticks" -le 60 ] && [ "$naccept" -ge 1 ] &&
		    [ "$naccept" -le 3 ] && [ "$(stat -c %s "$D/log")" -le 8192 ] &&
		    grep -q '| 220 .* / 354 .* / \(250\|451\|452\) .* / 221' <<<"$res"; then
			ok "sec-smtp: (8) out of descriptors (EMFILE): no spin (CPU $ticks ticks in 3 s), $naccept 'accept:' log line(s), the session in DATA answered"
		else
			fail "sec-smtp: (8) out of descriptors (EMFILE): no spin, a rate-limited log line, the session in DATA answered" \
			    "$res; $naccept accept lines; log $(stat -c %s "$D/log") bytes
$(grep 'accept' "$D/log" | head -n 5)"
		fi
		if waitfor 20 probe "$PORT"; then
			ok "sec-smtp: (8) out of descriptors: once the clients left, a new client gets 220"
		else
			fail "sec-smtp: (8) out of descriptors: once the clients left, a new client gets 220" "$(tail -n 5 "$D/log")"
		fi
		stopd
	fi
fi
