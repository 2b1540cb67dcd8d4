#!/bin/bash
# t_regress.sh: regression tests for the seven bugs of the first review
# (its reproducers were /tmp/r1 ... /tmp/r7), one case each, every one in a
# sub-sandbox of its own. Each check fails against the code before the fix
# (commit c2caa32) and passes after it, except the control of case 4 (a
# root-owned copy of its forged qf is delivered: the forgery is well formed,
# so the quarantine is for its owner alone).
#
#  1. no PIPELINING, the FIRST of three RCPTs refused: the other two are
#     really sent (the sink receives them), not merely logged as Sent.
#  2. a slow sendmail writer whose df looks 2 hours old while `mta -q`
#     recovers the spool: the writer exits 0, its message is queued whole
#     (qf and df, no Qf) and delivered by the next run.
#  3. `mta -bs` on an inet socket (as under inetd) is a network client:
#     RelayFrom applies (554 5.7.1) and a bare-LF <LF>.<LF> does not end
#     DATA (SMTP smuggling).
#  4. as root, a qf owned by another user carrying an alias target ("x")
#     file recipient is quarantined, and the file is not written.
#  5. SIGTERM while a message is staged for its group flush (the flush's
#     first call, a sync_file_range in the syncer, delayed with strace): a 250 and the message kept and delivered, or
#     no 250 and nothing left behind; never a message kept unacknowledged.
#  6. the final dot and 1000 pipelined NOOPs in one write: the first reply
#     after the 354 is the message's 250, no "500 5.5.2 line too long".
#  7. MasqueradeAs: the header block goes out with CRLF line ends and a
#     header line starting with '.' is dot-stuffed (arrives intact).
#  8. (issue 11, not from the review) SIGKILL and EIO at each call of the
#     daemon's group flush: a 250 means the message is delivered once;
#     nothing half is kept.
#
# Run by test/run (cwd = fresh temp dir, MTA and TOP set). Every wait
# polls; every process started is stopped at exit.

. "$(dirname "$0")/lib.sh"
set +e
shopt -s nullglob

BASE=$PWD

# ---------------------------------------------------------------- helpers

# newcase NAME: cd to a fresh sub-sandbox $BASE/NAME, O set for it
newcase()
{
	cd "$BASE" && mkdir -p "$BASE/$1" && cd "$BASE/$1" || exit 1
	sandbox
}

# ctx: the case's state, for a FAIL
ctx()
{
	echo "--- log (end):"
	tail -n 12 "$PWD/log" 2>/dev/null
	echo "--- spool: $(spoolfiles | tr '\n' ' ')"
	local f
	for f in "$PWD"/peer-*/conns; do
		echo "--- $f:"
		tail -n 3 "$f"
	done
}

# checkc NAME CMD...: check, with the case's state on failure
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

