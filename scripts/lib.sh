# Shared by scripts/run, scripts/test and scripts/bench. Source it; do not run it.

MQCHAT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Debian packages the project needs to build, test and run.
MQCHAT_PACKAGES=(
  build-essential cmake pkg-config
  mosquitto mosquitto-clients mosquitto-dev libmosquitto-dev
  libpaho-mqttpp-dev libpaho-mqtt-dev
  libpq-dev postgresql
  libjsoncpp-dev libsodium-dev libcppunit-dev libcjose-dev libjansson-dev openssl
  libcurl4-openssl-dev libssl-dev nodejs
  iproute2 valgrind haproxy redis-server libhiredis-dev
  libmicrohttpd-dev libspdlog-dev prometheus dpkg-dev fakeroot file libboost-dev
  libvips-dev libmagic-dev libolm-dev
)

say() { printf '%s\n' "mqchat: $*"; }
die() { printf '%s\n' "mqchat: error: $*" >&2; exit 1; }

# Installs whatever is missing, once. Services the packages would start
# (the system mosquitto on 1883, PostgreSQL's "main" cluster) are kept from
# starting: mqchat runs its own.
install_packages() {
  local missing=() p
  for p in "${MQCHAT_PACKAGES[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]}"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "missing packages (${missing[*]}) and not root; install them or run as root"
    sudo="sudo"
  fi
  local policy=/usr/sbin/policy-rc.d added_policy=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null && $sudo chmod +x "$policy" && added_policy=1
  fi
  # shellcheck disable=SC2086
  { $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"; } \
    || { [ -n "$added_policy" ] && $sudo rm -f "$policy"; die "apt-get could not install ${missing[*]}"; }
  [ -n "$added_policy" ] && $sudo rm -f "$policy"
  return 0
}

# build [extra cmake args...]: configures and builds into $MQCHAT_BUILD (default build/);
# only the targets in $MQCHAT_BUILD_TARGETS (space-separated) when it is set.
build() {
  local dir="${MQCHAT_BUILD:-$MQCHAT_ROOT/build}" targets=()
  read -r -a targets <<<"${MQCHAT_BUILD_TARGETS:-}"
  cmake -S "$MQCHAT_ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null || die "cmake configure failed"
  cmake --build "$dir" -j"$(nproc)" ${targets[@]+--target "${targets[@]}"} || die "build failed"
}

pg_bindir() { pg_config --bindir 2>/dev/null || ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1; }

# True when something listens on 127.0.0.1:$1.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# install_web_packages DIR: `npm ci` in DIR (a package.json with its lock)
# unless its node_modules already match the lock.
install_web_packages() {
  local dir="$1"
  command -v npm >/dev/null || install_packages npm
  if [ ! -f "$dir/node_modules/.package-lock.json" ] || ! cmp -s "$dir/package-lock.json" "$dir/node_modules/.mqchat-lock"; then
    say "installing npm packages in ${dir#"$MQCHAT_ROOT"/}"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed in $dir"
    cp "$dir/package-lock.json" "$dir/node_modules/.mqchat-lock"
  fi
}
