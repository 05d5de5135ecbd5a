#!/bin/sh
# Installs code-server 4.100.3 (VS Code 1.100.3, the newest release that runs on node 20)
# into DEST without any download outside the npm registry and Debian's packages: native
# modules are built from source and the ripgrep binary comes from Debian
# (see ../shared/code-server.md). Usage: install-code-server.sh DEST
set -eu
DEST="$1"
if ! command -v rg >/dev/null 2>&1 || [ ! -f /usr/include/krb5.h ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "code-server needs Debian's ripgrep and libkrb5-dev: sudo apt-get install -y ripgrep libkrb5-dev" >&2
    exit 3
  fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libkrb5-dev ripgrep >/dev/null
fi
export npm_config_yes=true              # node-pty's postinstall runs `npx node-gyp ...`
[ -f /usr/include/node/node.h ] && export npm_config_nodedir=/usr
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
export npm_config_loglevel=error
mkdir -p "$DEST" && cd "$DEST"
[ -f package.json ] || echo '{"private":true}' > package.json
npm install --ignore-scripts --omit=dev code-server@4.100.3
npm rebuild --build-from-source argon2
cd node_modules/code-server/lib/vscode
npm install --ignore-scripts --omit=dev
mkdir -p node_modules/@vscode/ripgrep/bin
cp "$(command -v rg)" node_modules/@vscode/ripgrep/bin/rg
npm_config_build_from_source=kerberos npm rebuild
rm -rf node_modules.asar && ln -s node_modules node_modules.asar
(cd bin/remote-cli && rm -rf code-server && ln -s code-linux.sh code-server)
(cd bin/helpers && rm -rf browser.sh && ln -s browser-linux.sh browser.sh)
cd extensions && npm install --omit=dev
