#!/usr/bin/env bash
# Builds a small flatpak repo with the real tools, the way a distributor's build machine does:
#   runtime/org.example.Platform/ARCH/stable       (with [Extension] points for Locale and GL)
#   runtime/org.example.Platform.Locale/ARCH/stable (de, fr, es under files/<lang>)
#   runtime/org.example.Platform.GL.default/ARCH/1.4
#   app/org.example.App/ARCH/stable                 (runtime=org.example.Platform, with its own Locale)
#   runtime/org.example.App.Locale/ARCH/stable
#   appstream/ARCH, appstream2/ARCH                 (from build-update-repo)
# every commit bound to the collection org.example.Stable and GPG-signed, summary + summary.idx signed.
#
# (build-export takes a runtime's tree from usr/ and an app's from files/; an extension, whose metadata has
# [ExtensionOf], is taken from files/ even with --runtime, so the Locale and GL trees are written there.)
#
# usage: make-example-repo.sh OUT_DIR [--arch ARCH]... [--version N] [--timestamp ISO] [--big-mb N]
# OUT_DIR gets repo/ (archive), example.gpg (the public key, binary), example.flatpakrepo, gpghome/ (the
# throwaway secret key, so the repo can be updated by a later run with --version).
# --version N changes the app's content (a second build for update tests). --big-mb N adds a file of N MiB.
set -euo pipefail

out=""
arches=()
version=1
timestamp="2024-01-01T00:00:00"
big_mb=0
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) arches+=("$2"); shift 2 ;;
    --version) version="$2"; shift 2 ;;
    --timestamp) timestamp="$2"; shift 2 ;;
    --big-mb) big_mb="$2"; shift 2 ;;
    -h|--help) sed -n 2,15p "$0"; exit 0 ;;
    *) if [ -z "$out" ]; then out="$1"; shift; else echo "unexpected argument: $1" >&2; exit 2; fi ;;
  esac
