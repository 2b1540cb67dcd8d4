#!/bin/bash
# test/t_contrib.sh: the recipes and packages under contrib/ (issue 10).
#
#  1. every shell script (recipes, init scripts, maintainer scripts,
#     tools/debcheck, tools/recipes): sh -n and shellcheck
#  2. the systemd unit: `systemd-analyze verify` prints nothing and
#     exits 0, with /usr/sbin/mta present (a private mount namespace
#     puts $MTA there); two broken copies (a missing program, a bad
#     value) must be caught, so that a verify that checks nothing fails
#  3. the procd (OpenWrt) and OpenRC (Alpine) init scripts, run against
#     small recording stubs of procd's and openrc-run's functions: they
#     start `mta -bD -q15m` with respawn, and reload with HUP
#  4. the runit service under a private runsvdir, with $MTA on a private
#     spool and port: it answers, and comes back after `kill -9`
#  5. the .deb built from $MTA (contrib/debian/mkdeb): fields, files,
#     links, md5sums, maintainer scripts
# What this machine cannot do (the SDKs, an installed system) is in
# tools/recipes and tools/debcheck.
#
# Run by test/run (cwd = fresh temp dir, MTA and TOP set).

. "$TOP/test/lib.sh"
set +e
shopt -s nullglob

C=$TOP/contrib
BASE=$PWD

# --- 1. shell scripts -----------------------------------------------------------

