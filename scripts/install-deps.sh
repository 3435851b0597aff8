#!/usr/bin/env bash
# Installs what the lab fleet and the end-to-end tests need on a Debian-like machine,
# and fetches the memcached source tarballs they build. Safe to run again: it installs
# only missing packages and re-downloads only tarballs that do not verify.
# (`npm ci` is not its job.)
set -euo pipefail

# ansible-core and netcat-openbsd: the Ansible side of `npm run bench:fleet` (its playbooks pipe
# into memcached with nc).
# iproute2: `ip netns`/veth, which the bastion e2e test (test/lab/bastion.ts) isolates the controller with.
# libssl-dev and openssl: memcached built with --enable-tls (the TLS e2e test), and the lab's certificates.
# fish: a login shell that is not POSIX sh (the login-shell e2e test).
packages=(openssh-server libevent-dev build-essential memcached libmemcached-tools xz-utils dpkg-dev ansible-core netcat-openbsd iproute2 fish libssl-dev openssl)
versions=(1.6.18 1.6.38 1.6.45)

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: must run as root — try: sudo $0" >&2
  exit 1
fi

missing=()
for package in "${packages[@]}"; do
  if [[ $(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null) != installed ]]; then
    missing+=("$package")
  fi
done

if [[ ${#missing[@]} -gt 0 ]]; then
  echo "install-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # --no-install-recommends keeps the memcached package from pulling in extras; policy-rc.d
  # is not touched, so the distribution's memcached service may start on its default port
  # 11211, which the lab (ports 11301…) does not use.
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The package-target e2e test downloads bookworm's memcached .deb through apt: it needs the
# archive's index, which a machine that installed nothing here may never have fetched.
if [[ -z $(apt-cache madison memcached 2>/dev/null) ]]; then
  echo "install-deps: fetching the apt index (apt-get update)" >&2
  apt-get update -q
fi

"$(dirname "$0")/fetch-sources.sh" "${versions[@]}"
