#!/bin/bash
# test/t_daemon.sh: the SMTP daemon as a process (SPEC "SMTP server",
# "Signals", "The spool"; issue 3 "Tests that must exist"): -bd/-bD, the
# privilege drop, kill -9 after 250, SIGTERM/SIGHUP/SIGUSR1, hostile
# sessions, 50 concurrent clients, -qINTERVAL. Every daemon listens on a
# free port of 127.0.0.1 only, runs from its own sub-sandbox and is killed
# at exit; every wait polls (waitfor), none is a fixed sleep.
#
# Run by test/run (cwd = fresh temp dir, MTA and TOP set).

. "$TOP/test/lib.sh"
need SERVER
set +e
shopt -s nullglob

BASE=$PWD
CLI=$BASE/cli.py
T0=$EPOCHREALTIME

# ---- the Python client used for every session (stdlib only) ----
cat > "$CLI" <<'PYEOF'
import os, random, select, smtplib, socket, sys, threading, time

HOST = "127.0.0.1"


def conn(port, src=None, timeout=10):
	s = socket.socket()
	s.settimeout(timeout)
	if src is not None:
		s.bind((src, 0))
	s.connect((HOST, port))
	return s


class Lines:
	"""Reply reader over a socket: whole lines, with a deadline."""

	def __init__(self, s):
		self.s = s
		self.buf = b""
		self.eof = False

	def line(self, timeout=10):
		end = time.time() + timeout
		while b"\n" not in self.buf:
			if self.eof:
				return None
			left = end - time.time()
			if left <= 0:
				raise TimeoutError("no reply line")
			self.s.settimeout(left)
			try:
				d = self.s.recv(65536)
			except ConnectionResetError:
				d = b""
			if d == b"":
				self.eof = True
				if self.buf == b"":
					return None
				d, self.buf = self.buf + b"\n", b""
			self.buf += d
		l, self.buf = self.buf.split(b"\n", 1)
		return l.rstrip(b"\r").decode("latin-1")

	def reply(self, timeout=10):
		"""A whole (multi-line) reply: its last line, or None at EOF."""
		while True:
			l = self.line(timeout)
			if l is None or len(l) < 4 or l[3] != "-":
				return l


def cmd(s, r, text, timeout=10):
	s.sendall(text.encode() + b"\r\n")
	return r.reply(timeout)


def expect(got, code, what):
	if got is None or not got.startswith(code):
		raise RuntimeError("%s: expected %s, got %r" % (what, code, got))


def body(subj, n=200):
	h = "From: t@test.example\r\nTo: root\r\nSubject: %s\r\n\r\n" % subj
	return h + "".join("line %04d of %s\r\n" % (i, subj) for i in range(n))


def ping(port):
	"""220 on connect, 221 on QUIT."""
	s = conn(port, timeout=5)
	r = Lines(s)
	expect(r.reply(5), "220", "banner")
	expect(cmd(s, r, "QUIT", 5), "221", "QUIT")
	s.close()


def send(port, rcpt, subj, killpid=0):
	"""One message; print the reply to the final dot. With killpid:
	SIGKILL that pid as soon as the 250 line is read."""
	s = conn(port)
	r = Lines(s)
	expect(r.reply(), "220", "banner")
	expect(cmd(s, r, "EHLO client.example"), "250", "EHLO")
	expect(cmd(s, r, "MAIL FROM:<sender@example.org>"), "250", "MAIL")
	expect(cmd(s, r, "RCPT TO:<%s>" % rcpt), "250", "RCPT")
	expect(cmd(s, r, "DATA"), "354", "DATA")
	s.sendall(body(subj, 5).encode() + b".\r\n")
	got = r.reply(30)
	if killpid and got is not None and got.startswith("250"):
		os.kill(killpid, 9)
	print(got)
	try:
		cmd(s, r, "QUIT", 2)
	except Exception:
		pass
	s.close()


def waitfile(path, secs):
	end = time.time() + secs
	while time.time() < end:
		if os.path.exists(path):
			return True
		time.sleep(0.02)
	return False


