#!/usr/bin/env bash
# The benchmark fixture's flatpak half (scripts/bench.mjs writes the file trees first):
#   bench-fixture.sh repo DIR      DIR/tree/runtime (usr/ + metadata) and DIR/tree/app (files/ + metadata)
#                                  -> DIR/repo: an archive repo made by flatpak build-export + build-update-repo,
#                                     collection org.bench.Fixture, GPG-signed with a throwaway key (DIR/gpghome),
#                                     the public key in DIR/bench.gpg
#   bench-fixture.sh install DIR   -> DIR/flatpak/: an isolated flatpak world (FLATPAK_USER_DIR, FLATPAK_SYSTEM_DIR,
#                                     FLATPAK_CONFIG_DIR, XDG dirs) whose user installation has the remote `bench`
#                                     (file://DIR/repo, --collection-id, --gpg-import) and org.bench.App installed
#   bench-fixture.sh env DIR       prints the environment of that world (KEY=VALUE lines)
# Nothing here touches the real flatpak installations or keyrings.
set -euo pipefail

cmd="${1:-}"
dir="${2:-}"
[ -n "$cmd" ] && [ -n "$dir" ] || { sed -n 2,12p "$0" >&2; exit 2; }
dir=$(cd "$dir" && pwd)
cid=org.bench.Fixture
arch=$(flatpak --default-arch)

flatpak_env() {
  local f="$dir/flatpak"
  echo "FLATPAK_USER_DIR=$f/user"
  echo "FLATPAK_SYSTEM_DIR=$f/system"
  echo "FLATPAK_CONFIG_DIR=$f/config"
  echo "FLATPAK_RUN_DIR=$f/run"
  echo "XDG_CACHE_HOME=$f/cache"
  echo "XDG_DATA_HOME=$f/data"
  echo "XDG_CONFIG_HOME=$f/xdgconfig"
  echo "GNUPGHOME=$f/gnupg"
}

case "$cmd" in
  env)
    flatpak_env
    ;;

  repo)
    for t in flatpak ostree gpg; do command -v "$t" >/dev/null || { echo "$0: needs $t" >&2; exit 1; }; done
    export GNUPGHOME="$dir/gpghome"
    if [ ! -f "$GNUPGHOME/keyid" ]; then
      rm -rf "$GNUPGHOME"; mkdir -p "$GNUPGHOME"; chmod 700 "$GNUPGHOME"
      gpg --batch --quiet --passphrase '' --quick-gen-key 'Sideload Bench Repo <bench@invalid>' ed25519 sign never >/dev/null 2>&1
      gpg --batch --list-keys --with-colons 2>/dev/null | awk -F: '/^fpr/ {print $10; exit}' > "$GNUPGHOME/keyid"
    fi
    keyid=$(cat "$GNUPGHOME/keyid")
    gpg --batch --export "$keyid" > "$dir/bench.gpg"
    sign=(--gpg-sign="$keyid" --gpg-homedir="$GNUPGHOME")
    rm -rf "$dir/repo"
    export=(flatpak build-export --no-update-summary --collection-id="$cid" --timestamp=2024-01-01T00:00:00 "${sign[@]}")
    # build-export takes a runtime's tree from usr/ (files/ must exist, may be empty) and an app's from files/.
    mkdir -p "$dir/tree/runtime/files"
    "${export[@]}" --runtime --arch="$arch" --subject="Bench platform" "$dir/repo" "$dir/tree/runtime" stable >/dev/null
    "${export[@]}" --arch="$arch" --subject="Bench app" "$dir/repo" "$dir/tree/app" stable >/dev/null
    flatpak build-update-repo --collection-id="$cid" --title="Sideload bench" --default-branch=stable \
      "${sign[@]}" --gpg-import="$dir/bench.gpg" "$dir/repo" >/dev/null
    ;;

  install)
    while IFS= read -r kv; do export "${kv?}"; done < <(flatpak_env)
    rm -rf "$dir/flatpak"
    mkdir -p "$FLATPAK_USER_DIR" "$FLATPAK_SYSTEM_DIR" "$FLATPAK_CONFIG_DIR" "$FLATPAK_RUN_DIR" "$XDG_CACHE_HOME" \
      "$XDG_DATA_HOME" "$XDG_CONFIG_HOME" "$GNUPGHOME"
    chmod 700 "$GNUPGHOME"
    flatpak --user remote-add --collection-id="$cid" --gpg-import="$dir/bench.gpg" bench "file://$dir/repo"
    flatpak --user install -y --noninteractive bench org.bench.App >/dev/null
    ;;

  *)
    echo "$0: unknown command $cmd" >&2; exit 2 ;;
esac
