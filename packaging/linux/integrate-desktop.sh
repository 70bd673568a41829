#!/bin/sh
# Make the unpacked portable LM Archive part of your desktop, without root: the .lmz file type,
# the menu entry, the icons, double-click to open, and `lmarchive` / `lmarchive-gui` in ~/.local/bin.
#
#   ./integrate-desktop.sh            integrate (run it again after moving this folder)
#   ./integrate-desktop.sh --remove   undo it
#
# Everything goes to the XDG user folders ($XDG_DATA_HOME, default ~/.local/share).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
data=${XDG_DATA_HOME:-$HOME/.local/share}
bin=$HOME/.local/bin
sizes="16 24 32 48 64 128 256 512"

refresh() {
    if command -v update-mime-database >/dev/null 2>&1; then
        update-mime-database "$data/mime"
    fi
    if command -v update-desktop-database >/dev/null 2>&1; then
        update-desktop-database -q "$data/applications"
    fi
    if command -v gtk-update-icon-cache >/dev/null 2>&1 && [ -f "$data/icons/hicolor/index.theme" ]; then
        gtk-update-icon-cache -q -t -f "$data/icons/hicolor" || true
    fi
    touch "$data/icons/hicolor" 2>/dev/null || true  # icon themes rescan a folder whose time changed
}

if [ "${1:-}" = "--remove" ]; then
    rm -f "$data/mime/packages/lmarchive.xml" "$data/applications/lmarchive.desktop"
    rm -f "$data/kio/servicemenus/lmarchive-compress.desktop" "$data/kio/servicemenus/lmarchive-extract.desktop"
    rm -f "$data/icons/hicolor/scalable/apps/lmarchive.svg"
    for size in $sizes; do
        rm -f "$data/icons/hicolor/${size}x${size}/apps/lmarchive.png"
        rm -f "$data/icons/hicolor/${size}x${size}/mimetypes/application-x-lmarchive.png"
    done
    for name in lmarchive lmarchive-gui; do
        if [ -L "$bin/$name" ] && [ "$(readlink "$bin/$name")" = "$here/$name" ]; then
            rm -f "$bin/$name"
        fi
    done
    mkdir -p "$data/mime/packages" "$data/applications" "$data/icons/hicolor"
    refresh
    echo "LM Archive removed from the desktop (this folder itself is untouched)."
    exit 0
fi

if [ ! -x "$here/lmarchive-gui" ]; then
    echo "error: $here/lmarchive-gui not found; run this script from the unpacked LM Archive folder" >&2
    exit 1
fi

mkdir -p "$data/mime/packages" "$data/applications" "$data/icons/hicolor/scalable/apps" "$bin"
cp "$here/share/mime/packages/lmarchive.xml" "$data/mime/packages/lmarchive.xml"
cp "$here/share/icons/hicolor/scalable/apps/lmarchive.svg" "$data/icons/hicolor/scalable/apps/"
for size in $sizes; do
    for kind in apps mimetypes; do
        src=$(find "$here/share/icons/hicolor/${size}x${size}/$kind" -name '*.png' 2>/dev/null | head -n 1)
        if [ -n "$src" ]; then
            mkdir -p "$data/icons/hicolor/${size}x${size}/$kind"
            cp "$src" "$data/icons/hicolor/${size}x${size}/$kind/"
        fi
    done
done

# The menu entry, its actions and Dolphin's service menus with this folder's absolute path.
# Desktop-entry Exec quoting: the path goes in double quotes with \ " ` $ backslash-escaped, and
# every backslash doubled once more for the key-file format itself (which is all TryExec, a plain
# string, needs).  awk reads the paths from the environment, where no character is special.
quoted=$(printf '%s' "$here/lmarchive-gui" | sed -e 's/[\\"`$]/\\&/g' -e 's/\\/\\\\/g')
plain=$(printf '%s' "$here/lmarchive-gui" | sed -e 's/\\/\\\\/g')
localize() {
    LMARCHIVE_EXEC=$quoted LMARCHIVE_TRYEXEC=$plain awk '
        index($0, "Exec=lmarchive-gui") == 1 { print "Exec=\"" ENVIRON["LMARCHIVE_EXEC"] "\"" substr($0, 19); next }
        index($0, "TryExec=") == 1 { print "TryExec=" ENVIRON["LMARCHIVE_TRYEXEC"]; next }
        { print }' "$1" >"$2"
}
localize "$here/share/applications/lmarchive.desktop" "$data/applications/lmarchive.desktop"
mkdir -p "$data/kio/servicemenus"
for menu in lmarchive-compress.desktop lmarchive-extract.desktop; do
    localize "$here/share/kio/servicemenus/$menu" "$data/kio/servicemenus/$menu"
    chmod +x "$data/kio/servicemenus/$menu"  # KDE runs service menus in the user's folders only if executable
done

for name in lmarchive lmarchive-gui; do
    ln -sf "$here/$name" "$bin/$name"
done
refresh
if command -v xdg-mime >/dev/null 2>&1; then
    xdg-mime default lmarchive.desktop application/x-lmarchive
fi
echo "LM Archive is integrated: .lmz files open with it, and it is in your applications menu."
case ":$PATH:" in
    *":$bin:"*) ;;
    *) echo "Add $bin to your PATH to run lmarchive from a terminal." ;;
esac
