#!/bin/bash
# t_submit.sh: local submission through the sendmail command line, checked
# from outside: what lands in spool/qf* (envelope) and spool/df* (message),
# exit codes and messages. Most submissions use -odq so that the spool can be
# inspected; nothing here talks to the network (remote recipients are only
# ever queued).
. "$TOP/test/lib.sh"
sandbox

# --- helpers ---------------------------------------------------------------

cat > h.py <<'EOF'
import sys, re, email.utils, datetime

def load(p):
    with open(p, "rb") as f:
        return f.read()

def split(d):
    if d.startswith(b"\n"):
        return b"", d[1:]
    i = d.find(b"\n\n")
    if i < 0:
        return d, b""
    return d[:i + 1], d[i + 2:]

def fields(h):
    out = []
    for line in h.split(b"\n"):
        if line == b"":
            continue
        if line[:1] in (b" ", b"\t") and out:
            out[-1] += b"\n" + line
        else:
            out.append(line)
    return out

def values(path, name):
    h, _ = split(load(path))
    res = []
    for f in fields(h):
        n, sep, v = f.partition(b":")
        if sep and n.strip().lower() == name.lower().encode():
            res.append(v.replace(b"\r\n", b"").replace(b"\n", b"").strip())
    return res

cmd, path = sys.argv[1], sys.argv[2]
out = sys.stdout.buffer
if cmd == "body":
    out.write(split(load(path))[1])
elif cmd == "head":
    out.write(split(load(path))[0])
elif cmd == "norecv":
    # the df without its first header field (the added Received:)
    lines = load(path).split(b"\n")
    i = 1
    while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
        i += 1
    out.write(b"\n".join(lines[i:]))
elif cmd == "field":
    for v in values(path, sys.argv[3]):
        out.write(v + b"\n")
elif cmd == "count":
    print(len(values(path, sys.argv[3])))
elif cmd == "names":
    h, _ = split(load(path))
    for f in fields(h):
        out.write(f.partition(b":")[0] + b"\n")
elif cmd == "addrs":
    vs = [v.decode("utf-8", "replace") for v in values(path, sys.argv[3])]
    for name, addr in email.utils.getaddresses(vs):
        print(addr)
elif cmd == "date":
    vs = values(path, "Date")
    if len(vs) != 1:
        sys.exit("%d Date: fields" % len(vs))
    d = email.utils.parsedate_to_datetime(vs[0].decode())
    now = datetime.datetime.now(datetime.timezone.utc)
    if abs((d - now).total_seconds()) > 86400:
        sys.exit("Date: %r is not now" % vs[0])
elif cmd == "bytes":
    # a body line with every byte value 0x01..0xff except LF and CR
    b = bytes(x for x in range(1, 256) if x not in (10, 13))
    out.write(b"Subject: bytes\n\n" + b + b"\n" + b[::-1] + b"\n")
elif cmd == "long":
    out.write(b"From: a@example.org\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n"
              b"Message-ID: <long@example.org>\nSubject: long\n\n"
              b"x" * 2000 + b"\nshort\n" + b"y" * 9999 + b"z\nend\n")
elif cmd == "longhdr":
    words = " ".join("w%04d" % i for i in range(400))   # ~2400 octets
    out.write(("Subject: " + words + "\n\nbody\n").encode())
    with open(sys.argv[3], "w") as f:
        f.write(words + "\n")
EOF

py() { "$PY" h.py "$@"; }

# mta_with NAME=VALUE... -- ARGS: mta with some sandbox settings replaced.
# submit MSGFILE ARGS...: a fresh sandbox, then mta -odq ARGS < MSGFILE.
# Sets RC OUT ERR, ID (the first queued ID), DF, QF.
submit()
{
	local msg=$1
	shift
	fresh
	capture mta -odq "$@" < "$msg"
	ID=$(qids | head -n 1)
	DF=spool/df$ID
	QF=spool/qf$ID
}

state()
{
	echo "exit $RC, $(qcount) qf file(s)"
	if [ -n "$ERR" ]; then
		echo "stderr: $ERR"
	fi
	if [ -n "$ID" ] && [ -f "$QF" ]; then
		echo "--- $QF:"
		cat "$QF"
	fi
}

# queued NAME: ok when the last submit exited 0 and queued exactly one message.
queued()
{
	if [ "$RC" -eq 0 ] && [ "$(qcount)" -eq 1 ]; then
		ok "$1"
	else
		fail "$1" "$(state)"
	fi
}

# The R lines with <> and the local domain removed, sorted.
rcpts()
{
	sed -n 's/^R//p' "$QF" 2>/dev/null |
	    sed 's/^<\(.*\)>$/\1/; s/@test\.example$//' | LC_ALL=C sort
}

# rcpts_are NAME "addr addr...": the queued recipients are exactly these.
rcpts_are()
{
	local want got
	want=$(printf '%s\n' $2 | LC_ALL=C sort)
	got=$(rcpts)
	if [ "$RC" -eq 0 ] && [ "$got" = "$want" ]; then
		ok "$1"
	else
		fail "$1" "want recipients: $(echo $want); got: $(echo $got)
$(state)"
	fi
}

# nothing_left NAME [DIR]: no df, tf or qf file in the spool.
nothing_left()
{
	local d=${2:-spool} left
	left=$(ls -A "$d" 2>/dev/null | grep -E '^(df|tf|qf|Qf)')
	if [ -z "$left" ]; then
		ok "$1"
	else
		fail "$1" "left in $d: $(echo $left)"
	fi
}

