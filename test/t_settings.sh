# t_settings.sh: -bO prints the settings in force, one Name=Value line
# each. The names are exactly those of README's Settings table (SPEC's
# names, which scripts depend on); -O overrides show, in the form -O
# takes back (sizes in bytes, durations in seconds); feeding the output
# back through -O changes nothing; errors keep their exit codes.
. "$TOP/test/lib.sh"

sandbox

# ---------------------------------------------------------------- names
capture "$MTA" -bO
check "settings: -bO exits 0 and prints Name=Value lines" eval \
    '[ "$RC" -eq 0 ] && [ -n "$OUT" ] &&
    ! printf "%s\n" "$OUT" | grep -vq "^[A-Za-z.]*="'
printf '%s\n' "$OUT" | sed 's/=.*//' | sort -u >names.bO
# README: | `Name` | or | `Name`, `Other` | rows of the Settings table
sed -n '/^Settings$/,/^Exit codes$/p' "$TOP/README" |
    sed -n 's/^| \(`[A-Za-z.]*`\(, `[A-Za-z.]*`\)*\) |.*/\1/p' |
    tr ',' '\n' | tr -d '` ' | sort -u >names.readme
if [ -s names.readme ] && cmp -s names.bO names.readme; then
	ok "settings: -bO names every setting of README's table, and no other ($(wc -l <names.readme))"
else
	fail "settings: -bO names every setting of README's table, and no other" \
	    "$(diff names.readme names.bO)"
fi
nlines=$(printf '%s\n' "$OUT" | wc -l)
check "settings: one line per setting by default (one listener)" \
    [ "$nlines" -eq "$(wc -l <names.readme)" ]

# ---------------------------------------------------------------- values
capture "$MTA" -bO
check "settings: the defaults of config.h (QueueDirectory, MaxMessageSize, QueueWarn)" eval \
    'printf "%s\n" "$OUT" | grep -qx "QueueDirectory=/var/spool/mqueue" &&
    printf "%s\n" "$OUT" | grep -qx "MaxMessageSize=26214400" &&
    printf "%s\n" "$OUT" | grep -qx "QueueWarn=14400"'
capture "$MTA" -O MinFreeSpace=2M -O QueueReturn=2d -O Timeout.command=90s \
    -O smarthost='[relay.example]:587' -O HostName=box.example \
    -O DaemonPortOptions=Addr=::1,Port=2525 \
    -O DaemonPortOptions=Addr=127.0.0.1,Port=2526 -bO
check "settings: -O shows, sizes in bytes and durations in seconds" eval \
    '[ "$RC" -eq 0 ] &&
    printf "%s\n" "$OUT" | grep -qx "MinFreeSpace=2097152" &&
    printf "%s\n" "$OUT" | grep -qx "QueueReturn=172800" &&
    printf "%s\n" "$OUT" | grep -qx "Timeout.command=90" &&
    printf "%s\n" "$OUT" | grep -qx "SmartHost=\[relay.example\]:587" &&
    printf "%s\n" "$OUT" | grep -qx "HostName=box.example"'
check "settings: each listener on its own line, the default replaced" eval \
    '[ "$(printf "%s\n" "$OUT" | grep -c "^DaemonPortOptions=")" -eq 2 ] &&
    printf "%s\n" "$OUT" | grep -qx "DaemonPortOptions=Addr=::1,Port=2525" &&
    printf "%s\n" "$OUT" | grep -qx "DaemonPortOptions=Addr=127.0.0.1,Port=2526"'

# feeding the output back through -O changes nothing
first=$OUT
args=()
while IFS= read -r l; do
	args+=(-O "$l")
done <<EOF
$first
EOF
capture "$MTA" "${args[@]}" -bO
if [ "$RC" -eq 0 ] && [ "$OUT" = "$first" ]; then
	ok "settings: the output, given back as -O, gives the same output"
else
	fail "settings: the output, given back as -O, gives the same output" \
	    "exit $RC: $ERR
$(diff <(printf '%s\n' "$first") <(printf '%s\n' "$OUT"))"
fi

# ---------------------------------------------------------------- errors
capture "$MTA" -O NoSuchSetting=1 -bO
check "settings: an unknown name is still 64, and names it" eval \
    '[ "$RC" -eq 64 ] && printf "%s\n" "$ERR" | grep -q NoSuchSetting'
capture "$MTA" -O QueueWarn=soon -bO
check "settings: a value that does not parse is still 64" [ "$RC" -eq 64 ]
# an empty value once looped for ever in the search of the choices
capture timeout 10 "$MTA" -O SmartHostTLS= -bO
check "settings: an empty choice is 64 (not one of the words), at once" \
    [ "$RC" -eq 64 ]
capture "$MTA" -O MailboxFormat=mbox -O SmartHostTLS=none \
    -O MailboxFormat=maildir -bO
check "settings: a choice's first and last word are taken" eval \
    '[ "$RC" -eq 0 ] && printf "%s\n" "$OUT" | grep -qx "SmartHostTLS=none" &&
    printf "%s\n" "$OUT" | grep -qx "MailboxFormat=maildir"'
capture "$MTA" -O SmartHostTLS=requir -bO
check "settings: a part of a choice's word is 64" [ "$RC" -eq 64 ]
# "-b ''" once read past its NUL and, before another empty argument,
# took mode 0 and exited 70 without a word
capture "$MTA" -b '' ''
check "settings: an empty -b mode is 64, with a message" eval \
    '[ "$RC" -eq 64 ] && printf "%s\n" "$ERR" | grep -q "unknown -b mode"'
capture eval '"$MTA" -bO >/dev/full'
check "settings: a write error is 74 (EX_IOERR), with a message" eval \
    '[ "$RC" -eq 74 ] && printf "%s\n" "$ERR" | grep -q -- "-bO"'
if ! built TLS; then
	capture "$MTA" -bO
	check "settings: a no-TLS build shows SmartHostTLS=none" eval \
	    'printf "%s\n" "$OUT" | grep -qx "SmartHostTLS=none"'
fi
