#!/usr/bin/env bash
# The lab's real servers: Debian's OpenSSH server and MariaDB. Installed without starting
# the system's own services (the lab starts its own copies on loopback, under .lab/).
# And Debian's chromium, the headless browser the tests open reports/report.html in.
set -euo pipefail
if command -v mariadbd >/dev/null && [ -x /usr/sbin/sshd ] && command -v chromium >/dev/null; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "lab-packages: installing openssh-server, mariadb-server and chromium needs root (run: sudo $0)" >&2
  exit 1
fi
policy=/usr/sbin/policy-rc.d
had_policy=0; [ -e "$policy" ] && had_policy=1
if [ "$had_policy" = 0 ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"
  trap 'rm -f "$policy"' EXIT
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends openssh-server mariadb-server mariadb-client \
  chromium >/dev/null
