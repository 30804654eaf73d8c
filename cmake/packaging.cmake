# Installing mqchat as a service, and its Debian package (docs/install.md).
#
#   cmake --install BUILD [--prefix /usr]   binaries, plugin, units, configs, web files, schema
#   (cd BUILD && cpack -G DEB)              mqchat_VERSION_ARCH.deb
#
# Where things go, with the prefix /usr (the package's):
#   /usr/bin/mqchat-bridge, mqchat-admin, mqchat-bot, mqchat-media, mqchat-gateway
#   /usr/lib/<multiarch>/mqchat/mqchat_plugin.so   a private module of mqchat, not
#        a library: beside Debian's own mosquitto_dynamic_security.so it would
#        sit in the shared-library directory, where nothing may link to it
#   /usr/libexec/mqchat/mqchat-make-secrets        postinst's secret maker
#   /usr/share/mqchat/www/         widget, console, MQTT.js (the gateway's http_dir)
#   /usr/share/mqchat/schema/      the SQL mqchat-admin has compiled in, for reference
#   /usr/share/mqchat/examples/    the demo page template, the assistant's example rules
#   /usr/share/doc/mqchat/         docs/*.md
#   /etc/mqchat/bridge.conf, bot.conf, media.conf, gateway.conf  conffiles
#   /etc/mosquitto/conf.d/mqchat.conf              conffile: the plugin and its listeners
#   /lib/systemd/system/mqchat-bridge.service, mqchat-bot.service,
#        mqchat-media.service, mqchat-gateway.service, mosquitto.service.d/mqchat.conf
#   /var/lib/mqchat-media/                         the media service's data_dir, empty
#        (the postinst gives it to mqchat; its unit's StateDirectory)
# /etc, /var and the unit directory are absolute: Debian's, whatever the prefix.
if(MQCHAT_FUZZ)
  return() # a fuzzing build has no programs to install
endif()

# Installing (and cpack) takes what is built and builds nothing more: CI's
# plain build (scripts/test --all) builds only the programs and the suites it
# runs there, the package's among them, and its package test must not start
# building the rest. After a full build, as scripts/run and a packager make,
# this changes nothing.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)

# The configuration files name the installed paths, so the default prefix is
# the package's, /usr (which also gives Debian's multiarch library directory).
if(CMAKE_INSTALL_PREFIX_INITIALIZED_TO_DEFAULT)
  set(CMAKE_INSTALL_PREFIX /usr CACHE PATH "Install prefix (mqchat: /usr, as its package)" FORCE)
endif()
include(GNUInstallDirs)

# Destinations under the prefix. The plugin goes into Debian's multiarch
# library directory (where mosquitto's own plugin is) whatever the prefix an
# existing build tree cached.
set(MQCHAT_PKG_DIR ${PROJECT_SOURCE_DIR}/packaging)
if(CMAKE_LIBRARY_ARCHITECTURE)
  set(MQCHAT_PLUGIN_INSTALL_DIR lib/${CMAKE_LIBRARY_ARCHITECTURE}/mqchat)
else()
  set(MQCHAT_PLUGIN_INSTALL_DIR ${CMAKE_INSTALL_LIBDIR}/mqchat)
endif()
set(MQCHAT_WEB_INSTALL_DIR ${CMAKE_INSTALL_DATADIR}/mqchat/www)
set(MQCHAT_SYSCONF_DIR /etc)
set(MQCHAT_MEDIA_DATA_DIR /var/lib/mqchat-media) # media.conf's data_dir, the unit's StateDirectory
pkg_get_variable(MQCHAT_SYSTEMD_UNIT_DIR systemd systemdsystemunitdir)
if(NOT MQCHAT_SYSTEMD_UNIT_DIR)
  set(MQCHAT_SYSTEMD_UNIT_DIR /lib/systemd/system) # Debian 12's, where mosquitto.service is
endif()

# --- programs ---------------------------------------------------------------
install(TARGETS mqchat-bridge mqchat-admin mqchat-bot mqchat-media mqchat-gateway RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS mqchat_plugin LIBRARY DESTINATION ${MQCHAT_PLUGIN_INSTALL_DIR})
install(PROGRAMS ${MQCHAT_PKG_DIR}/mqchat-make-secrets DESTINATION ${CMAKE_INSTALL_LIBEXECDIR}/mqchat)

