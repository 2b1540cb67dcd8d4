# mta: a small static MTA. See README, "Build and install".
#
# GNU make, not POSIX make: the architectures and profiles are built from
# one template ($(eval)), with pattern rules and conditionals.
#
#	make			./mta: static musl + BearSSL 0.6; prints its size
#	make PROFILE=sendonly	./mta-sendonly (no SMTP server); notls: ./mta-notls
#	make ARCH=mipsel	build/mipsel/mta (also armhf, arm64, s390x):
#				Debian's gcc-TRIPLE with musl-dev:ARCH
#	make sizes		every profile, native and mipsel, side by side
#	make test		unit, fuzz, the suite for ./mta, ./mta-asan,
#				./mta-sendonly, ./mta-notls and mipsel (qemu)
#	make test ARCH=s390x	the suite for build/s390x/mta under qemu only
#	make install		PREFIX (default /usr), DESTDIR, ARCH, PROFILE
#
# A firmware SDK's CC, AR, RANLIB, STRIP, CFLAGS, LDFLAGS and CPPFLAGS are
# honoured, from the command line or the environment; the flags mta cannot
# build without (MTA_*) are added to them, never replaced by them.
# ARCH and PROFILE are read from the command line only: an ARCH in the
# environment is common in SDKs and means something else there.
#
# The version is VERSION in mta.h.

PREFIX = /usr
MANPREFIX = $(PREFIX)/share/man

.DEFAULT_GOAL = all

ARCHS = mipsel armhf arm64 s390x
PROFILES = full sendonly notls

ifneq ($(origin ARCH),command line)
override ARCH :=
endif
ifneq ($(origin PROFILE),command line)
override PROFILE := full
endif

# user VAR: non-empty when VAR came from the command line or environment
user = $(filter command% environment%,$(origin $(1)))

ifeq ($(filter $(PROFILE),$(PROFILES)),)
$(error PROFILE=$(PROFILE): not one of $(PROFILES))
endif
# An ARCH of our own list uses Debian's cross tools; any other name is
# accepted with the SDK's own compiler (CC on the command line) and only
# names the build folder (OpenWrt passes ARCH=mips, aarch64, ...).
ifneq ($(ARCH),)
ifeq ($(filter $(ARCH),$(ARCHS)),)
ifneq ($(origin CC),command line)
$(error ARCH=$(ARCH): not one of $(ARCHS); another name needs CC=... on the command line)
endif
endif
endif

# ---------------------------------------------------------------------
# Toolchain and flags
# ---------------------------------------------------------------------

# CC and AR: make has its own defaults for both (cc, ar), so they are not
# set with ?=: musl-gcc replaces make's cc, and a value from the command
# line or the environment replaces either; AR stays make's ar.
ifeq ($(origin CC),default)
CC = musl-gcc
endif
RANLIB ?= ranlib
STRIP ?= strip

# Size, the defaults an SDK's flags replace: no PIE (a static binary is
# not relocated, and PIC code is larger, on MIPS most of all); switch
# statements as compare chains (-fno-jump-tables); read-only data in the
# text segment instead of a page-aligned segment of its own
# (-z noseparate-code), and no RELRO segment, which musl's static start
# never makes read-only anyway (-z norelro). See README for what each
# saves. -flto: the linker sees the whole program (our files, not
# BearSSL's), so helpers called across files can be inlined or dropped.
CFLAGS ?= -Os -fno-pie -fno-jump-tables -flto=auto
LDFLAGS ?= -Os -flto=auto -no-pie -s -Wl,-z,noseparate-code -Wl,-z,norelro
CPPFLAGS ?=

# Always added, after the SDK's flags so that these win: the language,
# the headers, static linking, and what keeps any build small without
# changing its code: every function and object in its own section, the
# unused ones dropped by the linker, and no unwind tables (C has no
# exceptions).
MTA_CPPFLAGS = -D_DEFAULT_SOURCE -D_XOPEN_SOURCE=700 -I$(BEARSSLINC)
MTA_SIZEFLAGS = -ffunction-sections -fdata-sections \
    -fno-asynchronous-unwind-tables
MTA_CFLAGS = -std=c99 -pedantic -Wall -Wextra $(MTA_SIZEFLAGS)
MTA_LDFLAGS = -static -Wl,--gc-sections