# hdr_count NAME FIELD N: the df has N FIELD: fields.
hdr_count()
{
	local n
	n=$(py count "$DF" "$2" 2>&1)
	if [ "$n" = "$3" ]; then
		ok "$1"
	else
		fail "$1" "want $3 $2: field(s), got $n; header block:
$(py head "$DF" 2>&1)"
	fi
}

# same NAME FILE1 FILE2: byte-identical.
printf 'Subject: plain\n\nhello\n' > plain.msg

# --- recipients on the command line ---------------------------------------

submit plain.msg root daemon
queued "submit: command-line recipients queued (exit 0, one qf)"
rcpts_are "submit: command-line recipients in the qf R lines" "root daemon"
if [ -f "$DF" ] && [ ! -e mail/root ]; then
	ok "submit: -odq queues only (df present, no mailbox)"
else
	fail "submit: -odq queues only (df present, no mailbox)" "$(ls -l spool mail 2>&1)"
fi

submit plain.msg root root
rcpts_are "submit: a recipient named twice is stored once" "root"

submit plain.msg bob@example.org
rcpts_are "submit: remote recipient on the command line" "bob@example.org"

# --- -t --------------------------------------------------------------------

cat > t1.msg <<'EOF'
From: Sender <sender@example.org>
To: to1@example.org
Cc: cc1@example.org
Bcc: bcc1@example.org
Subject: t1

To: body1@example.org
Bcc: body2@example.org
EOF
submit t1.msg -t
rcpts_are "submit: -t takes To, Cc and Bcc (not body lines)" \
    "to1@example.org cc1@example.org bcc1@example.org"
if [ -f "$DF" ] && ! py head "$DF" | grep -qi '^bcc:' &&
    py head "$DF" | grep -q '^To: to1@example.org$' &&
    py head "$DF" | grep -q '^Cc: cc1@example.org$'; then
	ok "submit: -t removes Bcc from the stored df, keeps To and Cc"
else
	fail "submit: -t removes Bcc from the stored df, keeps To and Cc" "$(cat "$DF" 2>&1)"
fi
if [ -f "$DF" ] && py body "$DF" | grep -q '^Bcc: body2@example.org$'; then
	ok "submit: -t leaves a Bcc: line in the body alone"
else
	fail "submit: -t leaves a Bcc: line in the body alone" "$(cat "$DF" 2>&1)"
fi

printf 'To: to1@example.org\nBcc: b1@example.org,\n  b2@example.org,\n\tb3@example.org\nSubject: folded bcc\n\nbody\n' > t2.msg
submit t2.msg -t
rcpts_are "submit: -t folded Bcc: every address taken" \
    "to1@example.org b1@example.org b2@example.org b3@example.org"
if [ -f "$DF" ] && ! grep -q 'b[123]@example.org' "$DF" &&
    py head "$DF" | grep -q '^To: to1@example.org$' &&
    py head "$DF" | grep -q '^Subject: folded bcc$'; then
	ok "submit: -t removes a folded Bcc with its continuation lines"
else
	fail "submit: -t removes a folded Bcc with its continuation lines" "$(cat "$DF" 2>&1)"
fi

cat > t3.msg <<'EOF'
From: orig@example.org
To: old-to@example.org
Cc: old-cc@example.org
Resent-From: fwd@example.org
Resent-To: new-to@example.org
Resent-Cc: new-cc@example.org
Resent-Bcc: new-bcc@example.org
Subject: resent

body
EOF
submit t3.msg -t
rcpts_are "submit: -t uses Resent-To/Cc/Bcc instead of To/Cc when present" \
    "new-to@example.org new-cc@example.org new-bcc@example.org"
if [ -f "$DF" ] && ! grep -qi '^resent-bcc:' "$DF" && ! grep -q new-bcc "$DF" &&
    grep -q '^Resent-To: new-to@example.org$' "$DF" && grep -q '^To: old-to@example.org$' "$DF"; then
	ok "submit: -t removes Resent-Bcc, keeps the other headers"
else
	fail "submit: -t removes Resent-Bcc, keeps the other headers" "$(cat "$DF" 2>&1)"
fi

printf 'To: a@example.org\nSubject: plus\n\nbody\n' > t4.msg
submit t4.msg -t extra@example.org
rcpts_are "submit: -t plus command-line recipients: both used (Postfix semantics)" \
    "a@example.org extra@example.org"

printf 'TO: up@example.org\ncc: low@example.org\nBCC: hid@example.org\nSubject: case\n\nbody\n' > t5.msg
submit t5.msg -t
rcpts_are "submit: -t header names are case-insensitive" \
    "up@example.org low@example.org hid@example.org"
if [ -f "$DF" ] && ! grep -qi '^bcc:' "$DF" && ! grep -q hid@ "$DF"; then
	ok "submit: -t removes BCC: in upper case"
else
	fail "submit: -t removes BCC: in upper case" "$(cat "$DF" 2>&1)"
fi

printf 'To: a@example.org, a@example.org\nCc: a@example.org\nSubject: dup\n\nbody\n' > t6.msg
submit t6.msg -t
rcpts_are "submit: -t the same address in To and Cc is stored once" "a@example.org"

# --- address lists (real-world header shapes) --------------------------------

printf 'To: Alice Smith <alice@example.org>, "Bob B. Jones" <bob@example.org>\nSubject: names\n\nbody\n' > a1.msg
submit a1.msg -t
rcpts_are "submit: -t display names" "alice@example.org bob@example.org"