def hold(port, rcpt, subj, d, helo="hold.example"):
	"""A session that stops in the middle of DATA: d/half is created
	once half the body is sent. Then, if d/go appears, the rest and the
	dot are sent; the session also ends when the server closes. Every
	line received after the 354 goes to d/replies."""
	s = conn(port)
	r = Lines(s)
	expect(r.reply(), "220", "banner")
	expect(cmd(s, r, "EHLO " + helo), "250", "EHLO")
	expect(cmd(s, r, "MAIL FROM:<sender@example.org>"), "250", "MAIL")
	expect(cmd(s, r, "RCPT TO:<%s>" % rcpt), "250", "RCPT")
	expect(cmd(s, r, "DATA"), "354", "DATA")
	b = body(subj, 400).encode()
	s.sendall(b[:len(b) // 2])
	open(os.path.join(d, "half"), "w").close()
	got = []
	end = time.time() + 120
	while time.time() < end:
		if os.path.exists(os.path.join(d, "go")):
			try:
				s.sendall(b[len(b) // 2:] + b".\r\n")
			except OSError as e:
				got.append("send: %s" % e)
				break
			l = r.reply(60)
			got.append(str(l))
			if l is not None:
				l2 = cmd(s, r, "QUIT")
				got.append(str(l2))
			break
		rd, _, _ = select.select([s], [], [], 0.02)
		if rd:
			l = r.line(1)
			if l is None:
				got.append("EOF")
				break
			got.append(l)
	with open(os.path.join(d, "replies"), "w") as f:
		f.write("\n".join(got) + "\n")
	s.close()


def idle(port, d):
	"""EHLO, then d/ready; every line until EOF goes to d/replies."""
	s = conn(port)
	r = Lines(s)
	expect(r.reply(), "220", "banner")
	expect(cmd(s, r, "EHLO idle.example"), "250", "EHLO")
	open(os.path.join(d, "ready"), "w").close()
	got = []
	while True:
		try:
			l = r.line(60)
		except TimeoutError:
			got.append("TIMEOUT")
			break
		if l is None:
			got.append("EOF")
			break
		got.append(l)
	with open(os.path.join(d, "replies"), "w") as f:
		f.write("\n".join(got) + "\n")


def loop(port, n, progress):
	"""n connections in a row, each EHLO and QUIT; d/progress holds
	the number done. Prints "ok=N failed=N" and the first failures."""
	okn, bad = 0, []
	for i in range(n):
		try:
			s = conn(port, timeout=10)
			r = Lines(s)
			expect(r.reply(), "220", "banner")
			expect(cmd(s, r, "EHLO loop%d.example" % i), "250", "EHLO")
			expect(cmd(s, r, "QUIT"), "221", "QUIT")
			s.close()
			okn += 1
		except Exception as e:
			bad.append("connection %d: %s: %s" % (i, type(e).__name__, e))
		with open(progress + ".tmp", "w") as f:
			f.write("%d\n" % (i + 1))
		os.rename(progress + ".tmp", progress)
	print("ok=%d failed=%d" % (okn, len(bad)))
	for b in bad[:5]:
		print(b)


# ---- hostile sessions: each returns a short description of what the
# server did; an exception is a client-side surprise, reported.

def drain(s, secs):
	"""Read until EOF or secs: (bytes, eof?)."""
	got, end = b"", time.time() + secs
	while time.time() < end:
		s.settimeout(max(0.01, end - time.time()))
		try:
			d = s.recv(65536)
		except socket.timeout:
			return got, False
		except (ConnectionResetError, BrokenPipeError):
			return got, True
		if d == b"":
			return got, True
		got += d
	return got, False


def codes(b):
	return sorted(set(l[:3].decode("latin-1") for l in b.split(b"\n")
	    if len(l) >= 3 and l[:3].isdigit()))


def h_random(s, i):
	rnd = random.Random(i)
	try:
		for _ in range(4):
			s.sendall(bytes(rnd.getrandbits(8) for _ in range(1024)))
	except (ConnectionResetError, BrokenPipeError):
		# the server closed it already (too many errors): fine
		pass
	got, eof = drain(s, 5)
	return "random eof=%s" % eof


def h_nul(s, i):
	s.sendall(b"EHLO a\x00b.example\r\n" + b"\x00" * 600 + b"\r\n" +
	    b"MAIL FROM:<a\x00@b.example>\r\nRCPT TO:<root\x00>\r\n"
	    b"HELO \x00\r\nNOOP\r\nQUIT\r\n")
	got, eof = drain(s, 5)
	return "nul codes=%s eof=%s" % (",".join(codes(got)), eof)


def h_longline(s, i):
	try:
		s.sendall(b"A" * 100000)
	except (ConnectionResetError, BrokenPipeError):
		return "longline reset-while-sending"
	got, eof = drain(s, 6)
	return "longline codes=%s eof=%s" % (",".join(codes(got)), eof)


def h_halfopen(s, i):
	t = time.time()
	got, eof = drain(s, 10)
	return "halfopen codes=%s eof=%s after=%ds" % (",".join(codes(got)),
	    eof, round(time.time() - t))


def h_loris(s, i):
	t = time.time()
	line = b"NOOP " + b"x" * 60 + b"\r\n"
	for k in range(len(line)):
		try:
			s.sendall(line[k:k + 1])
		except (ConnectionResetError, BrokenPipeError):
			break
		rd, _, _ = select.select([s], [], [], 0.1)
		if rd:
			break
	got, eof = drain(s, 5)
	return "loris codes=%s eof=%s after=%ds" % (",".join(codes(got)), eof,
	    round(time.time() - t))


def h_middata(s, i):
	r = Lines(s)
	for c, want in (("EHLO mid.example", "250"),
	    ("MAIL FROM:<mid%d@example.org>" % i, "250"),
	    ("RCPT TO:<root>", "250"), ("DATA", "354")):
		expect(cmd(s, r, c), want, c)
	s.sendall(("Subject: middata %d\r\n\r\n" % i).encode() +
	    b"partial body line\r\n" * (50 * (1 + i % 20)))
	if i % 2:
		# an abortive close: RST instead of FIN
		s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
		    b"\x01\x00\x00\x00\x00\x00\x00\x00")
	return "middata sent"


def h_midcmd(s, i):
	s.sendall(b"EHLO midcmd.example\r\nMAIL FROM:<x@y.example")
	return "midcmd sent"


def h_errors(s, i):
	s.sendall(b"".join(b"BOGUS%d\r\n" % k for k in range(20)))
	got, eof = drain(s, 5)
	return "errors codes=%s eof=%s" % (",".join(codes(got)), eof)


KINDS = [h_random, h_nul, h_longline, h_halfopen, h_loris, h_middata,
    h_midcmd, h_errors]


def hostile(port, n, par):
	from concurrent.futures import ThreadPoolExecutor
	results, lock = {}, threading.Lock()
	stop = threading.Event()
	lat = []

	def one(i):
		k = KINDS[i % len(KINDS)]
		src = "127.0.%d.%d" % (2 + i // 250, 1 + i % 250)
		try:
			s = conn(port, src=src, timeout=15)
			banner = Lines(s).line(10) if k is not h_halfopen else ""
			if banner is not None and banner.startswith("421"):
				res = "%s refused: %s" % (k.__name__[2:], banner)
			else:
				res = k(s, i)
			s.close()
		except Exception as e:
			res = "%s client error %s: %s" % (k.__name__[2:],
			    type(e).__name__, e)
		with lock:
			results[res] = results.get(res, 0) + 1

	def probe():
		# a normal client during the attack: how long does it wait?
		while not stop.is_set():
			t = time.time()
			try:
				ping(port)
				lat.append(time.time() - t)
			except Exception as e:
				lat.append(99.0)
			stop.wait(0.3)

	p = threading.Thread(target=probe)
	p.start()
	t = time.time()
	with ThreadPoolExecutor(par) as ex:
		list(ex.map(one, range(n)))
	stop.set()
	p.join()
	print("sessions=%d seconds=%.1f probes=%d maxprobe=%.2f" % (n,
	    time.time() - t, len(lat), max(lat) if lat else -1))
	for k in sorted(results):
		print("%4d %s" % (results[k], k))


def load(port, nclients, nmsg, out):
	"""nclients threads, each from its own 127.0.1.x, nmsg messages
	each; even clients one session for all, odd ones a session per
	message. One line per message to out: SUBJECT CODE ID-or-TEXT."""
	lines, lock = [], threading.Lock()

	def rec(subj, code, text):
		with lock:
			lines.append("%s %s %s" % (subj, code, text))

	def msg(sm, subj):
		code, resp = sm.mail("load@example.org")
		if code != 250:
			return code, resp
		code, resp = sm.rcpt("root")
		if code != 250:
			sm.rset()
			return code, resp
		return sm.data(body(subj, 20).replace("\r\n", "\n").encode())

	def client(i):
		src = ("127.0.1.%d" % (i + 1), 0)
		sm = None
		for j in range(nmsg):
			subj = "load-%02d-%02d" % (i, j)
			try:
				if sm is None:
					sm = smtplib.SMTP(HOST, port, "c%d.example" % i,
					    timeout=60, source_address=src)
					sm.ehlo("c%d.example" % i)
				code, resp = msg(sm, subj)
				resp = resp.decode("latin-1")
				if code == 250 and "queued as " in resp:
					rec(subj, code, resp.split("queued as ")[1].split()[0])
				else:
					rec(subj, code, resp.replace(" ", "_"))
			except smtplib.SMTPConnectError as e:
				rec(subj, e.smtp_code, "connect:%s" % e.smtp_error.decode(
				    "latin-1").replace(" ", "_"))
				sm = None
				continue
			except Exception as e:
				rec(subj, "EXC", "%s:%s" % (type(e).__name__,
				    str(e).replace(" ", "_")))
				sm = None
				continue
			if i % 2 == 1:
				try:
					sm.quit()
				except Exception:
					pass
				sm = None
		if sm is not None:
			try:
				sm.quit()
			except Exception:
				pass

	t = time.time()
	ts = [threading.Thread(target=client, args=(i,)) for i in range(nclients)]
	for x in ts:
		x.start()
	for x in ts:
		x.join()
	with open(out, "w") as f:
		f.write("\n".join(sorted(lines)) + "\n")
	print("seconds=%.1f" % (time.time() - t))


def main():
	a = sys.argv[1:]
	f = a[0]
	port = int(a[1])
	if f == "ping":
		ping(port)
	elif f == "send":
		send(port, a[2], a[3], int(a[4]) if len(a) > 4 else 0)
	elif f == "hold":
		hold(port, a[2], a[3], a[4], *a[5:])
	elif f == "idle":
		idle(port, a[2])
	elif f == "loop":
		loop(port, int(a[2]), a[3])
	elif f == "hostile":
		hostile(port, int(a[2]), int(a[3]))
	elif f == "load":
		load(port, int(a[2]), int(a[3]), a[4])
	else:
		sys.exit("cli.py: unknown " + f)


main()
PYEOF

# py ARGS...: the client, never hanging for ever (PYT seconds, default 60)
py()
{
	timeout -k 5 "${PYT:-60}" "$PY" "$CLI" "$@"
}

# part NAME: cd to a fresh sub-sandbox $BASE/NAME (own spool, mail, log)
part()
{
	cd "$BASE" && mkdir -p "$1" && cd "$1" || exit 1
	sandbox
	mkdir -p cl
}

# noemu WHAT: true natively; under an emulator (MTA_EMU, e.g. make test's
# qemu-mipsel-static) prints "skip WHAT (why)" and is false. There
# the daemon cannot re-execute itself on SIGHUP: /proc/self/exe is a
# foreign binary, which the kernel runs only through binfmt_misc, and
# make test needs no binfmt_misc set up.
noemu()
{
	if [ -n "${MTA_EMU:-}" ]; then
		skip "$1" "under $MTA_EMU the re-exec on SIGHUP cannot run a foreign binary without binfmt_misc"
		return 1
	fi
}

# gone PID: the process has exited (a zombie counts as gone)
gone()
{
	[ ! -e "/proc/$1" ] || [ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" = Z ]
}

alive()
{
	! gone "$1"
}

# kids PID: the pids of PID's children, one a line
kids()
{
	cat /proc/"$1"/task/*/children 2>/dev/null | tr ' ' '\n' | grep .
}

fdcount()
{
	ls "/proc/$1/fd" 2>/dev/null | wc -l
}

ms_since()
{
	awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }'
}

# dstart ARGS...: "mta -bD ARGS" in the background with ./pid and a free
# port: DPID, PORT, D (the -O PidFile/DaemonPortOptions pair) set;
# returns 0 once it answered 220.
dstart()
{
	PORT=$(freeport)
	D=(-O "PidFile=$PWD/pid" -O "DaemonPortOptions=Addr=127.0.0.1,Port=$PORT")
	# the binary itself, not the mta function: $! must be the daemon
	"$MTA" "${O[@]}" "${D[@]}" -bD "$@" >"$PWD/daemon.out" 2>"$PWD/daemon.err" &
	DPID=$!
	cleanup_add "$DPID"
	if ! waitfor 20 py ping "$PORT"; then
		echo "# mta -bD $* did not answer 220 on port $PORT; stderr: $(head -c 500 "$PWD/daemon.err")"
		return 1
	fi
	local k
	for k in $(kids "$DPID"); do
		cleanup_add "$k"
	done
	return 0
}

# dstop: SIGTERM to the -bD daemon $DPID; DRC = its exit status, or
# "none" when it had not stopped after 15 s (then it is killed)
dstop()
{
	kill -TERM "$DPID" 2>/dev/null
	if waitfor 15 gone "$DPID"; then
		wait "$DPID"
		DRC=$?
	else
		kill -KILL "$DPID" 2>/dev/null
		wait "$DPID"
		DRC=none
	fi
}

# subjects FILE TAG: the Subject: values starting with TAG in mbox FILE,
# sorted, one a line (duplicates kept)
subjects()
{
	[ -f "$1" ] && grep "^Subject: $2" "$1" | sed 's/^Subject: //' | LC_ALL=C sort
}

# has_subject FILE SUBJ: SUBJ delivered to mbox FILE (at least once)
has_subject()
{
	[ -f "$1" ] && grep -qx "Subject: $2" "$1"
}

count_subject()
{
	if [ -f "$1" ]; then
		grep -cx "Subject: $2" "$1"
	else
		echo 0
	fi
}

# partials: the df/tf files of ./spool, one a line
partials()
{
	local f
	for f in spool/df* spool/tf*; do
		echo "${f##*/}"
	done
}

# listens PID PORT: PID holds the socket listening on 127.0.0.1:PORT
listens()
{
	local hex inode
	hex=$(printf '%04X' "$2")
	inode=$(awk -v p=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == p { print $10 }' /proc/net/tcp | head -n 1)
	[ -n "$inode" ] && ls -l "/proc/$1/fd" 2>/dev/null | grep -q "socket:\[$inode\]"
}

# atleast FILE N: FILE holds a number >= N
atleast()
{
	[ -f "$1" ] && [ "$(cat "$1" 2>/dev/null || echo 0)" -ge "$2" ] 2>/dev/null
}

logtail()
{
	echo "--- log (end):"
	tail -n "${2:-8}" "${1:-log}" 2>/dev/null
}

R=(-O RunAsUser=root)

# =====================================================================
# 1. -bd detaches, -bD stays in the foreground
# =====================================================================
part bd
PORT=$(freeport)
D=(-O "PidFile=$PWD/pid" -O "DaemonPortOptions=Addr=127.0.0.1,Port=$PORT")
# a PidFile left by an earlier daemon, and a descriptor of the caller's
# (fd 7) that a detached daemon has no business keeping
echo stale > pid
t=$EPOCHREALTIME
timeout -k 2 20 "$MTA" "${O[@]}" "${D[@]}" "${R[@]}" -bd </dev/null >bd.out 2>bd.err 7>inherited.fd7
rc=$?
el=$(ms_since "$t")
pid_at_return=$(cat pid)
if [ "$rc" -eq 0 ] && [ "$el" -lt 5000 ]; then
	ok "daemon: -bd returns 0 at once (${el} ms)"
else
	fail "daemon: -bd returns 0 at once" "command: mta ${D[*]} ${R[*]} -bd: exit $rc after $el ms; stderr: $(cat bd.err)"
fi
BPID=
if waitfor 10 eval '[ -s pid ] && [ "$(cat pid)" != stale ]'; then
	BPID=$(tr -dc 0-9 < pid)
	cleanup_add "$BPID"
fi
if [ -n "$BPID" ] && waitfor 10 py ping "$PORT" && alive "$BPID" &&
    grep -qa -- '-bd' "/proc/$BPID/cmdline" && listens "$BPID" "$PORT"; then
	ok "daemon: -bd: PidFile holds the pid of the daemon, which listens and answers 220"
else
	fail "daemon: -bd: PidFile holds the pid of the daemon, which listens and answers 220" \
	    "PidFile: '$(cat pid 2>/dev/null)'; alive: $(alive "${BPID:-0}" && echo yes || echo no); ping: $(py ping "$PORT" 2>&1 | tail -n 1)
$(logtail)"
fi
# "mta -bd && kill -HUP $(cat PidFile)" must not signal a stale pid: a
# race, so nine more tries, each in its own folder
stale=
[ -n "$BPID" ] && [ "$pid_at_return" = "$BPID" ] || stale="try 1: '$pid_at_return' (daemon ${BPID:-none});"
for i in 2 3 4 5 6 7 8 9 10; do
	mkdir -p "pf$i"
	echo stale > "pf$i/pid"
	p2=$(freeport)
	"$MTA" "${O[@]}" -O "PidFile=$PWD/pf$i/pid" -O "DaemonPortOptions=Addr=127.0.0.1,Port=$p2" \
	    "${R[@]}" -O "LogFile=$PWD/pf$i/log" -bd </dev/null >/dev/null 2>&1
	a=$(cat "pf$i/pid")
	waitfor 10 eval '[ -s pf$i/pid ] && [ "$(cat pf$i/pid)" != stale ]'
	b=$(tr -dc 0-9 < "pf$i/pid")
	if [ -n "$b" ]; then
		cleanup_add "$b"
		[ "$a" = "$b" ] || stale="$stale try $i: '$a' (daemon $b);"
		kill -TERM "$b"
		waitfor 10 gone "$b"
	fi
done
if [ -z "$stale" ]; then
	ok "daemon: -bd: the PidFile is written when -bd returns (10 tries)"
else
	fail "daemon: -bd: the PidFile is written when -bd returns" \
	    "echo stale > pid; mta ... -O PidFile=\$PWD/pid -bd; cat pid right after it returned 0:$stale
a script doing 'mta -bd && kill -HUP \$(cat PidFile)' signals a stale pid"
fi
if [ -n "$BPID" ]; then
	for k in $(kids "$BPID"); do
		cleanup_add "$k"
	done
	sid=$(sed 's/.*) //' "/proc/$BPID/stat" | cut -d' ' -f4)
	if [ "$sid" = "$BPID" ]; then
		ok "daemon: -bd: the daemon leads its own session (setsid)"
	else
		fail "daemon: -bd: the daemon leads its own session (setsid)" "session id $sid, pid $BPID"
	fi
	# a daemon that keeps the caller's stdout makes "$(mta -bd)" or an
	# ssh session that started it hang until the daemon stops
	held=
	kept=
	for f in /proc/"$BPID"/fd/*; do
		l=$(readlink "$f")
		case "$l" in
		"$PWD/bd.out" | "$PWD/bd.err") held="$held fd ${f##*/} -> $l;" ;;
		"$PWD/inherited.fd7") kept="$kept fd ${f##*/} -> $l;" ;;
		esac
	done
	if [ -z "$held" ]; then
		ok "daemon: -bd: the daemon does not keep the caller's stdout/stderr open"
	else
		fail "daemon: -bd: the daemon does not keep the caller's stdout/stderr open" \
		    "command: mta ... -bd </dev/null >bd.out 2>bd.err; then readlink /proc/PID/fd/N:$held
so \`out=\$(mta -bd ...)\` never returns while the daemon runs"
	fi
	if [ -z "$kept" ]; then
		ok "daemon: -bd: the daemon does not keep other descriptors of the caller"
	else
		fail "daemon: -bd: the daemon does not keep other descriptors of the caller" \
		    "command: mta ... -bd 7>inherited.fd7; the daemon still holds:$kept
(a caller's pipe held so stays open as long as the daemon runs)"
	fi
	# a second daemon on the same port: refused before it touches anything
	capture timeout -k 2 20 "$MTA" "${O[@]}" "${D[@]}" "${R[@]}" -bd
	if [ "$RC" -ne 0 ] && [ -n "$ERR" ] && [ "$(tr -dc 0-9 < pid)" = "$BPID" ] &&
	    py ping "$PORT"; then
		ok "daemon: -bd on a port in use: non-zero exit with a message, PidFile untouched (exit $RC)"
	else
		fail "daemon: -bd on a port in use: non-zero exit with a message, PidFile untouched" \
		    "exit $RC, stderr: $ERR; PidFile '$(cat pid)' (daemon $BPID)"
	fi
	bkids=$(kids "$BPID")
	kill -TERM "$BPID"
	if waitfor 15 gone "$BPID"; then
		left=
		waitfor 10 eval '! t_alive $bkids' || left=$bkids
		if [ -z "$left" ]; then
			ok "daemon: -bd: SIGTERM stops the daemon and its children"
		else
			fail "daemon: -bd: SIGTERM stops the daemon and its children" "children still running: $left"
		fi
	else
		fail "daemon: -bd: SIGTERM stops the daemon and its children" "pid $BPID still running 15 s after SIGTERM"
	fi
fi

part bD
if dstart "${R[@]}"; then
	if [ "$(tr -dc 0-9 < pid)" = "$DPID" ] && alive "$DPID"; then
		ok "daemon: -bD stays in the foreground (PidFile = the pid started, still running after its 220)"
	else
		fail "daemon: -bD stays in the foreground (PidFile = the pid started, still running after its 220)" \
		    "started pid $DPID, PidFile '$(cat pid)', alive: $(alive "$DPID" && echo yes || echo no)"
	fi
	dstop
	if [ "$DRC" = 0 ]; then
		ok "daemon: -bD: SIGTERM, exit 0"
	else
		fail "daemon: -bD: SIGTERM, exit 0" "exit status $DRC
$(logtail)"
	fi
else
	fail "daemon: -bD stays in the foreground (PidFile = the pid started, still running after its 220)" \
	    "no 220: $(cat daemon.err)"
fi

# =====================================================================
# 2. privilege drop to RunAsUser (default mail)
# =====================================================================
part drop
chmod 755 "$BASE" "$PWD"
chmod 644 aliases
MAILUID=$(id -u mail)
MAILGID=$(id -g mail)
if dstart; then
	P=$(tr -dc 0-9 < pid)
	uid=$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$P/status")
	gid=$(awk '/^Gid:/ { print $2, $3, $4, $5 }' "/proc/$P/status")
	grp=$(awk '/^Groups:/ { $1 = ""; print }' "/proc/$P/status" | tr -d ' ')
	if [ "$uid" = "$MAILUID $MAILUID $MAILUID $MAILUID" ] &&
	    [ "$gid" = "$MAILGID $MAILGID $MAILGID $MAILGID" ] && [ -z "$grp" ]; then
		ok "daemon: privilege drop: the SMTP process (pid in PidFile) runs as mail (Uid $uid)"
	else
		fail "daemon: privilege drop: the SMTP process (pid in PidFile) runs as mail" \
		    "/proc/$P/status: Uid: $uid; Gid: $gid; Groups: '$grp' (mail is $MAILUID:$MAILGID)"
	fi
	r=$(kids "$P" | head -n 1)
	ruid=$(awk '/^Uid:/ { print $2 }' "/proc/$r/status" 2>/dev/null)
	echo "# runner child $r runs as uid $ruid"
	out=$(py send "$PORT" root drop-1 2>&1)
	if [[ "$out" == "250 "* ]] && waitfor 20 has_subject mail/root drop-1; then
		ok "daemon: privilege drop: mail is still accepted and delivered to root's mbox"
	else
		fail "daemon: privilege drop: mail is still accepted and delivered to root's mbox" \
		    "client: $out; mail/root: $(ls -l mail/root 2>&1)
$(logtail)"
	fi
	# the re-executed image keeps running as mail, still delivers
	if noemu "daemon: privilege drop: after SIGHUP still mail, still accepting and delivering"; then
		kill -HUP "$P"
		waitfor 15 grep -q 'restarted after SIGHUP' log
		uid2=$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$P/status")
		out=$(py send "$PORT" root drop-2 2>&1)
		if [ "$uid2" = "$MAILUID $MAILUID $MAILUID $MAILUID" ] && [[ "$out" == "250 "* ]] &&
		    waitfor 20 has_subject mail/root drop-2; then
			ok "daemon: privilege drop: after SIGHUP still mail, still accepting and delivering"
		else
			fail "daemon: privilege drop: after SIGHUP still mail, still accepting and delivering" \
			    "Uid: $uid2; client: $out
$(logtail)"
		fi
	fi
	dstop
fi
chmod 700 "$BASE"

# =====================================================================
# 3. kill -9 right after 250: the message is in the spool, -q delivers it
# =====================================================================
part kill9
echo 'later: "|exit 75"' > aliases
if dstart "${R[@]}"; then
	k9kids=$(kids "$DPID")
	out=$(py send "$PORT" later kill9-1 "$DPID" 2>&1)
	ID=$(printf '%s\n' "$out" | sed -n 's/^250 .*queued as \([^ ]*\).*/\1/p')
	waitfor 10 gone "$DPID"
	wait "$DPID"
	krc=$?
	if [ -n "$ID" ] && [ -f "spool/qf$ID" ] && [ -f "spool/df$ID" ]; then
		ok "daemon: kill -9 right after 250: the qf/df pair is in the spool (qf$ID, df$ID)"
	else
		fail "daemon: kill -9 right after 250: the qf/df pair is in the spool" \
		    "client: $out (daemon exit $krc); spool: $(spoolfiles | tr '\n' ' ')
$(logtail)"
	fi
	if waitfor 15 eval '! t_alive $k9kids'; then
		ok "daemon: the runner child of a kill -9'd daemon exits by itself"
	else
		fail "daemon: the runner child of a kill -9'd daemon exits by itself" \
		    "still running 15 s later: $k9kids: $(ps -o pid,stat,args -p "${k9kids// /,}" 2>&1 | tail -n +2)"
	fi
	echo 'later: root' > aliases
	capture mta -q
	how="mta -q"
	if ! has_subject mail/root kill9-1 && [ -n "$ID" ] && [ -f "spool/qf$ID" ]; then
		# the runner had tried it once already (|exit 75): -q honours
		# the retry time it set; -qI forces
		echo "# mta -q (exit $RC) left it: qf a=$(qline "$ID" a | tr '\n' ' ') n=$(qline "$ID" n | tr '\n' ' ') now=$(date +%s); forcing with -qI$ID"
		capture mta -qI"$ID"
		how="mta -q, then mta -qI$ID"
	fi
	n=$(count_subject mail/root kill9-1)
	if [ "$n" -eq 1 ] && [ "$(qcount)" -eq 0 ]; then
		ok "daemon: kill -9 right after 250: the next queue run delivers it once ($how; spool empty)"
	else
		fail "daemon: kill -9 right after 250: the next queue run delivers it once" \
		    "$how: exit $RC, $ERR; delivered $n time(s); spool: $(spoolfiles | tr '\n' ' ')
$(logtail)"
	fi
fi

# =====================================================================
# 4. SIGTERM: a session in DATA is dropped without 250, nothing kept,
#    exit 0; an idle session gets 421
# =====================================================================
part term
if dstart "${R[@]}"; then
	py hold "$PORT" root term-data "$PWD/cl" >cl/out 2>&1 &
	HP=$!
	waitfor 15 test -e cl/half
	# the first half is in the daemon's df (streamed) or on its way
	waitfor 3 eval '[ -n "$(partials)" ]'
	seen=$(partials | tr '\n' ' ')
	kill -TERM "$DPID"
	if waitfor 15 gone "$DPID"; then
		wait "$DPID"
		DRC=$?
	else
		DRC="still running 15 s after SIGTERM"
	fi
	waitfor 15 gone "$HP"
	wait "$HP"
	if [ -f cl/replies ] && ! grep -q '^250' cl/replies; then
		ok "daemon: SIGTERM during DATA: no 250 (client saw: $(tr '\n' ' ' < cl/replies))"
	else
		fail "daemon: SIGTERM during DATA: no 250" "client saw: $(cat cl/replies cl/out 2>&1)"
	fi
	if [ "$DRC" = 0 ]; then
		ok "daemon: SIGTERM during DATA: the daemon exits 0"
	else
		fail "daemon: SIGTERM during DATA: the daemon exits 0" "exit: $DRC
$(logtail)"
	fi
	if [ -z "$(spoolfiles)" ] && ! has_subject mail/root term-data; then
		ok "daemon: SIGTERM during DATA: no df/tf/qf left (had: ${seen:-none seen yet}), nothing delivered"
	else
		fail "daemon: SIGTERM during DATA: no df/tf/qf left, nothing delivered" \
		    "spool: $(spoolfiles | tr '\n' ' '); mail/root: $(subjects mail/root term | tr '\n' ' ')"
	fi
fi

part term-idle
if dstart "${R[@]}"; then
	py idle "$PORT" "$PWD/cl" >cl/out 2>&1 &
	HP=$!
	waitfor 15 test -e cl/ready
	kill -TERM "$DPID"
	waitfor 15 gone "$DPID"
	wait "$DPID"
	DRC=$?
	waitfor 15 gone "$HP"
	wait "$HP"
	if grep -q '^421' cl/replies 2>/dev/null && [ "$DRC" = 0 ]; then
		ok "daemon: SIGTERM with an idle session: the client gets 421, exit 0 ($(grep '^421' cl/replies))"
	else
		fail "daemon: SIGTERM with an idle session: the client gets 421, exit 0" \
		    "exit $DRC; client saw: $(cat cl/replies cl/out 2>&1)"
	fi
fi

part int-idle
if dstart "${R[@]}"; then
	py idle "$PORT" "$PWD/cl" >cl/out 2>&1 &
	HP=$!
	waitfor 15 test -e cl/ready
	kill -INT "$DPID"
	waitfor 15 gone "$DPID"
	wait "$DPID"
	DRC=$?
	waitfor 15 gone "$HP"
	wait "$HP"
	if grep -q '^421' cl/replies 2>/dev/null && [ "$DRC" = 0 ]; then
		ok "daemon: SIGINT acts as SIGTERM: the idle client gets 421, exit 0"
	else
		fail "daemon: SIGINT acts as SIGTERM: the idle client gets 421, exit 0" \
		    "exit $DRC; client saw: $(cat cl/replies cl/out 2>&1)"
	fi
fi

# =====================================================================
# 5. SIGHUP while clients connect in a loop; a long session in DATA
#    across the HUP; started by a relative path
# =====================================================================
part hup
if noemu "daemon: SIGHUP x2 during 300 connections, a session across the HUP" &&
    dstart "${R[@]}"; then
	k0=$(kids "$DPID" | wc -l)
	py hold "$PORT" root hup-long "$PWD/cl" >cl/out 2>&1 &
	HP=$!
	waitfor 15 test -e cl/half
	PYT=180 py loop "$PORT" 300 "$PWD/progress" >loop.out 2>&1 &
	LP=$!
	waitfor 60 atleast progress 100
	kill -HUP "$DPID"
	waitfor 15 eval '[ "$(grep -c "restarted after SIGHUP" log)" -ge 1 ]'
	waitfor 60 atleast progress 200
	kill -HUP "$DPID"
	waitfor 15 eval '[ "$(grep -c "restarted after SIGHUP" log)" -ge 2 ]'
	touch cl/go
	waitfor 120 gone "$LP"
	wait "$LP"
	waitfor 60 gone "$HP"
	wait "$HP"
	if grep -qx 'ok=300 failed=0' loop.out; then
		ok "daemon: SIGHUP x2 during 300 connections in a row: none refused or failed"
	else
		fail "daemon: SIGHUP x2 during 300 connections in a row: none refused or failed" "$(cat loop.out)
$(logtail log 12)"
	fi
	if head -n 1 cl/replies 2>/dev/null | grep -q '^250' &&
	    waitfor 20 has_subject mail/root hup-long; then
		ok "daemon: SIGHUP: a session in DATA across the HUP gets its 250 and is delivered"
	else
		fail "daemon: SIGHUP: a session in DATA across the HUP gets its 250 and is delivered" \
		    "client saw: $(cat cl/replies cl/out 2>&1); mail/root: $(subjects mail/root hup | tr '\n' ' ')"
	fi
	if [ "$(tr -dc 0-9 < pid)" = "$DPID" ] && alive "$DPID" && py ping "$PORT" &&
	    listens "$DPID" "$PORT"; then
		ok "daemon: SIGHUP: the pid in PidFile is the same and still answers"
	else
		fail "daemon: SIGHUP: the pid in PidFile is the same and still answers" \
		    "started $DPID, PidFile '$(cat pid)', alive: $(alive "$DPID" && echo yes || echo no); ping: $(py ping "$PORT" 2>&1 | tail -n 1)
$(logtail)"
	fi
	n1=$(grep -c 'SIGHUP: re-executing' log)
	n2=$(grep -c 'restarted after SIGHUP' log)
	if [ "$n1" -eq 2 ] && [ "$n2" -eq 2 ]; then
		ok "daemon: SIGHUP: the log shows each re-exec ($(grep -m 1 'SIGHUP: re-executing' log | sed 's/.*]: //'))"
	else
		fail "daemon: SIGHUP: the log shows each re-exec" "$n1 're-executing' and $n2 'restarted' lines for 2 SIGHUPs
$(grep -i 'sighup\|start' log)"
	fi
	out=$(py send "$PORT" root hup-after 2>&1)
	if [[ "$out" == "250 "* ]] && waitfor 20 has_subject mail/root hup-after; then
		ok "daemon: SIGHUP: the re-executed daemon accepts and delivers"
	else
		fail "daemon: SIGHUP: the re-executed daemon accepts and delivers" "client: $out
$(logtail)"
	fi
	if waitfor 15 eval '[ "$(kids "$DPID" | wc -l)" -le "$k0" ]'; then
		ok "daemon: SIGHUP: the child finishing the old sessions exits ($k0 child(ren) again)"
	else
		fail "daemon: SIGHUP: the child finishing the old sessions exits" \
		    "children of $DPID: $(kids "$DPID" | tr '\n' ' ') (had $k0 before the HUP)"
	fi
	dstop
	if [ "$DRC" = 0 ]; then
		ok "daemon: SIGHUP: the re-executed daemon stops on SIGTERM, exit 0"
	else
		fail "daemon: SIGHUP: the re-executed daemon stops on SIGTERM, exit 0" "exit $DRC"
	fi
fi

part hup-rel
if noemu "daemon: SIGHUP when started as ./mta, after a rename, with the binary removed"; then
	cp "$MTA" ./mta
	PORT=$(freeport)
	D=(-O "PidFile=$PWD/pid" -O "DaemonPortOptions=Addr=127.0.0.1,Port=$PORT")
	./mta "${O[@]}" "${D[@]}" -bD "${R[@]}" >daemon.out 2>daemon.err &
	DPID=$!
	cleanup_add "$DPID"
	if waitfor 20 py ping "$PORT"; then
		for k in $(kids "$DPID"); do
			cleanup_add "$k"
		done
		kill -HUP "$DPID"
		waitfor 15 grep -q 'restarted after SIGHUP' log
		if alive "$DPID" && py ping "$PORT" && grep -q 'restarted after SIGHUP' log; then
			ok "daemon: SIGHUP when started as ./mta (relative path): it survives and answers"
		else
			fail "daemon: SIGHUP when started as ./mta (relative path): it survives and answers" \
			    "cd $PWD && ./mta ... -bD; kill -HUP: alive: $(alive "$DPID" && echo yes || echo no); stderr: $(cat daemon.err)
$(logtail)"
		fi
		# an upgrade installs a new binary by rename: HUP runs the new one
		cp "$MTA" mta.new && mv -f mta.new mta
		kill -HUP "$DPID"
		waitfor 15 eval '[ "$(grep -c "restarted after SIGHUP" log)" -ge 2 ]'
		exe=$(readlink "/proc/$DPID/exe")
		if alive "$DPID" && py ping "$PORT" && [ "$exe" = "$PWD/mta" ]; then
			ok "daemon: SIGHUP after the binary was replaced by rename: the new binary runs"
		else
			fail "daemon: SIGHUP after the binary was replaced by rename: the new binary runs" \
			    "alive: $(alive "$DPID" && echo yes || echo no); /proc/$DPID/exe -> $exe
$(logtail)"
		fi
		# no binary at all: the exec cannot happen, the old daemon goes on
		rm -f mta
		kill -HUP "$DPID"
		waitfor 15 grep -q 'cannot re-execute' log
		if alive "$DPID" && py ping "$PORT" && grep -q 'cannot re-execute' log; then
			ok "daemon: SIGHUP with the binary removed: logged, the daemon goes on ($(grep -m 1 'cannot re-execute' log | sed 's/.*]: //'))"
		else
			fail "daemon: SIGHUP with the binary removed: logged, the daemon goes on" \
			    "alive: $(alive "$DPID" && echo yes || echo no)
$(logtail)"
		fi
		dstop
	else
		fail "daemon: SIGHUP when started as ./mta (relative path): it survives and answers" "no 220: $(cat daemon.err)"
	fi
fi

# A burst of SIGHUPs: each one that arrives while the new image is
# still starting must not kill it (a HUP pending across the exec, not
# one delivered before the handler is back); never no daemon at all.
part hup-burst
if noemu "daemon: a burst of SIGHUPs" && dstart "${R[@]}"; then
	burst=$("$PY" -c '
import os, sys, time
pid, log = int(sys.argv[1]), sys.argv[2]
end, n, r = time.time() + 20, 0, 0
while time.time() < end:
	try:
		os.kill(pid, 1)
	except ProcessLookupError:
		break
	n += 1
	if n % 200 == 0:
		r = open(log, errors="replace").read().count("restarted after SIGHUP")
		if r >= 300:
			break
print(n, r)' "$DPID" "$PWD/log")
	pinged=0
	waitfor 5 py ping "$PORT" && pinged=1
	if alive "$DPID" && [ "$pinged" = 1 ]; then
		ok "daemon: a burst of SIGHUPs (signals sent, restarts: $burst): the daemon survives and answers"
	else
		wait "$DPID"
		DRC=$?
		fail "daemon: a burst of SIGHUPs: the daemon survives and answers" \
		    "$burst (SIGHUPs sent, re-execs logged) then the daemon was gone: exit status $DRC
(a SIGHUP that lands between execv and the new image installing its handlers takes the default action)
$(logtail log 4)"
	fi
	alive "$DPID" && dstop
fi

# =====================================================================
# 6. SIGUSR1: the state dump
# =====================================================================
part usr1
if dstart "${R[@]}"; then
	py hold "$PORT" root usr1-msg "$PWD/cl" usr1.example >cl/out 2>&1 &
	HP=$!
	waitfor 15 test -e cl/half
	kill -USR1 "$DPID"
	waitfor 10 eval 'grep -q "state:.*peer=\[127\.0\.0\.1\]" log && grep -q "state:.* fd" log'
	sess=$(grep 'state:.*peer=\[127\.0\.0\.1\]' log | head -n 1)
	if grep -q 'state:' log && [ -n "$sess" ] && printf '%s' "$sess" | grep -q 'DATA' &&
	    grep -q 'state:.*[^a-z]fd' log; then
		ok "daemon: SIGUSR1: state lines with the session's peer and phase and the fds ($(printf '%s' "$sess" | sed 's/.*]: //'))"
	else
		fail "daemon: SIGUSR1: state lines with the session's peer and phase and the fds" \
		    "$(grep 'state:' log | head -n 20)"
	fi
	touch cl/go
	waitfor 30 gone "$HP"
	wait "$HP"
	if alive "$DPID" && head -n 1 cl/replies 2>/dev/null | grep -q '^250' &&
	    waitfor 20 has_subject mail/root usr1-msg; then
		ok "daemon: SIGUSR1: the daemon carries on, the held session gets 250 and is delivered"
	else
		fail "daemon: SIGUSR1: the daemon carries on, the held session gets 250 and is delivered" \
		    "alive: $(alive "$DPID" && echo yes || echo no); client: $(cat cl/replies cl/out 2>&1)"
	fi
	dstop
fi

# =====================================================================
# 7. 200 hostile sessions, then a normal one
# =====================================================================
part hostile
if dstart "${R[@]}" -O Timeout.command=3s; then
	fd0=$(fdcount "$DPID")
	PYT=300 py hostile "$PORT" 200 40 >hostile.out 2>&1
	hrc=$?
	sed 's/^/# hostile: /' hostile.out
	# hostile KIND REGEX: every session of KIND ended as REGEX says
	hostile_ok()
	{
		local all good
		all=$(awk -v k="$1" '$2 == k { n += $1 } END { print n + 0 }' hostile.out)
		good=$(awk -v k="$1" -v re="$2" '$2 == k && $0 ~ re { n += $1 } END { print n + 0 }' hostile.out)
		[ "$all" -gt 0 ] && [ "$all" -eq "$good" ]
	}
	if [ "$hrc" -eq 0 ] && grep -q '^sessions=200 ' hostile.out &&
	    ! grep -q 'client error\|refused' hostile.out; then
		ok "daemon: hostile: 200 sessions ran without client errors or refusals (random, NUL, 100 KB line, half-open, slow-loris, mid-DATA, mid-command, errors)"
	else
		fail "daemon: hostile: 200 sessions ran without client errors or refusals" "exit $hrc; $(cat hostile.out)"
	fi
	maxp=$(sed -n 's/.*maxprobe=\([0-9.]*\).*/\1/p' hostile.out)
	if [ -n "$maxp" ] && awk -v m="$maxp" 'BEGIN { exit !(m < 2.0) }'; then
		ok "daemon: hostile: a normal client meanwhile got 220/221 within 2 s each time (max ${maxp} s)"
	else
		fail "daemon: hostile: a normal client meanwhile got 220/221 within 2 s each time" "$(head -n 1 hostile.out)"
	fi
	if hostile_ok halfopen 'codes=220,421 eof=True after=[2-6]s'; then
		ok "daemon: hostile: half-open sessions are closed with 421 after Timeout.command"
	else
		fail "daemon: hostile: half-open sessions are closed with 421 after Timeout.command=3s" "$(grep halfopen hostile.out)"
	fi
	if hostile_ok loris 'codes=.*421.* eof=True'; then
		ok "daemon: hostile: slow-loris sessions are closed with 421 (Timeout.command)"
	else
		fail "daemon: hostile: slow-loris sessions are closed with 421 (Timeout.command=3s)" "$(grep loris hostile.out)"
	fi
	if hostile_ok longline 'codes=.*500'; then
		ok "daemon: hostile: a 100 KB line gets 500"
	else
		fail "daemon: hostile: a 100 KB line gets 500 5.5.2" "$(grep longline hostile.out)"
	fi
	if hostile_ok errors 'codes=.*421.* eof=True'; then
		ok "daemon: hostile: 20 unknown commands: 421 and closed"
	else
		fail "daemon: hostile: 20 unknown commands: 421 and closed" "$(grep errors hostile.out)"
	fi
	if hostile_ok random 'eof=True'; then
		ok "daemon: hostile: random bytes: the server ends the session (errors or timeout)"
	else
		fail "daemon: hostile: random bytes: the server ends the session (errors or timeout)" "$(grep random hostile.out)"
	fi
	if hostile_ok nul 'codes=[0-9,]*221[0-9,]* eof=True'; then
		ok "daemon: hostile: NUL bytes in commands: the session goes on to QUIT (221)"
	else
		fail "daemon: hostile: NUL bytes in commands: the session goes on to QUIT (221)" "$(grep nul hostile.out)"
	fi
	out=$(py send "$PORT" root hostile-after 2>&1)
	if [[ "$out" == "250 "* ]] && waitfor 20 has_subject mail/root hostile-after &&
	    [ "$(tr -dc 0-9 < pid)" = "$DPID" ] && alive "$DPID"; then
		ok "daemon: hostile: afterwards a normal session succeeds, same daemon pid"
	else
		fail "daemon: hostile: afterwards a normal session succeeds, same daemon pid" \
		    "client: $out; started $DPID, PidFile '$(cat pid)', alive: $(alive "$DPID" && echo yes || echo no)
$(logtail)"
	fi
	if waitfor 15 eval '[ -z "$(partials)" ] && [ "$(qcount)" -eq 0 ]'; then
		ok "daemon: hostile: no df/tf/qf left after the aborted DATA sessions"
	else
		fail "daemon: hostile: no df/tf/qf left after the aborted DATA sessions" "spool: $(spoolfiles | tr '\n' ' ')"
	fi
	n=$(grep -c '^Subject: middata' mail/root)
	if [ "$n" -eq 0 ]; then
		ok "daemon: hostile: nothing of the aborted DATA sessions was delivered"
	else
		fail "daemon: hostile: nothing of the aborted DATA sessions was delivered" "$n middata messages in mail/root"
	fi
	if waitfor 20 eval '[ "$(fdcount "$DPID")" -le $((fd0 + 2)) ]'; then
		ok "daemon: hostile: the daemon's fds are back near the start ($fd0 -> $(fdcount "$DPID"))"
	else
		fail "daemon: hostile: the daemon's fds are back near the start" "$fd0 at start, $(fdcount "$DPID") now:
$(ls -l "/proc/$DPID/fd" | tail -n +2 | awk '{ print $(NF-2), $NF }' | head -n 30)"
	fi
	dstop
fi

# =====================================================================
# 8. load: 50 concurrent clients x 10 messages
# =====================================================================
part load
if dstart "${R[@]}" -O MaxConnections=64; then
	t=$EPOCHREALTIME
	PYT=600 py load "$PORT" 50 10 "$PWD/load.out" >load.py.out 2>&1
	lrc=$?
	acc=$(awk '$2 == 250' load.out | wc -l)
	ref=$(awk '$2 ~ /^4/' load.out | wc -l)
	oth=$(awk '$2 != 250 && $2 !~ /^4/' load.out | wc -l)
	echo "# load: $(cat load.py.out | tr '\n' ' '), $acc accepted, $ref refused (4xx), $oth other"
	hit=$(grep -c 'too many connections' log)
	if [ "$lrc" -eq 0 ] && [ "$oth" -eq 0 ] && [ $((acc + ref)) -eq 500 ] &&
	    { [ "$ref" -eq 0 ] || [ "$hit" -gt 0 ]; }; then
		ok "daemon: load: 50 clients x 10 messages all answered 250 (4xx only when MaxConnections is hit) ($acc got 250, $ref refused, MaxConnections hit $hit times)"
	else
		fail "daemon: load: 50 clients x 10 messages all answered 250 (4xx only when MaxConnections is hit)" \
		    "exit $lrc; $acc 250, $ref 4xx, $oth other; 'too many connections' in log: $hit
$(awk '$2 != 250' load.out | head -n 10)"
	fi
	awk '$2 == 250 { print $3 }' load.out | LC_ALL=C sort > ids.acked
	awk '$2 == 250 { print $1 }' load.out | LC_ALL=C sort > subj.acked
	if [ -z "$(uniq -d ids.acked)" ]; then
		ok "daemon: load: the queue IDs of the 250 replies are unique"
	else
		fail "daemon: load: the queue IDs of the 250 replies are unique" "$(uniq -d ids.acked | head)"
	fi
	waitfor 180 eval '[ "$(grep -c "^Subject: load-" mail/root)" -ge "$acc" ] && [ "$(qcount)" -eq 0 ]'
	subjects mail/root load- > subj.got
	dup=$(uniq -d subj.got | wc -l)
	lost=$(LC_ALL=C comm -23 subj.acked subj.got | wc -l)
	extra=$(LC_ALL=C comm -13 subj.acked <(uniq subj.got) | wc -l)
	if [ "$dup" -eq 0 ] && [ "$lost" -eq 0 ] && [ "$extra" -eq 0 ] && [ "$acc" -gt 0 ]; then
		ok "daemon: load: every acknowledged message delivered exactly once ($acc in $(ms_since "$t") ms, spool empty)"
	else
		fail "daemon: load: every acknowledged message delivered exactly once" \
		    "$acc acknowledged, $(wc -l < subj.got) delivered: $dup duplicated, $lost lost, $extra unacknowledged; qf left: $(qcount)
lost: $(LC_ALL=C comm -23 subj.acked subj.got | head -n 5 | tr '\n' ' ')
duplicated: $(uniq -d subj.got | head -n 5 | tr '\n' ' ')"
	fi
	sed -n 's/.*]: \([^ :]*\): from=<.*/\1/p' log | LC_ALL=C sort > ids.log
	if [ -z "$(uniq -d ids.log)" ] && cmp -s ids.log ids.acked; then
		ok "daemon: load: each ID in the log's from= lines is unique, one per acknowledged message"
	else
		fail "daemon: load: each ID in the log's from= lines is unique, one per acknowledged message" \
		    "$(wc -l < ids.log) from= lines, $(uniq -d ids.log | wc -l) duplicated IDs, $(wc -l < ids.acked) acknowledged
$(diff ids.acked ids.log | head -n 10)"
	fi
	dstop
fi

# =====================================================================
# 9. -bD -q2s: the queue is run every 2 s
# =====================================================================
part qint
if dstart "${R[@]}" -q2s; then
	res=
	for i in 1 2; do
		printf 'Subject: qint-%d\n\nqueued with -odq\n' "$i" | mta -odq root
		rc=$?
		t=$EPOCHREALTIME
		if [ "$rc" -eq 0 ] && waitfor 15 has_subject mail/root "qint-$i"; then
			res="$res qint-$i after $(ms_since "$t") ms;"
		else
			res="$res qint-$i (mta -odq exit $rc) not delivered after 15 s;"
		fi
	done
	if [ "$(grep -c '^Subject: qint-' mail/root)" -eq 2 ] && [ "$(qcount)" -eq 0 ]; then
		ok "daemon: -bD -q2s: messages queued with -odq are delivered by the interval run ($res)"
	else
		fail "daemon: -bD -q2s: messages queued with -odq are delivered by the interval run" "$res spool: $(spoolfiles | tr '\n' ' ')
$(logtail)"
	fi
	dstop
fi

echo "# t_daemon.sh: $(ms_since "$T0") ms"
