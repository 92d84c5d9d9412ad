#!/bin/bash
# sideload's own scenario on flatpak's installed test library (not an upstream test; flatpak 1.14.10 ships no
# test-p2p-security.sh, and upstream's version checks P2P updates, not drives). A local ostree mirror whose remote
# trusts the legit key holds an impostor-signed update of org.test.Hello (same collection ID, flatpak's second test
# key); `ostree create-usb` writes a drive from it and an offline user installation updates from the drive.
# Run as `bash -c '. drive-impostor.sh' /usr/libexec/installed-tests/Flatpak/drive-impostor.sh`: libtest.sh finds
# its helpers next to $0.
set -euo pipefail

USE_COLLECTIONS_IN_SERVER=yes
USE_COLLECTIONS_IN_CLIENT=yes

. $(dirname $0)/libtest.sh

skip_without_bwrap

echo "1..3"

setup_repo
install_repo
LEGIT=$(${FLATPAK} ${U} info -c org.test.Hello)
APP=app/org.test.Hello/${ARCH}/master

# The impostor: the same repo, the app rebuilt and signed with the other key.
cp -a repos/test repos/impostor
sleep 1
GPGARGS="${FL_GPGARGS2}" make_updated_app impostor org.test.Collection.test
BAD=$(ostree --repo=repos/impostor rev-parse ${APP})
assert_not_streq "${LEGIT}" "${BAD}"

# A local mirror that trusts the legit key, holding the impostor commit under its remote's ref.
ostree --repo=mirror init --mode=archive
ostree --repo=mirror remote add --collection-id=org.test.Collection.test --gpg-import=${FL_GPG_HOMEDIR}/pubring.gpg test-repo file://$(pwd)/repos/impostor >&2
if ostree --repo=mirror pull test-repo ${APP} >&2 2>/dev/null; then
    ostree --repo=mirror show --gpg-homedir=${FL_GPG_HOMEDIR} ${APP} >&2
fi
ostree --repo=mirror pull-local --untrusted repos/impostor ${BAD} >&2
# and the legit runtime it needs (sideload resolves an app's runtime, ostree create-usb copies the ref alone).
PLATFORM=runtime/org.test.Platform/${ARCH}/master
ostree --repo=mirror pull-local --untrusted repos/test $(ostree --repo=repos/test rev-parse ${PLATFORM}) >&2
ostree --repo=mirror refs --create test-repo:${PLATFORM} $(ostree --repo=repos/test rev-parse ${PLATFORM})
ostree --repo=mirror refs --create test-repo:${APP} ${BAD} 2>/dev/null || ostree --repo=mirror refs --force --create test-repo:${APP} ${BAD}

ok "mirror holds the impostor commit"

mkdir usb
if ostree --repo=mirror create-usb usb org.test.Collection.test ${APP} 2> create-usb-log; then
    echo "# the drive writer copied ${BAD}" >&2
else
    cat create-usb-log >&2
    assert_file_has_content create-usb-log "${BAD}"
fi
if [ -d usb/.ostree/repo/objects ] && find usb/.ostree/repo/objects -name "${BAD:2}.commit" | grep -q .; then
    echo "not ok the impostor commit is not on the drive"
else
    ok "the impostor commit is not on the drive"
fi

# Offline, with the drive: the user installation must keep the legit commit.
${FLATPAK} ${U} remote-modify --url="http://no.127.0.0.1:${port}/test" test-repo >&2
if [ -d usb/.ostree/repo ]; then
    ${FLATPAK} ${U} update -y --sideload-repo=$(pwd)/usb/.ostree/repo org.test.Hello >&2 || true
fi
NOW=$(${FLATPAK} ${U} info -c org.test.Hello)
if [ "${NOW}" = "${LEGIT}" ]; then
    ok "the installation keeps the legit commit"
else
    echo "# installed ${NOW} (the impostor commit is ${BAD})" >&2
    echo "not ok the installation keeps the legit commit"
fi
