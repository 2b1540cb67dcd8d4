#!/bin/bash
# t_sec_spool.sh: the privilege boundary between root and the spool that
# RunAsUser owns (issue 7). The attacker is `nobody`, the daemon's user
# here: it may write every name in the spool. Each case plants something
# as nobody (setpriv), then lets root work (mta -q, or the daemon's
# runner), and checks that root neither read nor wrote anything outside
# the spool because of it. Hard links, which the kernel's
# protected_hardlinks stops nobody from making, are planted by the test as
# root: they stand for a box without that setting.
#
#  1. df swapped: a symlink, a hard link, a FIFO -> never read, quarantined
#  2. tf planted before an update: a symlink, a hard link -> not written
#  3. qf swapped for a symlink to a root-owned qf naming a program
#  4. .hoststat and its temporary names planted as symlinks
#  5. LogFile and PidFile planted as symlinks (a folder nobody writes)
#  6. the daemon with RunAsUser=nobody: a df swapped under its runner;
#     its alias programs see only descriptors 0, 1 and 2
#  7. settings that do not fit, and -F that would add an address
#  8. the group flush on FUSE (bindfs), where syncfs() does nothing

. "$(dirname "$0")/lib.sh"
set +e
shopt -s nullglob

BASE=$PWD
chmod 711 "$BASE"	# nobody must reach its spool below here
NOBODY=$(id -u nobody)

newcase()
{
	cd "$BASE" && mkdir -p "$BASE/$1" && cd "$BASE/$1" || exit 1
	chmod 711 .
	sandbox
}

# as_nobody CMD...: run CMD as the daemon's user
as_nobody()
{
	setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"
}

# give the spool to nobody, as the daemon's privilege drop does
give()
{
	chown -R nobody:nogroup spool
}

# secret SIZE: a root-only file of SIZE bytes of "SECRET" lines
secret()
{
	yes SECRET-ROOT-ONLY | head -c "$1" >secret
	chmod 600 secret
}

ctx()
{
	echo "--- log (end):"
	tail -n 8 log 2>/dev/null
	echo "--- spool: $(ls -la spool | tail -n +2 | awk '{print $1, $3, $NF}' | tr '\n' ';')"
}

checkc()
{
	local name=$1
	shift
	if "$@" >/dev/null 2>&1; then
		ok "$name"
	else
		fail "$name" "$(ctx)"
	fi
}

nosecret()
{
	! grep -rqs SECRET-ROOT-ONLY mail
}

# ---------------------------------------------------------------- 1. df

for how in symlink hardlink fifo; do
	newcase df-$how
	printf 'Subject: t\n\nbody\n' | mta -odq root
	id=$(qids)
	secret "$(stat -c %s spool/df$id)"
	give
	case $how in
	symlink) as_nobody sh -c "rm spool/df$id && ln -s '$PWD/secret' spool/df$id" ;;
	hardlink) rm "spool/df$id" && ln secret "spool/df$id" ;;
	fifo) as_nobody sh -c "rm spool/df$id && mkfifo spool/df$id" ;;
	esac
	timeout 30 "$MTA" "${O[@]}" -q
	rc=$?
	checkc "sec-spool: df planted as a $how: mta -q as root ends (rc $rc), reads nothing of it, quarantines the message" \
	    eval '[ "$rc" -ne 124 ] && nosecret && [ -e "spool/Qf$id" ] && [ ! -e "spool/qf$id" ]'
done

# ---------------------------------------------------------------- 2. tf

# a recipient whose delivery defers: the runner then rewrites the qf
# through tf<ID>, the name planted here
for how in symlink hardlink; do
	newcase tf-$how
	printf 'later: "|exit 75"\n' >aliases
	printf 'Subject: t\n\nbody\n' | mta -odq later
	id=$(qids)
	printf 'ORIGINAL\n' >victim
	chmod 644 victim
	give
	case $how in
	symlink) as_nobody ln -s "$PWD/victim" "spool/tf$id" ;;
	hardlink) ln victim "spool/tf$id" ;;
	esac
	mta -q
	checkc "sec-spool: tf planted as a $how: the victim is unchanged and the message still queued, its attempt recorded" \
	    eval '[ "$(cat victim)" = ORIGINAL ] && [ "$(stat -c %u victim)" = 0 ] &&
	    [ -e "spool/qf$id" ] && grep -qx a1 "spool/qf$id" && [ ! -e "spool/tf$id" ]'
done

# ---------------------------------------------------------------- 3. qf

