#!/bin/sh
# meson install script: the example configuration becomes SYSCONFDIR/monami/monami.yaml only
# when no file is there, so an install over a running system (an upgrade) never replaces
# the operator's configuration. The example itself is always refreshed under datadir.
#   install-config.sh EXAMPLE SYSCONFDIR   (both absolute; meson sets DESTDIR)
set -eu
example=$1
target="${DESTDIR:-}$2/monami/monami.yaml"
if [ -e "$target" ]; then
  echo "Keeping $target (the example is beside the documentation, doc/monami/examples)"
  exit 0
fi
# It holds the security associations' keys: readable by root only.
install -D -m 0640 "$example" "$target"
echo "Installing the example configuration to $target"
