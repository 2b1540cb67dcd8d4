#!/bin/bash
# t_sec_local.sh: what root's local delivery does with files an ordinary
# user (or RunAsUser) could have planted (issue 7): alias trust that only
# narrows (:include: owner, symlinks, nested includes, aliases re-entered
# by name, unsafe directories, the alias file itself), Maildir ownership,
# dot-locks made with link(), /file and mailbox opens, DeadLetterFile, and
# the descriptors a |program inherits. Tests run as root; an ordinary user
# mtatestu is made if absent (and removed at exit only then).
. "$TOP/test/lib.sh"
sandbox
T=$PWD
chmod 711 "$T"	# the user must reach the directories made for it here
U=mtatestu
if ! id "$U" >/dev/null 2>&1; then
	if ! useradd -M -N -s /usr/sbin/nologin "$U" >/dev/null 2>&1; then
		echo "# skip: cannot create user $U"
		exit 0
	fi
	cleanup_cmd "userdel '$U'"
fi
UID_U=$(id -u "$U")
GID_U=$(id -g "$U")
asuser() { setpriv --reuid="$UID_U" --regid="$GID_U" --clear-groups "$@"; }
pubdir
P=$PUB
X=/tmp/mta-sec-x.$$
cleanup_cmd "rm -f '$X'"

printf 'Subject: plain\n\nhello\n' > plain.msg

# the sender's bounces go to daemon's mailbox, not to the ones checked
send() { capture mta -odi -f daemon "$@" < plain.msg; }

state()
{
	echo "exit $RC, $(qcount) queued; stderr: $ERR"
	ls -l mail "$P" 2>/dev/null
	[ -f log ] && tail -n 8 log
}

# --- alias trust ---------------------------------------------------------

# Control: a root-owned include naming a file and a program works.
fresh
printf '%s\n' "$T/ctl.out" "|cat > $P/ctl.pipe" > root.inc
chmod 644 root.inc
printf 'ctl: :include:%s\n' "$T/root.inc" > aliases
send ctl
if [ "$RC" -eq 0 ] && [ "$(mbox_count ctl.out)" -eq 1 ] && grep -q '^hello$' "$P/ctl.pipe" 2>/dev/null; then
	ok "sec-local: control: root-owned :include: naming a file and a program works"
else
	fail "sec-local: control: root-owned :include: naming a file and a program works" "$(state)"
fi

# untrusted NAME INCFILE: alias x: :include:INCFILE whose list names $X,
# a program and root; file and program refused, root's mailbox works.
untrusted()
{
	local name=$1 inc=$2
	fresh
	rm -f "$X" "$P/u.pipe"
	printf 'x: :include:%s\n' "$inc" > aliases
	send x
	if [ ! -e "$X" ] && [ ! -e "$P/u.pipe" ] && [ "$(mbox_count mail/root)" -eq 1 ] &&
	    grep -q 'refused' log 2>/dev/null; then
		ok "sec-local: $name: file and program refused (logged), mailbox delivered"
	else
		fail "sec-local: $name: file and program refused (logged), mailbox delivered" "x exists: $([ -e "$X" ] && echo yes || echo no), pipe ran: $([ -e "$P/u.pipe" ] && echo yes || echo no)
$(state)"
	fi
}
printf '%s\n' "$X" "|touch $P/u.pipe" root > list.src

cp list.src user.inc
chown "$U" user.inc
untrusted "ordinary user's :include: (safe directory)" "$T/user.inc"

cp list.src mail.inc
chown mail mail.inc
untrusted "RunAsUser-owned :include:" "$T/mail.inc"

cp list.src gw.inc
chmod 666 gw.inc
untrusted "root-owned :include: writable by others" "$T/gw.inc"

cp list.src "$P/pub.inc"
chmod 644 "$P/pub.inc"
untrusted "root-owned :include: in a world-writable directory" "$P/pub.inc"

