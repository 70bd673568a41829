#!/bin/sh
# Build dist/LM-Archive-<version>-macos-<arch>.dmg from dist/LM Archive.app (made by
# `python packaging/build.py bundle` on a Mac): the app and an /Applications link to drag it onto.
#
# With LMARCHIVE_CODESIGN_IDENTITY set (a "Developer ID Application: ..." identity in your
# keychain), the image is signed too; with LMARCHIVE_NOTARY_PROFILE set (a profile stored by
# `xcrun notarytool store-credentials`), it is also notarized and the ticket stapled.  Both are
# steps a maintainer runs with their own Apple identity: see packaging/macos/SIGNING.md.
set -eu
cd "$(dirname "$0")/../.."

app="dist/LM Archive.app"
if [ ! -d "$app" ]; then
    echo "error: $app not found; run 'python packaging/build.py bundle' first (on macOS)" >&2
    exit 1
fi
version=$(/usr/libexec/PlistBuddy -c "Print :CFBundleShortVersionString" "$app/Contents/Info.plist")
dmg="dist/LM-Archive-$version-macos-$(uname -m).dmg"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
# ditto keeps the bundle's symlinks, extended attributes and signatures intact (cp -R may not).
ditto "$app" "$stage/LM Archive.app"
ln -s /Applications "$stage/Applications"
rm -f "$dmg"
hdiutil create -volname "LM Archive $version" -srcfolder "$stage" -fs HFS+ -format UDZO -ov "$dmg"

if [ -n "${LMARCHIVE_CODESIGN_IDENTITY:-}" ]; then
    codesign --force --timestamp --sign "$LMARCHIVE_CODESIGN_IDENTITY" "$dmg"
    codesign --verify --verbose=2 "$dmg"
fi
if [ -n "${LMARCHIVE_NOTARY_PROFILE:-}" ]; then
    xcrun notarytool submit "$dmg" --keychain-profile "$LMARCHIVE_NOTARY_PROFILE" --wait
    xcrun stapler staple "$dmg"
    xcrun stapler validate "$dmg"
fi
echo "wrote $dmg"