# Debian's cross compilers (gcc-TRIPLE) with musl-dev:ARCH's specs file,
# and the qemu-user-static emulator of each architecture: per ARCH, its
# TRIPLE, its MUSL triple and its QEMU.
CROSS_mipsel = mipsel-linux-gnu mipsel-linux-musl qemu-mipsel-static
CROSS_armhf = arm-linux-gnueabihf arm-linux-musleabihf qemu-arm-static
CROSS_arm64 = aarch64-linux-gnu aarch64-linux-musl qemu-aarch64-static
CROSS_s390x = s390x-linux-gnu s390x-linux-musl qemu-s390x-static
$(foreach a,$(ARCHS),$(eval TRIPLE_$(a) = $(word 1,$(CROSS_$(a)))) \
    $(eval MUSL_$(a) = $(word 2,$(CROSS_$(a)))) \
    $(eval QEMU_$(a) = $(word 3,$(CROSS_$(a)))))
# -mplt: non-PIC calls without the GOT on MIPS (with -fno-pie, 8% smaller)
SIZE_mipsel = -mplt

# Per build key (native, or an ARCH): CC_k, AR_k, RANLIB_k, STRIP_k,
# CFLAGS_k, LDFLAGS_k. Native: the variables above. A Debian ARCH: the
# cross tools, unless the command line names the tool (an SDK building
# for that ARCH; a CC in the environment is usually the host's).
CC_native = $(CC)
AR_native = $(AR)
RANLIB_native = $(RANLIB)
STRIP_native = $(STRIP)
CFLAGS_native = $(CFLAGS)
LDFLAGS_native = $(LDFLAGS)

# $(call crosstool,ARCH,VAR,tool): the command line's VAR when it builds
# that ARCH, else TRIPLE-tool.
crosstool = $(if $(and $(filter command line,$(origin $(2))), \
    $(filter $(1),$(ARCH))),$($(2)),$(TRIPLE_$(1))-$(3))
define crosstools
CC_$(1) = $$(call crosstool,$(1),CC,gcc \
    -specs=/usr/lib/$$(MUSL_$(1))/musl-gcc.specs)
AR_$(1) = $$(call crosstool,$(1),AR,ar)
RANLIB_$(1) = $$(call crosstool,$(1),RANLIB,ranlib)
STRIP_$(1) = $$(call crosstool,$(1),STRIP,strip)
CFLAGS_$(1) = $$(CFLAGS) $$(if $$(call user,CFLAGS),,$$(SIZE_$(1)))
LDFLAGS_$(1) = $$(LDFLAGS)
endef
$(foreach a,$(ARCHS),$(eval $(call crosstools,$(a))))

# An ARCH of the SDK's own: its tools as given.
ifneq ($(ARCH),)
ifeq ($(filter $(ARCH),$(ARCHS)),)
CC_$(ARCH) = $(CC)
AR_$(ARCH) = $(AR)
RANLIB_$(ARCH) = $(RANLIB)
STRIP_$(ARCH) = $(STRIP)
CFLAGS_$(ARCH) = $(CFLAGS)
LDFLAGS_$(ARCH) = $(LDFLAGS)
QEMU_$(ARCH) = qemu-$(ARCH)-static
endif
endif

# The key of this build, its profile's switches and output name.
K = $(or $(ARCH),native)
PFLAGS_full =
PFLAGS_sendonly = -DWITH_SERVER=0
PFLAGS_notls = -DWITH_TLS=0
SUFFIX_full =
SUFFIX_sendonly = -sendonly
SUFFIX_notls = -notls
# out KEY PROFILE: the binary (native ones in the checkout's top folder)
out = $(if $(filter native,$(1)),,build/$(1)/)mta$(SUFFIX_$(2))
OUT = $(call out,$(K),$(PROFILE))