printf 'To: "Doe, John" <john@example.org>, "Roe, Jane (HR)" <jane@example.org>\nSubject: outlook\n\nbody\n' > a2.msg
submit a2.msg -t
rcpts_are "submit: -t Outlook-style \"Doe, John\" <x> (comma in quoted name)" \
    "john@example.org jane@example.org"

printf 'To: carol@example.org (Carol, at work), (the lead) dave@example.org,\n Eve <eve@example.org> (a comment, with comma)\nSubject: comments\n\nbody\n' > a3.msg
submit a3.msg -t
rcpts_are "submit: -t comments with commas" "carol@example.org dave@example.org eve@example.org"

printf 'To: undisclosed-recipients:;\nCc: team: gina@example.org, "Hank, H." <hank@example.org>;\nBcc: ivan@example.org\nSubject: groups\n\nbody\n' > a4.msg
submit a4.msg -t
rcpts_are "submit: -t groups (empty group, group with members)" \
    "gina@example.org hank@example.org ivan@example.org"

printf 'To: jo@example.org,\n\tkim@example.org,\n    "Lee,\n L." <lee@example.org>\nCc:\n  mo@example.org\nSubject: folded\n\nbody\n' > a5.msg
submit a5.msg -t
rcpts_are "submit: -t folded headers (also inside a quoted name, empty first line)" \
    "jo@example.org kim@example.org lee@example.org mo@example.org"

printf 'To: "john smith"@example.org, <angle@example.org>\nSubject: quoted local\n\nbody\n' > a6.msg
submit a6.msg -t
got=$(rcpts | tr '\n' ' ')
if [ "$RC" -eq 0 ] && [ "$got" = '"john smith"@example.org angle@example.org ' ]; then
	ok "submit: -t quoted local part and bare <addr>"
else
	fail "submit: -t quoted local part and bare <addr>" "got: $got
$(state)"
fi

printf 'To: undisclosed-recipients:;\nSubject: only a group\n\nbody\n' > a7.msg
submit a7.msg -t
if [ "$RC" -eq 64 ] && [ "$(qcount)" -eq 0 ]; then
	ok "submit: -t with only an empty group: exit 64, nothing queued"
else
	fail "submit: -t with only an empty group: exit 64, nothing queued" "$(state)"
fi

# RFC 5322 appendix A.1.2, A.1.3, A.5: quoted pairs, ';' inside quotes,
# comments inside the addr-spec, a group with members.
cat > a8.msg <<'EOF'
To: "Joe Q. Public" <john.q.public@example.com>, Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>
Cc: <boss@nil.test>, "Giant; \"Big\" Box" <sysservices@example.net>
Bcc: A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;
Subject: rfc 5322 appendix A

body
EOF
submit a8.msg -t
rcpts_are "submit: -t RFC 5322 A.1.2/A.1.3 examples (quoted pairs, ';' in quotes, group)" \
    "john.q.public@example.com mary@x.test jdoe@example.org one@y.test boss@nil.test sysservices@example.net c@a.test joe@where.test jdoe@one.test"

printf 'To: Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>\nCc: (Empty list)(start)Hidden recipients  :(nobody(that I know))  ;\nSubject: A.5\n\nbody\n' > a9.msg
submit a9.msg -t
rcpts_are "submit: -t RFC 5322 A.5 (comments inside the addr-spec and group)" "pete@silly.test"

printf 'To: J\xc3\xb6rg M\xc3\xbcller <joerg@example.org>, =?utf-8?q?J=C3=B6rg?= <j2@example.org>\nSubject: 8bit names\n\nbody\n' > a10.msg
submit a10.msg -t
rcpts_are "submit: -t raw UTF-8 and encoded-word display names" "joerg@example.org j2@example.org"

submit plain.msg 'Bob Example <bob@example.org>'
rcpts_are "submit: command-line recipient 'Name <addr>'" "bob@example.org"

submit plain.msg 'a@example.org, b@example.org'
rcpts_are "submit: command-line argument with a comma-separated list" "a@example.org b@example.org"

# --- no recipients, unknown users ------------------------------------------

printf 'From: x@example.org\nSubject: nobody\n\nbody\n' > n1.msg
submit n1.msg -t
if [ "$RC" -eq 64 ] && printf '%s' "$ERR" | grep -q 'No recipient addresses found in header'; then
	ok "submit: -t without recipients: exit 64 and 'No recipient addresses found in header'"
else
	fail "submit: -t without recipients: exit 64 and 'No recipient addresses found in header'" "$(state)"
fi
nothing_left "submit: -t without recipients: nothing left in the spool"

submit plain.msg
if [ "$RC" -eq 64 ] && [ "$(qcount)" -eq 0 ]; then
	ok "submit: no recipient and no -t: exit 64, nothing queued"
else
	fail "submit: no recipient and no -t: exit 64, nothing queued" "$(state)"
fi

submit plain.msg root nosuch42
if [ "$RC" -eq 67 ] && printf '%s' "$ERR" | grep -q 'nosuch42\.\.\. User unknown'; then
	ok "submit: unknown local user among others: exit 67, 'nosuch42... User unknown'"
else
	fail "submit: unknown local user among others: exit 67, 'nosuch42... User unknown'" "$(state)"
fi
if [ "$(qcount)" -eq 1 ] && [ "$(rcpts)" = root ]; then
	ok "submit: unknown local user among others: queued for the others only"
else
	fail "submit: unknown local user among others: queued for the others only" "$(state)"
fi

submit plain.msg root nosuch42@test.example
if [ "$RC" -eq 67 ] && [ "$(qcount)" -eq 1 ] && [ "$(rcpts)" = root ]; then
	ok "submit: unknown user@HostName: exit 67, others queued"
