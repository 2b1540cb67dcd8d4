#!/bin/bash
# t_smtp.sh: the SMTP server from outside, against the real daemon
# ("mta -bD" in the background on a free 127.0.0.1 port, and ::1 when the
# machine has it) and "mta -bs". Clients: swaks, Python smtplib and raw
# Python sockets (pipelining, injection, limits); openssl makes a throwaway
# CA at test time (RSA leaf; EC leaf behind an intermediate).
#
# Covered: banner, EHLO keywords (with and without certificate, before and
# inside TLS, with and without AuthUsersFile), HELO NOOP RSET VRFY HELP
# QUIT, 500/503 replies, enhanced status codes on every reply seen, a
# message byte-exact in the mailbox (8-bit, dot-stuffing) and its
# Received: header, DSN parameters in the qf, SMTPUTF8, PIPELINING in one
# write, SIZE (declared and actual), MaxRecipientsPerMessage, unknown
# users, postmaster, relay control, line limits, NUL, the error limit,
# Timeout.command and Timeout.datablock, MaxConnections(PerIP), STARTTLS
# (swaks, smtplib, openssl s_client, verified against the test CA), the
# STARTTLS command injection, AUTH PLAIN/LOGIN, bad certificate or key
# files at start-up, -bs. Beyond the list of issue 3: SMTP smuggling
# (<LF>.<LF> must not end DATA), a TLS close_notify after QUIT, replies
# of a large pipelined batch, a client that half-closes.
#
# Each daemon has a box of its own (./NAME/{spool,mail,aliases,log,pid}),
# runs with -O RunAsUser=root, and is waited for by polling its 220.
. "$TOP/test/lib.sh"
need SERVER

export SX_REPLIES=$PWD/replies.log
: > "$SX_REPLIES"

# ---- the Python side: sessions with transcripts, and ok/FAIL lines -----------

cat > sx.py <<'EOF'
import os, re, select, socket, ssl, sys, time, traceback

PORT = int(os.environ.get('PORT', '25'))
D = os.environ.get('D', '.')
PKI = os.environ.get('PKI', '.')
RLOG = os.environ.get('SX_REPLIES', 'replies.log')
SESSIONS = []
TR = []          # every session's transcript, in order
MARK = [0]       # TR[MARK[0]:] is what the next ck() shows on failure
CURRENT = ['smtp: (python)']


def show(b):
    """Printable form of received or sent bytes (no control bytes)."""
    if isinstance(b, str):
        b = b.encode('utf-8', 'surrogateescape')
    s = b.decode('utf-8', 'backslashreplace')
    return ''.join(c if c >= ' ' and c != '\x7f' else
                   '\\x%02x' % ord(c) for c in s)


def record(tag, lines):
    code = lines[-1][:3]
    if tag in ('BANNER', 'EHLO', 'HELO') and code not in ('220', '250'):
        tag = 'REFUSAL'   # a 421 instead of a banner, an EHLO refused
    with open(RLOG, 'a', encoding='utf-8', errors='replace') as f:
        for l in lines:
            f.write('%s\t%s\n' % (tag, show(l)))


class S:
    """One SMTP client session on a raw socket, with a transcript."""

    def __init__(self, port=None, host='127.0.0.1', src=None, timeout=20,
                 banner=True, name=None):
        self.port = port or PORT
        self.name = name or 's%d' % (len(SESSIONS) + 1)
        SESSIONS.append(self)
        fam = socket.AF_INET6 if ':' in host else socket.AF_INET
        self.s = socket.socket(fam, socket.SOCK_STREAM)
        if src is not None:
            self.s.bind((src, 0))
        self.s.settimeout(timeout)
        self.buf = b''
        self.note('(connect to %s port %d)' % (host, self.port))
        self.s.connect((host, self.port))
        self.banner = self.reply('BANNER') if banner else None

    def note(self, s):
        TR.append('%s %s' % (self.name, s))

    def send(self, data):
        if isinstance(data, str):
            data = data.encode('utf-8')
        if len(data) > 240:
            shown = show(data[:120]) + '...(%d bytes)...' % len(data) + \
                show(data[-60:])
        else:
            shown = show(data)
        self.note('C: ' + shown)
        self.s.sendall(data)

    def line(self):
        while b'\n' not in self.buf:
            try:
                d = self.s.recv(65536)
            except (ConnectionResetError, ssl.SSLError) as e:
                self.note('(%s)' % e)
                d = b''
            if not d:
                r, self.buf = self.buf, b''
                return r
            self.buf += d
        i = self.buf.index(b'\n') + 1
        r, self.buf = self.buf[:i], self.buf[i:]
        return r

    def reply(self, tag='?'):
        """One (multi-line) reply as a list of str; [] at EOF."""
        lines = []
        while True:
            l = self.line()
            if not l:
                if not lines:
                    self.note('S: <EOF>')
                break
            t = l.decode('utf-8', 'surrogateescape').rstrip('\r\n')
            self.note('S: ' + show(t))
            lines.append(t)
            if len(t) < 4 or t[3] != '-':
                break
        if lines:
            record(tag, lines)
        return lines

    def cmd(self, line, tag=None):
        if tag is None:
            tag = line.split(' ')[0].upper() if isinstance(line, str) \
                else 'RAW'
        if isinstance(line, str):
            line = line.encode('utf-8')
        self.send(line + b'\r\n')
        return self.reply(tag)

    def readable(self, secs=0):
        if self.buf:
            return True
        r, _, _ = select.select([self.s], [], [], secs)
        return bool(r)

    def eof(self, secs=10):
        """True once the server closes (lines still pending are noted)."""
        end = time.time() + secs
        try:
            while True:
                self.s.settimeout(max(0.01, end - time.time()))
                l = self.line()
                if not l:
                    return True
                self.note('S: ' + show(l.rstrip(b'\r\n')))
        except socket.timeout:
            self.note('(still open after %s s)' % secs)
            return False
        finally:
            self.s.settimeout(20)

    def starttls(self, ctx, hostname='test.example', ragged=True):
        if self.buf:
            self.note('(plaintext already received before TLS: %s)' %
                      show(self.buf))
        self.s = ctx.wrap_socket(self.s, server_hostname=hostname,
                                 suppress_ragged_eofs=ragged)
        self.note('(TLS up: %s %s)' % (self.s.version(), self.s.cipher()[0]))

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def last(r):
    return r[-1] if r else '<EOF>'


def starts(r, prefix):
    return bool(r) and r[-1].startswith(prefix)


def ck(name, cond, why=''):
    """Print ok NAME or FAIL NAME with why and the recent transcript."""
    if cond:
        print('ok ' + name, flush=True)
    else:
        out = ['FAIL ' + name]
        for l in str(why).splitlines():
            out.append('    ' + show(l)[:290])
        tr = TR[MARK[0]:]
        if tr:
            out.append('    transcript%s:' % (' (end)' if len(tr) > 30
                                              else ''))
            out.extend('      ' + l[:280] for l in tr[-30:])
        print('\n'.join(out), flush=True)
    MARK[0] = len(TR)
    return bool(cond)


def mbox(user, box=None):
    p = os.path.join(box or D, 'mail', user)
    try:
        with open(p, 'rb') as f:
            data = f.read()
    except FileNotFoundError:
        return []
    return [m for m in re.split(rb'(?m)^(?=From )', data) if m]


def waitmail(user, needle, secs=20, box=None):
    """The mbox message of user containing needle (bytes); polled."""
    end = time.time() + secs
    while True:
        for m in mbox(user, box):
            if needle in m:
                return m
        if time.time() > end:
            return None
        time.sleep(0.05)


def received(m):
    """The first Received: header of an mbox message, unfolded."""
    hdr = m.split(b'\n\n', 1)[0].decode('utf-8', 'replace').split('\n')
    out = None
    for l in hdr:
        if out is None:
            if l.startswith('Received:'):
                out = l
        elif l[:1] in (' ', '\t'):
            out += ' ' + l.strip()
        else:
            break
    return out or ''


def spoolmsgs(box=None):
    d = os.path.join(box or D, 'spool')
    return sorted(f for f in os.listdir(d) if f[:2] in ('qf', 'df', 'tf'))


def committed(box=None):
    return [f for f in spoolmsgs(box) if f[:2] in ('qf', 'df')]


def waitfor(secs, fn):
    end = time.time() + secs
    while True:
        v = fn()
        if v or time.time() > end:
            return v
        time.sleep(0.05)


def logtext(box=None):
    try:
        with open(os.path.join(box or D, 'log'), encoding='utf-8',
                  errors='replace') as f:
            return f.read()
    except FileNotFoundError:
        return ''


def queued_id(r):
    m = re.match(r'250 2\.0\.0 Ok: queued as (\S+)$', last(r))
    return m.group(1) if m else None


def tlsctx(ca=None):
    ctx = ssl.create_default_context(cafile=ca or os.path.join(PKI, 'ca.pem'))
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    # a TCP close without close_notify must show (Debian's Python ignores it)
    ctx.options &= ~getattr(ssl, 'OP_IGNORE_UNEXPECTED_EOF', 0)
    return ctx


def hook(t, v, tb):
    lines = traceback.format_exception(t, v, tb, limit=4)
    ck(CURRENT[0] + ' (python exception)', False, ''.join(lines))
    sys.exit(2)


sys.excepthook = hook
EOF

cat > probe.py <<'EOF'
# probe.py HOST PORT: exit 0 when the server greets with 220 (then QUIT
# and wait for it to close), 1 otherwise.
import socket, sys
h, p = sys.argv[1], int(sys.argv[2])
try:
    s = socket.create_connection((h, p), timeout=3)
    f = s.makefile('rb')
    if not f.readline().startswith(b'220 '):
        sys.exit(1)
    s.sendall(b'QUIT\r\n')
    while f.readline():
        pass
except OSError:
    sys.exit(1)
EOF

# py: run a Python check script (stdin) that prints its own ok/FAIL lines.
py()
{
	PYTHONPATH=$PWD timeout -k 5 120 "$PY" - || echo "# python exited $?"
}

# box NAME: a sandbox in ./NAME; sets D (exported) and BO (the -O options).
box()
{
	D=$PWD/$1
	mkdir -p "$D/spool" "$D/mail"
	: > "$D/aliases"
	BO=(-O "QueueDirectory=$D/spool" -O "MailSpool=$D/mail"
	    -O "AliasFile=$D/aliases" -O "LogFile=$D/log"
	    -O HostName=test.example -O RunAsUser=root -O "PidFile=$D/pid")
	export D
}

dstate()
{
	echo "daemon pid $DPID ($(kill -0 "$DPID" 2>/dev/null && echo running || echo gone)), port $PORT"
	echo "--- stderr:"
	tail -n 10 "$D/err" 2>/dev/null
	echo "--- log (end):"
	tail -n 10 "$D/log" 2>/dev/null
}