mkdir -p sub
cp list.src sub/hard.inc
ln -f sub/hard.inc hard2.inc
untrusted "root-owned :include: with two links" "$T/sub/hard.inc"

# an ordinary user's include that includes a root-owned list
cp list.src rootlist
chmod 644 rootlist
printf ':include:%s\n' "$T/rootlist" > nest.inc
chown "$U" nest.inc
untrusted "user :include: -> root-owned :include:" "$T/nest.inc"

# an include that is a symlink to a root-owned list: refused outright
ln -sf "$T/rootlist" link.inc
asuser ln -sf "$T/rootlist" "$P/ulink.inc"
for l in "$T/link.inc" "$P/ulink.inc"; do
	fresh
	rm -f "$X" "$P/u.pipe"
	printf 'x: :include:%s, root\n' "$l" > aliases
	send x
	if [ ! -e "$X" ] && [ ! -e "$P/u.pipe" ] && [ "$(mbox_count mail/root)" -eq 1 ] &&
	    grep -q 'symbolic link' log 2>/dev/null; then
		ok "sec-local: :include: that is a symlink ($l) to a root list: refused, logged"
	else
		fail "sec-local: :include: that is a symlink ($l) to a root list: refused, logged" "$(state)"
	fi
done

# alias (root file) -> include (user file) -> alias from the alias file
# that names a program: the program is refused; named directly it runs.
fresh
printf 'prog\nroot\n' > chain.inc
chown "$U" chain.inc
printf 'chain: :include:%s\nprog: "|cat > %s/chain.pipe", %s\n' "$T/chain.inc" "$P" "$X" > aliases
rm -f "$P/chain.pipe" "$X"
send chain
if [ ! -e "$P/chain.pipe" ] && [ ! -e "$X" ] && [ "$(mbox_count mail/root)" -eq 1 ]; then
	ok "sec-local: alias -> user :include: -> alias naming a program and a file: both refused"
else
	fail "sec-local: alias -> user :include: -> alias naming a program and a file: both refused" "$(state)"
fi
send prog
if [ -e "$P/chain.pipe" ] && [ "$(mbox_count "$X")" -eq 1 ]; then
	ok "sec-local: the same alias named directly runs its program and writes its file"
else
	fail "sec-local: the same alias named directly runs its program and writes its file" "$(state)"
fi
rm -f "$X"

# -bv shows the refusal as an unknown user; same answer twice
fresh
printf 'x: :include:%s\n' "$T/user.inc" > aliases
capture mta -bv x
out1=$OUT
capture mta -bv x
if [ "$out1" = "$OUT" ] && printf '%s' "$OUT" | grep -qF "|touch $P/u.pipe... User unknown" &&
    ! printf '%s' "$OUT" | grep -q 'mailer prog\|mailer file'; then
	ok "sec-local: -bv: untrusted program shown as unknown, the same each time"
else
	fail "sec-local: -bv: untrusted program shown as unknown, the same each time" "$out1
---
$OUT"
fi

# The alias file itself: group-writable, or an ordinary user's.
for how in chmod chown; do
	fresh
	rm -f "$P/af.pipe" "$X"
	printf 'af: "|cat > %s/af.pipe", %s, root\n' "$P" "$X" > aliases
	if [ $how = chmod ]; then chmod 664 aliases; else chown "$U" aliases; fi
	send af
	if [ ! -e "$P/af.pipe" ] && [ ! -e "$X" ] && [ "$(mbox_count mail/root)" -eq 1 ] &&
	    grep -q 'untrusted' log; then
		ok "sec-local: alias file ($how): programs and files refused, logged, mailbox works"
	else
		fail "sec-local: alias file ($how): programs and files refused, logged, mailbox works" "$(state)"
	fi
	capture mta -bi
	if [ "$RC" -ne 0 ] && printf '%s' "$ERR" | grep -q 'will be refused'; then
		ok "sec-local: -bi reports the untrusted alias file ($how), exit $RC"
	else
		fail "sec-local: -bi reports the untrusted alias file ($how)" "exit $RC: $OUT $ERR"
	fi