# Scripts with the shell shellcheck reads them as; OpenRC and abuild
# files set variables their framework reads (SC2034) and use its
# variables (SC2154).
SCRIPTS="$C/debian/mkdeb $C/debian/mta.init $C/runit/mta/run
$C/runit/mta/log/run $C/openwrt/mta/files/mta.init
$C/buildroot/package/mta/S50mta $C/alpine/mta.initd
$C/alpine/mta.pre-install $C/alpine/mta.post-install
$TOP/tools/debcheck $TOP/tools/recipes"
for f in $SCRIPTS $C/alpine/APKBUILD; do
	n=${f#"$TOP"/}
	if [ ! -f "$f" ]; then
		fail "contrib: $n exists" "missing"
		continue
	fi
	check "contrib: sh -n $n" sh -n "$f"
done
if command -v shellcheck >/dev/null 2>&1; then
	for f in $SCRIPTS; do
		[ -f "$f" ] || continue
		check "contrib: shellcheck ${f#"$TOP"/}" shellcheck -s sh "$f"
	done
	check "contrib: shellcheck contrib/alpine/APKBUILD" \
	    shellcheck -s sh -e SC2034,SC2154 "$C/alpine/APKBUILD"
else
	fail "contrib: shellcheck" "shellcheck not installed (sh tools/deps)"
fi
for f in $SCRIPTS; do
	if [ -f "$f" ] && [ ! -x "$f" ]; then
		fail "contrib: ${f#"$TOP"/} is executable" "mode $(stat -c %a "$f")"
	fi
done

# --- 2. the systemd unit ----------------------------------------------------------

unit=$C/systemd/mta.service
if grep -qx 'Type=simple' "$unit" &&
    grep -qx 'ExecStart=/usr/sbin/mta -bD -q15m' "$unit" &&
    grep -qx 'ExecReload=/bin/kill -HUP \$MAINPID' "$unit" &&
    grep -qx 'Restart=on-failure' "$unit"; then
	ok "contrib: unit: Type=simple, mta -bD -q15m, reload by HUP, Restart=on-failure"
else
	fail "contrib: unit: Type=simple, mta -bD -q15m, reload by HUP, Restart=on-failure" "$(cat "$unit")"
fi
same "contrib: Buildroot's mta.service is the unit" "$unit" \
    "$C/buildroot/package/mta/mta.service"

# verify UNIT: systemd-analyze verify of a copy of UNIT whose programs
# are $MTA instead of /usr/sbin/mta (the check above holds the path
# itself), so that nothing needs installing and no mount namespace (which
# a chroot or a container may refuse) is needed; prints what it said,
# returns its status. --man=no: mta.8 is not installed here (the .deb's
# test below checks that it ships).
verify()
{
	local here=${1%/*}/here/${1##*/}

	mkdir -p "${here%/*}" &&
	    sed "s#/usr/sbin/mta #$MTA #" "$1" >"$here" &&
	    systemd-analyze verify --man=no "$here" 2>&1
}
if ! command -v systemd-analyze >/dev/null 2>&1; then
	fail "contrib: unit: systemd-analyze verify" "no systemd-analyze (sh tools/deps)"
else
	mkdir -p units
	cp "$unit" units/mta.service
	capture verify "$BASE/units/mta.service"
	if [ "$RC" -eq 0 ] && [ -z "$OUT" ]; then
		ok "contrib: unit: systemd-analyze verify: exit 0, nothing said"
	else
		fail "contrib: unit: systemd-analyze verify: exit 0, nothing said" "exit $RC: $OUT"
	fi
	sed 's|^ExecStart=/usr/sbin/mta |ExecStart=/usr/sbin/mta-nosuch |' \
	    "$unit" >units/broken1.service
	capture verify "$BASE/units/broken1.service"
	if [ "$RC" -ne 0 ] && printf '%s' "$OUT" | grep -q 'mta-nosuch'; then
		ok "contrib: unit: control: a missing program fails the verify (exit $RC)"
	else
		fail "contrib: unit: control: a missing program fails the verify" "exit $RC: $OUT"
	fi
	sed 's|^Type=simple|Type=simpel|' "$unit" >units/broken2.service
	capture verify "$BASE/units/broken2.service"
	if [ -n "$OUT" ]; then
		ok "contrib: unit: control: a bad value is reported"
	else
		fail "contrib: unit: control: a bad value is reported" "exit $RC, nothing said"
	fi
fi

# --- 3. procd and OpenRC, against recording stubs -----------------------------------

cat >procd-stubs.sh <<'EOF'
# procd's shell API (/lib/functions/procd.sh), recording each call
procd_open_instance() { echo "open_instance $*" >>"$REC"; }
procd_set_param() { echo "set_param $*" >>"$REC"; }
procd_append_param() { echo "append_param $*" >>"$REC"; }
procd_close_instance() { echo "close_instance" >>"$REC"; }
procd_send_signal() { echo "send_signal $*" >>"$REC"; }
EOF
REC=$BASE/procd.rec
: >"$REC"
REC=$REC sh -c '. ./procd-stubs.sh && . "$1" &&
    [ "$USE_PROCD" = 1 ] && start_service && reload_service' \
    sh "$C/openwrt/mta/files/mta.init" >procd.out 2>&1
want="open_instance 
set_param command /usr/sbin/mta -bD -q15m
set_param respawn
set_param stdout 1
set_param stderr 1
close_instance
send_signal mta * HUP"
if [ "$(cat "$REC")" = "$want" ]; then
	ok "contrib: procd: one instance, mta -bD -q15m, respawn; reload sends HUP"
else
	fail "contrib: procd: one instance, mta -bD -q15m, respawn; reload sends HUP" \
	    "recorded: $(cat "$REC") $(cat procd.out)"
fi

# openrc-run, reduced to what this script uses: conf.d, then the script,
# then start through supervise-daemon as OpenRC's supervise-daemon.sh
# does, then reload; supervise-daemon, ebegin and eend record.
mkdir -p stubbin
cat >stubbin/supervise-daemon <<'EOF'
#!/bin/sh
echo "supervise-daemon $*" >>"$REC"
EOF
chmod 755 stubbin/supervise-daemon
cat >openrc-run <<'EOF'
#!/bin/sh
RC_SVCNAME=mta
ebegin() { echo "ebegin $*" >>"$REC"; }
eend() { echo "eend $*" >>"$REC"; }
need() { echo "need $*" >>"$REC"; }
use() { echo "use $*" >>"$REC"; }
after() { echo "after $*" >>"$REC"; }
. "$CONFD"
. "$1"
depend
[ "$supervisor" = supervise-daemon ] || { echo "no supervisor" >>"$REC"; exit 1; }
# shellcheck disable=SC2086
supervise-daemon "$RC_SVCNAME" --start --pidfile "$pidfile" \
    --respawn-delay "$respawn_delay" --respawn-max "$respawn_max" \
    --respawn-period "$respawn_period" "$command" -- $command_args
case " $extra_started_commands " in *" reload "*) reload ;; esac
EOF
REC=$BASE/openrc.rec
: >"$REC"
PATH=$BASE/stubbin:$PATH REC=$REC CONFD=$C/alpine/mta.confd sh ./openrc-run "$C/alpine/mta.initd" >openrc.out 2>&1
want="need net
use dns logger
after firewall
supervise-daemon mta --start --pidfile /run/mta.supervise.pid --respawn-delay 5 --respawn-max 10 --respawn-period 600 /usr/sbin/mta -- -bD -q15m
ebegin Reloading mta
supervise-daemon mta --signal HUP
eend 0"
if [ "$(cat "$REC")" = "$want" ]; then
	ok "contrib: OpenRC: supervise-daemon respawns mta -bD -q15m; reload sends HUP"
