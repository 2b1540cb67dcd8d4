# test/lib.sh: sourced by every test/t_*.sh. Each test file runs in a fresh
# temporary directory (its cwd, made by test/run) and prints one line per
# check: "ok NAME" or "FAIL NAME" (followed by indented detail lines).
#
# Contract (test/t_crash.sh and test/t_concurrent.sh rely on it):
#   ok NAME                 print "ok NAME"
#   fail NAME WHY           print "FAIL NAME" and WHY indented below it
#   check NAME CMD...       ok if CMD succeeds, else fail with its output
#   sandbox                 ./spool ./mail, empty ./aliases, array O=(-O ...)
#   mta ARGS...             "$MTA" "${O[@]}" ARGS...
#   waitfor SECS CMD...     poll CMD every 0.05 s until it succeeds (rc 0)
#                           or SECS pass (rc 1); never a fixed sleep
#   freeport                print a free TCP port on 127.0.0.1
#   cleanup_add PID         kill PID when the test file exits
#   qcount                  number of qf* files in ./spool
#   mbox_count FILE         number of messages ("From " lines) in FILE
#
# Extras (used by t_submit/t_local/t_queue, free for others):
#   cleanup_cmd STRING      eval STRING at exit (umount, ...), after the kills
#   capture CMD...          run CMD; set RC, OUT (stdout), ERR (stderr)
#   spoolfiles              names of every file in ./spool, one per line
#   qids                    queue IDs of the qf* files, one per line
#   qline ID TAG            the qf lines of ID that start with TAG (tag removed)
#   qrcpts ID               the R lines of ID (tag removed), sorted
#   pubdir                  set PUB to a new directory every user may write
#                           (for |programs, which run as RunAsUser, not root;
#                           the test's own cwd is private), removed at exit
#   PY                      /usr/bin/python3
#
# Profiles (config.h: a binary may lack the SMTP server or TLS):
#   built WORD              true when "$MTA -d0.1" lists WORD (SERVER, TLS)
#   skip NAME WHY           print "skip NAME (WHY)": test/run counts it
#   need WORD...            when the binary lacks a WORD, skip the whole
#                           file (one skip line naming it) and exit 0

: "${TOP:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
: "${MTA:=$TOP/mta}"
export TOP MTA
PY=/usr/bin/python3

# Never scribble a spool into the source tree when run by hand from there.
case "$PWD/" in
"$TOP"/*)
	cd "$(mktemp -d)" || exit 1
	echo "# lib.sh: running in $PWD (cwd was inside the repository)"
	;;
esac

T_PASSED=0
T_FAILED=0

ok()
{
	T_PASSED=$((T_PASSED + 1))
	printf 'ok %s\n' "$1"
}

# fail NAME WHY: the detail lines are indented so that no line of them
# can start with "ok " or "FAIL " and be miscounted; control bytes shown.
fail()
{
	local name=$1
	shift
	T_FAILED=$((T_FAILED + 1))
	printf 'FAIL %s\n' "$name"
	printf '%s\n' "$*" | head -n 40 | cut -c 1-300 | cat -v | sed 's/^/    /'
}

check()
{
	local name=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	if [ "$rc" -eq 0 ]; then
		ok "$name"
	else
		fail "$name" "command: $* (exit $rc)
$out"
	fi
}

# ---- profiles ----

T_BUILT=
built()
{
	if [ -z "$T_BUILT" ]; then
		T_BUILT=" $("$MTA" -d0.1 2>/dev/null | sed -n 's/^ *Compiled with://p') "
	fi
	case $T_BUILT in
	*" $1 "*) return 0 ;;
	esac
	return 1
}

skip()
{
	printf 'skip %s (%s)\n' "$1" "$2"
}

need()
{
	local w
	for w in "$@"; do
		if ! built "$w"; then
			skip "${0##*/}" "this mta was built without $w"
			exit 0
		fi
	done
}

sandbox()
{
	mkdir -p "$PWD/spool" "$PWD/mail"
	: > "$PWD/aliases"
	O=(-O "QueueDirectory=$PWD/spool" -O "MailSpool=$PWD/mail"
	    -O "AliasFile=$PWD/aliases" -O "LogFile=$PWD/log"
	    -O HostName=test.example)
}

mta()
{
	"$MTA" "${O[@]}" "$@"
}

waitfor()
{
	local secs=$1 end
	shift
	end=$(awk -v now="$EPOCHREALTIME" -v s="$secs" 'BEGIN { printf "%.3f", now + s }')
	while :; do
		if "$@" >/dev/null 2>&1; then
			return 0
		fi
		if awk -v now="$EPOCHREALTIME" -v end="$end" 'BEGIN { exit !(now > end) }'; then
			return 1
		fi
		sleep 0.05
	done
}

