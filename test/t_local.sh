#!/bin/bash
# t_local.sh: local delivery from outside: mbox and Maildir contents byte by
# byte, aliases (lists, continuation lines, :include:, /file, |program,
# recursion, loops), -bv and -bi, mailbox ownership and modes, dot-locks and
# fcntl locks. Only local recipients: nothing here leaves the machine.
. "$TOP/test/lib.sh"
sandbox

cat > h.py <<'EOF'
import sys, re, os

def load(p):
    with open(p, "rb") as f:
        return f.read()

FROM_RE = re.compile(rb"^From (\S+) (Mon|Tue|Wed|Thu|Fri|Sat|Sun) "
                     rb"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                     rb"[ 0-3][0-9] [0-2][0-9]:[0-5][0-9]:[0-6][0-9] [0-9]{4}$")

def quote(d):
    out = []
    for line in d.split(b"\n"):
        if re.match(rb"^>*From ", line):
            line = b">" + line
        out.append(line)
    return b"\n".join(out)

cmd = sys.argv[1]
if cmd == "expect":
    # expect DF SENDER: what an mbox holds after the From_ line
    df, sender = load(sys.argv[2]), sys.argv[3].encode()
    sys.stdout.buffer.write(b"Return-Path: <" + sender + b">\n" + quote(df) + b"\n")
elif cmd == "expect-maildir":
    df, sender = load(sys.argv[2]), sys.argv[3].encode()
    sys.stdout.buffer.write(b"Return-Path: <" + sender + b">\n" + df)
elif cmd == "split":
    # split MBOX PREFIX: PREFIX.1, PREFIX.2, ... without their From_ lines;
    # prints the From_ lines; exit 1 if one is malformed
    d = load(sys.argv[2])
    if not d.startswith(b"From "):
        sys.exit("mailbox does not start with 'From '")
    parts = re.split(rb"(?m)^(From [^\n]*)\n", d)
    bad = 0
    n = 0
    for i in range(1, len(parts), 2):
        n += 1
        line = parts[i]
        sys.stdout.buffer.write(line + b"\n")
        if not FROM_RE.match(line):
            bad = 1
        with open("%s.%d" % (sys.argv[3], n), "wb") as f:
            f.write(parts[i + 1])
    sys.exit(bad)
elif cmd == "msg":
    # a message whose body needs mboxrd quoting
    sys.stdout.buffer.write(
        b"From: a@example.org\nSubject: quoting\n\n"
        b"From x\n>From y\n>>From z\nFromage\n From indented\nnot From here\n"
        b"From\n>From\nend\n")
elif cmd == "bytes":
    b = bytes(x for x in range(1, 256) if x not in (10, 13))
    sys.stdout.buffer.write(b"Subject: bytes\r\n\r\n" + b + b"\r\n" +
                            b"x" * 10000 + b"\r\nFrom the middle\r\nend\r\n")
elif cmd == "hold":
    # hold fcntl|dot PATH READYFILE: hold a lock until SIGTERM
    import fcntl, signal, time
    mode, path, ready = sys.argv[2:5]
    def bye(*a):
        if mode == "dot":
            try:
                os.unlink(path)
            except OSError:
                pass
        os._exit(0)
    signal.signal(signal.SIGTERM, bye)
    if mode == "fcntl":
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.lockf(fd, fcntl.LOCK_EX)
        open(ready, "w").close()
        while True:
            signal.pause()
    else:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.write(fd, b"%d\n" % os.getpid())
        os.close(fd)
        open(ready, "w").close()
        while True:
            os.utime(path)
            time.sleep(0.5)
EOF

py() { "$PY" h.py "$@"; }

# queue MSGFILE ARGS...: mta -odq ARGS < MSGFILE; ID = the new queue ID,
# df.ID = a copy of its df (for comparing with what gets delivered).
queue()
{
	local msg=$1 before
	shift
	before=$(qids)
	capture mta -odq "$@" < "$msg"
	ID=$(qids | grep -vxF -e "$before" | head -n 1)
	if [ -z "$before" ]; then
		ID=$(qids | head -n 1)
	fi
	if [ -n "$ID" ] && [ -f "spool/df$ID" ]; then
		cp "spool/df$ID" "df.$ID"
	else
		echo "# queue $*: exit $RC, no message queued: $ERR"
	fi
}

state()
{
	echo "exit $RC, $(qcount) qf file(s)"
	if [ -n "$OUT" ]; then
		echo "stdout: $OUT"
	fi
	if [ -n "$ERR" ]; then
		echo "stderr: $ERR"
	fi
	ls -l mail 2>/dev/null | sed 1d
	for f in spool/qf*; do
		if [ -e "$f" ]; then
			echo "--- $f:"
			cat "$f"
		fi
	done
	if [ -f log ]; then
		echo "--- log (end):"
		tail -n 5 log
	fi
}

printf 'Subject: plain\n\nhello\n' > plain.msg

# --- mbox --------------------------------------------------------------------

fresh
py msg > q.msg
queue q.msg root
id1=$ID
capture mta -q
if [ "$RC" -eq 0 ] && [ "$(mbox_count mail/root)" -eq 1 ] && [ "$(qcount)" -eq 0 ]; then
	ok "local: mta -q delivers to mail/root"
else
	fail "local: mta -q delivers to mail/root" "$(state)"
fi
fromlines=$(py split mail/root m1 2>&1)
if [ "$?" -eq 0 ] && [ "$(echo "$fromlines" | wc -l)" -eq 1 ] &&
    printf '%s' "$fromlines" | grep -q '^From root@test\.example '; then
	ok "local: From_ line 'From root@test.example <asctime date>'"
else
	fail "local: From_ line 'From root@test.example <asctime date>'" "$fromlines"
fi
if [ "$(sed -n 2p mail/root 2>/dev/null)" = 'Return-Path: <root@test.example>' ]; then
	ok "local: Return-Path: <sender> after the From_ line"
else
	fail "local: Return-Path: <sender> after the From_ line" "$(head -n 3 mail/root 2>&1)"
fi
want=$(printf '>From x\n>>From y\n>>>From z\nFromage\n From indented\nnot From here\nFrom\n>From\nend')
got=$(sed -n '/^$/,$p' mail/root 2>/dev/null | sed '1d' | sed '/^$/,$d')
if [ "$got" = "$want" ]; then
	ok "local: mboxrd quoting (From x -> >From x, >From y -> >>From y, Fromage untouched)"
else
	fail "local: mboxrd quoting (From x -> >From x, >From y -> >>From y, Fromage untouched)" "got body:
$got"
fi
if [ -f "df.$id1" ]; then
	py expect "df.$id1" root@test.example > m1.want
fi
same "local: delivered message = Return-Path + quoted df + blank line, byte-exact" m1.want m1.1
if [ "$(tail -c 2 mail/root 2>/dev/null | od -An -c | tr -d ' ')" = '\n\n' ]; then
	ok "local: blank line after the message"
else
	fail "local: blank line after the message" "$(tail -c 20 mail/root 2>&1 | od -c)"
fi
if [ "$(stat -c '%a %u' mail/root 2>/dev/null)" = "600 0" ]; then
	ok "local: root's mailbox created mode 0600, owner root"
else
	fail "local: root's mailbox created mode 0600, owner root" "$(ls -ln mail 2>&1)"
fi

if [ ! -e mail/root.lock ] && [ -z "$(ls -A mail | grep -vx root)" ]; then
	ok "local: no dot-lock or temporary file left in MailSpool"
else
	fail "local: no dot-lock or temporary file left in MailSpool" "$(ls -la mail)"
fi

cp mail/root mbox.before 2>/dev/null
py bytes > b.msg
queue b.msg root
id2=$ID
capture mta -q
if [ "$RC" -eq 0 ] && [ "$(mbox_count mail/root)" -eq 2 ] &&
    cmp -s mbox.before <(head -c "$(stat -c %s mbox.before 2>/dev/null || echo 0)" mail/root); then
	ok "local: second message appended, first one untouched"
else
	fail "local: second message appended, first one untouched" "$(state)"
fi
py split mail/root m2 >/dev/null 2>&1
if [ -f "df.$id2" ]; then
	py expect "df.$id2" root@test.example > m2.want
fi
same "local: 8-bit, 10000-octet line, CRLF input: delivered byte-exact vs df" m2.want m2.2

fresh
queue plain.msg -f '<>' root
capture mta -q
if head -n 1 mail/root 2>/dev/null | grep -q '^From MAILER-DAEMON ' &&
    [ "$(sed -n 2p mail/root)" = 'Return-Path: <>' ]; then
	ok "local: null sender: 'From MAILER-DAEMON' and 'Return-Path: <>'"
else
	fail "local: null sender: 'From MAILER-DAEMON' and 'Return-Path: <>'" "$(head -n 3 mail/root 2>&1)"
fi

fresh
capture mta -odi daemon < plain.msg
if [ "$RC" -eq 0 ] && [ "$(mbox_count mail/daemon)" -eq 1 ] &&
    [ "$(stat -c '%a %u' mail/daemon 2>/dev/null)" = "600 1" ]; then
	ok "local: mailbox of user daemon created 0600 and owned by daemon (uid 1)"
else
	fail "local: mailbox of user daemon created 0600 and owned by daemon (uid 1)" "$(state)"
fi

# A mailbox that is a symlink (someone with write access to MailSpool
# pointing root's mailbox at another file) must not be written through.
fresh
echo "precious" > victim
ln -s "$PWD/victim" mail/daemon
capture mta -odq daemon < plain.msg
capture mta -q
if [ "$(cat victim)" = precious ]; then
	ok "local: a symlinked mailbox is not written through (exit $RC, $(qcount) queued)"
else
	fail "local: a symlinked mailbox is not written through" "victim now: $(head -n 3 victim)
$(state)"
fi

# --- Maildir -----------------------------------------------------------------

fresh
queue q.msg root
mid=$ID
capture mta_with MailboxFormat=maildir -- -q
files=$(ls mail/root/new 2>/dev/null)
if [ "$RC" -eq 0 ] && [ "$(echo "$files" | grep -c .)" -eq 1 ] && [ "$(qcount)" -eq 0 ] &&
    [ -d mail/root/cur ] && [ -d mail/root/tmp ] && [ -z "$(ls -A mail/root/tmp)" ]; then
	ok "local: Maildir: one file in new/, tmp/ empty, cur/ exists"
else
	fail "local: Maildir: one file in new/, tmp/ empty, cur/ exists" "$(state)
$(find mail -ls 2>&1)"
fi
if [ -f "df.$mid" ]; then
	py expect-maildir "df.$mid" root@test.example > md.want
fi
same "local: Maildir file = Return-Path + df, no quoting" md.want "mail/root/new/$(echo "$files" | head -n 1)"
queue q.msg root
capture mta_with MailboxFormat=maildir -- -q
if [ "$(ls mail/root/new 2>/dev/null | wc -l)" -eq 2 ] && [ -z "$(ls -A mail/root/tmp 2>/dev/null)" ]; then
	ok "local: Maildir: a second message gets a second unique file"
else
	fail "local: Maildir: a second message gets a second unique file" "$(find mail -ls 2>&1)"
fi
if [ "$(stat -c '%a' "mail/root/new/$(echo "$files" | head -n 1)" 2>/dev/null)" = 600 ]; then
	ok "local: Maildir file mode 0600"
else
	fail "local: Maildir file mode 0600" "$(find mail -ls 2>&1)"
fi

fresh
capture mta_with MailboxFormat=maildir -- -odi daemon < plain.msg
if [ "$RC" -eq 0 ] && [ "$(ls mail/daemon/new 2>/dev/null | wc -l)" -eq 1 ] &&
    [ "$(stat -c %u mail/daemon mail/daemon/new mail/daemon/new/* 2>/dev/null | sort -u)" = 1 ]; then
	ok "local: Maildir of user daemon (dirs and file) owned by daemon"
else
	fail "local: Maildir of user daemon (dirs and file) owned by daemon" "$(state)
$(find mail -printf '%u %m %p\n' 2>&1)"
fi

# --- aliases -------------------------------------------------------------------

# |programs run as RunAsUser (not root) and cannot reach the private cwd:
# they and what they write live in a world-writable directory.
T=$PWD
pubdir
D=$PUB
cd "$D" || exit 1
cat > pipe.sh <<EOF
#!/bin/sh
cat >> "$D/piped"
EOF
cat > p75.sh <<EOF
#!/bin/sh
echo run >> "$D/p75.count"
if [ -e "$D/p75.ok" ]; then
	cat > "$D/p75.out"
	exit 0
fi
cat > /dev/null
exit 75
EOF
cat > p1.sh <<EOF
#!/bin/sh
echo run >> "$D/p1.count"
cat > /dev/null
exit 1
EOF
cat > psig.sh <<EOF
#!/bin/sh
echo run >> "$D/psig.count"
cat > /dev/null
kill -TERM \$\$
EOF
cat > pnoread.sh <<EOF
#!/bin/sh
echo run >> "$D/pnoread.count"
exit 0
EOF
printf 'root\n# a comment\n\ndaemon\n' > inc.list
chmod 755 pipe.sh p75.sh p1.sh pnoread.sh psig.sh
cd "$OLDPWD" || exit 1

write_aliases()
{
	cat > aliases <<EOF
# the aliases of the test
team: root, daemon
cont: root,
	daemon
# ghost: root
inc: :include:$D/inc.list
tofile: $T/out.mbox
topipe: |$D/pipe.sh
pipeargs: "|/bin/sh $D/pipe.sh with args"
p75: |$D/p75.sh
p1: |$D/p1.sh
pnoread: |$D/pnoread.sh
psig: "|exec $D/psig.sh"
a1: a2
a2: a3
a3: root
la: lb
lb: la
Mixed: daemon
EOF
}

# deliver NAME RCPT BOX N: fresh sandbox with the aliases, mta -odi RCPT;
# ok when BOX then holds N messages.
deliver()
{
	local name=$1 rcpt=$2 box=$3 n=$4
	fresh
	write_aliases
	capture mta -odi "$rcpt" < plain.msg
	if [ "$RC" -eq 0 ] && [ "$(mbox_count "$box")" -eq "$n" ] && [ "$(qcount)" -eq 0 ]; then
		ok "$name"
	else
		fail "$name" "$(state)"
	fi
}

fresh
write_aliases
capture mta -bi
if [ "$RC" -eq 0 ]; then
	ok "local: -bi on a good aliases file: exit 0"
else
	fail "local: -bi on a good aliases file: exit 0" "$(state)"
fi

deliver "local: alias list (team: root, daemon) reaches root" team mail/root 1
if [ "$(mbox_count mail/daemon)" -eq 1 ]; then
	ok "local: alias list (team: root, daemon) reaches daemon"
else
	fail "local: alias list (team: root, daemon) reaches daemon" "$(state)"
fi
deliver "local: alias continuation line (root)" cont mail/root 1
if [ "$(mbox_count mail/daemon)" -eq 1 ]; then
	ok "local: alias continuation line (daemon)"
else
	fail "local: alias continuation line (daemon)" "$(state)"
fi
deliver "local: :include: list reaches root" inc mail/root 1
if [ "$(mbox_count mail/daemon)" -eq 1 ]; then
	ok "local: :include: list reaches daemon"
else
	fail "local: :include: list reaches daemon" "$(state)"
fi
deliver "local: alias recursion a1 -> a2 -> a3 -> root" a1 mail/root 1
deliver "local: case-insensitive local part (ROOT)" ROOT mail/root 1
deliver "local: case-insensitive domain (root@TEST.EXAMPLE)" root@TEST.EXAMPLE mail/root 1
deliver "local: case-insensitive alias name (mixed -> Mixed:)" mixed mail/daemon 1
deliver "local: root@localhost is local" root@localhost mail/root 1
deliver "local: postmaster without an alias goes to root" postmaster mail/root 1
deliver "local: Postmaster (any case) goes to root" Postmaster mail/root 1

rm -f out.mbox
deliver "local: /path/file alias: appended mbox-style" tofile out.mbox 1
capture mta -odi tofile < plain.msg
if [ "$(mbox_count out.mbox)" -eq 2 ] && head -n 1 out.mbox | grep -q '^From root@test\.example ' &&
    [ "$(tail -c 2 out.mbox | od -An -c | tr -d ' ')" = '\n\n' ]; then
	ok "local: /path/file alias: second message appended, From_ line, blank line"
else
	fail "local: /path/file alias: second message appended, From_ line, blank line" "$(cat out.mbox 2>&1 | head -n 20)"
fi

rm -f "$D/piped"
fresh
write_aliases
capture mta -odi topipe < plain.msg
if [ "$RC" -eq 0 ] && [ "$(qcount)" -eq 0 ] && grep -q '^Subject: plain$' "$D/piped" 2>/dev/null &&
    grep -q '^hello$' "$D/piped"; then
	ok "local: |command alias gets the message on stdin"
else
	fail "local: |command alias gets the message on stdin" "$(state)
piped: $(cat "$D/piped" 2>&1)"
fi
rm -f "$D/piped"
capture mta -odi pipeargs < plain.msg
if [ "$RC" -eq 0 ] && grep -q '^hello$' "$D/piped" 2>/dev/null; then
	ok "local: \"|command with args\" (quoted) alias"
else
	fail "local: \"|command with args\" (quoted) alias" "$(state)
piped: $(cat "$D/piped" 2>&1)"
fi

# One target of several, longer than an envelope address (MAXADDR 320): the
# qf keeps it whole, so the alias check before it runs still finds it.
rm -f "$D/piped"
fresh
write_aliases
printf 'longpipe: root, "|/bin/sh %s/pipe.sh %0400d"\n' "$D" 0 >> aliases
capture mta -odi longpipe < plain.msg
if [ "$RC" -eq 0 ] && grep -q '^hello$' "$D/piped" 2>/dev/null &&
    [ "$(mbox_count mail/root)" -eq 1 ]; then
	ok "local: a |command of 400+ bytes in an alias list is delivered"
else
	fail "local: a |command of 400+ bytes in an alias list is delivered" "$(state)
piped: $(cat "$D/piped" 2>&1)"
fi

# |command exiting 75: stays queued, retried later, delivered once it works.
rm -f "$D/p75.count" "$D/p75.ok" "$D/p75.out"
fresh
write_aliases
queue plain.msg p75
p75id=$ID
capture mta -q
if [ "$(grep -c run "$D/p75.count" 2>/dev/null)" = 1 ] && [ "$(qcount)" -eq 1 ]; then
	ok "local: |command exit 75: message stays queued"
else
	fail "local: |command exit 75: message stays queued" "runs: $(cat "$D/p75.count" 2>&1)
$(state)"
fi
capture mta -q
if [ "$(grep -c run "$D/p75.count" 2>/dev/null)" = 1 ]; then
	ok "local: |command exit 75: an immediate second -q honours the retry time"
else
	fail "local: |command exit 75: an immediate second -q honours the retry time" "runs: $(cat "$D/p75.count" 2>&1)"
fi
capture mta -qI"$p75id"
if [ "$(grep -c run "$D/p75.count" 2>/dev/null)" = 2 ] && [ "$(qcount)" -eq 1 ]; then
	ok "local: |command exit 75: retried by -qI, still queued"
else
	fail "local: |command exit 75: retried by -qI, still queued" "runs: $(cat "$D/p75.count" 2>&1)
$(state)"
fi
touch "$D/p75.ok"
capture mta -qI"$p75id"
if [ "$(qcount)" -eq 0 ] && grep -q '^hello$' "$D/p75.out" 2>/dev/null; then
	ok "local: |command exit 75: delivered once the command succeeds, files removed"
else
	fail "local: |command exit 75: delivered once the command succeeds, files removed" "$(state)"
fi

# Two runners make root's mailbox at once: the one whose open found no
# file and whose O_EXCL create then finds the other's appends to it. The
# race is made certain with strace: the first open of the mailbox, which
# exists, is told ENOENT.
if [ -n "${MTA_EMU:-}" ]; then
	skip "local: a mailbox another runner just made is appended to" "strace under $MTA_EMU traces the emulator, not mta"
else
	fresh
	write_aliases
	capture mta -odi root < plain.msg
	queue plain.msg root
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" strace -f -qq \
	    -o /dev/null -P "$PWD/mail/root" -e trace=open,openat \
	    -e inject=open,openat:error=ENOENT:when=1 "$MTA" "${O[@]}" -q
	if [ "$(mbox_count mail/root)" -eq 2 ] && [ "$(qcount)" -eq 0 ]; then
		ok "local: a mailbox another runner just made is appended to"
	else
		fail "local: a mailbox another runner just made is appended to" "$(state)
$(tail -n 3 log)"
	fi
fi

# A deferred |command beside alias items that failed for good (a missing
# :include:, "a b@remote.example", which no RCPT TO could carry): the
# failed ones stay in the qf for the DSN, and the message is retried until
# the command works, never quarantined.
rm -f "$D/p75.count" "$D/p75.ok" "$D/p75.out"
fresh
write_aliases
printf 'mix75: root, :include:%s/none.list, "a b@remote.example", |%s/p75.sh\n' \
    "$D" "$D" >> aliases
queue plain.msg mix75
mixid=$ID
capture mta -q
touch "$D/p75.ok"
capture mta -qI"$mixid"
if [ "$(grep -c run "$D/p75.count" 2>/dev/null)" = 2 ] &&
    grep -q '^hello$' "$D/p75.out" 2>/dev/null && [ "$(qcount)" -eq 0 ] &&
    ! ls spool/Qf* >/dev/null 2>&1 && grep -q "5.1.1 user unknown" mail/root &&
    grep -q "5.1.3 bad address syntax" mail/root; then
	ok "local: a deferred |command beside failed alias items: retried, delivered, the failures reported, nothing quarantined"
else
	fail "local: a deferred |command beside failed alias items: retried, delivered, the failures reported, nothing quarantined" "runs: $(cat "$D/p75.count" 2>&1)
$(ls spool)
$(grep -i "quarant\|$mixid" log | tail -5)
$(state)"
fi

# |command exiting 1: the recipient fails, nothing retried, nothing dropped.
rm -f "$D/p1.count"
fresh
write_aliases
queue plain.msg p1
p1id=$ID
capture mta -q
q1=$RC
capture mta -qI"$p1id"
kept=no
if [ "$(qcount)" -eq 1 ] && grep -Eq '^s[FB]$' "spool/qf$p1id"; then
	kept="qf with a failed recipient"
elif [ "$(mbox_count mail/root)" -ge 1 ]; then
	kept="a bounce in root's mailbox"
fi
if [ "$kept" != no ] && [ "$(grep -c run "$D/p1.count" 2>/dev/null)" = 1 ]; then
	ok "local: |command exit 1: recipient failed for good, not dropped silently ($kept)"
else
	fail "local: |command exit 1: recipient failed for good, not dropped silently" "first -q exit $q1; runs: $(cat "$D/p1.count" 2>&1)
$(state)"
fi
if grep "$p1id: to=" log 2>/dev/null | grep -q 'p1' && ! grep "$p1id: to=" log | grep -q 'stat=Sent'; then
	ok "local: |command exit 1: logged"
else
	fail "local: |command exit 1: logged" "$(cat log 2>&1)"
fi

# |command killed by a signal: retry later, like exit 75. The alias says
# "|exec ..." so that the signal kills mta's own child: through a plain
# sh -c the shell would report it as exit status 143 instead.
rm -f "$D/psig.count"
fresh
write_aliases
queue plain.msg psig
capture mta -q
if [ "$(grep -c run "$D/psig.count" 2>/dev/null)" = 1 ] && [ "$(qcount)" -eq 1 ] &&
    grep -q '^sP$' spool/qf* && ! grep -Eq '^s[FB]$' spool/qf*; then
	ok "local: |command killed by a signal: message stays queued for a retry"
else
	fail "local: |command killed by a signal: message stays queued for a retry" "runs: $(cat "$D/psig.count" 2>&1)
$(state)"
fi

rm -f "$D/pnoread.count"
fresh
write_aliases
{ printf 'Subject: big\n\n'; head -c 2000000 /dev/zero | tr '\0' 'y' | fold -w 70; } > big.msg
queue big.msg pnoread
capture mta -q
if [ "$RC" -lt 128 ] && [ -f "$D/pnoread.count" ] && ! printf '%s' "$ERR" | grep -q 'Sanitizer\|runtime error'; then
	ok "local: |command that exits without reading stdin: runner survives (exit $RC)"
else
	fail "local: |command that exits without reading stdin: runner survives" "$(state)"
fi

fresh
write_aliases
capture timeout 60 "$MTA" "${O[@]}" -odq la < plain.msg
r1=$RC
capture timeout 60 "$MTA" "${O[@]}" -q
r2=$RC
capture timeout 60 "$MTA" "${O[@]}" -bv la
r3=$RC
if [ "$r1" -ne 124 ] && [ "$r2" -ne 124 ] && [ "$r3" -ne 124 ] && [ "$r1" -lt 128 ] && [ "$r2" -lt 128 ]; then
	ok "local: alias loop (la: lb, lb: la) terminates (submit $r1, -q $r2, -bv $r3)"
else
	fail "local: alias loop (la: lb, lb: la) terminates" "submit $r1, -q $r2, -bv $r3
$(state)"
fi

fresh
printf 'root: root, daemon\n' > aliases
capture mta -odi root < plain.msg
if [ "$RC" -eq 0 ] && [ "$(mbox_count mail/root)" -eq 1 ] && [ "$(mbox_count mail/daemon)" -eq 1 ]; then
	ok "local: self-reference (root: root, daemon) delivers to root's mailbox and daemon"
else
	fail "local: self-reference (root: root, daemon) delivers to root's mailbox and daemon" "$(state)"
fi

# --- -bv -----------------------------------------------------------------------

fresh
write_aliases
# bv NAME ARGS... -- LINE...: mta -bv ARGS prints each LINE.
bv()
{
	local name=$1 l miss=
	shift
	local args=()
	while [ "$1" != -- ]; do
		args+=("$1")
		shift
	done
	shift
	capture mta -bv "${args[@]}"
	for l in "$@"; do
		if ! printf '%s\n' "$OUT" | grep -qxF -- "$l"; then
			miss="$miss
missing: $l"
		fi
	done
	if [ -z "$miss" ]; then
		ok "$name"
	else
		fail "$name" "exit $RC$miss
stdout: $OUT
stderr: $ERR"
	fi
}
bv "local: -bv root" root -- "root... deliverable: mailer local, user root"
if [ "$RC" -eq 0 ] && [ "$OUT" = "root... deliverable: mailer local, user root" ]; then
	ok "local: -bv root: exactly one line, exit 0"
else
	fail "local: -bv root: exactly one line, exit 0" "exit $RC: $OUT"
fi
bv "local: -bv remote" bob@example.org -- "bob@example.org... deliverable: mailer esmtp, host example.org"
bv "local: -bv unknown user" nobody42 -- "nobody42... User unknown"
bv "local: -bv /file alias" tofile -- "$T/out.mbox... deliverable: mailer file, user $T/out.mbox"
bv "local: -bv |program alias" topipe -- "|$D/pipe.sh... deliverable: mailer prog, user |$D/pipe.sh"
bv "local: -bv list alias expanded" team -- "root... deliverable: mailer local, user root" \
    "daemon... deliverable: mailer local, user daemon"
bv "local: -bv several arguments" root daemon -- "root... deliverable: mailer local, user root" \
    "daemon... deliverable: mailer local, user daemon"
capture mta -bv postmaster
if printf '%s' "$OUT" | grep -q 'deliverable: mailer local, user root'; then
	ok "local: -bv postmaster (no alias) -> local, user root"
else
	fail "local: -bv postmaster (no alias) -> local, user root" "exit $RC: $OUT $ERR"
fi
capture mta -bv ghost
if printf '%s' "$OUT" | grep -qxF "ghost... User unknown"; then
	ok "local: a commented-out alias is not an alias"
else
	fail "local: a commented-out alias is not an alias" "exit $RC: $OUT $ERR"
fi
if [ "$(qcount)" -eq 0 ] && [ ! -e mail/root ]; then
	ok "local: -bv sends nothing"
else
	fail "local: -bv sends nothing" "$(state)"
fi

# --- -bi -----------------------------------------------------------------------

fresh
printf 'ok1: root\n# comment\nok2: root,\n  daemon\nthis line has no colon\nok3: daemon\n' > aliases
capture mta -bi
if [ "$RC" -ne 0 ] && printf '%s\n%s' "$OUT" "$ERR" | grep -q 'aliases:5:'; then
	ok "local: -bi reports 'aliases:5:' for a syntax error, exit non-zero"
else
	fail "local: -bi reports 'aliases:5:' for a syntax error, exit non-zero" "exit $RC
stdout: $OUT
stderr: $ERR"
fi

# --- locks ---------------------------------------------------------------------

fresh
mkdir -p mail
: > mail/root.lock
touch -d '1 hour ago' mail/root.lock
queue plain.msg root
capture timeout 300 "$MTA" "${O[@]}" -q
if [ "$(mbox_count mail/root)" -eq 1 ] && [ "$(qcount)" -eq 0 ] && [ ! -e mail/root.lock ]; then
	ok "local: a stale dot-lock (1 hour old) is broken, delivery succeeds"
else
	fail "local: a stale dot-lock (1 hour old) is broken, delivery succeeds" "$(state)"
fi

# held KIND: a fresh lock of KIND (dot: mail/root.lock kept fresh with the
# holder's pid in it; fcntl: a lock on mail/root) is held while mta -q runs.
held()
{
	local kind=$1 hp rp size0 size1 rc waited
	fresh
	queue plain.msg root
	rm -f ready
	"$PY" h.py hold "$kind" "$( [ "$kind" = dot ] && echo mail/root.lock || echo mail/root)" ready &
	hp=$!
	cleanup_add "$hp"
	if ! waitfor 10 test -e ready; then
		fail "local: $kind lock held: lock holder did not start" ""
		return
	fi
	# a missing mailbox and an empty one count as the same (0)
	size0=$(stat -c %s mail/root 2>/dev/null || echo 0)
	"$MTA" "${O[@]}" -q > runner.out 2>&1 &
	rp=$!
	cleanup_add "$rp"
	if waitfor 30 eval '! kill -0 '"$rp"; then
		wait "$rp"
		rc=$?
		waited=no
	else
		waited=yes
	fi
	size1=$(stat -c %s mail/root 2>/dev/null || echo 0)
	if [ "$size0" = "$size1" ] && [ "$(qcount)" -eq 1 ]; then
		if [ "$waited" = no ]; then
			ok "local: $kind lock held: delivery deferred, message stays queued (runner exit $rc)"
		else
			ok "local: $kind lock held: mailbox not written while locked (runner waits)"
		fi
	else
		fail "local: $kind lock held: mailbox not written, message kept" "size before $size0, after $size1, runner waiting: $waited
$(cat runner.out)
$(state)"
	fi
	kill -TERM "$hp" 2>/dev/null
	wait "$hp" 2>/dev/null
	if [ "$waited" = yes ]; then
		waitfor 120 eval '! kill -0 '"$rp"
	else
		capture mta -qI"$ID"
	fi
	if [ "$(mbox_count mail/root)" -eq 1 ] && [ "$(qcount)" -eq 0 ]; then
		ok "local: $kind lock released: message delivered"
	else
		fail "local: $kind lock released: message delivered" "$(cat runner.out)
$(state)"
	fi
}
held dot
held fcntl

# --- a failed mbox write leaves the mailbox as it was --------------------------

mkdir -p mfull
if mount -t tmpfs -o size=256k tmpfs "$PWD/mfull" 2>/dev/null; then
	cleanup_cmd "umount '$PWD/mfull'"
	fresh
	{ printf 'From old@example.org Mon Jan  1 00:00:00 2024\nSubject: old\n\n'; head -c 100000 /dev/zero | tr '\0' 'o' | fold -w 70; printf '\n'; } > mfull/root
	chmod 600 mfull/root
	cp mfull/root mfull.before
	{ printf 'Subject: big\n\n'; head -c 300000 /dev/zero | tr '\0' 'x' | fold -w 76; } > big.msg
	queue big.msg root
	capture mta_with "MailSpool=$PWD/mfull" -- -q
	if cmp -s mfull.before mfull/root && [ "$(qcount)" -eq 1 ]; then
		ok "local: mailbox full (ENOSPC): mailbox truncated back, message stays queued"
	else
		fail "local: mailbox full (ENOSPC): mailbox truncated back, message stays queued" "size before $(stat -c %s mfull.before), after $(stat -c %s mfull/root)
$(state)"
	fi
	if [ -z "$(ls -A mfull | grep -v '^root$')" ]; then
		ok "local: mailbox full: no lock or temporary file left in MailSpool"
	else
		fail "local: mailbox full: no lock or temporary file left in MailSpool" "$(ls -la mfull)"
	fi
else
	echo "# skip: mailbox full (cannot mount a tmpfs here)"
fi

exit 0