newcase qf-symlink
pubdir
printf 'Subject: t\n\nbody\n' | mta -odq root
id=$(qids)
# a well-formed qf, root-owned, outside the spool, naming a program
awk '/^R/ { exit } { print }' "spool/qf$id" >forged
printf 'R|touch %s/ran\nsP\na0\nn0\nproot\nx\n.\n' "$PUB" >>forged
chmod 600 forged
give
as_nobody sh -c "rm spool/qf$id && ln -s '$PWD/forged' spool/qf$id"
mta -q
checkc "sec-spool: qf planted as a symlink to a root-owned qf naming a program: not run, quarantined" \
    eval '[ ! -e "$PUB/ran" ] && [ -L "spool/Qf$id" ] && nosecret'

# ------------------------------------------------------------ 4. .hoststat

newcase hoststat
cport=$(freeport)	# nothing listens there: the host is marked down
O+=(-O "SmartHost=[127.0.0.1]:$cport" -O SmartHostTLS=none)
printf 'Subject: t\n\nbody\n' | mta -odq someone@remote.example
printf 'ORIGINAL\n' >victim
chmod 644 victim
give
# one process plants them all, so that the next pids are mta's
as_nobody "$PY" -c 'import os, sys
last = int(open("/proc/sys/kernel/ns_last_pid").read())
os.symlink(sys.argv[1], "spool/.hoststat")
for p in range(last + 1, last + 400):
	os.symlink(sys.argv[1], "spool/.hoststat.%d" % p)' "$PWD/victim"
mta -q
checkc "sec-spool: .hoststat and 400 of its temporary names planted as symlinks: the victim is unchanged" \
    eval '[ "$(cat victim)" = ORIGINAL ] && [ "$(stat -c %u victim)" = 0 ]'
checkc "sec-spool: ... and the host status was still recorded, in a plain file" \
    eval '[ -f spool/.hoststat ] && [ ! -L spool/.hoststat ] && grep -q "127.0.0.1" spool/.hoststat'

# ------------------------------------------------------- 5. LogFile, PidFile

newcase logpid
if built SERVER; then
	mkdir run
	chown nobody:nogroup run
	printf 'ORIGINAL\n' >victim
	chmod 644 victim
	as_nobody ln -s "$PWD/victim" run/log
	as_nobody ln -s "$PWD/victim" run/pid
	PORT=$(freeport)
	"$MTA" "${O[@]}" -O "LogFile=$PWD/run/log" -O "PidFile=$PWD/run/pid" \
	    -O RunAsUser=nobody -O "DaemonPortOptions=Addr=127.0.0.1,Port=$PORT" \
	    -bD >daemon.out 2>daemon.err &
	DPID=$!
	cleanup_add "$DPID"
	waitfor 10 "$PY" -c "import socket; socket.create_connection(('127.0.0.1', $PORT)).recv(10)"
	kill -TERM "$DPID" 2>/dev/null
	waitfor 10 eval '! kill -0 $DPID'
	checkc "sec-spool: LogFile and PidFile planted as symlinks: the victim is unchanged and still root's" \
	    eval '[ "$(cat victim)" = ORIGINAL ] && [ "$(stat -c %u victim)" = 0 ]'
else
	skip "sec-spool: LogFile and PidFile planted as symlinks (the daemon)" "this mta was built without SERVER"
fi

# ---------------------------------------------- 6. the daemon as nobody