# ---------------------------------------------------------------------
# BearSSL
# ---------------------------------------------------------------------
# Default: Debian's bearssl source package, fetched once by tools/bearssl
# into bearssl-src/bearssl (ignored by git). BEARSSL=DIR instead: a source
# tree (DIR/mk/Rules.mk), or an installed BearSSL (DIR/inc or DIR/include
# with bearssl.h, and libbearssl.a in DIR/lib or DIR/build), used as it
# is. A source tree is built once per architecture, into
# build/KEY/bearssl/, never in place (a library built in the tree may be
# another architecture's: it is not used). With BEARSSL given, nothing is
# fetched and apt-get is never called.
ifeq ($(BEARSSL),)
BEARSSLSRC = bearssl-src/bearssl
BEARSSLINC = $(BEARSSLSRC)/inc
FETCH = -f
else
BEARSSLHDR := $(firstword $(wildcard $(BEARSSL)/inc/bearssl.h \
    $(BEARSSL)/include/bearssl.h))
ifeq ($(BEARSSLHDR),)
$(error BEARSSL=$(BEARSSL): no inc/bearssl.h or include/bearssl.h there)
endif
BEARSSLINC = $(patsubst %/,%,$(dir $(BEARSSLHDR)))
ifneq ($(wildcard $(BEARSSL)/mk/Rules.mk),)
BEARSSLSRC = $(BEARSSL)
else
BEARSSLPRE := $(firstword $(wildcard $(BEARSSL)/lib/libbearssl.a \
    $(BEARSSL)/build/libbearssl.a))
ifeq ($(BEARSSLPRE),)
$(error BEARSSL=$(BEARSSL): neither a source tree (mk/Rules.mk) nor libbearssl.a (in lib/ or build/))
endif
endif
FETCH =
endif
BEARSSLH = $(BEARSSLINC)/bearssl.h
# bearlib KEY: the library linked into KEY's binaries
bearlib = $(or $(BEARSSLPRE),build/$(1)/bearssl/libbearssl.a)

ifneq ($(FETCH),)
$(BEARSSLH):
	sh tools/bearssl -f $(BEARSSLSRC)
endif

# ---------------------------------------------------------------------
# The binaries: objects in build/KEY/PROFILE/, one template per pair
# ---------------------------------------------------------------------
HDR = mta.h config.h
SRC = mta.c submit.c spool.c syncer.c mailq.c deliver.c aliases.c local.c \
    addr.c smtp.c tls.c crypt.c client.c mime.c wire.c remote.c bounce.c \
    dns.c util.c

# needtools KEY: a clear message when KEY's compiler is not installed
needtools = @command -v $(firstword $(CC_$(1))) >/dev/null 2>&1 || { \
    echo "make: $(firstword $(CC_$(1))) not found; as root:" \
        "sh tools/deps $(filter-out native,$(1))" >&2; exit 1; }

define binary
OBJ_$(1)_$(2) = $$(SRC:%.c=build/$(1)/$(2)/%.o)
build/$(1)/$(2)/%.o: %.c $$(HDR) $$(BEARSSLH)
	$$(call needtools,$(1))
	@mkdir -p $$(@D)
	$$(CC_$(1)) $$(CPPFLAGS) $$(MTA_CPPFLAGS) $$(PFLAGS_$(2)) \
	    $$(CFLAGS_$(1)) $$(MTA_CFLAGS) -c -o $$@ $$<
$(call out,$(1),$(2)): $$(OBJ_$(1)_$(2)) $(call bearlib,$(1))
	$$(CC_$(1)) $$(CFLAGS_$(1)) $$(MTA_CFLAGS) $$(LDFLAGS_$(1)) \
	    $$(MTA_LDFLAGS) -o $$@ $$(OBJ_$(1)_$(2)) $(call bearlib,$(1))
endef

# BearSSL from source for KEY, with KEY's compiler and flags, but no
# -flto: its objects go into an archive, which a plain ar cannot index
# when they hold the compiler's intermediate code.
define bearssl
build/$(1)/bearssl/libbearssl.a: $$(BEARSSLH)
	$$(call needtools,$(1))
	CC='$$(CC_$(1))' AR='$$(AR_$(1))' RANLIB='$$(RANLIB_$(1))' \
	    CFLAGS='$$(filter-out -flto%,$$(CFLAGS_$(1))) $$(MTA_SIZEFLAGS)' \
	    sh tools/bearssl $$(BEARSSLSRC) build/$(1)/bearssl
endef

