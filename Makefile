.POSIX:
# mta: a small static MTA. POSIX make; see README.
#
#	make			./mta, static musl + BearSSL 0.6 from source
#	make test		./mta, ./mta-asan, unit tests, the whole suite
#	make install		PREFIX (default /usr) and DESTDIR honoured
#
# The version is VERSION in mta.h.

PREFIX = /usr
MANPREFIX = $(PREFIX)/share/man

# BearSSL: Debian's source package, fetched and built once by tools/bearssl
# into this ignored folder (only its static library, same compiler).
BEARSSL = bearssl-src/bearssl
BEARSSLLIB = $(BEARSSL)/build/libbearssl.a

CC = musl-gcc
AR = ar
CPPFLAGS = -D_DEFAULT_SOURCE -D_XOPEN_SOURCE=700 -I$(BEARSSL)/inc
CFLAGS = -std=c99 -pedantic -Wall -Wextra -Os
LDFLAGS = -static -s
LIBS = $(BEARSSLLIB)

# Test build: glibc, AddressSanitizer and UBSan, Debian's libbearssl-dev.
# Its objects live in build-asan/ so they never mix with the musl ones.
ASANCC = cc
ASANCPPFLAGS = -D_DEFAULT_SOURCE -D_XOPEN_SOURCE=700
ASANCFLAGS = -std=c99 -pedantic -Wall -Wextra -O1 -g \
    -fsanitize=address,undefined -fno-omit-frame-pointer
ASANLIBS = -lbearssl

# Fuzz targets (test/fuzz_*.c): clang's libFuzzer, FUZZTIME seconds each.
FUZZCC = clang
FUZZCFLAGS = -std=c99 -g -O1 -fsanitize=fuzzer,address,undefined
FUZZTIME = 60

HDR = mta.h config.h
SRC = mta.c submit.c spool.c deliver.c aliases.c local.c addr.c smtp.c \
    tls.c crypt.c client.c remote.c bounce.c dns.c
OBJ = $(SRC:.c=.o)
ASANOBJ = build-asan/mta.o build-asan/submit.o build-asan/spool.o \
    build-asan/deliver.o build-asan/aliases.o build-asan/local.o \
    build-asan/addr.o build-asan/smtp.o build-asan/tls.o build-asan/crypt.o \
    build-asan/client.o build-asan/remote.o build-asan/bounce.o \
    build-asan/dns.o

all: mta
	@ls -l mta
	@file mta

mta: $(OBJ) $(LIBS)
	$(CC) $(LDFLAGS) -o $@ $(OBJ) $(LIBS)

.c.o:
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

# Every object depends on the shared header and on config.h, and needs
# BearSSL's headers: the first build fetches them.
$(OBJ): $(HDR) $(BEARSSL)/inc/bearssl.h

$(BEARSSL)/inc/bearssl.h:
	CC="$(CC)" AR="$(AR)" sh tools/bearssl $(BEARSSL)

# Builds only when the library is missing (the rule above may just have
# built it): a second make fetches and builds nothing.
$(BEARSSLLIB): $(BEARSSL)/inc/bearssl.h
	@[ -f $@ ] || CC="$(CC)" AR="$(AR)" sh tools/bearssl $(BEARSSL)

mta-asan: $(ASANOBJ)
	$(ASANCC) $(ASANCFLAGS) -o $@ $(ASANOBJ) $(ASANLIBS)

$(ASANOBJ): $(HDR)

build-asan/mta.o: mta.c
	@mkdir -p build-asan
	$(ASANCC) $(ASANCPPFLAGS) $(ASANCFLAGS) -c -o $@ mta.c
build-asan/submit.o: submit.c
	@mkdir -p build-asan
	$(ASANCC) $(ASANCPPFLAGS) $(ASANCFLAGS) -c -o $@ submit.c
build-asan/spool.o: spool.c
	@mkdir -p build-asan
	$(ASANCC) $(ASANCPPFLAGS) $(ASANCFLAGS) -c -o $@ spool.c
build-asan/deliver.o: deliver.c
	@mkdir -p build-asan
	$(ASANCC) $(ASANCPPFLAGS) $(ASANCFLAGS) -c -o $@ deliver.c
build-asan/aliases.o: aliases.c
	@mkdir -p build-asan
	$(ASANCC) $(ASANCPPFLAGS) $(ASANCFLAGS) -c -o $@ aliases.c
build-asan/local.o: local.c
	@mkdir -p build-asan
	$(ASANCC) $(ASANCPPFLAGS) $(ASANCFLAGS) -c -o $@ local.c
build-asan/addr.o: addr.c
	@mkdir -p build-asan
	$(ASANCC) $(ASANCPPFLAGS) $(ASANCFLAGS) -c -o $@ addr.c
build-asan/smtp.o: smtp.c
	@mkdir -p build-asan
	$(ASANCC) $(ASANCPPFLAGS) $(ASANCFLAGS) -c -o $@ smtp.c
build-asan/tls.o: tls.c
	@mkdir -p build-asan
	$(ASANCC) $(ASANCPPFLAGS) $(ASANCFLAGS) -c -o $@ tls.c