newcase daemon
pubdir
if built SERVER; then
	printf 'fdlist: "|ls /proc/self/fd > %s/fds"\n' "$PUB" >aliases
	PORT=$(freeport)
	"$MTA" "${O[@]}" -O RunAsUser=nobody -O "PidFile=$PWD/pid" \
	    -O "DaemonPortOptions=Addr=127.0.0.1,Port=$PORT" -bD >daemon.out 2>daemon.err &
	DPID=$!
	cleanup_add "$DPID"
	if waitfor 10 "$PY" -c "import socket; socket.create_connection(('127.0.0.1', $PORT)).recv(10)"; then
		"$PY" - "$PORT" <<-'EOF'
		import smtplib, sys
		s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]))
		s.sendmail("a@test.example", ["fdlist@test.example"], "Subject: fds\r\n\r\nx\r\n")
		s.quit()
		EOF
		waitfor 20 test -s "$PUB/fds"
		fds=$(sort -n "$PUB/fds" | tr '\n' ' ')
		# ls opens the folder it lists: 3 is its own
		checkc "sec-spool: an alias program run by the daemon's root runner sees descriptors 0, 1, 2 only (saw: $fds)" \
		    eval '[ "$fds" = "0 1 2 3 " ]'
	else
		fail "sec-spool: the daemon as nobody starts" "$(cat daemon.err)"
	fi
	# the spool is nobody's now: a df swapped while its delivery waits
	# behind a lock that a live process holds
	printf '%d\n' $$ >mail/root.lock
	"$PY" - "$PORT" <<-'EOF'
	import smtplib, sys
	s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]))
	s.sendmail("a@test.example", ["root@test.example"], "Subject: t\r\n\r\n" + "body line\r\n" * 20)
	s.quit()
	EOF
	# the runner's delivery gives up on the lock and defers; then the swap
	waitfor 30 grep -q 'to=<root@test.example>.*stat=Deferred' log
	id=$(qids)
	if [ -n "$id" ]; then
		secret "$(stat -c %s spool/df$id)"
		as_nobody sh -c "rm spool/df$id && ln -s '$PWD/secret' spool/df$id"
		rm -f mail/root.lock
		mta -qI"$id"
	fi
	checkc "sec-spool: daemon as nobody: a df it swapped for a symlink to a root-only file is not delivered" \
	    eval '[ -n "$id" ] && nosecret && [ -e "spool/Qf$id" ]'
	kill -TERM "$DPID" 2>/dev/null
	waitfor 10 eval '! kill -0 $DPID'
else
	skip "sec-spool: the daemon as nobody" "this mta was built without SERVER"
fi

# ------------------------------------------------ 7. settings, -F

newcase settings
capture mta -O "RelayFrom=$(printf '10.0.0.0/8,%.0s' $(seq 1 120))64.0.0.0/24" -bp
checkc "sec-spool: a RelayFrom too long for its buffer stops the start: exit 64, naming RelayFrom (never cut to 64.0.0.0/2)" \
    eval '[ "$RC" = 64 ] && printf "%s" "$ERR" | grep -q RelayFrom'
capture mta -O "DaemonPortOptions=Addr=127.0.0.1,Port=00000000000000000025" -bp
checkc "sec-spool: a DaemonPortOptions port longer than its buffer is refused, not cut (exit 64)" \
    eval '[ "$RC" = 64 ]'
capture mta -O "HostName=$(head -c 300 /dev/zero | tr '\0' a)" -bp
checkc "sec-spool: a HostName over 255 characters: exit 64 naming it" \
    eval '[ "$RC" = 64 ] && printf "%s" "$ERR" | grep -q HostName'

printf 'Subject: t\n\nbody\n' | mta -odq -F 'Mallory <ceo@bank.test>' root
id=$(qids)
from=$(grep -m1 '^From:' "spool/df$id")
checkc "sec-spool: -F 'Mallory <ceo@bank.test>' is one quoted display name, no second address ($from)" \
    eval '[ "$from" = "From: \"Mallory <ceo@bank.test>\" <root@test.example>" ]'