# gone PID: the process has exited (a zombie counts as gone)
gone()
{
	[ ! -e "/proc/$1" ] ||
	    [ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" = Z ]
}

# nsubj FILE SUBJ: how many messages of mbox FILE have Subject: SUBJ
nsubj()
{
	if [ -f "$1" ]; then
		grep -cx "Subject: $2" "$1"
	else
		echo 0
	fi
}

# rg.py: the SMTP clients of cases 3, 5 and 6 (raw sockets, transcripts)
RG=$BASE/rg.py
cat >"$RG" <<'PYEOF'
import os, select, signal, socket, subprocess, sys, time

TR = open(os.environ.get("RG_TR", "transcript"), "a")

def show(b):
	return b.decode("utf-8", "backslashreplace").replace("\r", "\\r").replace("\n", "\\n")

class C:
	def __init__(self, sock):
		self.s = sock
		self.s.settimeout(20)
		self.buf = b""

	def send(self, b):
		TR.write("C: %s\n" % (show(b) if len(b) < 300 else
		    show(b[:100]) + "...(%d bytes)" % len(b)))
		TR.flush()
		self.s.sendall(b)

	def line(self):
		while b"\n" not in self.buf:
			try:
				d = self.s.recv(65536)
			except (ConnectionError, socket.timeout) as e:
				TR.write("(%r)\n" % e)
				d = b""
			if not d:
				r, self.buf = self.buf, b""
				return r
			self.buf += d
		i = self.buf.index(b"\n") + 1
		r, self.buf = self.buf[:i], self.buf[i:]
		return r

	def reply(self):
		"""One reply (its lines joined by '|'), '' at EOF."""
		out = []
		while True:
			l = self.line()
			if not l:
				TR.write("S: <EOF>\n")
				break
			t = l.decode("utf-8", "replace").rstrip("\r\n")
			TR.write("S: %s\n" % t)
			out.append(t)
			if len(t) < 4 or t[3] != "-":
				break
		TR.flush()
		return "|".join(out)

	def cmd(self, c):
		self.send(c + b"\r\n")
		return self.reply()

	def pending(self, secs):
		if self.buf:
			return True
		r, _, _ = select.select([self.s], [], [], secs)
		return bool(r)

def session(c, rcpt=b"root@test.example"):
	"""Banner, EHLO, MAIL, RCPT, DATA; False (and why) if one fails."""
	for want, r in (("220", None), ("250", b"EHLO client.example"),
	    ("250", b"MAIL FROM:<root@test.example>"),
	    ("250", b"RCPT TO:<" + rcpt + b">"), ("354", b"DATA")):
		got = c.reply() if r is None else c.cmd(r)
		if not got.startswith(want):
			print("setup: want %s, got %r" % (want, got))
			return False
	return True

def probe(port):
	try:
		s = socket.create_connection(("127.0.0.1", int(port)), timeout=2)
		s.settimeout(2)
		ok = s.recv(512).startswith(b"220")
		s.sendall(b"QUIT\r\n")
		s.close()
		return 0 if ok else 1
	except OSError:
		return 1

def inetd(argv):
	"""Case 3: mta -bs with an accepted TCP socket on fds 0 and 1."""
	ls = socket.socket()
	ls.bind(("127.0.0.1", 0))
	ls.listen(1)
	cs = socket.create_connection(ls.getsockname())
	ss, _ = ls.accept()
	ls.close()
	p = subprocess.Popen(argv + ["-odq", "-bs"], stdin=ss.fileno(),
	    stdout=ss.fileno(), stderr=open("bs.err", "wb"))
	ss.close()
	c = C(cs)
	print("banner=" + c.reply())
	print("ehlo=" + c.cmd(b"EHLO client.example"))
	print("mail=" + c.cmd(b"MAIL FROM:<spam@evil.example>"))
	print("relay=" + c.cmd(b"RCPT TO:<victim@outside.example>"))
	print("local=" + c.cmd(b"RCPT TO:<root@test.example>"))
	print("data=" + c.cmd(b"DATA"))
	c.send(b"Subject: smuggle\r\n\r\nbody\n.\n"
	    b"RCPT TO:<smuggled@outside.example>\r\nafter the bare dot\r\n.\r\n")
	print("dot=" + c.reply())
	# everything else up to the end: the QUIT's 221 only
	c.send(b"QUIT\r\n")
	while True:
		r = c.reply()
		if not r:
			break
		print("then=" + r)
	cs.close()
	try:
		print("rc=%d" % p.wait(20))
	except subprocess.TimeoutExpired:
		p.kill()
		print("rc=timeout")
	return 0

def sigterm(port, pidfile):
	"""Case 5: the final dot, then SIGTERM before its (delayed) flush."""
	c = C(socket.create_connection(("127.0.0.1", int(port))))
	if not session(c):
		return 1
	c.send(b"Subject: staged\r\n\r\nstaged body\r\n.\r\n")
	if c.pending(0.7):
		print("early=" + c.reply())
	else:
		print("early=")
	pid = int(open(pidfile).read().split()[0])
	TR.write("(SIGTERM to %d)\n" % pid)
	os.kill(pid, signal.SIGTERM)
	while True:
		r = c.reply()
		if not r:
			break
		print("after=" + r)
	return 0

def noops(port, n):
	"""Case 6: the final dot and n NOOPs in one write."""
	n = int(n)
	c = C(socket.create_connection(("127.0.0.1", int(port))))
	if not session(c):
		return 1
	c.send(b"Subject: noops\r\n\r\nbody\r\n.\r\n" + b"NOOP\r\n" * n)
	print("first=" + c.reply())
	for i in range(n):
		r = c.reply()
		print("r=" + r)
		if not r:
			break
	print("quit=" + c.cmd(b"QUIT"))
	return 0

if __name__ == "__main__":
	a = sys.argv[1:]
	if a[0] == "probe":
		sys.exit(probe(a[1]))
	if a[0] == "inetd":
		sys.exit(inetd(a[1:]))
	if a[0] == "sigterm":
		sys.exit(sigterm(a[1], a[2]))
	if a[0] == "noops":
		sys.exit(noops(a[1], a[2]))
	sys.exit("rg.py: unknown " + a[0])
PYEOF

# rg ARGS...: the client, never hanging for ever
rg()
{
	RG_TR=$PWD/transcript timeout -k 5 90 "$PY" "$RG" "$@"
}

# dstart [ARGS...]: "mta -bD" (RunAsUser=root) on a free port in the
# current case, optionally under a wrapper (array WRAP, e.g. strace):
# DPID (the pid $! : the wrapper's if any), PORT set; 0 once it answers
# 220 and its pid file exists
dstart()
{
	PORT=$(freeport)
	"${WRAP[@]}" "$MTA" "${O[@]}" -O RunAsUser=root -O "PidFile=$PWD/pid" \
	    -O "DaemonPortOptions=Addr=127.0.0.1,Port=$PORT" "$@" -bD \
	    >"$PWD/daemon.out" 2>"$PWD/daemon.err" </dev/null &
	DPID=$!
	cleanup_add "$DPID"
	if waitfor 30 eval '"$PY" "$RG" probe "$PORT" && [ -s "$PWD/pid" ]'; then
		return 0
	fi
	echo "# mta -bD did not answer 220 on port $PORT; stderr: $(head -c 500 "$PWD/daemon.err")"
	return 1
}

# dstop: SIGTERM the daemon (its real pid, from the pid file) and wait
# for $DPID to end
dstop()
{
	local p
	if gone "$DPID"; then
		wait "$DPID" 2>/dev/null
		return 0
	fi
	p=$(cat "$PWD/pid" 2>/dev/null)
	[ -n "$p" ] && kill -TERM "$p" 2>/dev/null
	kill -TERM "$DPID" 2>/dev/null
	if ! waitfor 20 gone "$DPID"; then
		kill -KILL "$DPID" 2>/dev/null
	fi
	wait "$DPID" 2>/dev/null
}

WRAP=()

# ======================================================================
# 1. no PIPELINING, the first of three recipients refused
# ======================================================================
newcase r1-rcpt
if peer_smtp_start sink 127.0.0.1 --no-pipelining \
    --rcpt-reply 'bad@=550 5.1.1 no such user'; then
	printf 'Subject: three rcpts\n\nhello\n' |
	    mta -odq -f root@test.example bad@example.org good1@example.org \
	    good2@example.org
	mta -q -O "SmartHost=[127.0.0.1]:$sink_PORT" -O SmartHostTLS=none
	f=$(peer_files "$sink_DIR" | tail -n 1)
	checkc "regress: (1) no PIPELINING, first of 3 RCPTs refused: the sink receives the other two" eval \
	    '[ "$(peer_msgs "$sink_DIR")" -eq 1 ] &&
	    [ "$(peer_json "$f" rcpt_tos)" = "[\"good1@example.org\", \"good2@example.org\"]" ] &&
	    grep -q "to=<bad@example.org>, .*dsn=5.1.1, stat=Failed" log &&
	    [ "$(qcount)" -eq 0 ]'
else
	fail "regress: (1) SMTP peer starts" "$(cat "$PWD/peer-sink/err")"
fi

# ======================================================================
# 2. a slow sendmail writer while `mta -q` recovers the spool
# ======================================================================
newcase r2-slow
mkfifo fifo
mta -odq -f root@test.example root <fifo >w.out 2>w.err &
WPID=$!
cleanup_add "$WPID"
exec 3>fifo
printf 'Subject: slow writer\n\nfirst part\n' >&3
if waitfor 15 eval '[ -n "$(echo spool/df*)" ]'; then
	# the df looks abandoned (older than STALE_AGE) while a run recovers
	touch -d '2 hours ago' spool/df*
	mta -q
	left=$(spoolfiles | tr '\n' ' ')
	printf 'second part\n' >&3
	exec 3>&-
	if waitfor 20 gone "$WPID"; then
		wait "$WPID"
		WRC=$?
	else
		WRC=hung
	fi
	checkc "regress: (2) slow writer, df 2 h old during mta -q: it exits 0, message queued (qf and df, no Qf)" eval \
	    'echo "writer exit $WRC; spool after the run: $left; stderr: $(cat w.err)"
	    [ "$WRC" = 0 ] && [ "$(qcount)" -eq 1 ] &&
	    id=$(qids) && [ -s "spool/df$id" ] && [ -z "$(echo spool/Qf*)" ]'
	mta -q
	checkc "regress: (2) the slow writer's message is delivered whole" eval \
	    '[ "$(nsubj mail/root "slow writer")" -eq 1 ] &&
	    grep -qx "first part" mail/root && grep -qx "second part" mail/root &&
	    [ -z "$(spoolfiles)" ]'
else
	exec 3>&-
	fail "regress: (2) the writer creates its df" "$(cat w.err; ctx)"
fi

# ======================================================================
# 3. mta -bs on an inet socket (inetd): a network client
# ======================================================================
newcase r3-inetd
if built SERVER; then
	rg inetd "$MTA" "${O[@]}" -O RelayFrom=10.9.9.9/32 >res 2>res.err
	checkc "regress: (3) -bs on an inet socket: RCPT to an outside domain gets 554 5.7.1 (RelayFrom)" eval \
	    'cat res res.err; grep -q "^relay=554 5.7.1" res && grep -q "^local=250" res'
	checkc "regress: (3) -bs on an inet socket: <LF>.<LF> does not end DATA" eval \
	    'cat transcript res.err
	    grep -q "^data=354" res && grep -q "^dot=250" res &&
	    [ "$(grep -c "^then=" res)" -eq 1 ] && grep -q "^then=221" res &&
	    [ "$(qcount)" -eq 1 ] && id=$(qids) &&
	    grep -qx "after the bare dot" "spool/df$id" &&
	    grep -qx "RCPT TO:<smuggled@outside.example>" "spool/df$id"'
else
	skip "regress: (3) -bs on an inet socket" "this mta was built without SERVER"
fi

# ======================================================================
# 4. a qf written by someone else than root with an alias target
# ======================================================================
# forge ID FILE: rewrite qf ID so that its only recipient is the alias
# target FILE ("x": not expanded again), as a runner would have written it
forge()
{
	awk -v t="$2" '/^R/ { exit } { print }' "spool/qf$1" >forged
	printf 'R%s\nsP\na0\nn0\npevil\nx\n.\n' "$2" >>forged
	cp forged "spool/qf$1"
}

newcase r4-owner
printf 'secret\n' >target
chmod 600 target
cp target target.orig
printf 'Subject: forged\n\nssh-ed25519 AAAA attacker\n' |
    mta -odq -f root@test.example root
id=$(qids)
forge "$id" "$PWD/target"
chown nobody "spool/qf$id" "spool/df$id"
mta -q
checkc "regress: (4) as root, a qf owned by nobody with an alias-target file recipient is quarantined (Qf)" eval \
    '[ -e "spool/Qf$id" ] && [ ! -e "spool/qf$id" ]'
checkc "regress: (4) ... and the file is not written" eval \
    'cmp target.orig target'

# the control: the very same forged qf, owned by root, is a valid one
# when the aliases really make the file of its parent "evil" (since
# issue 7 no qf, whoever owns it, is the authority for a path)
newcase r4-control
: >target
printf 'evil: %s\n' "$PWD/target" >aliases
printf 'Subject: forged\n\ncontrol line\n' | mta -odq -f root@test.example root
id=$(qids)
forge "$id" "$PWD/target"
mta -q
checkc "regress: (4) control: the same qf owned by root is delivered to the file" eval \
    'grep -qx "control line" target && [ -z "$(spoolfiles)" ]'

# ... and without that alias, the root-owned forgery is refused: the
# recipient fails (5.7.1, a DSN to the sender), the file stays as it was
newcase r4-rootforged
: >target
printf 'Subject: forged\n\nforged line\n' | mta -odq -f root@test.example root
id=$(qids)
forge "$id" "$PWD/target"
mta -q
checkc "regress: (4) a root-owned qf naming a file its parent's alias does not name: not written, 5.7.1" eval \
    '[ ! -s target ] && grep -q "5.7.1 not a target of its alias" log'

# ======================================================================
# 5. SIGTERM while a message is staged for its flush
# ======================================================================
newcase r5-sigterm
if built SERVER; then
	if command -v strace >/dev/null 2>&1; then
		# the group flush's first call (the syncer starts the writeback of
		# the staged files) waits 2 s before it runs: the message stays
		# staged while SIGTERM comes; LeakSanitizer cannot run under ptrace
		# (the -asan build)
		WRAP=(env "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
		    strace -f -qq -o "$PWD/strace.out" -e trace=sync_file_range
		    -e inject=sync_file_range:delay_enter=2000000:when=1)
		if dstart; then
			rg sigterm "$PORT" "$PWD/pid" >res 2>res.err
			waitfor 30 gone "$DPID"
			dstop
			# early=: no reply to the dot had come when SIGTERM was sent
			if grep -q "^after=250" res; then
				# acknowledged: it must be queued, and a run delivers it
				mta -q
				checkc "regress: (5) SIGTERM while staged: 250, and the message is delivered" eval \
				    'cat transcript res.err; grep -qx "early=" res &&
				    grep -m1 "^after=" res | grep -q "^after=250 " &&
				    [ "$(nsubj mail/root staged)" -eq 1 ] && [ -z "$(spoolfiles)" ]'
			else
				checkc "regress: (5) SIGTERM while staged: no 250, so nothing kept in the spool" eval \
				    'cat transcript res.err; grep -qx "early=" res && [ -z "$(spoolfiles)" ] && [ "$(nsubj mail/root staged)" -eq 0 ]'
			fi
		else
			fail "regress: (5) daemon under strace starts" "$(cat daemon.err)"
		fi
		WRAP=()
	else
		fail "regress: (5) strace installed" "strace not found (tools/deps installs it)"
	fi
else
	skip "regress: (5) SIGTERM while staged (the daemon)" "this mta was built without SERVER"
fi

# ======================================================================
# 6. the final dot and 1000 pipelined NOOPs in one write
# ======================================================================
newcase r6-noops
if built SERVER; then
	if dstart; then
		rg noops "$PORT" 1000 >res 2>res.err
		checkc "regress: (6) dot + 1000 NOOPs in one write: the first reply after 354 is the 250 for the message" eval \
		    'grep "^first=" res; head -c 2000 res.err; grep -q "^first=250 " res'
		checkc "regress: (6) ... then 1000 NOOP replies 250, no 500 5.5.2 anywhere, the message delivered once" eval \
		    'grep -v "^r=250 " res | head -n 5
		    [ "$(grep -c "^r=250 " res)" -eq 1000 ] && ! grep -q "=500" res &&
		    ! grep -q "500 5.5.2" log && grep -q "^quit=221" res &&
		    waitfor 20 eval "[ \"\$(nsubj mail/root noops)\" -eq 1 ]"'
		dstop
	else
		fail "regress: (6) daemon starts" "$(cat daemon.err)"
	fi
else
	skip "regress: (6) dot + 1000 NOOPs (the daemon)" "this mta was built without SERVER"
fi

# ======================================================================
# 7. MasqueradeAs: CRLF and dot-stuffing in the header block
# ======================================================================
newcase r7-masq
if peer_smtp_start sink 127.0.0.1; then
	printf 'Subject: masq\n.X-Dot: yes\nFrom: Me <root@test.example>\n\nhello\n.dotbody\n' |
	    mta -odq -f root@test.example bob@example.org
	id=$(qids)
	# the df carries .X-Dot in its header block (sendheaders sends it)
	sed -n '/^$/q; /^\.X-Dot: yes$/p' "spool/df$id" >dothdr
	mta -q -O "SmartHost=[127.0.0.1]:$sink_PORT" -O SmartHostTLS=none \
	    -O MasqueradeAs=me@example.net
	f=$(peer_files "$sink_DIR" | tail -n 1)
	checkc "regress: (7) MasqueradeAs: delivered, the From: masqueraded (CRLF)" eval \
	    '[ -s dothdr ] && [ "$(peer_msgs "$sink_DIR")" -eq 1 ] &&
	    [ "$(peer_json "$f" mail_from)" = me@example.net ] &&
	    peer_body "$f" | grep -q "^From: Me <me@example.net>"$'"'\r'"'"$"'
	checkc "regress: (7) MasqueradeAs: header lines arrive with CRLF (no bare LF), a '.' header line intact" \
	    "$PY" - "$f" <<'EOF'
import re, sys
raw = open(sys.argv[1], "rb").read().split(b"\n\n", 1)[1]
i = raw.find(b"\r\n\r\n")
head = raw[:i + 2] if i != -1 else raw
bare = [m.start() for m in re.finditer(rb"(?<!\r)\n", raw)]
assert not bare, "bare LF at offsets %r; header block: %r" % (bare[:5], head[:600])
assert i != -1, "no CRLF CRLF after the header block: %r" % raw[:600]
assert b"\r\n.X-Dot: yes\r\n" in head, "the '.X-Dot' header line: %r" % head
assert b"\r\n.dotbody\r\n" in raw[i:], "the '.dotbody' body line: %r" % raw[i:]
EOF
else
	fail "regress: (7) SMTP peer starts" "$(cat "$PWD/peer-sink/err")"
fi


# ======================================================================
# 8. the group flush, step by step (issue 11): SIGKILL, then EIO, at each
#    call of the syncer's flush of one message (sync_file_range: start
#    and wait for the df and qf; fsync of the folder; fdatasync of each).
#    A 250 means the message is delivered exactly once by the next queue
#    run; without a 250 it is delivered at most once; nothing half is
#    kept (no Qf, no torn copy, nothing left after recovery). An error
#    ends in 451/452 and nothing kept; so does a kill of the syncer: its
#    flush counts as failed and is never done a second time.
# ======================================================================
RS=$BASE/send8.py
cat >"$RS" <<'PYEOF'
import smtplib, sys
try:
	s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=30)
	s.ehlo("c.example")
	s.mail("a@test.example")
	s.rcpt("root@test.example")
	code, msg = s.data("Subject: %s\r\n\r\nBEGIN\r\nbody\r\nEND\r\n" % sys.argv[2])
	print(code)
	s.quit()