# The emulated binary: a script that runs it under qemu-ARCH-static and
# passes its own name as argv[0] (-0 "$0"), so that a link to it named
# sendmail, mailq or newaliases still picks that mode.
define qemu
build/$(1)/qemu/mta$(SUFFIX_$(2)): $(call out,$(1),$(2)) Makefile
	@mkdir -p $$(@D)
	@printf '%s\n' '#!/bin/sh' \
	    '# $(call out,$(1),$(2)) under $$(QEMU_$(1)), made by make' \
	    'exec $$(QEMU_$(1)) -0 "$$$$0" $$(CURDIR)/$(call out,$(1),$(2)) "$$$$@"' \
	    >$$@.tmp && chmod 755 $$@.tmp && mv -f $$@.tmp $$@
endef

KEYS = native $(ARCHS) $(filter-out $(ARCHS),$(ARCH))
$(foreach k,$(KEYS),$(foreach p,$(PROFILES),\
    $(eval $(call binary,$(k),$(p)))))
ifeq ($(BEARSSLPRE),)
$(foreach k,$(KEYS),$(eval $(call bearssl,$(k))))
endif
$(foreach k,$(filter-out native,$(KEYS)),$(foreach p,$(PROFILES),\
    $(eval $(call qemu,$(k),$(p)))))

# size KEY PROFILE: the stripped size in bytes (the binary is normally
# linked stripped; an SDK's LDFLAGS may leave that to its STRIP)
size = { $(STRIP_$(1)) -o build/$(1)/$(2)/stripped $(call out,$(1),$(2)) \
    2>/dev/null && wc -c <build/$(1)/$(2)/stripped || \
    wc -c <$(call out,$(1),$(2)); } | tr -d ' '

all: $(OUT)
	@echo "$(OUT): $$($(call size,$(K),$(PROFILE))) bytes stripped" \
	    "($(K), $(PROFILE))"

# Each profile natively and for SIZEARCHS, stripped sizes in bytes.
SIZEARCHS = mipsel
sizes: $(foreach k,native $(SIZEARCHS),$(foreach p,$(PROFILES),\
    $(call out,$(k),$(p))))
	@echo "stripped sizes in bytes"
	@printf '%-10s' profile native $(SIZEARCHS); echo
	@$(foreach p,$(PROFILES),printf '%-10s' $(p); \
	    $(foreach k,native $(SIZEARCHS),\
	    printf '%-10s' "$$($(call size,$(k),$(p)))";) echo;)

# ---------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------

# Test build: glibc, AddressSanitizer and UBSan, Debian's libbearssl-dev,
# objects in build/asan/.
ASANCC = cc
ASANCPPFLAGS = -D_DEFAULT_SOURCE -D_XOPEN_SOURCE=700
ASANCFLAGS = -std=c99 -pedantic -Wall -Wextra -O1 -g \
    -fsanitize=address,undefined -fno-omit-frame-pointer
ASANLIBS = -lbearssl
ASANOBJ = $(SRC:%.c=build/asan/%.o)

mta-asan: $(ASANOBJ)
	$(ASANCC) $(ASANCFLAGS) -o $@ $(ASANOBJ) $(ASANLIBS)

build/asan/%.o: %.c $(HDR)
	@mkdir -p $(@D)
	$(ASANCC) $(ASANCPPFLAGS) $(ASANCFLAGS) -c -o $@ $<

# Fuzz targets (test/fuzz_*.c): clang's libFuzzer, FUZZTIME seconds each.
FUZZCC = clang
FUZZCFLAGS = -std=c99 -g -O1 -fsanitize=fuzzer,address,undefined
FUZZTIME = 60

UNITENV = UNITCC='$(ASANCC) $(ASANCPPFLAGS) $(ASANCFLAGS) -I.' \
    UNITLIBS='$(ASANLIBS)'
FUZZENV = FUZZCC='$(FUZZCC) $(ASANCPPFLAGS) $(FUZZCFLAGS) -I.' \
    FUZZLIBS='$(ASANLIBS)'