else
	fail "contrib: OpenRC: supervise-daemon respawns mta -bD -q15m; reload sends HUP" \
	    "recorded: $(cat "$REC") $(cat openrc.out)"
fi
if grep -qx '::respawn:/usr/sbin/mta -bD -q15m' "$C/busybox/inittab"; then
	ok "contrib: busybox: inittab respawns mta -bD -q15m"
else
	fail "contrib: busybox: inittab respawns mta -bD -q15m" "$(cat "$C/busybox/inittab")"
fi

# --- 4. runit -------------------------------------------------------------------

# The daemon of this binary, if it has one (send-only builds do not).
server=1
if "$MTA" -d0.1 </dev/null 2>/dev/null | grep -q '^ *Compiled with:' &&
    ! "$MTA" -d0.1 </dev/null 2>/dev/null | grep -q 'Compiled with:.*SERVER'; then
	server=0
fi
if [ "$server" -eq 0 ]; then
	skip "contrib: runit service" "this mta was built without SERVER"
elif ! command -v runsvdir >/dev/null 2>&1 || ! command -v sv >/dev/null 2>&1; then
	fail "contrib: runit" "runit not installed (sh tools/deps)"
else
	sandbox
	PORT=$(freeport)
	mkdir -p sv
	cp -R "$C/runit/mta" sv/mta
	# The real run script, with the binary and settings of this test.
	line='exec /usr/sbin/mta -bD -q15m'
	if grep -qx "$line" sv/mta/run; then
		args="\"\$MTA\""
		for o in "${O[@]}" -O "PidFile=$PWD/pid" \
		    -O "DaemonPortOptions=Addr=127.0.0.1,Port=$PORT" \
		    -O RunAsUser=root; do
			args="$args '$o'"
		done
		sed -i "s|^$line\$|exec $args -bD -q15m|" sv/mta/run
		ok "contrib: runit: run script execs mta -bD -q15m"
	else
		fail "contrib: runit: run script execs mta -bD -q15m" "$(cat sv/mta/run)"
	fi
	mkdir -p svdir
	ln -s "$PWD/sv/mta" svdir/mta
	runsvdir "$PWD/svdir" >runsvdir.out 2>&1 &
	RSV=$!
	cleanup_add "$RSV"
	# at exit: runit's own stop, then HUP tells runsvdir to end its runsv
	cleanup_cmd "sv -w 10 down '$PWD/sv/mta'; sv exit '$PWD/sv/mta/log' '$PWD/sv/mta'; kill -HUP $RSV"

	answers()	# a 220 on the port
	{
		"$PY" -c 'import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 2)
f = s.makefile("rb")
sys.exit(0 if f.readline().startswith(b"220") else 1)' "$PORT"
	}
	svpid() { cat sv/mta/supervise/pid 2>/dev/null; }
	if waitfor 20 answers && [ -n "$(svpid)" ]; then
		p1=$(svpid)
		ok "contrib: runit: runsv starts the daemon, which answers 220 (pid $p1)"
		kill -9 "$p1"
		if waitfor 20 eval '[ -n "$(svpid)" ] && [ "$(svpid)" != "$p1" ]' &&
		    waitfor 20 answers; then
			ok "contrib: runit: after kill -9 runsv starts it again ($p1 -> $(svpid)), it answers"
		else
			fail "contrib: runit: after kill -9 runsv starts it again" \
			    "pid now '$(svpid)'; sv: $(sv status "$PWD/sv/mta" 2>&1); log: $(tail -n 5 log 2>/dev/null) $(cat sv/mta/log/main/current 2>/dev/null | tail -n 5)"
		fi
		if echo hi | mta -odq root && waitfor 10 eval '[ "$(qcount)" -eq 1 ]'; then
			sv -w 20 down "$PWD/sv/mta" >/dev/null 2>&1
			if [ "$(qcount)" -eq 1 ] && ! answers; then
				ok "contrib: runit: sv down stops it, the queue stays"
			else
				fail "contrib: runit: sv down stops it, the queue stays" \
				    "queue $(qcount); $(sv status "$PWD/sv/mta" 2>&1)"
			fi
		fi
	else
		fail "contrib: runit: runsv starts the daemon, which answers 220" \
		    "sv: $(sv status "$PWD/sv/mta" 2>&1); svlogd: $(cat sv/mta/log/main/current 2>/dev/null | tail -n 5); log: $(tail -n 5 log 2>/dev/null)"
	fi
