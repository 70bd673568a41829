"""The Info.plist entries of LM Archive.app beyond PyInstaller's defaults: the .lmz document type above all.

Kept out of the spec so a test can check the dictionary without running PyInstaller.  Keys are
Apple's (Bundle Resources > Information Property List): the app *exports* the type it owns
(UTExportedTypeDeclarations), declares that it opens it (CFBundleDocumentTypes), and claims to be
its primary handler (LSHandlerRank Owner), so Finder shows the icon and double-click opens it here.
"""

from __future__ import annotations

UTI = "org.lmarchive.lmz"
MIME_TYPE = "application/x-lmarchive"
ICON_FILE = "lmarchive.icns"
"""BUNDLE copies the spec's icon into Contents/Resources under its own name; documents share it."""


def info_plist(version: str) -> dict[str, object]:
    return {
        "CFBundleName": "LM Archive",
        "CFBundleDisplayName": "LM Archive",
        "CFBundleShortVersionString": version,
        "CFBundleVersion": version,
        "LSMinimumSystemVersion": "12.0",  # Qt 6.8 and later support macOS 12 and newer
        "LSApplicationCategoryType": "public.app-category.utilities",
        "NSHighResolutionCapable": True,
        # The last executable in the COLLECT is the console CLI, which makes PyInstaller mark the
        # bundle background-only (no Dock icon, no menu bar); the bundle's app is the GUI.
        "LSBackgroundOnly": False,
        "NSRequiresAquaSystemAppearance": False,  # follow the system's dark mode
        "CFBundleDocumentTypes": [
            {
                "CFBundleTypeName": "LM Archive archive",
                "CFBundleTypeRole": "Editor",  # the app adds to and deletes from archives, not only reads them
                "LSHandlerRank": "Owner",
                "LSItemContentTypes": [UTI],
                "CFBundleTypeIconFile": ICON_FILE,
            }
        ],
        "UTExportedTypeDeclarations": [
            {
                "UTTypeIdentifier": UTI,
                "UTTypeDescription": "LM Archive archive",
                "UTTypeConformsTo": ["public.data", "public.archive"],
                "UTTypeIconFile": ICON_FILE,
                "UTTypeTagSpecification": {
                    "public.filename-extension": ["lmz"],
                    "public.mime-type": [MIME_TYPE],
                },
            }
        ],
    }