done
[ -n "$out" ] || { echo "usage: $0 OUT_DIR [--arch ARCH]... [--version N]" >&2; exit 2; }
[ ${#arches[@]} -gt 0 ] || arches=("$(flatpak --default-arch)")
for t in flatpak ostree gpg; do command -v "$t" >/dev/null || { echo "$0: needs $t (apt-get install flatpak ostree gnupg)" >&2; exit 1; }; done

cid=org.example.Stable
mkdir -p "$out"
out=$(cd "$out" && pwd)
repo="$out/repo"
export GNUPGHOME="$out/gpghome"
if [ ! -f "$GNUPGHOME/keyid" ]; then
  mkdir -p "$GNUPGHOME" && chmod 700 "$GNUPGHOME"
  gpg --batch --quiet --passphrase '' --quick-gen-key 'Sideload Example Repo <example@invalid>' ed25519 sign never >/dev/null 2>&1
  gpg --batch --list-keys --with-colons 2>/dev/null | awk -F: '/^fpr/ {print $10; exit}' > "$GNUPGHOME/keyid"
fi
keyid=$(cat "$GNUPGHOME/keyid")
gpg --batch --export "$keyid" > "$out/example.gpg"
sign=(--gpg-sign="$keyid" --gpg-homedir="$GNUPGHOME")

work=$(mktemp -d)
# gpg starts an agent for the throwaway home: stop it when done, so no daemon outlives the build.
trap 'rm -rf "$work"; gpgconf --homedir "$GNUPGHOME" --kill gpg-agent >/dev/null 2>&1 || true' EXIT
export=(flatpak build-export --no-update-summary --collection-id="$cid" --timestamp="$timestamp" "${sign[@]}")

for arch in "${arches[@]}"; do
  # --- the runtime ---
  d="$work/platform-$arch"
  mkdir -p "$d/usr/lib" "$d/usr/share/runtime/locale" "$d/usr/lib/GL" "$d/usr/bin"
  cat > "$d/metadata" <<META
[Runtime]
name=org.example.Platform
runtime=org.example.Platform/$arch/stable
sdk=org.example.Sdk/$arch/stable

[Extension org.example.Platform.Locale]
directory=share/runtime/locale
subdirectories=true
autodelete=true
locale-subset=true

[Extension org.example.Platform.GL]
directory=lib/GL
version=1.4
versions=1.4
subdirectories=true
no-autodownload=true
autodelete=false
add-ld-path=lib
enable-if=active-gl-driver
META
  printf 'libexample 1.0 for %s\n' "$arch" > "$d/usr/lib/libexample.so.1"
  ln -s libexample.so.1 "$d/usr/lib/libexample.so"
  printf '#!/bin/sh\necho "example platform shell"\n' > "$d/usr/bin/example-sh"
  chmod 755 "$d/usr/bin/example-sh"
  : > "$d/usr/lib/empty-file"
  printf 'Grüße aus dem Laufzeitsystem\n' > "$d/usr/lib/nön-äscii name.txt"
  mkdir -p "$d/files"; "${export[@]}" --runtime --arch="$arch" --subject="Platform $arch" "$repo" "$d" stable >/dev/null

  # --- its Locale extension: one subdirectory per language ---
  d="$work/platform-locale-$arch"
  for lang in de fr es; do
    mkdir -p "$d/files/$lang/share/$lang/LC_MESSAGES"
    printf 'platform messages (%s)\n' "$lang" > "$d/files/$lang/share/$lang/LC_MESSAGES/platform.mo"
  done
  cat > "$d/metadata" <<META
[Runtime]
name=org.example.Platform.Locale

[ExtensionOf]
ref=runtime/org.example.Platform/$arch/stable
META
  mkdir -p "$d/files"; "${export[@]}" --runtime --arch="$arch" --subject="Platform Locale $arch" "$repo" "$d" stable >/dev/null

  # --- a GL driver extension (subdirectories=true: org.example.Platform.GL.default) ---
  d="$work/gl-$arch"
  mkdir -p "$d/files/lib"
  printf 'fake GL driver\n' > "$d/files/lib/libGL.so.1"
  cat > "$d/metadata" <<META
[Runtime]
name=org.example.Platform.GL.default

[ExtensionOf]
ref=runtime/org.example.Platform/$arch/1.4
META
  mkdir -p "$d/files"; "${export[@]}" --runtime --arch="$arch" --subject="GL default $arch" "$repo" "$d" 1.4 >/dev/null

  # --- the app, with its own Locale extension ---
  d="$work/app-$arch"
  mkdir -p "$d/files/bin" "$d/files/share/example" "$d/files/share/runtime/locale" "$d/export/share/applications"
  cat > "$d/metadata" <<META
[Application]
name=org.example.App
runtime=org.example.Platform/$arch/stable
sdk=org.example.Sdk/$arch/stable
command=example-app

[Extension org.example.App.Locale]
directory=share/runtime/locale
subdirectories=true
autodelete=true
locale-subset=true
META
  printf '#!/bin/sh\necho "example app version %s"\n' "$version" > "$d/files/bin/example-app"
  chmod 755 "$d/files/bin/example-app"
  printf 'data of version %s\n' "$version" > "$d/files/share/example/data.txt"
  mkdir -p "$d/files/share/example/deep/er/still"
  printf 'nested\n' > "$d/files/share/example/deep/er/still/file"
  if [ "$big_mb" -gt 0 ]; then head -c "$((big_mb * 1048576))" /dev/urandom > "$d/files/share/example/big.bin"; fi
  "${export[@]}" --arch="$arch" --subject="App $arch v$version" "$repo" "$d" stable >/dev/null

  d="$work/app-locale-$arch"
  for lang in de fr es; do
    mkdir -p "$d/files/$lang/share/$lang/LC_MESSAGES"
    printf 'app messages (%s) v%s\n' "$lang" "$version" > "$d/files/$lang/share/$lang/LC_MESSAGES/app.mo"
  done
  cat > "$d/metadata" <<META
[Runtime]
name=org.example.App.Locale

[ExtensionOf]
ref=app/org.example.App/$arch/stable
META
  mkdir -p "$d/files"; "${export[@]}" --runtime --arch="$arch" --subject="App Locale $arch" "$repo" "$d" stable >/dev/null
done

# Repo metadata, appstream branches, summary + index, all signed.
flatpak build-update-repo --collection-id="$cid" --title="Example Repo" --comment="sideload's example repo" \
  --default-branch=stable "${sign[@]}" --gpg-import="$out/example.gpg" "$repo" >/dev/null

b64key=$(base64 -w0 < "$out/example.gpg")
cat > "$out/example.flatpakrepo" <<FPR
[Flatpak Repo]
Title=Example Repo
Url=http://example.invalid/repo/
CollectionID=$cid
DeploySideloadCollectionID=$cid
GPGKey=$b64key
FPR
echo "$repo"