fi

# --- 5. the .deb -----------------------------------------------------------------

if [ "$(head -c 4 "$MTA" | od -An -c | tr -d ' ')" != '177ELF' ]; then
	skip "contrib: deb" "the binary under test is a wrapper (qemu's), not an ELF file"
elif ! command -v dpkg-deb >/dev/null 2>&1; then
	fail "contrib: deb" "no dpkg-deb"
else
	mkdir -p deb && cd deb || exit 1
	capture sh "$C/debian/mkdeb" "$MTA"
	version=$(sed -n 's/^#define[[:space:]]*VERSION[[:space:]]*"\([^"]*\)".*/\1/p' "$TOP/mta.h")
	arch=$(dpkg --print-architecture)
	d=mta_${version}_${arch}.deb
	if [ "$RC" -eq 0 ] && [ -f "$d" ]; then
		ok "contrib: deb: mkdeb builds $d"
	else
		fail "contrib: deb: mkdeb builds $d" "exit $RC: $OUT $ERR"
	fi
	if [ -f "$d" ]; then
		field() { dpkg-deb -f "$d" "$1"; }
		if [ "$(field Package)" = mta ] && [ "$(field Version)" = "$version" ] &&
		    [ "$(field Architecture)" = "$arch" ] &&
		    [ "$(field Provides)" = mail-transport-agent ] &&
		    [ "$(field Conflicts)" = mail-transport-agent ] &&
		    [ "$(field Replaces)" = mail-transport-agent ]; then
			ok "contrib: deb: Package, Version, Architecture; Provides, Conflicts, Replaces mail-transport-agent"
		else
			fail "contrib: deb: fields" "$(dpkg-deb -f "$d")"
		fi
		dpkg-deb -c "$d" | awk '{ print substr($1, 1, 1), $2, $6, $7, $8 }' |
		    sed 's/ *$//' >list
		miss=
		for want in "- root/root ./usr/sbin/mta" \
		    "l root/root ./usr/sbin/sendmail -> mta" \
		    "l root/root ./usr/sbin/mailq -> mta" \
		    "l root/root ./usr/sbin/newaliases -> mta" \
		    "l root/root ./usr/lib/sendmail -> ../sbin/mta" \
		    "- root/root ./usr/share/man/man8/mta.8.gz" \
		    "- root/root ./lib/systemd/system/mta.service" \
		    "- root/root ./etc/init.d/mta"; do
			grep -qxF -e "$want" list || miss="$miss
