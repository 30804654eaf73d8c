# cmake -DWEB=<repo>/web -DWORK=<dir> -DOUT=<file> [-DNPM=<npm>] -P fetch-mqttjs.cmake
#
# Puts MQTT.js's browser bundle (dist/mqtt.min.js) at OUT, in the version
# web/package-lock.json pins. The copy npm already installed in web/
# (scripts/web-assemble does that) is used when it is that version;
# otherwise `npm ci` installs the locked packages into WORK. Either way the
# version is checked, so a stale or missing copy never ends up in a package.
foreach(var WEB WORK OUT)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "fetch-mqttjs.cmake: ${var} is not set")
  endif()
endforeach()

file(READ "${WEB}/package-lock.json" lock)
string(JSON wanted GET "${lock}" packages node_modules/mqtt version)

function(mqtt_version dir out)
  set(${out} "" PARENT_SCOPE)
  if(EXISTS "${dir}/node_modules/mqtt/package.json" AND EXISTS "${dir}/node_modules/mqtt/dist/mqtt.min.js")
    file(READ "${dir}/node_modules/mqtt/package.json" manifest)
    string(JSON version GET "${manifest}" version)
    set(${out} "${version}" PARENT_SCOPE)
  endif()
endfunction()

mqtt_version("${WEB}" have)
if(have STREQUAL wanted)
  set(from "${WEB}")
else()
  mqtt_version("${WORK}" have)
  if(NOT have STREQUAL wanted)
    if(NOT NPM)
      find_program(NPM npm)
      if(NOT NPM)
        message(FATAL_ERROR "npm not found: the web files need MQTT.js ${wanted} from npm "
                            "(apt-get install npm, or run scripts/web-assemble once)")
      endif()
    endif()
    message(STATUS "MQTT.js ${wanted}: npm ci in ${WORK}")
    file(MAKE_DIRECTORY "${WORK}")
    file(COPY "${WEB}/package.json" "${WEB}/package-lock.json" DESTINATION "${WORK}")
    execute_process(COMMAND "${NPM}" ci --no-audit --no-fund --loglevel=error
                    WORKING_DIRECTORY "${WORK}" RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "npm ci failed in ${WORK} (exit ${rc}): the package needs MQTT.js ${wanted} from npm")
    endif()
    mqtt_version("${WORK}" have)
    if(NOT have STREQUAL wanted)
      message(FATAL_ERROR "npm ci in ${WORK} installed MQTT.js '${have}', not ${wanted}")
    endif()
  endif()
  set(from "${WORK}")
endif()
get_filename_component(out_dir "${OUT}" DIRECTORY)
file(MAKE_DIRECTORY "${out_dir}")
configure_file("${from}/node_modules/mqtt/dist/mqtt.min.js" "${OUT}" COPYONLY)
message(STATUS "MQTT.js ${wanted} from ${from}")