except smtplib.SMTPResponseException as e:
	print(e.smtp_code)
except Exception as e:
	print("none %s" % e)
PYEOF
if ! built SERVER; then
	skip "regress: (8) the group flush (the daemon)" "this mta was built without SERVER"
elif command -v strace >/dev/null 2>&1; then
	bad8=()
	n8=0
	# the calls of the second flush, as strace counts them (each
	# process apart): a flush makes 4 sync_file_range, 1 fsync (the
	# folder) and 2 fdatasync in the syncer; the first message is flushed
	# untouched, so that the daemon's own fsync at its start is not hit
	for point in sync_file_range:5 sync_file_range:6 sync_file_range:7 \
	    sync_file_range:8 fsync:2 fdatasync:3 fdatasync:4; do
		sc=${point%%:*}
		n=${point#*:}
		for how in signal=SIGKILL error=EIO; do
			newcase "r8-$sc-$n-${how%%=*}"
			n8=$((n8 + 1))
			subj="flush-$sc-$n-${how%%=*}"
			WRAP=(env "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
			    strace -f -qq -o /dev/null -e trace="$sc"
			    -e inject="$sc:$how:when=$n")
			if ! dstart -odq; then
				note8="could not start: $(head -c 200 daemon.err)"
				bad8+=("$sc #$n $how: $note8")
				WRAP=()
				continue
			fi
			WRAP=()
			first=$(timeout -k 5 60 "$PY" "$RS" "$PORT" "first-$subj")
			reply=$(timeout -k 5 60 "$PY" "$RS" "$PORT" "$subj")
			dstop
			# a daemon killed mid-flush by the injection (not the
			# syncer) leaves its debris young: age it for recovery
			if [ -n "$(spoolfiles | grep -E '^(tf|df)')" ]; then
				touch -d '2 hours ago' spool/* 2>/dev/null
			fi
			mta -q >/dev/null 2>&1
			got=$(nsubj mail/root "$subj")
			why=""
			if [ "$first" != 250 ] ||
			    [ "$(nsubj mail/root "first-$subj")" -ne 1 ]; then
				why+="; the first message (before the fault): $first, delivered $(nsubj mail/root "first-$subj") times"
			fi
			case $reply in
			250) [ "$got" -eq 1 ] || why+="; 250 but delivered $got times" ;;
			*) [ "$got" -le 1 ] || why+="; no 250 but delivered $got times" ;;
			esac
			# the fault must have hit: an error is answered 4xx; so
			# is a killed syncer's flush, which is never done again
			# (a write error it saw is reported once: a second flush
			# could say 0 over lost data)
			case $how:$reply in
			error=EIO:451 | error=EIO:452) ;;
			error=EIO:*) why+="; not 451/452 although the flush failed" ;;
			signal=SIGKILL:451)
				grep -q "the syncer is gone" log ||
				    why+="; the kill did not hit the syncer" ;;
			signal=SIGKILL:none*) ;;	# the daemon itself was hit
			signal=SIGKILL:*) why+="; not 451 although the syncer died in its flush" ;;
			esac
			if [ "$got" -ge 1 ] && [ "$(grep -cx "END" mail/root)" -ne \
			    "$(grep -cx "BEGIN" mail/root)" ]; then
				why+="; a torn copy"
			fi
			if [ -n "$(spoolfiles)" ]; then
				why+="; left in the spool: $(spoolfiles | tr '\n' ' ')"
			fi
			if [ -n "$why" ]; then
				bad8+=("$sc #$n $how (reply $reply)$why")
			fi
		done
	done
	cd "$BASE" || exit 1
	if [ "${#bad8[@]}" -eq 0 ]; then
		ok "regress: (8) SIGKILL and EIO at each of the $((n8 / 2)) calls of a group flush: a 250 means delivered once, nothing half kept"
	else
		fail "regress: (8) SIGKILL and EIO at each call of a group flush" \
		    "$(printf '%s\n' "${bad8[@]}")"
	fi
else
	fail "regress: (8) strace installed" "strace not found (tools/deps installs it)"
fi

cd "$BASE" || exit 1