else
	fail "submit: unknown user@HostName: exit 67, others queued" "$(state)"
fi

submit plain.msg nosuch42 nosuch43
if [ "$RC" -eq 67 ] && [ "$(qcount)" -eq 0 ]; then
	ok "submit: only unknown users: exit 67, nothing queued"
else
	fail "submit: only unknown users: exit 67, nothing queued" "$(state)"
fi
nothing_left "submit: only unknown users: no df/tf left"

printf 'To: root, nosuch42\nSubject: t unknown\n\nbody\n' > n2.msg
submit n2.msg -t
if [ "$RC" -eq 67 ] && [ "$(qcount)" -eq 1 ] && [ "$(rcpts)" = root ]; then
	ok "submit: -t unknown local user among others: exit 67, others queued"
else
	fail "submit: -t unknown local user among others: exit 67, others queued" "$(state)"
fi

# --- senders ---------------------------------------------------------------

submit plain.msg root
if [ "$(qline "$ID" S 2>/dev/null)" = root@test.example ]; then
	ok "submit: default sender is user@HostName (S line)"
else
	fail "submit: default sender is user@HostName (S line)" "$(state)"
fi

for f in -f -r; do
	submit plain.msg $f alice@example.org root
	if [ "$(qline "$ID" S 2>/dev/null)" = alice@example.org ]; then
		ok "submit: $f ADDR sets the envelope sender"
	else
		fail "submit: $f ADDR sets the envelope sender" "$(state)"
	fi
done

submit plain.msg -falice@example.org root
if [ "$(qline "$ID" S 2>/dev/null)" = alice@example.org ]; then
	ok "submit: -fADDR (attached) sets the envelope sender"
else
	fail "submit: -fADDR (attached) sets the envelope sender" "$(state)"
fi

submit plain.msg -f '<bob@example.org>' root
if [ "$(qline "$ID" S 2>/dev/null)" = bob@example.org ]; then
	ok "submit: -f '<addr>' stored without brackets"
else
	fail "submit: -f '<addr>' stored without brackets" "$(state)"
fi

submit plain.msg -f '<>' root
if [ "$RC" -eq 0 ] && [ -f "$QF" ] && grep -qx S "$QF" && [ "$(grep -c '^S' "$QF")" -eq 1 ]; then
	ok "submit: -f '<>' null sender (empty S line)"
else
	fail "submit: -f '<>' null sender (empty S line)" "$(state)"
fi

# --- added headers -----------------------------------------------------------

submit plain.msg root
hdr_count "submit: Date: added when missing" Date 1
hdr_count "submit: Message-ID: added when missing" Message-ID 1
hdr_count "submit: From: added when missing" From 1
if py date "$DF" 2>/dev/null; then
	ok "submit: added Date: is RFC 5322 and current"
else
	fail "submit: added Date: is RFC 5322 and current" "$(py date "$DF" 2>&1)
$(py head "$DF" 2>&1)"
fi
mid=$(py field "$DF" Message-ID 2>/dev/null)
if printf '%s\n' "$mid" | grep -Eqx '<[^<>@[:space:]]+@[^<>@[:space:]]+>'; then
	ok "submit: added Message-ID: is <left@right>"
else
	fail "submit: added Message-ID: is <left@right>" "Message-ID: $mid"
fi
if [ "$(py addrs "$DF" From 2>/dev/null)" = root@test.example ]; then
	ok "submit: added From: is user@HostName"
else
	fail "submit: added From: is user@HostName" "$(py head "$DF" 2>&1)"
fi
if [ "$(py names "$DF" 2>/dev/null | head -n 1)" = Received ] && head -n 1 "$DF" | grep -q '^Received: '; then
	ok "submit: first line of the df is Received:"
else
	fail "submit: first line of the df is Received:" "$(head -n 3 "$DF" 2>&1)"
fi
if py field "$DF" Received 2>/dev/null | grep -q 'test\.example'; then
	ok "submit: Received: names HostName"
else
	fail "submit: Received: names HostName" "$(py field "$DF" Received 2>&1)"
fi
body=$(py body "$DF" 2>/dev/null)
if [ "$body" = hello ] && [ "$(py field "$DF" Subject)" = plain ]; then
	ok "submit: added headers go in the header block, body untouched"
else
	fail "submit: added headers go in the header block, body untouched" "$(cat "$DF" 2>&1)"
fi

cat > h1.msg <<'EOF'
Received: from elsewhere by relay.example.org; Mon, 1 Jan 2024 00:00:00 +0000
From: Someone <someone@example.org>
Date: Mon, 1 Jan 2024 00:00:00 +0000
Message-Id: <orig.1@example.org>
Subject: has all

body
EOF
submit h1.msg root
hdr_count "submit: Date: present is not duplicated" Date 1
hdr_count "submit: Message-Id: present (mixed case) is not duplicated" Message-ID 1
hdr_count "submit: From: present is not duplicated" From 1
hdr_count "submit: an existing Received: is kept, one added" Received 2
if [ -f "$DF" ]; then
	py norecv "$DF" > h1.got
fi
same "submit: message with all headers stored byte-exact after the new Received:" h1.msg h1.got

submit plain.msg -F "Test Person" root
if [ "$(py addrs "$DF" From 2>/dev/null)" = root@test.example ] &&
    py field "$DF" From 2>/dev/null | grep -q 'Test Person'; then
	ok "submit: -F NAME in the added From:"
else
	fail "submit: -F NAME in the added From:" "$(py head "$DF" 2>&1)"
fi