rm -f spool/*
printf 'Subject: t\n\nbody\n' | mta -odq -F $'Eve\r\nBcc: x@y.example' root
id=$(qids)
checkc "sec-spool: -F with CR LF adds no header line" \
    eval '[ "$(grep -c "^Bcc:" "spool/df$id")" = 0 ] && grep -q "^From: \"EveBcc: x@y.example\" <root@test.example>" "spool/df$id"'

# --------------------------------------------------- 8. flush on FUSE

newcase fuse
if built SERVER; then
	if ! command -v bindfs >/dev/null 2>&1 || [ ! -e /dev/fuse ] || ! command -v strace >/dev/null 2>&1; then
		echo "# skipped: the FUSE flush needs bindfs, /dev/fuse and strace"
	else
		mkdir back spool2
		if bindfs back spool2; then
			cleanup_cmd "fusermount -u '$PWD/spool2' || umount -l '$PWD/spool2'"
			PORT=$(freeport)
			strace -f -qq -o trace -e trace=syncfs,fdatasync,fsync "$MTA" "${O[@]}" \
			    -O "QueueDirectory=$PWD/spool2" -O RunAsUser=root \
			    -O "PidFile=$PWD/pid" -O "DaemonPortOptions=Addr=127.0.0.1,Port=$PORT" \
			    -odq -bD >daemon.out 2>daemon.err &
			SPID=$!
			cleanup_add "$SPID"
			waitfor 20 "$PY" -c "import socket; socket.create_connection(('127.0.0.1', $PORT)).recv(10)"
			"$PY" - "$PORT" <<-'EOF' >reply 2>&1
			import smtplib, sys
			s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]))
			s.sendmail("a@test.example", ["root@test.example"], "Subject: t\r\n\r\nbody\r\n")
			s.quit()
			print("sent")
			EOF
			kill -TERM "$SPID"
			waitfor 10 eval '! kill -0 $SPID'
			# two fdatasync (df, qf) and the folder's fsync, no syncfs
			checkc "sec-spool: spool on FUSE: the message is acknowledged after each file was fdatasynced and the folder fsynced, not after a syncfs()" \
			    eval 'grep -q sent reply && [ "$(grep -c "fdatasync(" trace)" -ge 2 ] &&
			    grep -q "fsync(" trace && ! grep -q "syncfs(" trace'
		else
			echo "# skipped: bindfs could not mount here"
		fi
	fi
else
	skip "sec-spool: flush on FUSE (the daemon)" "this mta was built without SERVER"
fi

# ------------------------------- 10. RunAsUser changed, mail still queued

# messages left by a previous RunAsUser (here: daemon) are given to the
# new one at start and delivered, not refused as foreign; a hard link
# planted among them is not given away
newcase newowner
if built SERVER; then
	printf 'Subject: t\n\nqueued under the old user\n' | mta -odq root
	id=$(qids)
	printf 'ORIGINAL\n' >victim
	chown daemon victim
	ln victim spool/dfPLANTED
	: >spool/tfOLDUSER	# a fresh tf: recovery leaves it be
	chown -R daemon spool
	PORT=$(freeport)
	"$MTA" "${O[@]}" -O RunAsUser=nobody -O "PidFile=$PWD/pid" \
	    -O "DaemonPortOptions=Addr=127.0.0.1,Port=$PORT" -q1s -bD >daemon.out 2>daemon.err &
	DPID=$!
	cleanup_add "$DPID"
	waitfor 20 grep -q "queued under the old user" mail/root
	checkc "sec-spool: RunAsUser changed: mail queued under the old one is delivered, not quarantined" \
	    eval 'grep -q "queued under the old user" mail/root && [ ! -e "spool/Qf$id" ]'
	checkc "sec-spool: ... and a hard-linked file in the spool is not given to the new one" \
	    eval '[ "$(stat -c %U victim)" = daemon ]'
	# given after the start's recovery had read the folder to its end
	checkc "sec-spool: ... and the old user's other files are the new one's" \
	    eval '[ "$(stat -c %U spool/tfOLDUSER)" = nobody ]'
	kill -TERM "$DPID" 2>/dev/null
	waitfor 10 eval '! kill -0 $DPID'
else
	skip "sec-spool: RunAsUser changed (the daemon)" "this mta was built without SERVER"
fi

# ------------------------------------- 9. a full disk at the group flush

newcase flushfull
if built SERVER; then
	if ! command -v strace >/dev/null 2>&1; then
		echo "# skipped: needs strace to make the flush fail"
	else
		PORT=$(freeport)
		# every flush the syncer makes fails as on a full disk
		strace -f -qq -o /dev/null -e trace=syncfs,fdatasync \
		    -e inject=syncfs,fdatasync:error=ENOSPC "$MTA" "${O[@]}" \
		    -O RunAsUser=root -O "PidFile=$PWD/pid" \
		    -O "DaemonPortOptions=Addr=127.0.0.1,Port=$PORT" \
		    -odq -bD >daemon.out 2>daemon.err &
		SPID=$!
		cleanup_add "$SPID"
		waitfor 20 "$PY" -c "import socket; socket.create_connection(('127.0.0.1', $PORT)).recv(10)"
		"$PY" - "$PORT" <<-'EOF' >reply 2>&1
		import smtplib, sys
		s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]))
		s.ehlo("c.example")
		s.mail("a@test.example")
		s.rcpt("root@test.example")
		print(s.data("Subject: t\r\n\r\nbody\r\n"))
		s.quit()
		EOF
		kill -TERM "$SPID"
		waitfor 10 eval '! kill -0 $SPID'
		checkc "sec-spool: ENOSPC from the group flush answers 452 4.3.1 and keeps nothing ($(tr '\n' ' ' <reply))" \
		    eval 'grep -q "452, b.4.3.1" reply && [ -z "$(ls spool)" ]'
	fi
else
	skip "sec-spool: a full disk at the group flush (the daemon)" "this mta was built without SERVER"
fi

exit 0