build-asan/crypt.o: crypt.c
	@mkdir -p build-asan
	$(ASANCC) $(ASANCPPFLAGS) $(ASANCFLAGS) -c -o $@ crypt.c
build-asan/client.o: client.c
	@mkdir -p build-asan
	$(ASANCC) $(ASANCPPFLAGS) $(ASANCFLAGS) -c -o $@ client.c
build-asan/remote.o: remote.c
	@mkdir -p build-asan
	$(ASANCC) $(ASANCPPFLAGS) $(ASANCFLAGS) -c -o $@ remote.c
build-asan/bounce.o: bounce.c
	@mkdir -p build-asan
	$(ASANCC) $(ASANCPPFLAGS) $(ASANCFLAGS) -c -o $@ bounce.c
build-asan/dns.o: dns.c
	@mkdir -p build-asan
	$(ASANCC) $(ASANCPPFLAGS) $(ASANCFLAGS) -c -o $@ dns.c

# The whole suite: the unit programs (test/unit_*.c, each built alone with
# the sanitizers; it #includes the module it tests), then test/run against
# the static binary and against the sanitizer build. One final line
# "N passed, N failed" counts them all; any failure fails make.
test: all mta-asan
	@UNITCC='$(ASANCC) $(ASANCPPFLAGS) $(ASANCFLAGS) -I.' \
	    UNITLIBS='$(ASANLIBS)' \
	    FUZZCC='$(FUZZCC) $(ASANCPPFLAGS) $(FUZZCFLAGS) -I.' \
	    FUZZLIBS='$(ASANLIBS)' FUZZTEST=10 \
	    sh tools/runtests ./mta ./mta-asan

unit:
	@UNITCC='$(ASANCC) $(ASANCPPFLAGS) $(ASANCFLAGS) -I.' \
	    UNITLIBS='$(ASANLIBS)' sh tools/runtests

fuzz:
	@FUZZCC='$(FUZZCC) $(ASANCPPFLAGS) $(FUZZCFLAGS) -I.' \
	    FUZZLIBS='$(ASANLIBS)' sh tools/fuzz $(FUZZTIME)

# mta-byfile: the same program with FLUSH_BYFILE=1 (config.h), so that
# the bench can show what flushing a group file by file costs.
bench: all mta-byfile
	BENCH_BYFILE=./mta-byfile sh test/bench.sh ./mta

mta-byfile: $(SRC) $(HDR) $(LIBS)
	$(CC) $(CPPFLAGS) $(CFLAGS) -DFLUSH_BYFILE=1 $(LDFLAGS) -o $@ \
	    $(SRC) $(LIBS)

demo: all
	sh tools/demo ./mta

install: all
	mkdir -p $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/lib \
	    $(DESTDIR)$(MANPREFIX)/man8
	cp -f mta $(DESTDIR)$(PREFIX)/sbin/mta.new
	chmod 755 $(DESTDIR)$(PREFIX)/sbin/mta.new
	mv -f $(DESTDIR)$(PREFIX)/sbin/mta.new $(DESTDIR)$(PREFIX)/sbin/mta
	ln -sf mta $(DESTDIR)$(PREFIX)/sbin/sendmail
	ln -sf mta $(DESTDIR)$(PREFIX)/sbin/mailq
	ln -sf mta $(DESTDIR)$(PREFIX)/sbin/newaliases
	ln -sf ../sbin/mta $(DESTDIR)$(PREFIX)/lib/sendmail
	cp -f mta.8 $(DESTDIR)$(MANPREFIX)/man8/mta.8
	chmod 644 $(DESTDIR)$(MANPREFIX)/man8/mta.8

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/sbin/mta $(DESTDIR)$(PREFIX)/sbin/sendmail \
	    $(DESTDIR)$(PREFIX)/sbin/mailq $(DESTDIR)$(PREFIX)/sbin/newaliases \
	    $(DESTDIR)$(PREFIX)/lib/sendmail $(DESTDIR)$(MANPREFIX)/man8/mta.8

# A tarball of the files git tracks, named after VERSION in mta.h.
dist:
	@v=$$(sed -n 's/^#define[	 ]*VERSION[	 ]*"\(.*\)".*/\1/p' mta.h); \
	d=mta-$$v; rm -rf $$d $$d.tar.gz; mkdir $$d; \
	files=$$(git ls-files) && [ -n "$$files" ] || \
	    { echo "make dist: no files tracked by git" >&2; rmdir $$d; exit 1; }; \
	tar -cf - $$files | (cd $$d && tar -xf -) && \
	tar -cf - $$d | gzip -9 >$$d.tar.gz && rm -rf $$d && ls -l $$d.tar.gz

clean:
	rm -f mta mta-asan mta-byfile $(OBJ) mta-*.tar.gz
	rm -rf build-asan build-fuzz
	for f in test/unit_*.c; do rm -f "$${f%.c}"; done

# Also forget the fetched BearSSL and the demo's spool and mailboxes.
distclean: clean
	rm -rf bearssl-src spool mail mta.log

.PHONY: all test unit fuzz bench demo install uninstall dist clean distclean