# --- web files: what scripts/web-assemble puts in http_dir, but the demo page
# (it needs a site key; its template goes to examples/) ----------------------
# MQTT.js comes from npm in the version web/package-lock.json pins: the copy
# in web/node_modules when it is that one (scripts/web-assemble and
# scripts/test install it), else `npm ci` into the build tree. It is fetched
# when installing (cmake --install, cpack), not when building: a build never
# needs npm or the network (scripts/run builds before it installs npm).
set(MQCHAT_MQTTJS ${CMAKE_BINARY_DIR}/web/mqtt.min.js)
install(CODE "
  execute_process(COMMAND \"${CMAKE_COMMAND}\" \"-DWEB=${PROJECT_SOURCE_DIR}/web\"
                          \"-DWORK=${CMAKE_BINARY_DIR}/web/npm\" \"-DOUT=${MQCHAT_MQTTJS}\"
                          -P \"${MQCHAT_PKG_DIR}/fetch-mqttjs.cmake\"
                  RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR \"MQTT.js for the web files: packaging/fetch-mqttjs.cmake failed (above)\")
  endif()")
install(FILES ${PROJECT_SOURCE_DIR}/web/mqchat-widget.js ${PROJECT_SOURCE_DIR}/web/mqchat-console.js
              ${PROJECT_SOURCE_DIR}/web/console.html ${MQCHAT_MQTTJS}
        DESTINATION ${MQCHAT_WEB_INSTALL_DIR})
install(FILES ${PROJECT_SOURCE_DIR}/web/index.html DESTINATION ${CMAKE_INSTALL_DATADIR}/mqchat/examples)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/examples/assistant DESTINATION ${CMAKE_INSTALL_DATADIR}/mqchat/examples)

# --- schema (for reference: mqchat-admin migrate has it compiled in) --------
install(DIRECTORY ${PROJECT_SOURCE_DIR}/schema/ DESTINATION ${CMAKE_INSTALL_DATADIR}/mqchat/schema
        FILES_MATCHING PATTERN "*.sql")

# --- documentation ------------------------------------------------------------
file(GLOB MQCHAT_DOCS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/docs/*.md)
install(FILES ${MQCHAT_DOCS} DESTINATION ${CMAKE_INSTALL_DOCDIR})

# --- configuration (conffiles) and units ------------------------------------
# mqchat.conf names the installed plugin and web files: made when
# installing, with the prefix of that install (cpack: /usr).
install(CODE "
  set(MQCHAT_PLUGIN_PATH \"\${CMAKE_INSTALL_PREFIX}/${MQCHAT_PLUGIN_INSTALL_DIR}/mqchat_plugin.so\")
  set(MQCHAT_WEB_DIR \"\${CMAKE_INSTALL_PREFIX}/${MQCHAT_WEB_INSTALL_DIR}\")
  configure_file(\"${MQCHAT_PKG_DIR}/mosquitto-mqchat.conf.in\" \"${CMAKE_BINARY_DIR}/packaging/mqchat.conf\" @ONLY)")
install(FILES ${MQCHAT_PKG_DIR}/bridge.conf ${MQCHAT_PKG_DIR}/bot.conf ${MQCHAT_PKG_DIR}/media.conf
              ${MQCHAT_PKG_DIR}/gateway.conf
        DESTINATION ${MQCHAT_SYSCONF_DIR}/mqchat PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ)
install(FILES ${CMAKE_BINARY_DIR}/packaging/mqchat.conf DESTINATION ${MQCHAT_SYSCONF_DIR}/mosquitto/conf.d)
install(FILES ${MQCHAT_PKG_DIR}/mqchat-bridge.service ${MQCHAT_PKG_DIR}/mqchat-bot.service
              ${MQCHAT_PKG_DIR}/mqchat-media.service ${MQCHAT_PKG_DIR}/mqchat-gateway.service
        DESTINATION ${MQCHAT_SYSTEMD_UNIT_DIR})
# Empty, root's, 0750: the postinst registers mqchat:mqchat 0750 with
# dpkg-statoverride (as for the settings files), so dpkg keeps it so.
install(DIRECTORY DESTINATION ${MQCHAT_MEDIA_DATA_DIR}
        DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE)
install(FILES ${MQCHAT_PKG_DIR}/mosquitto-override.conf DESTINATION ${MQCHAT_SYSTEMD_UNIT_DIR}/mosquitto.service.d
        RENAME mqchat.conf)

# --- the Debian package -------------------------------------------------------
# `make install` and cpack install what is built and build nothing: a cpack
# run from a test (package_test) must never rebuild the tree under the other
# suites. Build first (the default target), then package.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY ON)
set(MQCHAT_CONFFILES
    ${MQCHAT_SYSCONF_DIR}/mqchat/bridge.conf
    ${MQCHAT_SYSCONF_DIR}/mqchat/bot.conf
    ${MQCHAT_SYSCONF_DIR}/mqchat/media.conf
    ${MQCHAT_SYSCONF_DIR}/mqchat/gateway.conf
    ${MQCHAT_SYSCONF_DIR}/mosquitto/conf.d/mqchat.conf)
list(JOIN MQCHAT_CONFFILES "\n" MQCHAT_CONFFILES_TEXT)
file(WRITE ${CMAKE_BINARY_DIR}/packaging/conffiles "${MQCHAT_CONFFILES_TEXT}\n")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr) # a Debian package's, whatever CMAKE_INSTALL_PREFIX is
set(MQCHAT_SECRETS_TOOL ${CPACK_PACKAGING_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBEXECDIR}/mqchat/mqchat-make-secrets)
configure_file(${MQCHAT_PKG_DIR}/postinst.in ${CMAKE_BINARY_DIR}/packaging/postinst @ONLY
               FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME mqchat)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "mqchat operators <mqchat@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "chat backend inside the Mosquitto MQTT broker")
set(CPACK_PACKAGE_DESCRIPTION
    "A Mosquitto plugin that decides who may log in, read and write chat topics, a bridge daemon\nthat stores each message in PostgreSQL, numbers it and delivers it, a media service for\nattachments, an operator's tool with the database schema compiled in, a support desk's\nassistant, the web widget and agents' console, and the gateway that carries their MQTT over
WebSocket to the broker and serves their files.")
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# dpkg-shlibdeps finds the libraries; the broker that loads the plugin, and
# adduser for the postinst, are ours to name.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "mosquitto (>= 2.0.11), adduser")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "postgresql (>= 15)")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_BINARY_DIR}/packaging/conffiles ${CMAKE_BINARY_DIR}/packaging/postinst
    ${MQCHAT_PKG_DIR}/prerm ${MQCHAT_PKG_DIR}/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# Only what is installed above: the other targets (tests, examples) have no
# install rules, so the package holds the one default component.
include(CPack)