# HAVE6: yes when ::1 can be bound here.
if "$PY" -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null; then
	HAVE6=yes
else
	HAVE6=no
fi

# freeport46: a port free on both 127.0.0.1 and ::1 (a few tries).
freeport46()
{
	local i
	for ((i = 0; i < 8; i++)); do
		"$PY" -c 'import socket
s = socket.socket(socket.AF_INET6)
s.bind(("::1", 0))
p = s.getsockname()[1]
socket.socket().bind(("127.0.0.1", p))
print(p)' 2>/dev/null && return 0
	done
	return 1
}

# startd NAME [ARGS...]: "mta -bD" with box D's options, a listener on
# 127.0.0.1:PORT (WANTPORT if set, else a free port; exported) and ARGS.
# DPID is its pid. Polls for its 220; rc 1 (and a FAIL line) when it never
# comes.
startd()
{
	local name=$1
	shift
	PORT=${WANTPORT:-$(freeport)}
	WANTPORT=
	export PORT
	"$MTA" "${BO[@]}" -O "DaemonPortOptions=Addr=127.0.0.1,Port=$PORT" \
	    "$@" -bD >"$D/out" 2>"$D/err" </dev/null &
	DPID=$!
	cleanup_add "$DPID"
	if waitfor 30 "$PY" probe.py 127.0.0.1 "$PORT"; then
		return 0
	fi
	fail "smtp: $name: daemon answers 220 on 127.0.0.1:$PORT" "$(dstate)"
	return 1
}

# stopd: SIGTERM the daemon, wait for it (polled); DRC its exit status.
stopd()
{
	kill -TERM "$DPID" 2>/dev/null
	if ! waitfor 20 eval "! kill -0 $DPID 2>/dev/null"; then
		echo "# daemon $DPID still running 20 s after SIGTERM; killed"
		kill -KILL "$DPID" 2>/dev/null
	fi
	wait "$DPID" 2>/dev/null
	DRC=$?
	if [ "$DRC" -ne 0 ]; then
		echo "# daemon $DPID ($D) exited $DRC after SIGTERM"
	fi
}

t_start=$EPOCHREALTIME

# ---- the throwaway PKI ---------------------------------------------------------

PKI=$PWD/pki
export PKI
mkdir -p "$PKI"
(
	cd "$PKI" || exit 1
	set -e
	cat > ca.ext <<-'EOF'
	basicConstraints=critical,CA:TRUE
	keyUsage=critical,keyCertSign,cRLSign
	subjectKeyIdentifier=hash
	authorityKeyIdentifier=keyid
	EOF
	cat > leaf.ext <<-'EOF'
	subjectAltName=DNS:test.example,IP:127.0.0.1,IP:::1
	basicConstraints=CA:FALSE
	keyUsage=critical,digitalSignature,keyEncipherment
	extendedKeyUsage=serverAuth
	subjectKeyIdentifier=hash
	authorityKeyIdentifier=keyid
	EOF
	# the test CA (RSA), and another CA nobody should trust
	openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem \
	    -days 2 -subj /CN=mta-test-CA -addext basicConstraints=critical,CA:TRUE \
	    -addext keyUsage=critical,keyCertSign,cRLSign
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	    -keyout other.key -out other.pem -days 2 -subj /CN=other-CA
	# RSA leaf for test.example (PKCS#8 key), signed by the CA
	openssl req -newkey rsa:2048 -nodes -keyout rsa.key -out rsa.csr \
	    -subj /CN=test.example
	openssl x509 -req -in rsa.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
	    -out rsa.pem -days 2 -extfile leaf.ext
	# an intermediate CA (EC) signed by the CA, and an EC prime256v1 leaf
	# (SEC1 "EC PRIVATE KEY") signed by the intermediate
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	    -keyout int.key -out int.csr -subj /CN=mta-test-intermediate
	openssl x509 -req -in int.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
	    -out int.pem -days 2 -extfile ca.ext
	openssl ecparam -name prime256v1 -genkey -noout -out ec.key
	openssl req -new -key ec.key -out ec.csr -subj /CN=test.example
	openssl x509 -req -in ec.csr -CA int.pem -CAkey int.key -CAcreateserial \
	    -out ec.pem -days 2 -extfile leaf.ext
	cat ec.pem int.pem > ecchain.pem
	# a second RSA key that belongs to no certificate
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out stray.key
) > pki.log 2>&1
if [ -s "$PKI/ecchain.pem" ] && [ -s "$PKI/stray.key" ] &&
    openssl verify -CAfile "$PKI/ca.pem" -untrusted "$PKI/int.pem" \
    "$PKI/ec.pem" >/dev/null 2>&1; then
	ok "smtp: openssl made the test CA, an RSA leaf and an EC leaf behind an intermediate"
else
	fail "smtp: openssl made the test CA, an RSA leaf and an EC leaf behind an intermediate" "$(tail -n 20 pki.log)"
fi

# ---- A: a daemon without certificate: commands, replies, messages -----------

box a
A=$D
cat > "$A/aliases" <<'EOF'
slow: "|exit 75"
slow2: "|exit 75"
rené: root
EOF
startd plain
PORT_A=$PORT

py <<'EOF'
from sx import *
CURRENT[0] = 'smtp: commands'
s = S(name='basic')
ck('smtp: banner is "220 test.example ESMTP mta"',
   s.banner == ['220 test.example ESMTP mta'])
r = s.cmd('EHLO client.example')
kw = [l[4:] for l in r[1:]]
want = ['PIPELINING', 'SIZE 26214400', '8BITMIME', 'ENHANCEDSTATUSCODES',
        'DSN', 'SMTPUTF8']
ck('smtp: EHLO: "250-test.example ..." then exactly PIPELINING, SIZE 26214400, '
   '8BITMIME, ENHANCEDSTATUSCODES, DSN, SMTPUTF8 (no STARTTLS, no AUTH '
   'without certificate)',
   bool(r) and r[0].startswith('250-test.example') and
   all(l[:4] in ('250-', '250 ') for l in r) and r[-1][3] == ' ' and
   sorted(kw) == sorted(want), 'keywords: %s' % kw)
r = s.cmd('HELO client.example')
ck('smtp: HELO answers one line "250 test.example..."',
   len(r) == 1 and r[0].startswith('250 test.example'))
ck('smtp: NOOP answers 250 2.0.0', starts(s.cmd('NOOP'), '250 2.0.0'))
ck('smtp: NOOP with an argument answers 250 2.0.0',
   starts(s.cmd('NOOP whatever'), '250 2.0.0'))
ck('smtp: RSET answers 250 2.0.0', starts(s.cmd('RSET'), '250 2.0.0'))
ck('smtp: VRFY answers 252 2.5.2', starts(s.cmd('VRFY root'), '252 2.5.2'))
r = s.cmd('HELP')
ck('smtp: HELP answers 214 (every line "214[- ]2.0.0")',
   bool(r) and all(re.match(r'214[- ]2\.0\.0 ', l) for l in r))
ck('smtp: lower-case commands are understood (noop)',
   starts(s.cmd('noop'), '250 2.0.0'))
ck('smtp: unknown command answers 500 5.5.1',
   starts(s.cmd('FOOBAR baz'), '500 5.5.1'))
ck('smtp: a verb that only starts like MAIL (MAILX) answers 500 5.5.1',
   starts(s.cmd('MAILX FROM:<a@b>'), '500 5.5.1'))
ck('smtp: empty command line answers 500', starts(s.cmd(''), '500 5.5'))
r = s.cmd('QUIT')
ck('smtp: QUIT answers 221 2.0.0 and the server closes',
   starts(r, '221 2.0.0') and s.eof(10))

# (a new session: 10 errors in one would end it)
s = S(name='sequence')
s.cmd('EHLO client.example')
ck('smtp: RCPT before MAIL answers 503 5.5.1',
   starts(s.cmd('RCPT TO:<root>'), '503 5.5.1'))
ck('smtp: DATA before MAIL answers 503 5.5.1',
   starts(s.cmd('DATA'), '503 5.5.1'))
ck('smtp: MAIL FROM:<> (null sender) answers 250 2.1.0',
   starts(s.cmd('MAIL FROM:<>'), '250 2.1.0'))
ck('smtp: a second MAIL in one transaction answers 503 5.5.1',
   starts(s.cmd('MAIL FROM:<a@example.org>'), '503 5.5.1'))
r = s.cmd('DATA')
ck('smtp: DATA after MAIL but before any RCPT answers 503 5.5.1 '
   '(or 554 5.5.1 "no valid recipients", RFC 5321 3.3)',
   starts(r, '503 5.5.1') or starts(r, '554 5.5.1'))
ck('smtp: RCPT after MAIL answers 250 2.1.5',
   starts(s.cmd('RCPT TO:<root>'), '250 2.1.5'))
s.cmd('RSET')
ck('smtp: RSET forgets the transaction (RCPT after RSET answers 503 5.5.1)',
   starts(s.cmd('RCPT TO:<root>'), '503 5.5.1'))
ck('smtp: MAIL FROM with a bad address answers 501 5.1.7',
   starts(s.cmd('MAIL FROM:<a b@@c>'), '501 5.1.7'))
ck('smtp: MAIL with an unknown parameter answers 555 5.5.4',
   starts(s.cmd('MAIL FROM:<a@example.org> FOO=bar'), '555 5.5.4'))
s.cmd('QUIT')

s = S(name='nohelo')
ck('smtp: MAIL before HELO/EHLO answers 503 5.5.1',
   starts(s.cmd('MAIL FROM:<a@example.org>'), '503 5.5.1'))
ck('smtp: RCPT before HELO/EHLO answers 503 5.5.1',
   starts(s.cmd('RCPT TO:<root>'), '503 5.5.1'))
ck('smtp: EHLO without a domain answers 501',
   starts(s.cmd('EHLO'), '501 5.5'))
s.cmd('QUIT')
s.close()
EOF

# large messages poured in at once by three sessions side by side: the
# loop reads on while a message fills its buffer, and must still cut the
# lines, unstuff the dots and find the end wherever a read boundary falls,
# with the next command pipelined behind the final dot
py <<'EOF'
from sx import *
import random, threading
CURRENT[0] = 'smtp: large messages side by side'
rnd = random.Random(11)


def body(k):
    out = []
    n = 0
    while n < 700000 + 4099 * k:
        l = bytes(rnd.choice(b'abcdefgh.\xe4 ') for _ in range(rnd.choice(
            (0, 1, 2, 77, 500, 997, rnd.randrange(998)))))
        if l.startswith(b'From '):
            l = b'x' + l
        out.append(l)
        n += len(l) + 2
    return b'\n'.join(out) + b'\n'


def wire(b):
    return b''.join((b'.' + l if l.startswith(b'.') else l) + b'\r\n'
                    for l in b.split(b'\n')[:-1])