submit plain.msg -F "Doe, John" root
if [ "$(py addrs "$DF" From 2>/dev/null)" = root@test.example ]; then
	ok "submit: -F 'Doe, John' quoted so that From: is still one address"
else
	fail "submit: -F 'Doe, John' quoted so that From: is still one address" "$(py head "$DF" 2>&1)"
fi

submit h1.msg -F "Test Person" root
if [ "$(py field "$DF" From 2>/dev/null)" = 'Someone <someone@example.org>' ]; then
	ok "submit: -F does not touch an existing From:"
else
	fail "submit: -F does not touch an existing From:" "$(py head "$DF" 2>&1)"
fi

submit plain.msg -FCronDaemon -i -B8BITMIME -oem root
if [ "$RC" -eq 0 ] && py field "$DF" From 2>/dev/null | grep -q CronDaemon; then
	ok "submit: Debian cron's command line (-FCronDaemon -i -B8BITMIME -oem root)"
else
	fail "submit: Debian cron's command line (-FCronDaemon -i -B8BITMIME -oem root)" "$(state)"
fi

# --- the lone dot, -i --------------------------------------------------------

printf 'Subject: dot\n\nline1\n.\nline2\n' > d1.msg
submit d1.msg root
if [ "$RC" -eq 0 ] && [ "$(py body "$DF" 2>/dev/null | od -c)" = "$(printf 'line1\n' | od -c)" ]; then
	ok "submit: without -i a lone '.' ends the message"
else
	fail "submit: without -i a lone '.' ends the message" "$(state)
$(cat "$DF" 2>&1)"
fi
for f in -i -oi; do
	submit d1.msg $f root
	if [ "$RC" -eq 0 ] && [ "$(py body "$DF" 2>/dev/null | od -c)" = "$(printf 'line1\n.\nline2\n' | od -c)" ]; then
		ok "submit: with $f a lone '.' is kept"
	else
		fail "submit: with $f a lone '.' is kept" "$(state)
$(cat "$DF" 2>&1)"
	fi
done
printf 'Subject: dots\n\n..\n.x\n...\n' > d2.msg
submit d2.msg root
if [ "$RC" -eq 0 ] && [ "$(py body "$DF" 2>/dev/null | od -c)" = "$(printf '..\n.x\n...\n' | od -c)" ]; then
	ok "submit: '..', '.x', '...' lines are not unstuffed"
else
	fail "submit: '..', '.x', '...' lines are not unstuffed" "$(cat "$DF" 2>&1)"
fi

# --- byte exactness ----------------------------------------------------------

py bytes x > b1.msg
submit b1.msg root
if [ -f "$DF" ]; then
	py body "$DF" > b1.got
fi
py body b1.msg > b1.want
same "submit: 8-bit body (bytes 0x01-0xff) stored byte-exact" b1.want b1.got

printf 'From: =?utf-8?q?x?= <a@example.org>\nDate: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-ID: <u@example.org>\nSubject: Gr\xc3\xbc\xc3\x9fe \xe2\x82\xac\n\nK\xc3\xa4se\n\xff\xfe\n' > b2.msg
submit b2.msg root
if [ -f "$DF" ]; then
	py norecv "$DF" > b2.got
fi
same "submit: raw UTF-8 header and 8-bit body byte-exact" b2.msg b2.got

printf 'From: a@example.org\nDate: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-ID: <cr@example.org>\nSubject: cr\n\na\rb\nc\r\r\nend\n' > b3.msg
submit b3.msg root
if [ -f "$DF" ]; then
	py norecv "$DF" > b3.got
fi
printf 'From: a@example.org\nDate: Mon, 1 Jan 2024 00:00:00 +0000\nMessage-ID: <cr@example.org>\nSubject: cr\n\na\rb\nc\r\nend\n' > b3.want
same "submit: a bare CR is kept (only CR LF becomes LF)" b3.want b3.got

printf 'From: a@example.org\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID: <crlf@example.org>\r\nTo: x@example.org,\r\n y@example.org\r\nSubject: crlf\r\n\r\nline one\r\n\r\nline \xe9 three\r\n' > b4.msg
submit b4.msg -t
if [ -f "$DF" ]; then
	py norecv "$DF" > b4.got
fi
tr -d '\r' < b4.msg > b4.want
same "submit: CRLF input stored with LF line ends, otherwise exact" b4.want b4.got
rcpts_are "submit: CRLF input: -t folded To: parsed" "x@example.org y@example.org"

py long x > l1.msg
submit l1.msg root
if [ -f "$DF" ]; then
	py norecv "$DF" > l1.got
fi
same "submit: body lines of 2000 and 10000 octets kept intact" l1.msg l1.got

py longhdr x words.want > l2.msg
submit l2.msg root
if [ -f "$DF" ]; then
	py field "$DF" Subject > words.got
fi
same "submit: a 2400-octet Subject: not cut (folding allowed)" words.want words.got

printf 'Subject: no newline\n\nlast line' > e1.msg
submit e1.msg root
b=$(py body "$DF" 2>/dev/null)
if [ "$RC" -eq 0 ] && [ "$b" = 'last line' ]; then
	ok "submit: a last line without newline is kept"
else
	fail "submit: a last line without newline is kept" "$(state)
$(cat "$DF" 2>&1)"
fi

printf 'hello from a script\nsecond line\n' > e2.msg
submit e2.msg root
if [ "$RC" -eq 0 ] && [ "$(py body "$DF" 2>/dev/null)" = "$(cat e2.msg)" ]; then
	ok "submit: headerless input (echo hi | sendmail root) becomes the body"