$want"
		done
		if [ -z "$miss" ]; then
			ok "contrib: deb: mta, its links, the man page, the unit, the init script (root-owned)"
		else
			fail "contrib: deb: files" "missing:$miss
have: $(cat list)"
		fi
		rm -rf x && dpkg-deb -R "$d" x
		same "contrib: deb: /usr/sbin/mta is the binary" "$MTA" x/usr/sbin/mta
		if [ "$(stat -c %a x/usr/sbin/mta)" = 755 ] &&
		    [ "$(stat -c %a x/etc/init.d/mta)" = 755 ]; then
			ok "contrib: deb: mta and the init script are mode 755"
		else
			fail "contrib: deb: modes" "$(stat -c '%a %n' x/usr/sbin/mta x/etc/init.d/mta)"
		fi
		if (cd x && md5sum --quiet -c DEBIAN/md5sums) >md5.out 2>&1 &&
		    [ "$(wc -l <x/DEBIAN/md5sums)" -eq \
		    "$(cd x && find . -path ./DEBIAN -prune -o -type f -print | wc -l)" ]; then
			ok "contrib: deb: md5sums lists every file, and each sum matches"
		else
			fail "contrib: deb: md5sums" "$(cat md5.out) $(cat x/DEBIAN/md5sums)"
		fi
		if [ "$(cat x/DEBIAN/conffiles)" = /etc/init.d/mta ]; then
			ok "contrib: deb: /etc/init.d/mta is a conffile"
		else
			fail "contrib: deb: conffiles" "$(cat x/DEBIAN/conffiles 2>&1)"
		fi
		for s in postinst prerm postrm; do
			if [ -x "x/DEBIAN/$s" ] && sh -n "x/DEBIAN/$s" &&
			    { ! command -v shellcheck >/dev/null 2>&1 ||
			    shellcheck -s sh "x/DEBIAN/$s" >"$s.sc" 2>&1; }; then
				ok "contrib: deb: $s is executable, sh -n and shellcheck clean"
			else
				fail "contrib: deb: $s is executable, sh -n and shellcheck clean" \
				    "$(ls -l "x/DEBIAN/$s") $(cat "$s.sc" 2>/dev/null)"
			fi
		done
		# What the scripts do, read from them (tools/debcheck runs them).
		if grep -q 'chown mail:mail "\$SPOOL"' x/DEBIAN/postinst &&
		    grep -q 'chmod 0700 "\$SPOOL"' x/DEBIAN/postinst &&
		    grep -q 'useradd --system' x/DEBIAN/postinst &&
		    grep -q 'rmdir "\$SPOOL"' x/DEBIAN/postrm &&
		    ! grep -q 'rm -rf' x/DEBIAN/postrm; then
			ok "contrib: deb: postinst makes mail and the spool (mail, 0700); postrm only rmdirs it"
		else
			fail "contrib: deb: maintainer scripts" "$(cat x/DEBIAN/postinst x/DEBIAN/postrm)"
		fi
		# The wrong architecture is refused.
		other=mipsel
		[ "$arch" != mipsel ] || other=amd64
		capture sh "$C/debian/mkdeb" "$MTA" "$other"
		if [ "$RC" -ne 0 ] && [ ! -e "mta_${version}_$other.deb" ] &&
		    printf '%s' "$ERR" | grep -q "not a $other binary"; then
			ok "contrib: deb: mkdeb refuses a binary of another architecture (exit $RC)"
		else
			fail "contrib: deb: mkdeb refuses a binary of another architecture" "exit $RC: $ERR"
		fi
	fi
	cd "$BASE" || exit 1
fi