ss, bodies, res = [], [], {}
for k in range(3):
    s = S(name='big%d' % k)
    s.cmd('EHLO big%d.example' % k)
    s.cmd('MAIL FROM:<big%d@example.org> BODY=8BITMIME' % k)
    s.cmd('RCPT TO:<root>')
    ck('smtp: large message %d: DATA answers 354' % k,
       last(s.cmd('DATA')).startswith('354'))
    ss.append(s)
    bodies.append(b'Subject: smtp-pour-%d\n\n' % k + body(k))


def pour(k):
    ss[k].s.sendall(wire(bodies[k]) + b'.\r\nQUIT\r\n')
    res[k] = (ss[k].reply('DATA'), ss[k].reply('QUIT'))


ts = [threading.Thread(target=pour, args=(k,)) for k in range(3)]
for t in ts:
    t.start()
for t in ts:
    t.join(60)
for k in range(3):
    r = res.get(k, ([], []))
    ck('smtp: large message %d (%d bytes in one write, QUIT pipelined '
       'behind the dot): 250 queued, then 221' % (k, len(bodies[k])),
       queued_id(r[0]) is not None and last(r[1]).startswith('221'), r)
    m = waitmail('root', b'smtp-pour-%d' % k)
    got = m.split(b'\n\n', 1)[1] if m is not None else b''
    want = bodies[k].split(b'\n\n', 1)[1] + b'\n'
    ck('smtp: large message %d arrives byte-exact' % k, got == want,
       'got %d bytes, want %d' % (len(got), len(want)))
EOF

# a message to root through smtplib: 8-bit, dot-stuffing, byte-exact
py <<'EOF'
from sx import *
import smtplib
CURRENT[0] = 'smtp: smtplib message to root'
hdr = (b'From: Sender <sender@example.org>\nTo: root@test.example\n'
       b'Subject: smtp-bytes-1\nMessage-ID: <bytes-1@example.org>\n'
       b'Date: Mon, 1 Jan 2024 00:00:00 +0000\n\n')
body = (b'first line\n.leading dot\n..two dots\n.\n...\nafter the lone dot\n'
        b'8-bit: \xe4\xf6\xfc \xc3\xa9 \xff\xfe\x80\n \n\ttab\n'
        b'trailing blanks   \n' + b'x' * 990 + b'\nlast\n')
c = smtplib.SMTP('127.0.0.1', PORT, local_hostname='smtplib.example',
                 timeout=20)
code, msg = c.ehlo()
c.mail('sender@example.org', ['BODY=8BITMIME'])
code, msg = c.rcpt('root')
# smtplib sends bytes as they are: CRLF line ends are ours to make
code, msg = c.data((hdr + body).replace(b'\n', b'\r\n'))
c.quit()
reply = '%d %s' % (code, msg.decode('utf-8', 'replace'))
TR.append('smtplib: DATA -> ' + reply)
qid = queued_id([reply])
ck('smtp: smtplib: message to root with BODY=8BITMIME answered '
   '"250 2.0.0 Ok: queued as ID"', qid is not None)
m = waitmail('root', b'smtp-bytes-1')
ck('smtp: the message arrives in mail/root', m is not None,
   'mailbox: %r' % mbox('root'))
if m is None:
    sys.exit(0)
got = m.split(b'\n\n', 1)[1]
ck('smtp: body byte-exact in the mailbox (8-bit bytes, dot-stuffed lines '
   'arrive with one dot less, 990-octet line)',
   got == body + b'\n', 'first difference at offset %s of %d/%d bytes:\n'
   'sent: %r\ngot:  %r' % next(((i, len(body) + 1, len(got),
                                body[max(0, i - 40):i + 40],
                                got[max(0, i - 40):i + 40])
                               for i in range(len(got) + 1)
                               if got[i:i + 1] != (body + b'\n')[i:i + 1]),
                              (None, 0, 0, b'', b'')))
hdrs = m.split(b'\n\n', 1)[0]
ck('smtp: the original headers are kept unchanged after Received:',
   hdr.rstrip(b'\n') in hdrs, hdrs.decode('utf-8', 'replace'))
rc = received(m)
ck('smtp: Received: names the HELO, [127.0.0.1], test.example, "with ESMTP" '
   'and the queue ID of the 250 reply',
   rc.startswith('Received: from smtplib.example') and '[127.0.0.1]' in rc
   and 'by test.example' in rc and
   re.search(r'with ESMTP id %s\b' % re.escape(qid or '-'), rc) is not None,
   rc)
ck('smtp: the Received: header is the first line after Return-Path:',
   re.match(rb'From sender@example\.org [^\n]*\nReturn-Path: '
            rb'<sender@example\.org>\nReceived: ', m) is not None,
   m[:300].decode('utf-8', 'replace'))
lg = logtext()
ck('smtp: log line "ID: from=<sender@example.org>, size=N, nrcpts=1, '
   'proto=ESMTP, helo=smtplib.example, relay=[127.0.0.1]"',
   re.search(r'%s: from=<sender@example\.org>, size=\d+, nrcpts=1, '
             r'proto=ESMTP, helo=smtplib\.example, relay=\[127\.0\.0\.1\]'
             % re.escape(qid or '-'), lg) is not None, lg[-1500:])
EOF

# HELO (not EHLO): "with SMTP"; a line of exactly 1000 octets is fine
py <<'EOF'
from sx import *
CURRENT[0] = 'smtp: HELO message'
s = S(name='helo')
s.cmd('HELO old.example')
s.cmd('MAIL FROM:<old@example.org>')
s.cmd('RCPT TO:<root>')
r = s.cmd('DATA')
ck('smtp: DATA answers 354', starts(r, '354 '))
s.send(b'Subject: smtp-helo-1\r\n\r\n' + b'y' * 998 + b'\r\n.\r\n')
r = s.reply('DATA-END')
qid = queued_id(r)
ck('smtp: a text line of exactly 1000 octets (998 + CRLF) is accepted',
   qid is not None)
ck('smtp: QUIT after a message answers 221 2.0.0',
   starts(s.cmd('QUIT'), '221 2.0.0'))
m = waitmail('root', b'smtp-helo-1')
rc = received(m or b'')
ck('smtp: after HELO, Received: says "with SMTP id ID" (not ESMTP)',
   re.search(r'from old\.example \(\[127\.0\.0\.1\]\).* with SMTP id %s\b'
             % re.escape(qid or '-'), rc) is not None, rc or 'no message')
EOF

# swaks, plain
capture swaks -s 127.0.0.1 -p "$PORT_A" -h swaks.example -f swaks@example.org \
    -t root --header 'Subject: smtp-swaks-1' --body 'sent by swaks'
if [ "$RC" -eq 0 ] && printf '%s\n' "$OUT" | grep -q '^<-  250 2.0.0 Ok: queued as ' &&
    waitfor 20 grep -q smtp-swaks-1 "$A/mail/root"; then
	ok "smtp: swaks: a message to root is queued (250) and delivered"
else
	fail "smtp: swaks: a message to root is queued (250) and delivered" "swaks exit $RC
$(printf '%s\n' "$OUT" | tail -n 15)
$ERR"
fi

# DSN parameters in the qf: "|exit 75" keeps the message in the queue
py <<'EOF'
from sx import *
CURRENT[0] = 'smtp: DSN'
s = S(name='dsn')
s.cmd('EHLO dsn.example')
ck('smtp: DSN: MAIL FROM ... RET=HDRS ENVID=abc answers 250 2.1.0',
   starts(s.cmd('MAIL FROM:<dsn@example.org> RET=HDRS ENVID=abc'), '250 2.1.0'))
ck('smtp: DSN: RCPT ... NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;x@y answers 250',
   starts(s.cmd('RCPT TO:<slow> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;x@y'),
          '250 2.1.5'))
ck('smtp: DSN: RCPT ... ORCPT=rfc822;y@z NOTIFY=DELAY (other order) answers 250',
   starts(s.cmd('RCPT TO:<slow2> ORCPT=rfc822;y@z NOTIFY=DELAY'), '250 2.1.5'))
s.cmd('DATA')
s.send('Subject: smtp-dsn-1\r\n\r\ndsn\r\n.\r\n')
qid = queued_id(s.reply('DATA-END'))
ck('smtp: DSN: the message is queued', qid is not None)
try:
    qf = open(os.path.join(D, 'spool', 'qf' + (qid or '-'))).read()
except OSError as e:
    qf = str(e)
lines = qf.split('\n')

def block(addr):
    """The per-recipient lines of addr in the qf."""
    out, on = [], False
    for l in lines:
        if l[:1] in ('R', '.'):
            on = l == 'R' + addr
            continue
        if on:
            out.append(l)
    return out

ck('smtp: DSN: qf has "Eabc" (ENVID) and "NH" (RET=HDRS)',
   'Eabc' in lines and 'NH' in lines, qf)
b = block('slow')
ck('smtp: DSN: qf has "d6" and "orfc822;x@y" for RCPT ... '
   'NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;x@y', 'd6' in b and
   'orfc822;x@y' in b, 'block of slow: %s\n%s' % (b, qf))
b = block('slow2')
ck('smtp: DSN: qf has "d8" and "orfc822;y@z" for RCPT ... '
   'ORCPT=rfc822;y@z NOTIFY=DELAY', 'd8' in b and 'orfc822;y@z' in b,
   'block of slow2: %s\n%s' % (b, qf))
s.cmd('MAIL FROM:<dsn@example.org>')
ck('smtp: DSN: NOTIFY=BOGUS answers 555 5.5.4',
   starts(s.cmd('RCPT TO:<root> NOTIFY=BOGUS'), '555 5.5.4'))
ck('smtp: DSN: NOTIFY=NEVER,SUCCESS answers 555 5.5.4',
   starts(s.cmd('RCPT TO:<root> NOTIFY=NEVER,SUCCESS'), '555 5.5.4'))
ck('smtp: DSN: an unknown RCPT parameter after a NOTIFY= '
   '("NOTIFY=SUCCESS FOO=bar") answers 555 5.5.4',
   starts(s.cmd('RCPT TO:<root> NOTIFY=SUCCESS FOO=bar'), '555 5.5.4'))
ck('smtp: DSN: an unknown RCPT parameter alone (FOO=bar) answers 555 5.5.4',
   starts(s.cmd('RCPT TO:<root> FOO=bar'), '555 5.5.4'))
s.cmd('QUIT')
EOF

# SMTPUTF8
py <<'EOF'
from sx import *
CURRENT[0] = 'smtp: SMTPUTF8'
s = S(name='utf8')
s.cmd('EHLO utf8.example')
ck('smtp: SMTPUTF8: MAIL FROM:<jörg@example.org> SMTPUTF8 answers 250 2.1.0',
   starts(s.cmd('MAIL FROM:<jörg@example.org> SMTPUTF8'), '250 2.1.0'))