else
	fail "submit: headerless input (echo hi | sendmail root) becomes the body" "$(state)
$(cat "$DF" 2>&1)"
fi

submit /dev/null root
if [ "$RC" -eq 0 ] && [ "$(qcount)" -eq 1 ] && [ "$(py count "$DF" Message-ID)" = 1 ]; then
	ok "submit: empty input is queued with the added headers"
else
	fail "submit: empty input is queued with the added headers" "$(state)"
fi

submit plain.msg root
if [ -f "$DF" ] && [ "$(qline "$ID" Z)" = "$(stat -c %s "$DF")" ]; then
	ok "submit: qf Z line is the df size"
else
	fail "submit: qf Z line is the df size" "$(state)
df size: $(stat -c %s "$DF" 2>&1)"
fi
if [ -f "$QF" ] && head -n 1 "$QF" | grep -qx V1 && tail -n 1 "$QF" | grep -qx . &&
    grep -q '^sP$' "$QF"; then
	ok "submit: qf starts V1, ends '.', recipient pending (sP)"
else
	fail "submit: qf starts V1, ends '.', recipient pending (sP)" "$(state)"
fi

# --- hostile arguments ----------------------------------------------------------

# injected NAME: no qf got an injected line, no df an injected header.
injected()
{
	if grep -rqx -e 'Rinjected@example.org' -e 'Einjected' spool 2>/dev/null ||
	    grep -rq '^X-Injected:' spool 2>/dev/null; then
		fail "$1" "$(state)
$(cat spool/df* 2>/dev/null | head -n 12)"
	elif [ "$RC" -ge 128 ]; then
		fail "$1" "$(state)"
	else
		ok "$1 (exit $RC)"
	fi
}
submit plain.msg -f $'evil@example.org\nRinjected@example.org' root
injected "submit: a newline in -f cannot add a qf line"
submit plain.msg $'root\nRinjected@example.org'
injected "submit: a newline in a recipient cannot add a qf line"
submit plain.msg -V $'env1\nRinjected@example.org' root
injected "submit: a newline in -V cannot add a qf line"
submit plain.msg -V $'env2\nEinjected' root
injected "submit: a newline in -V cannot add an E line"
submit plain.msg -F $'Name\nX-Injected: yes' root
injected "submit: a newline in -F cannot add a header"
printf 'To: "x\nRinjected@example.org" <a@example.org>\nSubject: hdr\n\nbody\n' > inj.msg
submit inj.msg -t
injected "submit: a broken quoted name across lines in To: cannot add a qf line"

# sane NAME: the last submission exited with a sysexits code, not a crash.
sane()
{
	if [ "$RC" -eq 0 ] || { [ "$RC" -ge 64 ] && [ "$RC" -le 78 ]; }; then
		ok "$1 (exit $RC)"
	else
		fail "$1" "$(state)"
	fi
}
long=$(head -c 5000 /dev/zero | tr '\0' a)
submit plain.msg -f "$long@example.org" root
sane "submit: 5000-octet -f: no crash"
submit plain.msg "$long@example.org"
sane "submit: 5000-octet recipient: no crash"
submit plain.msg "$long"
sane "submit: 5000-octet local recipient: no crash"
submit plain.msg -F "$long" root
sane "submit: 5000-octet -F: no crash"
submit plain.msg -V "$long" root
sane "submit: 5000-octet -V: no crash"
submit plain.msg -O "QueueWarn=$long" root
sane "submit: 5000-octet -O value: no crash"
printf 'To: %s@example.org\nSubject: long to\n\nbody\n' "$long" > lt.msg
submit lt.msg -t
sane "submit: -t with a 5000-octet address: no crash"
{ printf 'To: '; for i in $(seq 1 300); do printf 'u%d@example.org, ' "$i"; done; printf 'last@example.org\nSubject: many\n\nbody\n'; } > many.msg
submit many.msg -t
sane "submit: -t with 301 recipients on one line: no crash"
{ printf 'Subject: many headers\n'; for i in $(seq 1 3000); do printf 'X-H%d: v\n' "$i"; done; printf '\nbody\n'; } > hh.msg
submit hh.msg root
if [ "$RC" -eq 0 ] && [ "$(py count "$DF" X-H3000 2>/dev/null)" = 1 ]; then
	ok "submit: 3000 header fields kept"
else
	fail "submit: 3000 header fields kept" "$(state)"
fi

# --- other input shapes ---------------------------------------------------------

printf 'From someone@example.org Mon Jan  1 00:00:00 2024\nFrom: someone@example.org\nSubject: from line\n\nbody\n' > f1.msg
submit f1.msg root
if [ "$RC" -eq 0 ] && ! grep -q '^From someone' "$DF" && [ "$(py field "$DF" Subject)" = 'from line' ] &&
    [ "$(py body "$DF")" = body ]; then
	ok "submit: a leading mbox 'From ' line is removed (sendmail, Postfix)"
else
	fail "submit: a leading mbox 'From ' line is removed (sendmail, Postfix)" "$(state)
$(cat "$DF" 2>&1)"
fi

printf 'Subject: crlf dot\r\n\r\nline1\r\n.\r\nline2\r\n' > d3.msg
submit d3.msg root
if [ "$RC" -eq 0 ] && [ "$(py body "$DF" 2>/dev/null | od -c)" = "$(printf 'line1\n' | od -c)" ]; then
	ok "submit: without -i a lone '.' CR LF ends the message too"
else
	fail "submit: without -i a lone '.' CR LF ends the message too" "$(cat "$DF" 2>&1 | cat -A)"
