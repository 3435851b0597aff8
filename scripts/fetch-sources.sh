#!/usr/bin/env bash
# Fetches memcached upstream source tarballs (Debian's .orig.tar.xz, which is the
# upstream release) into /var/cache/memplay and checks them against pinned sha256s.
#
#   scripts/fetch-sources.sh VERSION...     prints the path of each verified tarball
#
# Debian's source archive is the one upstream mirror reachable from CI. We talk to it
# through a private apt state (own sources list, lists and cache under
# /var/cache/memplay/apt) so the machine's apt configuration is read, never changed.
# The mirror is taken from the machine's own apt sources at run time.
set -euo pipefail

cache_dir=/var/cache/memplay
apt_dir=$cache_dir/apt
suites=(bookworm trixie sid)

# The pinned tarballs, in `sha256sum -c` format; the lab harness reads the same file.
declare -A pinned_sha256=()
while read -r sum file; do
  version=${file#memcached_}
  pinned_sha256[${version%.orig.tar.xz}]=$sum
done <"$(dirname "$0")/memcached-sources.sha256"

die() {
  echo "fetch-sources: $*" >&2
  exit 1
}

[[ $# -gt 0 ]] || die "usage: $0 VERSION... (known: ${!pinned_sha256[*]})"
[[ $(id -u) -eq 0 ]] || die "must run as root (it writes $cache_dir) — try: sudo $0 $*"

verified() { # path sha256
  [[ -f $1 ]] && [[ $(sha256sum "$1" | cut -d' ' -f1) == "$2" ]]
}

# Prints "URI<TAB>signed-by" for each source of the main Debian archive configured on
# this machine: deb822 stanzas and one-line entries whose suites include a bare
# release name (bookworm, not bookworm-security or bookworm-updates).
main_archive_sources() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] || continue
    awk '
      function flush() {
        if (uris != "" && types ~ /(^| )deb( |$)/ && suites ~ /(^| )[a-z]+( |$)/) {
          n = split(uris, u, " "); for (i = 1; i <= n; i++) print u[i] "\t" signed
        }
        uris = ""; types = ""; suites = ""; signed = ""
      }
      /^[[:space:]]*#/ { next }
      /^[[:space:]]*$/ { flush(); next }
      { key = tolower($1); sub(/:$/, "", key); $1 = ""; sub(/^ +/, "")
        if (key == "uris") uris = $0; else if (key == "types") types = $0
        else if (key == "suites") suites = $0; else if (key == "signed-by") signed = $0 }
      END { flush() }
    ' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [[ -f $f ]] || continue
    awk '
      $1 == "deb" {
        i = 2; signed = ""
        if ($i ~ /^\[/) {
          while (i <= NF) { if ($i ~ /^signed-by=/) { signed = $i; sub(/^signed-by=/, "", signed); sub(/\]$/, "", signed) }
            if ($i ~ /\]$/) { i++; break }; i++ }
        }
        if ($(i + 1) ~ /^[a-z]+$/) print $i "\t" signed
      }
    ' "$f"
  done
}

apt_opts=(
  -o "Dir::Etc::SourceList=$apt_dir/sources.list"
  -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State::Lists=$apt_dir/lists"
  -o "Dir::Cache=$apt_dir/cache"
  # Without the machine's dpkg status, `apt-get source memcached=V` looks V up among
  # source versions instead of mapping it through the installed binary package.
  -o Dir::State::status=/dev/null
)
indexes_ready=false
work=
trap 'if [[ -n $work ]]; then rm -rf "$work"; fi' EXIT

update_private_indexes() {
  $indexes_ready && return 0
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$apt_dir/download"
  local sources uri signed suite
  sources=$(main_archive_sources | sort -u)
  [[ -n $sources ]] || die "no Debian archive found in /etc/apt/sources.list{,.d/} to take source packages from"
  : >"$apt_dir/sources.list.new"
  while IFS=$'\t' read -r uri signed; do
    for suite in "${suites[@]}"; do
      if [[ -n $signed ]]; then
        echo "deb-src [signed-by=$signed] $uri $suite main"
      else
        echo "deb-src $uri $suite main"
      fi
    done
  done <<<"$sources" >>"$apt_dir/sources.list.new"
  mv "$apt_dir/sources.list.new" "$apt_dir/sources.list"
  # apt downloads as the unprivileged _apt user where it exists.
  if id _apt >/dev/null 2>&1; then chown -R _apt:root "$apt_dir/lists/partial" "$apt_dir/download"; fi
  apt-get "${apt_opts[@]}" -q update >&2 || die "apt-get update of the deb-src indexes failed (sources: $apt_dir/sources.list)"
  indexes_ready=true
}

# The Debian version (with revision) whose upstream part is $1, newest first.
debian_version_of() {
  apt-cache "${apt_opts[@]}" showsrc memcached 2>/dev/null |
    awk -v want="$1" '/^Version: / { v = $2; up = v; sub(/^[0-9]+:/, "", up); sub(/-[^-]*$/, "", up); if (up == want) print v }' |
    sort -Vr | head -n1
}

fetch() {
  local version=$1 sha256=${pinned_sha256[$1]:-}
  [[ -n $sha256 ]] || die "no pinned sha256 for memcached $version (known: ${!pinned_sha256[*]})"
  local target=$cache_dir/memcached_$version.orig.tar.xz
  if verified "$target" "$sha256"; then
    echo "$target"
    return 0
  fi
  update_private_indexes
  local debian_version
  debian_version=$(debian_version_of "$version")
  [[ -n $debian_version ]] || die "memcached $version is in none of the Debian suites ${suites[*]} — see: apt-cache ${apt_opts[*]} showsrc memcached"
  work=$(mktemp -d "$apt_dir/download/$version.XXXXXX")
  if id _apt >/dev/null 2>&1; then chown _apt:root "$work"; fi
  local orig=$work/memcached_$version.orig.tar.xz
  # Only the orig tarball matters, and its pinned sha256 is the authority: a mirror
  # missing the .dsc or the Debian diff fails apt-get but leaves a usable tarball.
  if ! (cd "$work" && apt-get "${apt_opts[@]}" -q source --download-only "memcached=$debian_version" >&2); then
    [[ -f $orig ]] || die "apt-get source memcached=$debian_version failed and fetched no memcached_$version.orig.tar.xz"
    echo "fetch-sources: apt-get source memcached=$debian_version reported errors; the orig tarball arrived, checking it" >&2
  fi
  [[ -f $orig ]] || die "the source package memcached=$debian_version has no memcached_$version.orig.tar.xz (got: $(ls "$work"))"
  if ! verified "$orig" "$sha256"; then
    die "sha256 of $orig is $(sha256sum "$orig" | cut -d' ' -f1), pinned $sha256 — refusing it"
  fi
  mv "$orig" "$target"
  chmod 0644 "$target"
  rm -rf "$work"
  work=
  echo "$target"
}

mkdir -p "$cache_dir"
for version in "$@"; do fetch "$version"; done