freeport()
{
	"$PY" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

T_PIDS=()
T_CMDS=()

cleanup_add()
{
	T_PIDS+=("$1")
}

cleanup_cmd()
{
	T_CMDS+=("$1")
}

t_alive()
{
	local p
	for p in "$@"; do
		if kill -0 "$p" 2>/dev/null; then
			return 0
		fi
	done
	return 1
}

t_cleanup()
{
	local rc=$? p c
	trap - EXIT
	if [ "${#T_PIDS[@]}" -gt 0 ]; then
		for p in "${T_PIDS[@]}"; do
			kill -TERM "$p" 2>/dev/null
		done
		if ! waitfor 5 eval '! t_alive "${T_PIDS[@]}"'; then
			for p in "${T_PIDS[@]}"; do
				kill -KILL "$p" 2>/dev/null
			done
		fi
	fi
	for c in "${T_CMDS[@]}"; do
		eval "$c" >/dev/null 2>&1
	done
	exit "$rc"
}
trap t_cleanup EXIT

qcount()
{
	local f n=0
	for f in "$PWD"/spool/qf*; do
		if [ -e "$f" ]; then
			n=$((n + 1))
		fi
	done
	echo "$n"
}

mbox_count()
{
	if [ -f "$1" ]; then
		grep -c '^From ' "$1" || true
	else
		echo 0
	fi
}

capture()
{
	local e
	e=$(mktemp "$PWD/.err.XXXXXX")
	OUT=$("$@" 2>"$e")
	RC=$?
	ERR=$(cat "$e")
	rm -f "$e"
	return 0
}

spoolfiles()
{
	ls -A "$PWD/spool" 2>/dev/null
}

qids()
{
	local f
	for f in "$PWD"/spool/qf*; do
		if [ -e "$f" ]; then
			f=${f##*/}
			echo "${f#qf}"
		fi
	done
}

qline()
{
	sed -n "s/^$2//p" "$PWD/spool/qf$1"
}

qrcpts()
{
	sed -n 's/^R//p' "$PWD/spool/qf$1" | LC_ALL=C sort
}

pubdir()
{
	PUB=$(mktemp -d /tmp/mta-pub.XXXXXX) || return 1
	chmod 777 "$PUB"
	cleanup_cmd "rm -rf '$PUB'"
}

# ---- Peers for remote delivery (issue 4): test/peer_smtp.py (aiosmtpd) and
# test/peer_dns.py (dnslib); their options are described in those files.
#   peer_smtp_start NAME ADDR [ARGS...]
#                           (NAME: a shell identifier) start an SMTP peer on ADDR (a free port unless
#                           ARGS has --port P); files in ./peer-NAME/; sets
#                           NAME_PORT, NAME_PID, NAME_ADDR, NAME_DIR (the
#                           received messages), NAME_CONNS (a line per
#                           connection), NAME_LOG, NAME_OUT, NAME_ERR
#   peer_dns_start ZONEFILE [ARGS...]
#                           start the DNS peer on 127.0.0.1 (UDP and TCP);
#                           sets DNS_PORT, DNS_PID, DNS_LOG (a line per query)
#   peer_msgs DIR           number of messages received in DIR
#   peer_files DIR          their paths, oldest first
#   peer_json FILE [KEY]    a message's envelope JSON, or one field of it
#                           (KEY: name or dotted path, e.g. rcpt_params.0.NOTIFY;
#                           strings printed raw, the rest as JSON)
#   peer_body FILE          a message's bytes as received
#   peer_conns NAME         number of connections NAME saw end
#   peer_heal NAME          drop NAME's injected faults (SIGUSR1), wait for it
#   peer_ca DIR NAME...     DIR/ca.pem (kept if DIR/ca.key exists), DIR/cert.pem,
#                           DIR/key.pem, DIR/chain.pem (cert + CA) for the
#                           NAMEs (DNS names or IP addresses, all in the SAN);
#                           PEER_CA_ALG=ec for P-256 keys instead of RSA-2048

peer_smtp_start()
{
	local name=$1 addr=$2 d pid port
	shift 2
	d=$PWD/peer-$name
	mkdir -p "$d/spool" || return 1
	: >"$d/conns"
	"$PY" "$TOP/test/peer_smtp.py" --addr "$addr" --port 0 --spool "$d/spool" \
	    --count-file "$d/conns" --log "$d/log" "$@" >"$d/out" 2>"$d/err" &
	pid=$!
	cleanup_add "$pid"
	if ! waitfor 15 grep -q '^ready ' "$d/out"; then
		echo "peer_smtp_start $name: not ready; stderr:" >&2
		head -n 20 "$d/err" >&2
		return 1
	fi
	port=$(sed -n 's/^ready //p' "$d/out" | head -n 1)
	printf -v "${name}_PORT" '%s' "$port"
	printf -v "${name}_PID" '%s' "$pid"
	printf -v "${name}_ADDR" '%s' "$addr"
	printf -v "${name}_DIR" '%s' "$d/spool"
	printf -v "${name}_CONNS" '%s' "$d/conns"
	printf -v "${name}_LOG" '%s' "$d/log"
	printf -v "${name}_OUT" '%s' "$d/out"
	printf -v "${name}_ERR" '%s' "$d/err"
}

peer_dns_start()
{
	local zone=$1 d=$PWD/peer-dns
	shift
	mkdir -p "$d" || return 1
	: >"$d/log"
	"$PY" "$TOP/test/peer_dns.py" --addr 127.0.0.1 --port 0 --zone "$zone" \
	    --log "$d/log" "$@" >"$d/out" 2>"$d/err" &
	DNS_PID=$!
	cleanup_add "$DNS_PID"
	DNS_LOG=$d/log
	if ! waitfor 15 grep -q '^ready ' "$d/out"; then
		echo "peer_dns_start: not ready; stderr:" >&2
		head -n 20 "$d/err" >&2
		return 1
	fi
	DNS_PORT=$(sed -n 's/^ready //p' "$d/out" | head -n 1)
}

peer_files()
{
	local f
	for f in "$1"/msg-*; do
		if [ -e "$f" ]; then
			echo "$f"
		fi
	done
}

peer_msgs()
{
	local f n=0
	for f in "$1"/msg-*; do
		if [ -e "$f" ]; then
			n=$((n + 1))
		fi
	done
	echo "$n"
}

peer_json()
{
	"$PY" - "$1" "${2:-}" <<'PEER_EOF'
import json, sys
with open(sys.argv[1], "rb") as f:
	v = json.loads(f.readline())
for k in sys.argv[2].split(".") if sys.argv[2] else []:
	v = v[int(k)] if isinstance(v, list) else v[k]
print(v if isinstance(v, str) else json.dumps(v))
PEER_EOF
}

peer_body()
{
	tail -n +3 "$1"
}

peer_conns()
{
	local v=${1}_CONNS f
	f=${!v}
	if [ -f "$f" ]; then
		wc -l <"$f" | tr -d ' '
	else
		echo 0
	fi
}

peer_heal()
{
	local o=${1}_OUT p=${1}_PID out pid n
	out=${!o}
	pid=${!p}
	n=$(grep -c '^healed' "$out")
	kill -USR1 "$pid" || return 1
	waitfor 5 eval "[ \"\$(grep -c '^healed' '$out')\" -gt $n ]"
}

peer_ca()
{
	local dir=$1 n san='' k ku
	shift
	mkdir -p "$dir" || return 1
	for n in "$@"; do
		case $n in
		*:* | [0-9]*.[0-9]*.[0-9]*.[0-9]*) san="${san:+$san,}IP:$n" ;;
		*) san="${san:+$san,}DNS:$n" ;;
		esac
	done
	if [ "${PEER_CA_ALG:-rsa}" = ec ]; then
		k=(-newkey ec -pkeyopt ec_paramgen_curve:P-256)
		ku=digitalSignature
	else
		k=(-newkey rsa:2048)
		ku=digitalSignature,keyEncipherment
	fi
	{
		{ [ -s "$dir/ca.key" ] && [ -s "$dir/ca.pem" ]; } ||
		    openssl req -x509 -new -nodes "${k[@]}" -keyout "$dir/ca.key" \
		    -out "$dir/ca.pem" -days 30 \
		    -subj "/O=mta tests/CN=test CA $RANDOM$RANDOM" \
		    -addext "basicConstraints=critical,CA:TRUE" \
		    -addext "keyUsage=critical,keyCertSign,cRLSign" &&
		printf '%s\n' "subjectAltName=$san" "basicConstraints=critical,CA:FALSE" \
		    "keyUsage=critical,$ku" "extendedKeyUsage=serverAuth" >"$dir/ext.cnf" &&
		openssl req -new -nodes "${k[@]}" -keyout "$dir/key.pem" \
		    -out "$dir/req.csr" -subj "/CN=$1" &&
		openssl x509 -req -in "$dir/req.csr" -CA "$dir/ca.pem" \
		    -CAkey "$dir/ca.key" -set_serial "0x$(openssl rand -hex 8)" \
		    -days 30 -out "$dir/cert.pem" -extfile "$dir/ext.cnf" &&
		cat "$dir/cert.pem" "$dir/ca.pem" >"$dir/chain.pem"
	} >"$dir/openssl.log" 2>&1 || { cat "$dir/openssl.log" >&2; return 1; }
}