# The whole suite. Without ARCH: the unit programs (test/unit_*.c, each
# built alone with the sanitizers), the fuzz targets briefly, the check
# that the modules depend one way (tools/depgraph), then test/run
# against every native profile, the sanitizer build and the mipsel binary
# under qemu (MTA_EMU tells the tests, which skip what an emulator cannot
# do). With ARCH (and PROFILE): test/run against that binary under qemu
# only. One final line "N passed, N failed" counts them all; any failure
# fails make.
ifeq ($(ARCH),)
test: $(foreach p,$(PROFILES),$(call out,native,$(p))) mta-asan \
    build/mipsel/qemu/mta
	@$(UNITENV) $(FUZZENV) FUZZTEST=10 DEPOBJS='$(ASANOBJ)' sh tools/runtests \
	    ./mta ./mta-asan ./mta-sendonly ./mta-notls \
	    MTA_EMU=$(QEMU_mipsel) build/mipsel/qemu/mta
else
test: build/$(ARCH)/qemu/mta$(SUFFIX_$(PROFILE))
	@command -v $(QEMU_$(ARCH)) >/dev/null 2>&1 || { \
	    echo "make: $(QEMU_$(ARCH)) not found; as root:" \
	        "sh tools/deps $(ARCH)" >&2; exit 1; }
	@sh tools/runtests MTA_EMU=$(QEMU_$(ARCH)) \
	    build/$(ARCH)/qemu/mta$(SUFFIX_$(PROFILE))
endif

unit:
	@$(UNITENV) sh tools/runtests

fuzz:
	@$(FUZZENV) sh tools/fuzz $(FUZZTIME)

bench: mta
	sh test/bench.sh ./mta

# Where the CPU goes (tools/profile, perf): the full profile built as
# ./mta is, but with symbols and frame pointers and without -flto, so
# that every function keeps its name.
PROFOBJ = $(SRC:%.c=build/prof/%.o)
PROFCFLAGS = -Os -g -fno-pie -fno-omit-frame-pointer -fno-jump-tables

mta-prof: $(PROFOBJ) $(call bearlib,native)
	$(CC_native) $(PROFCFLAGS) $(MTA_CFLAGS) -no-pie $(MTA_LDFLAGS) \
	    -o $@ $(PROFOBJ) $(call bearlib,native)

build/prof/%.o: %.c $(HDR) $(BEARSSLH)
	@mkdir -p $(@D)
	$(CC_native) $(MTA_CPPFLAGS) $(PROFCFLAGS) $(MTA_CFLAGS) -c -o $@ $<

profile: mta-prof
	sh tools/profile ./mta-prof accept
	sh tools/profile ./mta-prof relay

demo: mta
	sh tools/demo ./mta

# ---------------------------------------------------------------------
# Install, packages, cleaning
# ---------------------------------------------------------------------

# The binary of ARCH and PROFILE, installed as mta whatever its profile.
install: all
	mkdir -p $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/lib \
	    $(DESTDIR)$(MANPREFIX)/man8
	cp -f $(OUT) $(DESTDIR)$(PREFIX)/sbin/mta.new
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

# mta_VERSION_DEBARCH.deb of the binary of ARCH and PROFILE
# (contrib/debian/mkdeb BINARY DEBARCH); native: dpkg's own architecture.
deb: all
	sh contrib/debian/mkdeb $(OUT) \
	    $(or $(ARCH),$$(dpkg --print-architecture))

# A tarball of the files git tracks, named after VERSION in mta.h.
dist:
	@v=$$(sed -n 's/^#define[	 ]*VERSION[	 ]*"\(.*\)".*/\1/p' mta.h); \
	d=mta-$$v; rm -rf $$d $$d.tar.gz; mkdir $$d; \
	files=$$(git ls-files) && [ -n "$$files" ] || \
	    { echo "make dist: no files tracked by git" >&2; rmdir $$d; exit 1; }; \
	tar -cf - $$files | (cd $$d && tar -xf -) && \
	tar -cf - $$d | gzip -9 >$$d.tar.gz && rm -rf $$d && ls -l $$d.tar.gz

# build/ holds every object, BearSSL library and cross binary.
clean:
	rm -rf build build-asan build-fuzz
	rm -f mta mta-asan mta-sendonly mta-notls mta-prof mta-byfile *.o \
	    mta-*.tar.gz
	for f in test/unit_*.c; do rm -f "$${f%.c}"; done

# Also forget the fetched BearSSL and the demo's spool and mailboxes.
distclean: clean
	rm -rf bearssl-src spool mail mta.log

.PHONY: all sizes test unit fuzz bench profile demo install uninstall deb dist \
    clean distclean
.DELETE_ON_ERROR:
