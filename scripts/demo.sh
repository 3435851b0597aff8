#!/usr/bin/env bash
# npm run demo: installs what is missing, brings the 3-host lab on loopback back to
# memcached 1.6.18, and upgrades it to 1.6.38 with memplay, live. Exits with memplay's status.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) -ne 0 ]]; then
  echo "demo: the lab creates users and runs sshd, so it needs root — try: sudo npm run demo" >&2
  exit 1
fi

deps_missing() {
  local package version sum file
  for package in openssh-server libevent-dev build-essential memcached libmemcached-tools xz-utils dpkg-dev; do
    [[ $(dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null) == installed ]] || return 0
  done
  while read -r sum file; do
    [[ -f /var/cache/memplay/$file ]] || return 0
  done <scripts/memcached-sources.sha256
  return 1
}

if deps_missing; then scripts/install-deps.sh; fi
if [[ ! -d node_modules ]]; then npm ci; fi
npm run --silent build

# The lab is reset rather than just brought up, so the demo always starts from 1.6.18.
node dist/test/lab/cli.js up --hosts 3 >/dev/null
playbook=$(node dist/test/lab/cli.js reset)
# Something worth carrying across: 20,000 items of every awkward kind on each host.
node dist/test/lab/cli.js seed --items 20000

echo "demo: upgrading the lab with: memplay apply ${playbook#"$PWD/"}" >&2
exec ./bin/memplay.js apply "$playbook"
