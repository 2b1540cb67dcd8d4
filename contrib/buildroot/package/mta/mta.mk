################################################################################
#
# mta
#
################################################################################

# No public release site: put mta-$(MTA_VERSION).tar.gz (`make dist` in
# mta's checkout) beside this file, or set MTA_OVERRIDE_SRCDIR to the
# checkout in local.mk.
MTA_VERSION = 0.1
MTA_SOURCE = mta-$(MTA_VERSION).tar.gz
MTA_SITE = $(MTA_PKGDIR)
MTA_SITE_METHOD = file

ifeq ($(BR2_PACKAGE_MTA_SENDONLY),y)
MTA_PROFILE = sendonly
else ifeq ($(BR2_PACKAGE_MTA_NOTLS),y)
MTA_PROFILE = notls
else
MTA_PROFILE = full
endif

# The toolchain's CC, AR, RANLIB, STRIP, CFLAGS, LDFLAGS... and, for TLS,
# Buildroot's bearssl package as installed in staging (headers and
# libbearssl.a under $(STAGING_DIR)/usr).
MTA_MAKE_OPTS = $(TARGET_CONFIGURE_OPTS) PROFILE=$(MTA_PROFILE) PREFIX=/usr
ifneq ($(MTA_PROFILE),notls)
MTA_DEPENDENCIES += bearssl
MTA_MAKE_OPTS += BEARSSL=$(STAGING_DIR)/usr
endif

define MTA_BUILD_CMDS
	$(TARGET_MAKE_ENV) $(MAKE) -C $(@D) $(MTA_MAKE_OPTS)
endef

define MTA_INSTALL_TARGET_CMDS
	$(TARGET_MAKE_ENV) $(MAKE) -C $(@D) $(MTA_MAKE_OPTS) \
		DESTDIR=$(TARGET_DIR) install
endef

# RunAsUser (Buildroot's skeleton already has it).
define MTA_USERS
	mail 8 mail 8 * /var/mail - - mta daemon
endef

# The send-only profile has no daemon: no service (a cron line instead).
ifneq ($(MTA_PROFILE),sendonly)
define MTA_INSTALL_INIT_SYSV
	$(INSTALL) -D -m 0755 $(MTA_PKGDIR)/S50mta \
		$(TARGET_DIR)/etc/init.d/S50mta
endef

define MTA_INSTALL_INIT_SYSTEMD
	$(INSTALL) -D -m 0644 $(MTA_PKGDIR)/mta.service \
		$(TARGET_DIR)/usr/lib/systemd/system/mta.service
endef
endif

$(eval $(generic-package))