ck('smtp: SMTPUTF8: RCPT TO:<rené> (a local alias with a UTF-8 name) '
   'answers 250 2.1.5', starts(s.cmd('RCPT TO:<rené>'), '250 2.1.5'))
s.cmd('DATA')
s.send('From: Jörg <jörg@example.org>\r\nSubject: smtp-utf8-1 grüße\r\n\r\n'
       'Grüße, 日本語\r\n.\r\n')
qid = queued_id(s.reply('DATA-END'))
ck('smtp: SMTPUTF8: the message is queued', qid is not None)
s.cmd('QUIT')
m = waitmail('root', b'smtp-utf8-1')
ck('smtp: SMTPUTF8: delivered to root with Return-Path <jörg@example.org>, '
   'UTF-8 header and body intact',
   m is not None and 'Return-Path: <jörg@example.org>\n'.encode() in m and
   'Subject: smtp-utf8-1 grüße\n'.encode() in m and
   m.endswith('\n\nGrüße, 日本語\n\n'.encode()),
   repr(m)[:600])
EOF

# PIPELINING: a whole session in one write
py <<'EOF'
from sx import *
CURRENT[0] = 'smtp: PIPELINING'
s = S(name='pipe')
s.send('EHLO pipe.example\r\nMAIL FROM:<pipe@example.org>\r\n'
       'RCPT TO:<root>\r\nRCPT TO:<daemon>\r\nRCPT TO:<bin>\r\nDATA\r\n'
       'Subject: smtp-pipe-1\r\n\r\npipelined\r\n.\r\nQUIT\r\n')
tags = ['EHLO', 'MAIL', 'RCPT', 'RCPT', 'RCPT', 'DATA', 'DATA-END', 'QUIT']
rs = [s.reply(t) for t in tags]
codes = [last(r)[:9] for r in rs]
want = ['250 SMTPU', '250 2.1.0', '250 2.1.5', '250 2.1.5', '250 2.1.5',
        '354 End d', '250 2.0.0', '221 2.0.0']
qid = queued_id(rs[6])
ck('smtp: PIPELINING: EHLO, MAIL, 3x RCPT, DATA, message, ".", QUIT in one '
   'write: every reply, in order', codes == want and qid is not None,
   'replies: %s' % codes)
ck('smtp: PIPELINING: the server closes after the QUIT', s.eof(10))
got = {u: waitmail(u, b'smtp-pipe-1') for u in ('root', 'daemon', 'bin')}
ck('smtp: PIPELINING: root, daemon and bin each get the message',
   all(got.values()), 'missing: %s' % [u for u in got if not got[u]])
waitfor(10, lambda: logtext().count('%s: to=' % qid) >= 3)
lg = logtext()
n = {u: sum(b'smtp-pipe-1' in m for m in mbox(u))
     for u in ('root', 'daemon', 'bin')}
ck('smtp: PIPELINING: queued once (one from= log line, one copy each)',
   lg.count('%s: from=<pipe@example.org>' % qid) == 1 and
   lg.count(': from=<pipe@example.org>') == 1 and
   list(n.values()) == [1, 1, 1], 'copies: %s\n%s' % (n, lg[-1200:]))

# two transactions in one write: both queued, replies in order
s = S(name='pipe2')
s.send('EHLO pipe.example\r\n' +
       ''.join('MAIL FROM:<pipe2@example.org>\r\nRCPT TO:<root>\r\nDATA\r\n'
               'Subject: smtp-pipe-2-%d\r\n\r\nbody %d\r\n.\r\n' % (i, i)
               for i in (1, 2)) + 'QUIT\r\n')
tags = ['EHLO'] + ['MAIL', 'RCPT', 'DATA', 'DATA-END'] * 2 + ['QUIT']
rs = [s.reply(t) for t in tags]
ids = [queued_id(rs[4]), queued_id(rs[8])]
ck('smtp: PIPELINING: two messages in one write: both "250 2.0.0 Ok: '
   'queued as", different IDs, then 221',
   None not in ids and ids[0] != ids[1] and starts(rs[9], '221 2.0.0'),
   'replies: %s' % [last(r) for r in rs])
ck('smtp: PIPELINING: both messages of the one write are delivered',
   waitmail('root', b'smtp-pipe-2-1') is not None and
   waitmail('root', b'smtp-pipe-2-2') is not None)

# 600 commands in one write (~4 KB, one input buffer) whose replies come
# to ~40 KB: the client reads only at the end; every reply must come
s = S(name='pipe3', timeout=5)
cmds = ['NOOP', 'VRFY root', 'HELP'] * 200
s.send('EHLO pipe.example\r\n' + ''.join(c + '\r\n' for c in cmds) +
       'QUIT\r\n')
s.reply('EHLO')
got = []
try:
    for c in cmds + ['QUIT']:
        got.append(last(s.reply('PIPE'))[:9])
except socket.timeout:
    s.note('(no reply for 5 s)')
wantc = ['250 2.0.0', '252 2.5.2', '214 2.0.0'] * 200 + ['221 2.0.0']
bad = [i for i in range(len(wantc)) if i >= len(got) or got[i] != wantc[i]]
ck('smtp: PIPELINING: 600 NOOP/VRFY/HELP in one write, ~40 KB of replies '
   '(read only at the end): 600 replies in order, then 221',
   not bad, 'got %d of %d replies; the first missing or wrong is #%d: %s'
   % (len(got), len(wantc), bad[0], got[bad[0]] if bad[0] < len(got)
      else 'none (the server stalled)') if bad else '')

# a client that half-closes after its last command still gets every reply
s = S(name='halfclose')
s.send('EHLO half.example\r\nMAIL FROM:<half@example.org>\r\n'
       'RCPT TO:<root>\r\nDATA\r\nSubject: smtp-half-1\r\n\r\nhalf\r\n'
       '.\r\nQUIT\r\n')
s.s.shutdown(socket.SHUT_WR)
tags = ['EHLO', 'MAIL', 'RCPT', 'DATA', 'DATA-END', 'QUIT']
rs = [s.reply(t) for t in tags]
ck('smtp: a client that shuts down its sending side after QUIT gets every '
   'reply (250 queued, 221)', queued_id(rs[4]) is not None and
   starts(rs[5], '221 2.0.0'), [last(r) for r in rs])
ck('smtp: ... and that message is delivered',
   waitmail('root', b'smtp-half-1') is not None)
EOF

# SMTP smuggling (CVE-2023-51764/5/6): only <CR><LF>.<CR><LF> ends DATA
py <<'EOF'
from sx import *
CURRENT[0] = 'smtp: smuggling'
for n, end in ((1, '\n.\n'), (2, '\n.\r\n'), (3, '\r\n.\n')):
    show_end = end.replace('\r', '<CR>').replace('\n', '<LF>')
    s = S(name='smuggle%d' % n)
    s.cmd('EHLO smuggle.example')
    s.cmd('MAIL FROM:<outer@example.org>')
    s.cmd('RCPT TO:<root>')
    s.cmd('DATA')
    s.send('Subject: smtp-smuggle-outer-%d\r\n\r\nouter body%s'
           'MAIL FROM:<evil@example.org>\r\nRCPT TO:<root>\r\nDATA\r\n'
           'Subject: smtp-smuggle-inner-%d\r\n\r\nsmuggled\r\n.\r\n'
           % (n, end, n))
    s.send('NOOP\r\nQUIT\r\n')
    rs = []
    while True:
        r = s.reply('SMUGGLE')
        if not r:
            break
        rs.append(last(r))
    ids = [queued_id([l]) for l in rs if queued_id([l])]
    second = [l for l in rs if l[:9] in ('250 2.1.0', '250 2.1.5') or
              l[:4] == '354 ']
    inner = None
    if len(ids) > 1:
        inner = waitmail('root', b'smtp-smuggle-inner-%d' % n)
    ck('smtp: SMTP smuggling: "%s" inside DATA does not end the message '
       '(no second MAIL/RCPT/DATA transaction is run)' % show_end,
       not second and len(ids) <= 1,
       'replies after the data: %s\nsmuggled message from <evil@example.org>'
       ' delivered to root: %s' % (rs, 'yes' if inner else 'no'))
EOF

# recipients: unknown user, postmaster, relaying from loopback
py <<'EOF'
from sx import *
CURRENT[0] = 'smtp: recipients'
s = S(name='rcpt')
s.cmd('EHLO rcpt.example')
s.cmd('MAIL FROM:<r@example.org>')
ck('smtp: unknown local user answers 550 5.1.1',
   starts(s.cmd('RCPT TO:<nosuchuser42>'), '550 5.1.1'))
ck('smtp: unknown local user @test.example answers 550 5.1.1',
   starts(s.cmd('RCPT TO:<nosuchuser42@test.example>'), '550 5.1.1'))
ck('smtp: <postmaster> is accepted without an alias (250 2.1.5)',
   starts(s.cmd('RCPT TO:<postmaster>'), '250 2.1.5'))
ck('smtp: <Postmaster> (any case) is accepted (250 2.1.5)',
   starts(s.cmd('RCPT TO:<Postmaster>'), '250 2.1.5'))
ck('smtp: <postmaster@test.example> is accepted (250 2.1.5)',
   starts(s.cmd('RCPT TO:<postmaster@test.example>'), '250 2.1.5'))
ck('smtp: <postmaster@localhost> (LocalDomains default) is accepted',
   starts(s.cmd('RCPT TO:<postmaster@localhost>'), '250 2.1.5'))
ck('smtp: relay to <bob@example.org> from 127.0.0.1 (RelayFrom default) '
   'answers 250 2.1.5',
   starts(s.cmd('RCPT TO:<bob@example.org>'), '250 2.1.5'))
ck('smtp: RCPT with a bad address answers 501 5.1.3',
   starts(s.cmd('RCPT TO:<bob@@example.org>'), '501 5.1.3'))
s.cmd('RSET')
s.cmd('MAIL FROM:<root@test.example>')
s.cmd('RCPT TO:<Postmaster>')
s.cmd('DATA')
s.send('Subject: smtp-postmaster-1\r\n\r\nfor the postmaster\r\n.\r\n')
ck('smtp: a message to <Postmaster> without an alias is queued',
   queued_id(s.reply('DATA-END')) is not None)
ck('smtp: ... and delivered somewhere (mail/postmaster or mail/root)',
   waitfor(20, lambda: any(b'smtp-postmaster-1' in m
                           for u in ('postmaster', 'root')
                           for m in mbox(u))), logtext()[-600:])
s.cmd('QUIT')
lg = logtext()
ck('smtp: the refused RCPT is logged ("reject: RCPT from [127.0.0.1]: '
   '550 5.1.1 ...")',
   re.search(r'reject: RCPT from \[127\.0\.0\.1\]: 550 5\.1\.1 .*nosuchuser42',
             lg) is not None, lg[-1000:])
EOF

# line limits, NUL, the error limit
py <<'EOF'
from sx import *
CURRENT[0] = 'smtp: limits'
s = S(name='lines')
s.cmd('EHLO lines.example')
ck('smtp: a command line of exactly 512 octets is accepted',
   starts(s.cmd('NOOP ' + 'x' * 505), '250 2.0.0'))
ck('smtp: a command line of 513 octets answers 500 5.5.2',
   starts(s.cmd('NOOP ' + 'x' * 506), '500 5.5.2'))
ck('smtp: ... and the session goes on (NOOP answers 250)',
   starts(s.cmd('NOOP'), '250 2.0.0'))
r = s.cmd('NOOP ' + 'x' * 20000)
ck('smtp: a 20000-octet command line answers one 500 5.5.2',
   starts(r, '500 5.5.2'))
ck('smtp: ... and the next command gets its own reply (no second 500)',
   starts(s.cmd('NOOP'), '250 2.0.0'))
ck('smtp: a NUL byte in a command answers 500',
   starts(s.cmd(b'NO\x00OP'), '500 5.5'))
ck('smtp: ... and the session goes on', starts(s.cmd('NOOP'), '250 2.0.0'))
ck('smtp: NUL then a valid verb (MAIL FROM:<a@b>\\0x) answers 500',
   starts(s.cmd(b'MAIL FROM:<a@example.org>\x00x'), '500 5.5'))
before = committed()
s.cmd('MAIL FROM:<long@example.org>')
s.cmd('RCPT TO:<root>')
s.cmd('DATA')
s.send(b'Subject: smtp-longline-1\r\n\r\nok\r\n' + b'z' * 999 +
       b'\r\nmore\r\n.\r\n')
ck('smtp: a text line of 1001 octets in DATA answers 500 5.5.2 after the dot',
   starts(s.reply('DATA-END'), '500 5.5.2'))
ck('smtp: ... and nothing is queued (no new qf/df)',
   committed() == before, 'before %s, after %s' % (before, committed()))
ck('smtp: ... and the session goes on (MAIL answers 250)',
   starts(s.cmd('MAIL FROM:<long@example.org>'), '250 2.1.0'))
s.cmd('RCPT TO:<root>')
s.cmd('DATA')
s.send(b'Subject: smtp-longline-2\r\n\r\n' + b'w' * 30000 + b'\r\n.\r\n')
ck('smtp: a 30000-octet text line in DATA answers 500 5.5.2 after the dot',
   starts(s.reply('DATA-END'), '500 5.5.2'))
ck('smtp: ... nothing queued, and the next command gets its own reply',
   committed() == before and starts(s.cmd('NOOP'), '250 2.0.0'))
s.cmd('QUIT')
ck('smtp: the refused messages never reach the mailbox',
   waitmail('root', b'smtp-longline-', secs=0.5) is None)

s = S(name='errors')
s.cmd('EHLO errors.example')
rs = [s.cmd('BOGUS%d' % i) for i in range(1, 10)]
ck('smtp: 9 unknown commands: 9 replies 500 5.5.1, session still open',
   all(starts(r, '500 5.5.1') for r in rs) and
   starts(s.cmd('NOOP'), '250 2.0.0'), [last(r) for r in rs])
r1 = s.cmd('BOGUS10')
r2 = s.reply('AFTER-ERRORS')
ck('smtp: the 10th error: its 500, then "421 4.7.0 ... too many errors" '
   'and the server closes',
   starts(r1, '500 5.5.1') and starts(r2, '421 4.7.0') and s.eof(10),
   '%s / %s' % (last(r1), last(r2)))
EOF
stopd

# ---- L: MaxMessageSize=10K, MaxRecipientsPerMessage=3 ------------------------

box l
startd limits -O MaxMessageSize=10K -O MaxRecipientsPerMessage=3
py <<'EOF'
from sx import *
CURRENT[0] = 'smtp: SIZE'
s = S(name='size')
r = s.cmd('EHLO size.example')
ck('smtp: EHLO advertises "SIZE 10240" with -O MaxMessageSize=10K',
   '250-SIZE 10240' in r, r)
ck('smtp: MAIL FROM ... SIZE=20000 over MaxMessageSize answers 552 5.3.4',
   starts(s.cmd('MAIL FROM:<big@example.org> SIZE=20000'), '552 5.3.4'))
ck('smtp: MAIL FROM ... SIZE=5000 answers 250 2.1.0',
   starts(s.cmd('MAIL FROM:<big@example.org> SIZE=5000'), '250 2.1.0'))
s.cmd('RCPT TO:<root>')
s.cmd('DATA')
line = b'0123456789' * 7 + b'\r\n'
s.send(b'Subject: smtp-size-1\r\n\r\n' + line * 300 + b'.\r\n')
ck('smtp: a message of 21 KB with MaxMessageSize=10K answers 552 5.3.4 '
   'after the dot', starts(s.reply('DATA-END'), '552 5.3.4'))
ck('smtp: ... and nothing is queued (spool has no qf/df/tf)',
   waitfor(5, lambda: spoolmsgs() == []), spoolmsgs())
s.cmd('MAIL FROM:<big@example.org>')
s.cmd('RCPT TO:<root>')
s.cmd('DATA')
s.send(b'Subject: smtp-size-2\r\n\r\n' + line * 100 + b'.\r\n')
ck('smtp: a 7 KB message under MaxMessageSize=10K is queued',
   queued_id(s.reply('DATA-END')) is not None)
ck('smtp: ... and delivered', waitmail('root', b'smtp-size-2') is not None)
ck('smtp: the 21 KB message never reaches the mailbox',
   waitmail('root', b'smtp-size-1', secs=0) is None)

CURRENT[0] = 'smtp: MaxRecipientsPerMessage'
s.cmd('MAIL FROM:<many@example.org>')
rs = [s.cmd('RCPT TO:<%s>' % u) for u in ('root', 'daemon', 'bin')]
ck('smtp: MaxRecipientsPerMessage=3: 3 RCPT answer 250 2.1.5',
   all(starts(r, '250 2.1.5') for r in rs))
ck('smtp: MaxRecipientsPerMessage=3: the 4th RCPT answers 452 4.5.3',
   starts(s.cmd('RCPT TO:<sys>'), '452 4.5.3'))
s.cmd('DATA')
s.send('Subject: smtp-rcpts-1\r\n\r\nthree\r\n.\r\n')
qid = queued_id(s.reply('DATA-END'))
ck('smtp: ... and the message goes to the 3 accepted (nrcpts=3 logged)',
   qid is not None and waitfor(5, lambda: re.search(
       r'%s: from=<many@example\.org>, size=\d+, nrcpts=3,' % qid,
       logtext())) is not None, logtext()[-800:])
s.cmd('QUIT')
EOF
stopd

# ---- T: Timeout.command=2s, Timeout.datablock=2s -----------------------------

box t
startd timeouts -O Timeout.command=2s -O Timeout.datablock=2s
py <<'EOF'
from sx import *
CURRENT[0] = 'smtp: timeouts'
t0 = time.time()
idle = S(name='idle')
indata = S(name='indata')
indata.cmd('EHLO data.example')
indata.cmd('MAIL FROM:<slow@example.org>')
indata.cmd('RCPT TO:<root>')
indata.cmd('DATA')
indata.send('Subject: smtp-timeout-1\r\n\r\npartial line\r\nno end')
steady = S(name='steady')
steady.cmd('EHLO steady.example')
steady.cmd('MAIL FROM:<steady@example.org>')
steady.cmd('RCPT TO:<root>')
steady.cmd('DATA')
steady.send('Subject: smtp-steady-1\r\n\r\n')
early = []
# a steady client: one line every 0.7 s for 4 s (longer than the 2 s
# Timeout.datablock, which counts from the last block)
for i in range(6):
    time.sleep(0.7)
    if time.time() - t0 < 1.2:
        early = [x.name for x in (idle, indata) if x.readable(0)]
    steady.send('line %d\r\n' % i)
steady.send('.\r\n')
ck('smtp: Timeout.datablock=2s: a slow but steady DATA (a line every 0.7 s '
   'for 4 s) is accepted', queued_id(steady.reply('DATA-END')) is not None)
steady.cmd('QUIT')
r1 = idle.reply('TIMEOUT')
t1 = time.time() - t0
ck('smtp: Timeout.command=2s: an idle session gets 421 4.4.2 (not before '
   '1 s) and is closed',
   starts(r1, '421 4.4.2') and 'idle' not in early and idle.eof(10),
   'early replies from %s; 421 read after %.1f s' % (early, t1))
r2 = indata.reply('TIMEOUT')
ck('smtp: Timeout.datablock=2s: a stalled DATA gets 421 4.4.2 and is closed',
   starts(r2, '421 4.4.2') and 'indata' not in early and indata.eof(10))
ck('smtp: ... and nothing of the stalled message is kept (no qf/df/tf '
   'once the steady one is delivered)',
   waitfor(10, lambda: spoolmsgs() == []), spoolmsgs())
ck('smtp: ... and the stalled message never reaches the mailbox',
   waitmail('root', b'smtp-steady-1') is not None and
   waitmail('root', b'smtp-timeout-1', secs=0) is None)
lg = logtext()
ck('smtp: the timeouts are logged ("timeout after ... from [127.0.0.1]")',
   lg.count('timeout after') >= 2, lg[-1000:])
EOF
stopd

# ---- C: MaxConnections=3; P: MaxConnectionsPerIP=2 ---------------------------

box c
startd maxconn -O MaxConnections=3
py <<'EOF'
from sx import *
CURRENT[0] = 'smtp: MaxConnections'
held = [S(name='c%d' % i) for i in (1, 2, 3)]
ck('smtp: MaxConnections=3: 3 concurrent sessions get 220',
   all(starts(h.banner, '220 ') for h in held))
extra = S(name='c4')
ck('smtp: MaxConnections=3: the 4th concurrent connection gets 421 4.7.0 '
   'and is closed', starts(extra.banner, '421 4.7.0') and extra.eof(10))
held[0].cmd('QUIT')
held[0].eof(10)

def again():
    x = S(name='c5')
    ok = starts(x.banner, '220 ')
    if ok:
        x.cmd('QUIT')
    x.close()
    return ok

ck('smtp: MaxConnections=3: after one QUIT a new connection gets 220',
   waitfor(10, again))
for h in held[1:]:
    ck('smtp: MaxConnections=3: the held sessions still work (%s)' % h.name,
       starts(h.cmd('NOOP'), '250 2.0.0') and starts(h.cmd('QUIT'), '221'))
EOF
stopd

# a HostName of 255 bytes (the longest): the 421 to a connection over the
# limit is whole, and nothing follows it (the buffer was 256 bytes: the
# write took the rest from the stack)
L=$(printf '%063d' 0 | tr 0 a)
LONGNAME=$L.$L.$L.$L
export LONGNAME
startd longname -O MaxConnections=1 -O "HostName=$LONGNAME"
py <<'EOF'
import os
from sx import *
CURRENT[0] = 'smtp: long HostName'
held = S(name='l1')
raw = socket.create_connection(('127.0.0.1', PORT), timeout=10)
got = b''
while True:
    d = raw.recv(4096)
    if not d:
        break
    got += d
raw.close()
want = ('421 4.7.0 %s Error: too many connections, try again later\r\n' %
        os.environ['LONGNAME']).encode()
ck('smtp: HostName of 255 bytes: a refused connection gets its whole 421, '
   'and nothing after it', got == want, repr(got))
held.cmd('QUIT')
EOF
stopd

box p
if [ "$HAVE6" = yes ]; then
	# a second address of this machine (::1) for "the others still get in"
	WANTPORT=$(freeport46)
	startd maxperip -O MaxConnectionsPerIP=2 \
	    -O "DaemonPortOptions=Addr=::1,Port=$WANTPORT"
else
	startd maxperip -O MaxConnectionsPerIP=2
fi
export HAVE6
py <<'EOF'
from sx import *
CURRENT[0] = 'smtp: MaxConnectionsPerIP'
held = [S(name='p%d' % i) for i in (1, 2)]
ck('smtp: MaxConnectionsPerIP=2: 2 sessions from 127.0.0.1 get 220',
   all(starts(h.banner, '220 ') for h in held))
extra = S(name='p3')
ck('smtp: MaxConnectionsPerIP=2: the 3rd from 127.0.0.1 gets 421 4.7.0 and '
   'is closed', starts(extra.banner, '421 4.7.0') and extra.eof(10))
if os.environ.get('HAVE6') == 'yes':
    other = S(name='p-other', host='::1')
    ck('smtp: MaxConnectionsPerIP=2: meanwhile a session from ::1 still gets '
       '220', starts(other.banner, '220 '))
    other.cmd('QUIT')
else:
    print('# no ::1 here: the per-address part is not tested')
for h in held:
    h.cmd('QUIT')
EOF
stopd

if built TLS; then
# ---- S: STARTTLS with an RSA certificate, AUTH, RelayFrom= -------------------

box s
S_BOX=$D
printf 'alice:%s\n' "$(mkpasswd -m sha-512 secret)" > "$D/users"
printf 'bob:%s\n' "$(mkpasswd -m sha-512 hunter2)" >> "$D/users"
startd tls -O "ServerCertFile=$PKI/rsa.pem" -O "ServerKeyFile=$PKI/rsa.key" \
    -O "AuthUsersFile=$D/users" -O RelayFrom=
PORT_S=$PORT

py <<'EOF'
from sx import *
CURRENT[0] = 'smtp: STARTTLS'
base = ['PIPELINING', 'SIZE 26214400', '8BITMIME', 'ENHANCEDSTATUSCODES',
        'DSN', 'SMTPUTF8']
s = S(name='plain')
r = s.cmd('EHLO tls.example')
kw = [l[4:] for l in r[1:]]
ck('smtp: with a certificate, EHLO lists exactly the keywords plus STARTTLS '
   '(no AUTH before TLS)', sorted(kw) == sorted(base + ['STARTTLS']),
   'keywords: %s' % kw)
ck('smtp: AUTH before STARTTLS answers 503 5.5.1',
   starts(s.cmd('AUTH PLAIN AGFsaWNlAHNlY3JldA=='), '503 5.5.1'))
s.cmd('MAIL FROM:<r@example.org>')
ck('smtp: -O RelayFrom= (loopback not trusted): RCPT <bob@example.org> '
   'answers 554 5.7.1 ... Relaying denied',
   re.match(r'554 5\.7\.1 .*Relaying denied', last(s.cmd(
       'RCPT TO:<bob@example.org>'))) is not None)
ck('smtp: -O RelayFrom=: a local recipient is still accepted',
   starts(s.cmd('RCPT TO:<root>'), '250 2.1.5'))
s.cmd('RSET')
ck('smtp: STARTTLS with an argument answers 501',
   starts(s.cmd('STARTTLS now'), '501 5.5.4'))
ck('smtp: STARTTLS answers 220 2.0.0',
   starts(s.cmd('STARTTLS'), '220 2.0.0'))
s.starttls(tlsctx(), ragged=False)
ck('smtp: the TLS handshake verifies against the test CA for test.example '
   '(TLSv1.2)', s.s.version() == 'TLSv1.2', s.s.version())
ck('smtp: after STARTTLS the HELO is forgotten (MAIL answers 503 5.5.1)',
   starts(s.cmd('MAIL FROM:<a@example.org>'), '503 5.5.1'))
r = s.cmd('EHLO tls.example')
kw = [l[4:] for l in r[1:]]
ck('smtp: inside TLS with AuthUsersFile, EHLO lists AUTH PLAIN LOGIN and '
   'no STARTTLS', sorted(kw) == sorted(base + ['AUTH PLAIN LOGIN']),
   'keywords: %s' % kw)
ck('smtp: a second STARTTLS inside TLS is refused (503 5.5.1)',
   starts(s.cmd('STARTTLS'), '503 5.5.1'))
s.cmd('MAIL FROM:<tls@example.org>')
s.cmd('RCPT TO:<root>')
s.cmd('DATA')
s.send('Subject: smtp-tls-raw-1\r\n\r\nover TLS\r\n.\r\n')
qid = queued_id(s.reply('DATA-END'))
ck('smtp: a message over TLS is queued', qid is not None)
ck('smtp: QUIT inside TLS answers 221 2.0.0',
   starts(s.cmd('QUIT'), '221 2.0.0'))
try:
    s.s.settimeout(10)
    rest = s.s.recv(1000)
    s.note('(after the 221: %r, then a TLS close_notify)' % rest)
    clean = rest == b''
except (ssl.SSLError, OSError) as e:
    s.note('(after the 221: %s)' % e)
    clean = False
ck('smtp: TLS: after QUIT the server sends a TLS close_notify before '
   'closing (RFC 5246 7.2.1; openssl s_client says "unexpected eof")', clean)
# a large message over TLS in 16 KB records, sent at once: the engine
# refills the input buffer without a read, and a full buffer must still
# be worked through, not left to wait for select() (and the timeout)
b = S(name='tlsbig')
b.cmd('EHLO tls.example')
b.cmd('STARTTLS')
b.starttls(tlsctx())
b.cmd('EHLO tls.example')
b.cmd('MAIL FROM:<tlsbig@example.org>')
b.cmd('RCPT TO:<root>')
b.cmd('DATA')
big = b''.join(b'%s\r\n' % (b'y' * (i * 37 % 200)) for i in range(10000))
t0 = time.time()
b.send(b'Subject: smtp-tls-big\r\n\r\n' + big + b'.\r\n')
r = b.reply('DATA-END')
ck('smtp: a 1 MB message over TLS, sent in one write, is queued at once '
   '(%.1f s)' % (time.time() - t0),
   queued_id(r) is not None and time.time() - t0 < 15, r)
b.cmd('QUIT')
m = waitmail('root', b'smtp-tls-raw-1')
rc = received(m or b'')
ck('smtp: TLS: Received: says "with ESMTPS id ID" and "(using TLSv1.2 with '
   'cipher ...)"',
   re.search(r'with ESMTPS id %s\b' % re.escape(qid or '-'), rc) and
   re.search(r'\(using TLSv1\.2 with cipher [A-Z0-9-]+\)', rc),
   rc or 'no message')
EOF

# swaks --tls, verified against the test CA
capture swaks -s 127.0.0.1 -p "$PORT_S" -h swaks-tls.example -f swaks@example.org \
    -t root --tls --tls-verify --tls-ca-path "$PKI/ca.pem" \
    --header 'Subject: smtp-tls-swaks-1' --body 'swaks over TLS'
tlspart=$(printf '%s\n' "$OUT" | sed -n '/^=== TLS started/,$p')
if [ "$RC" -eq 0 ] && [ -n "$tlspart" ] &&
    printf '%s\n' "$tlspart" | grep -q '^<~  250-AUTH PLAIN LOGIN' &&
    ! printf '%s\n' "$tlspart" | grep -q '^<~  250.STARTTLS' &&
    printf '%s\n' "$tlspart" | grep -q '^<~  250 2.0.0 Ok: queued as'; then
	ok "smtp: swaks --tls --tls-verify (test CA): queued; EHLO inside TLS has AUTH PLAIN LOGIN, no STARTTLS"
else
	fail "smtp: swaks --tls --tls-verify (test CA): queued; EHLO inside TLS has AUTH PLAIN LOGIN, no STARTTLS" "swaks exit $RC
$(printf '%s\n' "$OUT" | tail -n 25)
$ERR"
fi
if waitfor 20 grep -q smtp-tls-swaks-1 "$S_BOX/mail/root" &&
    grep -B1 -A4 '^Received: from swaks-tls.example' "$S_BOX/mail/root" |
    tr '\n' ' ' | grep -q 'with ESMTPS id .*(using TLSv1.2 with cipher '; then
	ok "smtp: swaks --tls: delivered, Received: has ESMTPS and (using TLSv1.2 with cipher ...)"
else
	fail "smtp: swaks --tls: delivered, Received: has ESMTPS and (using TLSv1.2 with cipher ...)" "$(grep -A4 '^Received: from swaks-tls' "$S_BOX/mail/root" 2>&1)"
fi
capture swaks -s 127.0.0.1 -p "$PORT_S" -t root --tls --tls-verify \
    --tls-ca-path "$PKI/other.pem" --quit-after EHLO
if [ "$RC" -ne 0 ] && printf '%s\n%s\n' "$OUT" "$ERR" | grep -q 'TLS startup failed'; then
	ok "smtp: swaks --tls-verify against another CA fails (the verification is real)"
else
	fail "smtp: swaks --tls-verify against another CA fails (the verification is real)" "swaks exit $RC
$(printf '%s\n' "$OUT" | tail -n 12)"
fi

# openssl s_client -starttls smtp
capture timeout 30 openssl s_client -starttls smtp -connect "127.0.0.1:$PORT_S" \
    -CAfile "$PKI/ca.pem" -verify_return_error -verify_hostname test.example \
    -servername test.example -crlf -ign_eof \
    <<<$'EHLO sclient.example\nQUIT'
# (its exit status is left out: the close_notify check below covers it)
if printf '%s\n' "$OUT" | grep -q 'Verify return code: 0 (ok)' &&
    printf '%s\n' "$OUT" | grep -q '^250-AUTH PLAIN LOGIN' &&
    ! printf '%s\n' "$OUT" | grep -q '^250.STARTTLS' &&
    printf '%s\n' "$OUT" | grep -q '^221 2.0.0'; then
	ok "smtp: openssl s_client -starttls smtp verifies (code 0) and talks SMTP inside TLS"
else
	fail "smtp: openssl s_client -starttls smtp verifies (code 0) and talks SMTP inside TLS" "exit $RC
$(printf '%s\n' "$OUT" | grep -v '^ \|^-----\|^[A-Za-z0-9+/=]*$' | tail -n 25)
$(printf '%s\n' "$ERR" | tail -n 5)"
fi

# the STARTTLS command injection (CVE-2011-0411 and friends)
py <<'EOF'
from sx import *
CURRENT[0] = 'smtp: STARTTLS injection'
s = S(name='inject')
s.cmd('EHLO inject.example')
s.send('STARTTLS\r\nRSET\r\n')
r = s.reply('STARTTLS')
ck('smtp: injection: "STARTTLS\\r\\nRSET\\r\\n" in one packet: 220 2.0.0 '
   'to the STARTTLS', starts(r, '220 2.0.0'))
try:
    s.starttls(tlsctx())
    up = True
except (ssl.SSLError, OSError) as e:
    s.note('(handshake failed: %s)' % e)
    up = False
ck('smtp: injection: the TLS handshake works (no plaintext reply to the '
   'RSET in the way)', up)
if up:
    r = s.cmd('EHLO inject.example')
    ck('smtp: injection: the first reply inside TLS is the one to our EHLO '
       '(the injected RSET is not answered)',
       bool(r) and r[0].startswith('250-test.example'), r)
    r = s.cmd('NOOP')
    ck('smtp: injection: nothing stray after it (NOOP answers exactly '
       '250 2.0.0 Ok)', r == ['250 2.0.0 Ok'], r)
    s.cmd('QUIT')
# the same with a MAIL/RCPT injected: nothing of it survives into TLS
s = S(name='inject2')
s.cmd('EHLO inject.example')
s.send('STARTTLS\r\nMAIL FROM:<evil@example.org>\r\nRCPT TO:<root>\r\n')
s.reply('STARTTLS')
s.starttls(tlsctx())
s.cmd('EHLO inject.example')
ck('smtp: injection: an injected MAIL FROM is forgotten (RCPT inside TLS '
   'answers 503 5.5.1)', starts(s.cmd('RCPT TO:<root>'), '503 5.5.1'))
s.cmd('QUIT')
EOF

# AUTH (needs crypt.c: SHA-512 crypt)
py <<'EOF'
from sx import *
import base64, smtplib
CURRENT[0] = 'smtp: AUTH'

def tls_session(name):
    s = S(name=name)
    s.cmd('EHLO auth.example')
    s.cmd('STARTTLS')
    s.starttls(tlsctx())
    s.cmd('EHLO auth.example')
    return s

s = tls_session('plain-ok')
r = s.cmd('AUTH PLAIN ' + base64.b64encode(b'\0alice\0secret').decode())
ck('smtp: AUTH PLAIN alice/secret (mkpasswd -m sha-512 hash) answers '
   '235 2.7.0', starts(r, '235 2.7.0'))
s.cmd('MAIL FROM:<alice@example.org>')
ck('smtp: after AUTH, relaying with -O RelayFrom= is allowed '
   '(RCPT <bob@example.org> answers 250 2.1.5)',
   starts(s.cmd('RCPT TO:<bob@example.org>'), '250 2.1.5'))
s.cmd('RSET')
ck('smtp: a second AUTH in an authenticated session answers 503 5.5.1',
   starts(s.cmd('AUTH PLAIN ' + base64.b64encode(b'\0alice\0secret')
                .decode()), '503 5.5.1'))
s.cmd('QUIT')

s = tls_session('plain-334')
r1 = s.cmd('AUTH PLAIN')
r2 = s.cmd(base64.b64encode(b'\0bob\0hunter2').decode(), tag='AUTH-DATA')
ck('smtp: AUTH PLAIN without initial response: "334 " then 235 2.7.0',
   starts(r1, '334') and starts(r2, '235 2.7.0'))
s.cmd('QUIT')

s = tls_session('login-ok')
r1 = s.cmd('AUTH LOGIN')
r2 = s.cmd(base64.b64encode(b'alice').decode(), tag='AUTH-DATA')
r3 = s.cmd(base64.b64encode(b'secret').decode(), tag='AUTH-DATA')
ck('smtp: AUTH LOGIN: 334 VXNlcm5hbWU6, 334 UGFzc3dvcmQ6, then 235 2.7.0',
   last(r1) == '334 VXNlcm5hbWU6' and last(r2) == '334 UGFzc3dvcmQ6' and
   starts(r3, '235 2.7.0'))
la = re.findall(r'\[127\.0\.0\.1\] authenticated as (.*)', logtext())
ck('smtp: AUTH LOGIN success is logged with the user name '
   '("[127.0.0.1] authenticated as alice")', la[-1:] == ['alice'],
   'the "authenticated as" log lines so far: %s' % la)
s.cmd('QUIT')

s = tls_session('login-bad')
s.cmd('AUTH LOGIN')
s.cmd(base64.b64encode(b'alice').decode(), tag='AUTH-DATA')
r = s.cmd(base64.b64encode(b'wrong').decode(), tag='AUTH-DATA')
ck('smtp: AUTH LOGIN with a wrong password answers 535 5.7.8',
   starts(r, '535 5.7.8'))
la = re.findall(r'\[127\.0\.0\.1\] authentication failed for user (.*)',
                logtext())
ck('smtp: a failed AUTH LOGIN is logged with the user name '
   '("authentication failed for user alice")', la[-1:] == ['alice'],
   'the "authentication failed" log lines so far: %s' % la)
s.cmd('QUIT')

# smtplib: starttls + login (PLAIN), and AUTH LOGIN explicitly
def smtplib_auth(mech):
    c = smtplib.SMTP('127.0.0.1', PORT, local_hostname='smtplib.example',
                     timeout=30)
    c.starttls(context=tlsctx())
    c.ehlo()
    c.user, c.password = 'alice', 'secret'
    try:
        if mech == 'PLAIN':
            code, msg = c.login('alice', 'secret')
        else:
            code, msg = c.auth('LOGIN', c.auth_login,
                               initial_response_ok=False)
    except smtplib.SMTPException as e:
        code, msg = -1, str(e).encode()
    TR.append('smtplib AUTH %s -> %s %s' % (mech, code, msg))
    try:
        c.quit()
    except smtplib.SMTPException:
        pass
    return code

ck('smtp: smtplib starttls() + login() (AUTH PLAIN) succeeds (235)',
   smtplib_auth('PLAIN') == 235)
ck('smtp: smtplib starttls() + auth("LOGIN") succeeds (235)',
   smtplib_auth('LOGIN') == 235)

s = tls_session('bad')
t0 = time.time()
r1 = s.cmd('AUTH PLAIN ' + base64.b64encode(b'\0alice\0wrong').decode())
r2 = s.cmd('AUTH PLAIN ' + base64.b64encode(b'\0nosuch\0secret').decode())
dt = time.time() - t0
ck('smtp: AUTH with a wrong password answers 535 5.7.8',
   starts(r1, '535 5.7.8'))
ck('smtp: AUTH for an unknown user answers 535 5.7.8',
   starts(r2, '535 5.7.8'))
ck('smtp: failed AUTH attempts are slowed down (two failures take >= 1 s)',
   dt >= 1.0, 'took %.2f s' % dt)
s.cmd('MAIL FROM:<a@example.org>')
ck('smtp: after a failed AUTH, relaying is still denied (554 5.7.1)',
   starts(s.cmd('RCPT TO:<bob@example.org>'), '554 5.7.1'))
s.cmd('QUIT')
lg = logtext()
ck('smtp: a failed AUTH is logged with the peer address ([127.0.0.1]) and '
   'the user', re.search(r'\[127\.0\.0\.1\].*(authentication failed|535).*'
                         r'alice|\[127\.0\.0\.1\].*alice.*(fail|535)', lg)
   is not None, lg[-1200:])
ck('smtp: the password never appears in the log',
   'wrong' not in lg and 'secret' not in lg and 'hunter2' not in lg)
EOF

capture swaks -s 127.0.0.1 -p "$PORT_S" -h swaks-auth.example -f alice@example.org \
    -t bob@example.org --tls --tls-verify --tls-ca-path "$PKI/ca.pem" \
    --auth LOGIN --auth-user alice --auth-password secret --quit-after RCPT
if [ "$RC" -eq 0 ] && printf '%s\n' "$OUT" | grep -q '^<~  235 2.7.0' &&
    printf '%s\n' "$OUT" | grep -q '^<~  250 2.1.5'; then
	ok "smtp: swaks --tls --auth LOGIN: 235, then RCPT <bob@example.org> accepted (relay after AUTH)"
else
	fail "smtp: swaks --tls --auth LOGIN: 235, then RCPT <bob@example.org> accepted (relay after AUTH)" "swaks exit $RC
$(printf '%s\n' "$OUT" | tail -n 12)"
fi
stopd

# ---- E: an EC key and a chain (leaf <- intermediate <- CA), no AuthUsersFile --

box e
startd ecchain -O "ServerCertFile=$PKI/ecchain.pem" -O "ServerKeyFile=$PKI/ec.key"
py <<'EOF'
from sx import *
import smtplib
CURRENT[0] = 'smtp: EC chain'
c = smtplib.SMTP('127.0.0.1', PORT, local_hostname='ec.example', timeout=30)
c.ehlo()
has = c.has_extn('starttls')
try:
    code, msg = c.starttls(context=tlsctx())
    cipher = c.sock.cipher()[0]
    TR.append('smtplib STARTTLS -> %s %s, %s %s' % (code, msg,
              c.sock.version(), cipher))
except (ssl.SSLError, smtplib.SMTPException, OSError) as e:
    TR.append('smtplib STARTTLS failed: %s' % e)
    code, cipher = -1, ''
ck('smtp: EC prime256v1 key + chain (leaf, intermediate): python ssl '
   'verifies against the CA alone (ECDSA cipher)',
   has and code == 220 and 'ECDSA' in cipher)
if code == 220:
    code, msg = c.ehlo()
    ck('smtp: inside TLS without AuthUsersFile, EHLO offers no AUTH and no '
       'STARTTLS', not c.has_extn('auth') and not c.has_extn('starttls'),
       msg)
    code, msg = c.docmd('AUTH', 'PLAIN AGFsaWNlAHNlY3JldA==')
    ck('smtp: ... and AUTH answers 503 5.5.1',
       code == 503 and msg.startswith(b'5.5.1'), msg)
    c.sendmail('ec@example.org', ['root'],
               b'Subject: smtp-ec-1\r\n\r\nover ECDSA\r\n')
    c.quit()