done

fresh
printf 'x: :include:%s\n' "$T/link.inc" > aliases
capture mta -bi
if [ "$RC" -ne 0 ] && printf '%s' "$ERR" | grep -q 'symbolic link'; then
	ok "sec-local: -bi reports a symlinked :include: as refused"
else
	fail "sec-local: -bi reports a symlinked :include: as refused" "exit $RC: $OUT $ERR"
fi

# --- /file targets ---------------------------------------------------------

# A root alias names a file under a user's directory; the user points a
# directory on the way at a root directory: root must not append there.
fresh
mkdir -p victimdir home
chmod 755 victimdir
echo precious > victimdir/passwd
chown "$U" home
chmod 755 home
asuser ln -s "$T/victimdir" home/dir
printf 'f: %s, root\n' "$T/home/dir/passwd" > aliases
send f
if [ "$(cat victimdir/passwd)" = precious ] && grep -q 'unsafe' log; then
	ok "sec-local: /file through a user's symlinked directory: not written (logged)"
else
	fail "sec-local: /file through a user's symlinked directory: not written" "$(cat victimdir/passwd | head -3)
$(state)"
fi
# control: the user's own file in the user's directory is appended to
rm -f home/dir
asuser touch home/archive
printf 'f: %s\n' "$T/home/archive" > aliases
send f
if [ "$RC" -eq 0 ] && [ "$(mbox_count home/archive)" -eq 1 ]; then
	ok "sec-local: /file owned by the user in the user's directory: appended"
else
	fail "sec-local: /file owned by the user in the user's directory: appended" "$(state)"
fi
# a new file in a world-writable (not sticky) directory is not created
printf 'f: %s\n' "$P/new.out" > aliases
send f
if [ ! -e "$P/new.out" ]; then
	ok "sec-local: /file to be created in a world-writable directory: refused"
else
	fail "sec-local: /file to be created in a world-writable directory: refused" "$(state)"
fi

# A FIFO planted as a mailbox must not hang the runner.
fresh
mkfifo mail/"$U"
chown "$U" mail/"$U"
capture timeout 60 "$MTA" "${O[@]}" -odi "$U" < plain.msg
if [ "$RC" -ne 124 ] && [ "$(qcount)" -eq 1 ]; then
	ok "sec-local: a FIFO as mailbox: delivery deferred, no hang (exit $RC)"
else
	fail "sec-local: a FIFO as mailbox: delivery deferred, no hang" "$(state)"
fi

# --- Maildir ---------------------------------------------------------------

md() { capture mta_with MailboxFormat=maildir -- -odi "$U" < plain.msg; }
fresh
md
if [ "$RC" -eq 0 ] && [ "$(ls mail/$U/new 2>/dev/null | wc -l)" -eq 1 ] &&
    [ "$(stat -c %U mail/$U mail/$U/new)" = "$U
$U" ]; then
	ok "sec-local: control: the user's Maildir is made and delivered to"
else
	fail "sec-local: control: the user's Maildir is made and delivered to" "$(state)"
fi
fresh
mkdir -p mail/$U/tmp mail/$U/new mail/$U/cur	# root's, not the user's
md
if [ "$(qcount)" -eq 1 ] && [ -z "$(find mail/$U -type f)" ] && grep -q 'not owned by its user' log; then
	ok "sec-local: a Maildir owned by someone else: deferred, nothing written, logged"
else
	fail "sec-local: a Maildir owned by someone else: deferred, nothing written, logged" "$(state)
$(find mail -ls)"
fi
fresh
mkdir -p mail/$U/tmp mail/$U/new mail/$U/cur
chown -R "$U" mail/$U
chown daemon mail/$U/new
md
if [ "$(qcount)" -eq 1 ] && [ -z "$(find mail/$U -type f)" ]; then
	ok "sec-local: a Maildir whose new/ is another user's: deferred"
else
	fail "sec-local: a Maildir whose new/ is another user's: deferred" "$(state)"
fi
fresh
mkdir -p elsewhere
chown "$U" elsewhere
ln -s "$T/elsewhere" mail/$U	# as if MailSpool were group-writable
chown -h "$U" mail/$U
md
if [ "$(qcount)" -eq 1 ] && [ -z "$(ls -A elsewhere)" ]; then
	ok "sec-local: a Maildir that is a symlink: not followed, deferred"
else
	fail "sec-local: a Maildir that is a symlink: not followed, deferred" "$(state)"
fi

# --- dot-locks -------------------------------------------------------------

BT=$(awk '/^btime/ { print $2 }' /proc/stat)
fresh
: > mail/root.lock
touch -d "@$((BT - 10))" mail/root.lock
t0=$EPOCHREALTIME
capture mta -odi root < plain.msg
t1=$EPOCHREALTIME
if [ "$RC" -eq 0 ] && [ "$(mbox_count mail/root)" -eq 1 ] && [ ! -e mail/root.lock ] &&
    awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a < 3) }'; then
	ok "sec-local: an empty dot-lock from before the boot: broken at once, delivered"
else
	fail "sec-local: an empty dot-lock from before the boot: broken at once, delivered" "$(state)"
fi

sleep 600 &
live=$!
cleanup_add "$live"
fresh
echo "$live" > mail/root.lock
capture mta -odi root < plain.msg
if [ "$(qcount)" -eq 1 ] && [ "$(mbox_count mail/root)" -eq 0 ] && [ "$(cat mail/root.lock)" = "$live" ]; then
	ok "sec-local: a fresh dot-lock of a live process: delivery deferred, lock kept"
else
	fail "sec-local: a fresh dot-lock of a live process: delivery deferred, lock kept" "$(state)"
fi
kill "$live"

true &
dead=$!
wait "$dead"
fresh
echo "$dead" > mail/root.lock
capture mta -odi root < plain.msg
if [ "$RC" -eq 0 ] && [ "$(mbox_count mail/root)" -eq 1 ] && [ ! -e mail/root.lock ]; then
	ok "sec-local: a dot-lock of a dead process: broken, delivered"
else
	fail "sec-local: a dot-lock of a dead process: broken, delivered" "$(state)"
fi

# symlinks planted as the lock: never followed, their targets untouched
for age in fresh old; do
	fresh
	rm -f victim
	echo precious > victim2
	ln -s "$T/victim" mail/root.lock
	ln -s "$T/victim2" mail/root.lock.x
	if [ $age = old ]; then
		touch -h -d "@$((BT - 10))" mail/root.lock
	fi
	capture mta -odi root < plain.msg
	if [ ! -e victim ] && [ "$(cat victim2)" = precious ]; then
		ok "sec-local: a symlink as the dot-lock ($age): target not created (delivered: $(mbox_count mail/root))"
	else
		fail "sec-local: a symlink as the dot-lock ($age): target not created" "$(ls -l victim* 2>&1)
$(state)"
	fi
done

# The lock must appear with the pid already in it: made by link(), never
# created under its own name (where it would be empty for a moment).
if command -v strace >/dev/null 2>&1; then
	fresh
	capture strace -f -o st.out -e trace=open,openat,link,linkat "$MTA" "${O[@]}" -odi root < plain.msg
	if [ "$(mbox_count mail/root)" -eq 1 ] &&
	    grep -E 'link(at)?\(.*root\.lock\.test\.example\..*root\.lock"' st.out | grep -q '= 0' &&
	    ! grep -E 'open(at)?\(.*root\.lock"' st.out | grep -q O_CREAT; then
		ok "sec-local: the dot-lock is made by link() from a temporary file"
	else
		fail "sec-local: the dot-lock is made by link() from a temporary file" "$(grep lock st.out)"
	fi
	if [ -z "$(ls -A mail | grep -vx root)" ]; then
		ok "sec-local: no lock or temporary file left in MailSpool"
	else
		fail "sec-local: no lock or temporary file left in MailSpool" "$(ls -la mail)"
	fi