fi

fresh
capture mta -odq root < plain.msg
capture mta -odq root < plain.msg
mids=$(for f in spool/df*; do py field "$f" Message-ID; done | sort -u | wc -l)
if [ "$(qcount)" -eq 2 ] && [ "$mids" -eq 2 ]; then
	ok "submit: two submissions get two different Message-IDs"
else
	fail "submit: two submissions get two different Message-IDs" "$(qcount) qf, $mids Message-IDs"
fi

fresh
pids=()
for i in $(seq 1 20); do
	mta -odq root < plain.msg > /dev/null 2>&1 &
	pids+=($!)
done
bad=0
for p in "${pids[@]}"; do
	wait "$p" || bad=$((bad + 1))
done
if [ "$bad" -eq 0 ] && [ "$(qcount)" -eq 20 ] && [ "$(ls spool | grep -c '^df')" -eq 20 ]; then
	ok "submit: 20 parallel submissions: 20 distinct queue IDs"
else
	fail "submit: 20 parallel submissions: 20 distinct queue IDs" "$bad failed; $(qcount) qf"
fi

# --- delivery modes ----------------------------------------------------------

fresh
capture mta -odi root < plain.msg
if [ "$RC" -eq 0 ] && [ "$(mbox_count mail/root)" -eq 1 ] && [ "$(qcount)" -eq 0 ]; then
	ok "submit: -odi delivered before exit"
else
	fail "submit: -odi delivered before exit" "$(state); mailbox: $(mbox_count mail/root)"
fi
nothing_left "submit: -odi leaves no spool files"

for mode in "" -odb; do
	fresh
	capture mta $mode root < plain.msg
	if [ "$RC" -eq 0 ] && waitfor 20 eval '[ "$(mbox_count mail/root)" -eq 1 ]' &&
	    waitfor 20 eval '[ "$(qcount)" -eq 0 ]'; then
		ok "submit: ${mode:-default (-odb)} delivers in the background"
	else
		fail "submit: ${mode:-default (-odb)} delivers in the background" "$(state); mailbox: $(mbox_count mail/root)"
	fi
	waitfor 20 eval '[ -z "$(spoolfiles | grep -E "^(df|tf|qf)")" ]'
done

# --- flags -------------------------------------------------------------------

for f in -oem -oep -oeq -oew -oee -oi -bm -om "-B 8BITMIME" -B8BITMIME -U -v; do
	submit plain.msg $f root
	if [ "$RC" -eq 0 ] && [ "$(qcount)" -eq 1 ]; then
		ok "submit: compatibility flag $f accepted"
	else
		fail "submit: compatibility flag $f accepted" "$(state)"
	fi
done

submit plain.msg -N success,failure -R hdrs -V envid123 root
if [ "$RC" -eq 0 ] && [ "$(qline "$ID" E)" = envid123 ] && [ "$(qline "$ID" N)" = H ]; then
	ok "submit: -V envid and -R hdrs stored (E, N lines)"
else
	fail "submit: -V envid and -R hdrs stored (E, N lines)" "$(state)"
fi
if [ -f "$QF" ] && grep -Eqx 'd(6|SF|FS)' "$QF"; then
	ok "submit: -N success,failure stored (d line)"
else
	fail "submit: -N success,failure stored (d line)" "$(state)"
fi
submit plain.msg -R full -N never root
if [ "$RC" -eq 0 ] && [ "$(qline "$ID" N)" = F ] && grep -Eqx 'd(1|N)' "$QF"; then
	ok "submit: -R full -N never stored"
else
	fail "submit: -R full -N never stored" "$(state)"
fi
submit plain.msg -N bogus root
if [ "$RC" -eq 64 ] && [ "$(qcount)" -eq 0 ]; then
	ok "submit: -N bogus: exit 64"
else
	fail "submit: -N bogus: exit 64" "$(state)"
fi

submit plain.msg -y root
if [ "$RC" -eq 64 ] && [ -n "$ERR" ] && [ "$(qcount)" -eq 0 ]; then
	ok "submit: unknown flag -y: exit 64 with a message, nothing queued"
else
	fail "submit: unknown flag -y: exit 64 with a message, nothing queued" "$(state)"
fi

# opt NAME=VALUE WANTNAME: -O NAME=VALUE is refused with exit 64 naming it.
opt_bad()
{
	fresh
	capture mta -O "$1" -odq root < plain.msg
	if [ "$RC" -eq 64 ] && printf '%s' "$ERR" | grep -q -- "$2" && [ "$(qcount)" -eq 0 ]; then
		ok "submit: -O $1: exit 64 naming $2"
	else
		fail "submit: -O $1: exit 64 naming $2" "$(state)"
	fi
}
opt_bad Foo=bar Foo
opt_bad MinFreeSpace=xyz MinFreeSpace
opt_bad QueueReturn=5x QueueReturn
opt_bad QueueWarn=-1h QueueWarn
opt_bad MaxMessageSize=12Q MaxMessageSize
opt_bad NoEqualsSign NoEqualsSign

for kv in QueueWarn=0 QueueReturn=2d MinFreeSpace=10K MaxMessageSize=1M Timeout.command=30s \
    HostStatusTimeout=90 MailboxFormat=mbox; do
	fresh
	capture mta -O "$kv" -odq root < plain.msg
	if [ "$RC" -eq 0 ] && [ "$(qcount)" -eq 1 ]; then
		ok "submit: -O $kv accepted"
	else
		fail "submit: -O $kv accepted" "$(state)"
	fi
done

# --- spool that cannot be written --------------------------------------------