m = waitmail('root', b'smtp-ec-1')
rc = received(m or b'')
ck('smtp: EC chain: delivered; Received: says ESMTPS and an ECDSA cipher',
   'with ESMTPS id' in rc and 'ECDSA' in rc, rc or 'no message')
EOF
stopd
else
	skip "smtp: S and E: STARTTLS, AUTH, an EC chain" "this mta was built without TLS"
fi

# ---- V: listeners on 127.0.0.1 and ::1 at once --------------------------------

if [ "$HAVE6" = yes ]; then
	box v
	V_BOX=$D
	P6=$(freeport46)
	WANTPORT=$P6
	startd ipv6 -O "DaemonPortOptions=Addr=::1,Port=$P6"
	if waitfor 10 "$PY" probe.py ::1 "$P6"; then
		ok "smtp: IPv6: two listeners (127.0.0.1 and ::1, same port) both answer 220"
	else
		fail "smtp: IPv6: two listeners (127.0.0.1 and ::1, same port) both answer 220" "$(dstate)"
	fi
	capture swaks -s ::1 -p "$P6" -h v6.example -f v6@example.org -t root \
	    --header 'Subject: smtp-ipv6-1' --body 'over ::1'
	if [ "$RC" -eq 0 ] && waitfor 20 grep -q smtp-ipv6-1 "$V_BOX/mail/root" &&
	    grep -A1 '^Received: from v6.example' "$V_BOX/mail/root" | grep -q '\[::1\]' &&
	    grep -q 'relay=\[::1\]' "$V_BOX/log"; then
		ok "smtp: IPv6: swaks over ::1 queued and delivered; Received: and log show [::1]"
	else
		fail "smtp: IPv6: swaks over ::1 queued and delivered; Received: and log show [::1]" "swaks exit $RC
$(printf '%s\n' "$OUT" | tail -n 8)
$(grep -A2 '^Received:' "$V_BOX/mail/root" 2>&1 | tail -n 3)
$(tail -n 5 "$V_BOX/log")"
	fi
	py <<'EOF'
from sx import *
CURRENT[0] = 'smtp: IPv6'
s = S(host='::1', name='v6')
s.cmd('EHLO v6.example')
s.cmd('MAIL FROM:<v6@example.org>')
ck('smtp: IPv6: ::1 is in the default RelayFrom (relay to bob@example.org '
   'answers 250)', starts(s.cmd('RCPT TO:<bob@example.org>'), '250 2.1.5'))
s.cmd('QUIT')
EOF
	stopd
else
	echo "# no ::1 here: IPv6 listener not tested"
fi

if built TLS; then
# ---- bad certificate or key files: exit 78 at start, naming the file ---------

box x
printf -- '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n' > "$D/garbage-cert.pem"
printf -- '-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5IGF0IGFsbA==\n-----END PRIVATE KEY-----\n' > "$D/garbage-key.pem"
printf 'this is not PEM at all\n' > "$D/text.pem"
: > "$D/empty.pem"

# badtls NAME FILE-THAT-MUST-BE-NAMED ARGS...: the daemon must exit 78 at
# start, naming the file on stderr, without answering a 220.
badtls()
{
	local name=$1 file=$2 pid rc up=no
	shift 2
	PORT=$(freeport)
	"$MTA" "${BO[@]}" -O "DaemonPortOptions=Addr=127.0.0.1,Port=$PORT" \
	    "$@" -bD >"$D/out" 2>"$D/err" </dev/null &
	pid=$!
	cleanup_add "$pid"
	waitfor 30 eval "! kill -0 $pid 2>/dev/null || \"$PY\" probe.py 127.0.0.1 $PORT"
	if kill -0 "$pid" 2>/dev/null; then
		up=yes
		kill -TERM "$pid"
		waitfor 10 eval "! kill -0 $pid 2>/dev/null"
	fi
	wait "$pid" 2>/dev/null
	rc=$?
	if [ "$up" = no ] && [ "$rc" -eq 78 ] && grep -qF -- "$file" "$D/err"; then
		ok "smtp: $name: exit 78 at start, stderr names the file"
	else
		fail "smtp: $name: exit 78 at start, stderr names the file" "still running and answering: $up; exit $rc (78 wanted); file: $file
stderr: $(cat "$D/err")"
	fi
}
badtls "garbage PEM certificate" "$D/garbage-cert.pem" \
    -O "ServerCertFile=$D/garbage-cert.pem" -O "ServerKeyFile=$PKI/rsa.key"
badtls "certificate file that is not PEM" "$D/text.pem" \
    -O "ServerCertFile=$D/text.pem" -O "ServerKeyFile=$PKI/rsa.key"
badtls "empty certificate file" "$D/empty.pem" \
    -O "ServerCertFile=$D/empty.pem" -O "ServerKeyFile=$PKI/rsa.key"
badtls "missing certificate file" "$D/nosuch-cert.pem" \
    -O "ServerCertFile=$D/nosuch-cert.pem" -O "ServerKeyFile=$PKI/rsa.key"
badtls "garbage PEM key" "$D/garbage-key.pem" \
    -O "ServerCertFile=$PKI/rsa.pem" -O "ServerKeyFile=$D/garbage-key.pem"
badtls "missing key file" "$D/nosuch-key.pem" \
    -O "ServerCertFile=$PKI/rsa.pem" -O "ServerKeyFile=$D/nosuch-key.pem"
badtls "key file holding a certificate, not a key" "$PKI/ca.pem" \
    -O "ServerCertFile=$PKI/rsa.pem" -O "ServerKeyFile=$PKI/ca.pem"
badtls "key that does not belong to the certificate" "$PKI/stray.key" \
    -O "ServerCertFile=$PKI/rsa.pem" -O "ServerKeyFile=$PKI/stray.key"
capture "$MTA" "${BO[@]}" -O "DaemonPortOptions=Addr=127.0.0.1,Port=$(freeport)" \
    -O "ServerCertFile=$PKI/rsa.pem" -bD
if [ "$RC" -eq 78 ] && printf '%s' "$ERR" | grep -q 'ServerKeyFile'; then
	ok "smtp: ServerCertFile without ServerKeyFile: exit 78, message names ServerKeyFile"
else
	fail "smtp: ServerCertFile without ServerKeyFile: exit 78, message names ServerKeyFile" "exit $RC: $ERR"
fi
else
	skip "smtp: bad certificate or key files" "this mta was built without TLS"
fi

# ---- -bs: one session on stdin/stdout ------------------------------------------

box b
capture "$MTA" "${BO[@]}" -bs < <(printf 'HELO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<root>\r\nDATA\r\nSubject: t\r\n\r\nhi from -bs\r\n.\r\nQUIT\r\n')
if [ "$RC" -eq 0 ] && printf '%s\n' "$OUT" | head -n 1 | grep -q '^220 test.example ESMTP mta' &&
    printf '%s\n' "$OUT" | grep -q '^250 2.0.0 Ok: queued as ' &&
    printf '%s\n' "$OUT" | tail -n 1 | grep -q '^221 2.0.0'; then
	ok "smtp: -bs: a session on stdin/stdout: 220, 250 queued, 221, exit 0"
else
	fail "smtp: -bs: a session on stdin/stdout: 220, 250 queued, 221, exit 0" "exit $RC
$(printf '%s\n' "$OUT" | cat -v)
$ERR"
fi
if waitfor 20 grep -q '^hi from -bs$' "$D/mail/root"; then
	ok "smtp: -bs: the message is delivered to mail/root"
else
	fail "smtp: -bs: the message is delivered to mail/root" "spool: $(ls "$D/spool")
$(tail -n 5 "$D/log" 2>&1)"
fi

# MaxMessageSize counts each message of a session alone: two of 60% of the
# limit in one session are both queued (the second was once measured
# together with the first and got 552)
box z
body=$(head -c 600 /dev/zero | tr '\0' x)
two="MAIL FROM:<a@b>\r\nRCPT TO:<root>\r\nDATA\r\nSubject: s\r\n\r\n$body\r\n.\r\n"
capture "$MTA" "${BO[@]}" -O MaxMessageSize=1000 -odq -bs < <(printf "EHLO x\r\n$two${two}QUIT\r\n")
n=$(printf '%s\n' "$OUT" | grep -c '^250 2.0.0 Ok: queued as ')
if [ "$RC" -eq 0 ] && [ "$n" = 2 ] && [ "$(ls "$D/spool" | grep -c "^qf")" = 2 ]; then
	ok "smtp: MaxMessageSize measures each message of a session alone (two of 600 bytes under 1000: both queued)"
else
	fail "smtp: MaxMessageSize measures each message of a session alone (two of 600 bytes under 1000: both queued)" "exit $RC, $n queued
$(printf '%s\n' "$OUT" | cat -v)"
fi

# -v on a session: each change of phase and of the connection's life is
# logged once, old -> new (smtp_enter, issue 9)
box v
capture "$MTA" "${BO[@]}" -v -bs < <(printf 'EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<root>\r\nDATA\r\nSubject: t\r\n\r\nhi\r\n.\r\nQUIT\r\n')
states=$(sed -n 's/.*smtp: \[[^]]*\] \([A-Z_]* -> [A-Z_]*\)$/\1/p' "$D/log" | tr '\n' ',')
want='INIT -> HELO,HELO -> MAIL,MAIL -> RCPT,RCPT -> DATA,DATA -> COMMIT,COMMIT -> SYNC,SYNC -> HELO,PLAIN -> CLOSING,'
if [ "$RC" -eq 0 ] && [ "$states" = "$want" ]; then
	ok "smtp: -v -bs: every state change logged once, old -> new"
else
	fail "smtp: -v -bs: every state change logged once, old -> new" "exit $RC
got:  $states
want: $want"
fi

# ---- every reply seen carried an enhanced status code --------------------------

"$PY" - <<'EOF'
import re
bad, n = [], 0
for l in open('replies.log', encoding='utf-8', errors='replace'):
    tag, text = l.rstrip('\n').split('\t', 1)
    code = text[:3]
    # RFC 2034: all but the greeting and the HELO/EHLO replies; 354 and
    # 334 are intermediate replies without one (as in Postfix)
    if tag in ('BANNER', 'EHLO', 'HELO') or code in ('354', '334'):
        continue
    n += 1
    m = re.match(r'(\d)\d\d[ -](\d)\.\d{1,3}\.\d{1,3}( |$)', text)
    if not m or m.group(1) != m.group(2):
        bad.append('%s: %s' % (tag, text))
name = 'smtp: enhanced status code on every reply seen (%d lines)' % n
if bad or n < 50:
    print('FAIL ' + name)
    for b in sorted(set(bad))[:30]:
        print('    ' + b)
else:
    print('ok ' + name)
EOF

echo "# t_smtp.sh took $(awk -v a="$t_start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s"