else
	echo "# skip: no strace"
fi

# --- DeadLetterFile --------------------------------------------------------

# A null-sender message to an alias that fails; postmaster fails too: the
# double bounce can only go to DeadLetterFile.
mkdir -p vt
chmod 1777 vt
dead()
{
	fresh
	printf 'failer: "|exit 1"\npostmaster: failer\n' > aliases
	capture mta_with "DeadLetterFile=$T/vt/dead.letter" -- -odi -f '<>' failer < plain.msg
}
rm -f vt/dead.letter
asuser sh -c "umask 077; : > '$T/vt/dead.letter'"
dead
if [ ! -s vt/dead.letter ] && [ "$(qcount)" -ge 1 ] && grep -q 'cannot append to DeadLetterFile' log; then
	ok "sec-local: DeadLetterFile made by an ordinary user: not written, bounce kept queued, alert logged"
else
	fail "sec-local: DeadLetterFile made by an ordinary user: not written, bounce kept queued" "size $(stat -c %s vt/dead.letter)
$(state)"
fi
rm -f vt/dead.letter victim
asuser ln -s "$T/victim" vt/dead.letter
dead
if [ ! -e victim ] && [ "$(qcount)" -ge 1 ]; then
	ok "sec-local: DeadLetterFile that is a symlink: not followed, bounce kept queued"
else
	fail "sec-local: DeadLetterFile that is a symlink: not followed, bounce kept queued" "$(state)"
fi
rm -f vt/dead.letter
: > vt/dead.letter
chmod 644 vt/dead.letter
dead
if [ ! -s vt/dead.letter ] && [ "$(qcount)" -ge 1 ]; then
	ok "sec-local: DeadLetterFile readable by others: not written, bounce kept queued"
else
	fail "sec-local: DeadLetterFile readable by others: not written, bounce kept queued" "$(state)"
fi
chmod 600 vt/dead.letter
dead
if [ "$(mbox_count vt/dead.letter)" -eq 1 ] && [ "$(qcount)" -eq 0 ]; then
	ok "sec-local: root-owned 0600 DeadLetterFile: appended, queue empty"
else
	fail "sec-local: root-owned 0600 DeadLetterFile: appended, queue empty" "$(state)"
fi
rm -f vt/dead.letter
dead
if [ "$(mbox_count vt/dead.letter)" -eq 1 ] && [ "$(stat -c '%a %U' vt/dead.letter)" = "600 root" ]; then
	ok "sec-local: missing DeadLetterFile: created 0600, root's"
else
	fail "sec-local: missing DeadLetterFile: created 0600, root's" "$(ls -l vt)
$(state)"
fi

# --- descriptors of |programs ----------------------------------------------

fresh
printf 'fds: "|ls -l /proc/self/fd > %s/fds"\n' "$P" > aliases
for extra in none inherited; do
	rm -f "$P/fds"
	if [ $extra = none ]; then
		send fds
	else
		capture eval 'mta -odi -f daemon fds < plain.msg 7<plain.msg 9>/dev/null'
	fi
	n=$(sed -n 's/.* \([0-9][0-9]*\) -> .*/\1/p' "$P/fds" 2>/dev/null | awk '$1 > 2' | wc -l)
	if [ -s "$P/fds" ] && [ "$n" -le 1 ] && sed -n 's/.* \([0-9][0-9]*\) -> .*/\1/p' "$P/fds" | grep -qx 2; then
		ok "sec-local: a |program sees only 0, 1, 2 (plus ls's own; extra fds: $extra)"
	else
		fail "sec-local: a |program sees only 0, 1, 2 (extra fds: $extra)" "$(cat "$P/fds" 2>&1)
$(state)"
	fi
done

exit 0
