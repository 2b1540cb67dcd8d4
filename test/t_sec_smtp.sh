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
startd a -O "ServerCertFile=$BASE/cert.pem" -O "ServerKeyFile=$BASE/key.pem"

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
c.cmd('QUIT')
EOF
stopd