fresh
: > afile
capture mta_with "QueueDirectory=$PWD/afile/spool" -- -odq root < plain.msg
if { [ "$RC" -eq 73 ] || [ "$RC" -eq 75 ]; } && [ -n "$ERR" ] && [ -f afile ] && [ ! -s afile ]; then
	ok "submit: QueueDirectory under a regular file: exit 73/75 with a message"
else
	fail "submit: QueueDirectory under a regular file: exit 73/75 with a message" "$(state)"
fi

mkdir -p ro full
if mount -t tmpfs -o ro,size=1m tmpfs "$PWD/ro" 2>/dev/null; then
	cleanup_cmd "umount '$PWD/ro'"
	fresh
	capture mta_with "QueueDirectory=$PWD/ro" -- -odq root < plain.msg
	if { [ "$RC" -eq 73 ] || [ "$RC" -eq 75 ]; } && [ -n "$ERR" ]; then
		ok "submit: read-only spool: exit 73/75 with a message"
	else
		fail "submit: read-only spool: exit 73/75 with a message" "$(state)"
	fi
	nothing_left "submit: read-only spool: nothing left" ro
else
	echo "# skip: read-only spool (cannot mount a tmpfs here)"
fi

if mount -t tmpfs -o size=256k tmpfs "$PWD/full" 2>/dev/null; then
	cleanup_cmd "umount '$PWD/full'"
	fresh
	{ printf 'Subject: big\n\n'; head -c 600000 /dev/zero | tr '\0' 'x' | fold -w 76; } > big.msg
	capture mta_with "QueueDirectory=$PWD/full" MinFreeSpace=0 -- -odq root < big.msg
	if [ "$RC" -eq 75 ] && [ -n "$ERR" ]; then
		ok "submit: disk full (ENOSPC) while writing: exit 75 with a message"
	else
		fail "submit: disk full (ENOSPC) while writing: exit 75 with a message" "$(state)"
	fi
	nothing_left "submit: disk full: no half message left" full
	capture mta_with "QueueDirectory=$PWD/full" MinFreeSpace=0 -- -odq root < plain.msg
	n=$(ls full | grep -c '^qf')
	if [ "$RC" -eq 0 ] && [ "$n" -eq 1 ]; then
		ok "submit: after a disk-full failure the spool takes the next message"
	else
		fail "submit: after a disk-full failure the spool takes the next message" "exit $RC, $n qf; $ERR; $(ls -la full)"
	fi
else
	echo "# skip: disk full (cannot mount a tmpfs here)"
fi

# --- MinFreeSpace -------------------------------------------------------------

fresh
capture mta_with MinFreeSpace=1000000G -- -odq root < plain.msg
if [ "$RC" -eq 75 ] && printf '%s' "$ERR" | grep -Eqi 'space|MinFreeSpace'; then
	ok "submit: MinFreeSpace=1000000G: exit 75 with a message about space"
else
	fail "submit: MinFreeSpace=1000000G: exit 75 with a message about space" "$(state)"
fi
nothing_left "submit: MinFreeSpace refusal leaves nothing"
capture mta -odq root < plain.msg
capture mta_with MinFreeSpace=1000000G -- -q
if [ "$RC" -eq 0 ] && [ "$(mbox_count mail/root)" -eq 1 ] && [ "$(qcount)" -eq 0 ]; then
	ok "submit: MinFreeSpace=1000000G: mta -q still delivers queued mail"
else
	fail "submit: MinFreeSpace=1000000G: mta -q still delivers queued mail" "$(state); mailbox: $(mbox_count mail/root)"
fi

# --- -O under every name ------------------------------------------------------

mkdir -p names
for n in sendmail mailq newaliases; do
	ln -sf "$MTA" "names/$n"
done
fresh
capture names/sendmail "${O[@]}" -odq root < plain.msg
ID=$(qids | head -n 1)
if [ "$RC" -eq 0 ] && [ "$(qcount)" -eq 1 ]; then
	ok "submit: -O works when called as sendmail"
else
	fail "submit: -O works when called as sendmail" "$(state)"
fi
capture names/mailq "${O[@]}"
if [ "$RC" -eq 0 ] && [ -n "$ID" ] && printf '%s' "$OUT" | grep -qF "$ID"; then
	ok "submit: -O works when called as mailq (lists the sandbox queue)"
else
	fail "submit: -O works when called as mailq (lists the sandbox queue)" "exit $RC, id $ID: $OUT $ERR"
fi
capture names/sendmail "${O[@]}" -bp
if [ "$RC" -eq 0 ] && [ -n "$ID" ] && printf '%s' "$OUT" | grep -qF "$ID"; then
	ok "submit: sendmail -bp lists the sandbox queue"
else
	fail "submit: sendmail -bp lists the sandbox queue" "exit $RC, id $ID: $OUT $ERR"
fi
capture names/newaliases "${O[@]}"
if [ "$RC" -eq 0 ]; then
	ok "submit: -O works when called as newaliases (good file: exit 0)"
else
	fail "submit: -O works when called as newaliases (good file: exit 0)" "exit $RC: $OUT $ERR"
fi
printf 'good: root\nthis line has no colon\n' > badaliases
capture names/newaliases -O "AliasFile=$PWD/badaliases"
if [ "$RC" -ne 0 ] && printf '%s%s' "$OUT" "$ERR" | grep -q 'badaliases:2:'; then
	ok "submit: newaliases -O AliasFile=... checks that file"
else
	fail "submit: newaliases -O AliasFile=... checks that file" "exit $RC: $OUT $ERR"
fi

exit 0
