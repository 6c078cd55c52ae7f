#!/usr/bin/env bash
# Install the system pieces gilpipe's test suite needs on a fresh Debian
# bookworm machine. CI runs this as root before the tests. Idempotent: a second
# run installs nothing and does not touch the network.
#
#   required (missing = loud, exit 1): perf (linux-perf), jq
#   optional (missing = one clear line; the tests that need them then skip):
#     chromium, fonts-liberation, the Catapult trace viewer files (viewer tests);
#     prometheus (promtool) and python3-prometheus-client (the openmetrics tests);
#     parallel (GNU parallel: the fleet batch test)
#
# The Catapult viewer comes from Debian's golang-1.19-src, which carries it for
# `go tool trace`. We need two files out of a ~20 MB package, so we download the
# .deb and extract just those into a cache dir instead of installing it.
#
# Environment:
#   GILPIPE_VIEWER_DIR  where to put the viewer files (default: /var/cache/gilpipe-viewer
#                       as root, else ${XDG_CACHE_HOME:-~/.cache}/gilpipe-viewer);
#                       test/helpers/viewer.ts looks in the same places.
set -u -o pipefail

prog=install-test-deps
say() { printf '%s: %s\n' "$prog" "$*" >&2; }

# apt needs root; without root or sudo only what is missing fails.
if [ "$(id -u)" = 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else sudo="no-root"; fi

if [ -n "${GILPIPE_VIEWER_DIR:-}" ]; then viewer_dir=$GILPIPE_VIEWER_DIR
elif [ "$(id -u)" = 0 ]; then viewer_dir=/var/cache/gilpipe-viewer
else viewer_dir=${XDG_CACHE_HOME:-$HOME/.cache}/gilpipe-viewer
fi
viewer_src=/usr/share/go-1.19/src/cmd/trace/static
viewer_files="trace_viewer_full.html webcomponents.min.js"

export DEBIAN_FRONTEND=noninteractive
updated=no
apt_update() {
  [ $updated = yes ] && return 0
  if [ "$sudo" = no-root ]; then say "not root and no sudo: cannot use apt-get"; return 1; fi
  say "apt-get update"
  $sudo apt-get update -qq >/dev/null || { say "apt-get update failed"; return 1; }
  updated=yes
}
apt_install() {  # apt_install PKG... ; returns apt's status
  apt_update || return 1
  say "apt-get install $*"
  $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed'; }

failed_required=()
missing_optional=()

# --- required -------------------------------------------------------------
command -v perf >/dev/null || apt_install linux-perf || true
command -v perf >/dev/null || failed_required+=("perf (package linux-perf)")
command -v jq >/dev/null || apt_install jq || true
command -v jq >/dev/null || failed_required+=("jq")

# --- tracefs: perf mounts it on first use as root, and a new machine has none
# until then; the tests that look for it before any perf has run (gil-record's
# preflight with a stand-in perf) would skip.
if [ "$(id -u)" = 0 ] && ! grep -qs ' tracefs ' /proc/mounts && [ -d /sys/kernel/tracing ]; then
  mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || say "could not mount tracefs on /sys/kernel/tracing"
fi

# --- optional: a headless browser for the Catapult viewer tests ------------
want=()
[ -x /usr/bin/chromium ] || want+=(chromium)
have_pkg fonts-liberation || want+=(fonts-liberation)
if [ ${#want[@]} -gt 0 ]; then
  apt_install "${want[@]}" || say "could not install ${want[*]}"
fi
[ -x /usr/bin/chromium ] || missing_optional+=("chromium")

# --- optional: the two Catapult viewer files --------------------------------
viewer_ok() {
  local d=$1 f
  for f in $viewer_files; do [ -s "$d/$f" ] || return 1; done
}
if viewer_ok "$viewer_dir" || viewer_ok "$viewer_src"; then :; else
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  if apt_update && (cd "$tmp" && apt-get download -qq golang-1.19-src >/dev/null 2>&1); then
    deb=$(ls "$tmp"/golang-1.19-src_*.deb 2>/dev/null | head -n1)
    members=()
    for f in $viewer_files; do members+=(".$viewer_src/$f"); done
    if [ -n "$deb" ] && dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$tmp" "${members[@]}" 2>/dev/null \
       && viewer_ok "$tmp$viewer_src"; then
      # The cache dir is the user's own unless it is under /var.
      put=""; mkdir -p "$viewer_dir" 2>/dev/null && [ -w "$viewer_dir" ] || put=$sudo
      [ "$put" = no-root ] && put=""
      $put mkdir -p "$viewer_dir"
      for f in $viewer_files; do $put cp "$tmp$viewer_src/$f" "$viewer_dir/$f"; done
      # Record where the files came from, so a stale cache can be recognised.
      dpkg-deb -f "$deb" Package Version | $put tee "$viewer_dir/SOURCE" >/dev/null
    else
      say "could not extract the viewer files from golang-1.19-src"
    fi
  else
    say "could not download golang-1.19-src"
  fi
fi
viewer_ok "$viewer_dir" || viewer_ok "$viewer_src" || missing_optional+=("Catapult viewer files in $viewer_dir")

# --- optional: the metrics checkers and GNU parallel -------------------------
want=()
command -v promtool >/dev/null || want+=(prometheus)
have_pkg python3-prometheus-client || want+=(python3-prometheus-client)
command -v parallel >/dev/null || want+=(parallel)
if [ ${#want[@]} -gt 0 ]; then
  apt_install "${want[@]}" || say "could not install ${want[*]}"
fi
command -v promtool >/dev/null || missing_optional+=("promtool (package prometheus): the openmetrics tests")
have_pkg python3-prometheus-client || missing_optional+=("python3-prometheus-client: the openmetrics tests")
command -v parallel >/dev/null || missing_optional+=("GNU parallel (package parallel): the fleet batch test")

# --- summary --------------------------------------------------------------
for m in "${missing_optional[@]}"; do
  say "OPTIONAL MISSING: $m -- the tests that need it will skip"
done
if [ ${#failed_required[@]} -gt 0 ]; then
  for m in "${failed_required[@]}"; do say "ERROR: REQUIRED MISSING: $m -- perf-based tests cannot run"; done
  exit 1
fi
say "ok: perf $(perf --version 2>/dev/null | awk '{print $3}'), jq $(jq --version 2>/dev/null)," \
  "chromium $([ -x /usr/bin/chromium ] && echo yes || echo no)," \
  "promtool $(command -v promtool >/dev/null && echo yes || echo no), parallel $(command -v parallel >/dev/null && echo yes || echo no)," \
  "viewer $(viewer_ok "$viewer_dir" && echo "$viewer_dir" || { viewer_ok "$viewer_src" && echo "$viewer_src"; } || echo no)"