# ---- shared by t_submit.sh and t_local.sh ----

# fresh: an empty sandbox again (spool, mail, log, aliases).
fresh()
{
	rm -rf spool mail log aliases
	sandbox
}

# mta_with NAME=VALUE... -- ARGS: mta with some -O settings replaced.
mta_with()
{
	local o=("${O[@]}") kv i
	while [ "$#" -gt 0 ] && [ "$1" != -- ]; do
		kv=$1
		shift
		for ((i = 1; i < ${#o[@]}; i += 2)); do
			if [ "${o[i]%%=*}" = "${kv%%=*}" ]; then
				o[i]=$kv
				kv=
			fi
		done
		if [ -n "$kv" ]; then
			o+=(-O "$kv")
		fi
	done
	shift
	"$MTA" "${o[@]}" "$@"
}

# same NAME FILE1 FILE2: ok if the files are equal, else FAIL with a diff.
same()
{
	if cmp -s "$2" "$3"; then
		ok "$1"
	else
		fail "$1" "$(cmp "$2" "$3" 2>&1)
$(diff <(cat -v "$2" | cut -c 1-120) <(cat -v "$3" | cut -c 1-120) | head -n 20)"
	fi
}

# ---- A private Postfix instance (issue 8's interop tests, test/t_interop.sh;
# the approach of test/bench.sh's pfsetup). Never the system instance: its
# own config directory, queue, data directory and log under the test's
# directory, smtpd on loopback ports only, no chroot, stopped at exit.
#   pf_setup DIR            write DIR/etc/main.cf (base settings; append
#                           more with pf_conf) and DIR/etc/master.cf (the
#                           internal services; add listeners and transports
#                           with pf_master); sets PF_DIR, PF_ETC, PF_LOG
#   pf_conf 'NAME = VALUE'...  set main.cf parameters (postconf -e)
#   pf_master LINE...       append lines to master.cf
#   pf_start                start it (postfix -c), stop it at exit;
#                           rc 1 (with its log on stderr) if it fails
#   pf_stop                 stop it and wait for its master to end
#   pf_port PORT            wait until something answers on 127.0.0.1:PORT
#   pf_lines                number of lines in its log (mark a position)
#   pf_since N              its log after line N
# The test directory must be traversable by the postfix user (chmod 711):
# its daemons drop privileges.

pf_setup()
{
	PF_DIR=$1
	PF_ETC=$PF_DIR/etc
	PF_LOG=$PF_DIR/maillog
	mkdir -p "$PF_ETC" "$PF_DIR/queue" "$PF_DIR/data" || return 1
	chmod 755 "$PF_DIR"
	chown postfix "$PF_DIR/data"
	: >"$PF_LOG"
	cat >"$PF_ETC/main.cf" <<PF_EOF
compatibility_level = 3.6
queue_directory = $PF_DIR/queue
data_directory = $PF_DIR/data
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = pf.test.example
mydomain = test.example
myorigin = \$myhostname
mydestination =
local_recipient_maps =
local_transport = error:no local delivery here
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
biff = no
smtp_host_lookup = native
disable_dns_lookups = yes
maillog_file_prefixes = $PF_DIR
maillog_file = $PF_LOG
PF_EOF
	# Debian's internal services, without chroot; listeners come from
	# the test.
	cat >"$PF_ETC/master.cf" <<'PF_EOF'
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
PF_EOF
}

pf_conf()
{
	postconf -c "$PF_ETC" -e "$@" >/dev/null
}

pf_master()
{
	printf '%s\n' "$@" >>"$PF_ETC/master.cf"
}

pf_start()
{
	if ! postfix -c "$PF_ETC" start >"$PF_DIR/start.out" 2>&1; then
		echo "pf_start: postfix did not start:" >&2
		cat "$PF_DIR/start.out" >&2
		tail -n 20 "$PF_LOG" >&2
		return 1
	fi
	cleanup_cmd "pf_stop"
}

pf_stop()
{
	local pid
	[ -n "${PF_ETC:-}" ] || return 0
	pid=$(head -n 1 "$PF_DIR/queue/pid/master.pid" 2>/dev/null | tr -d ' ')
	postfix -c "$PF_ETC" stop >>"$PF_DIR/start.out" 2>&1
	if [ -n "$pid" ]; then
		if ! waitfor 15 eval "! kill -0 $pid 2>/dev/null"; then
			postfix -c "$PF_ETC" abort >>"$PF_DIR/start.out" 2>&1
			kill -KILL "$pid" 2>/dev/null
		fi
	fi
	return 0
}

pf_port()
{
	waitfor 20 "$PY" -c 'import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)
s.close()' "$1"
}

pf_lines()
{
	wc -l <"$PF_LOG" | tr -d ' '
}

pf_since()
{
	tail -n +"$(($1 + 1))" "$PF_LOG"
}
