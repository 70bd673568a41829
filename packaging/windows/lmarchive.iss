; Inno Setup 6 script for LM Archive: installs dist\lmarchive (the PyInstaller bundle) for the
; current user (default, no UAC prompt) or for all users, registers the .lmz type and adds
; Start-menu entries.  Build it after `python packaging\build.py bundle`:
;
;   iscc /DAppVersion=0.1.0 packaging\windows\lmarchive.iss
;
; Output: dist\LM-Archive-<version>-windows-x64-setup.exe.  Paths below are relative to this
; file's folder (Inno Setup's default SourceDir).

#ifndef AppVersion
  #error Pass the version: iscc /DAppVersion=X.Y.Z packaging\windows\lmarchive.iss
#endif
#define AppName "LM Archive"
#define GuiExe "lmarchive-gui.exe"
#define ProgId "LMArchive.lmz"

[Setup]
; AppId identifies the product across versions (upgrades, uninstall); never change it.
AppId={{24C8A53B-A9A7-42F7-9EB3-E5D1D55E87AE}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=LM Archive developers
VersionInfoVersion={#AppVersion}
; Per-user by default; the dialog (or /ALLUSERS, /CURRENTUSER) lets the user choose per-machine.
; {autopf}, {autoprograms} and the HKA registry root follow that choice.
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog commandline
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
; The bundle holds 64-bit Python, Qt, numba and LLVM.
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
; Tell Explorer to refresh icons and handlers after install and uninstall.
ChangesAssociations=yes
SetupIconFile=..\icons\lmarchive.ico
UninstallDisplayIcon={app}\{#GuiExe}
UninstallDisplayName={#AppName}
WizardStyle=modern
Compression=lzma2
SolidCompression=yes
OutputDir=..\..\dist
OutputBaseFilename=LM-Archive-{#AppVersion}-windows-x64-setup
; The Restart Manager closes a running LM Archive before its files are replaced or removed.
CloseApplications=yes

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
; The whole one-folder bundle: both executables and _internal\ (Python, Qt, numba, lmarchive\data\).
Source: "..\..\dist\lmarchive\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#GuiExe}"; Comment: "Compress files with models and compare with gzip"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#GuiExe}"; Tasks: desktopicon

[Registry]
; The .lmz extension: our ProgID as its default, and listed among its Open-with handlers.
; HKA is HKCU\Software\Classes in a per-user install and HKLM\Software\Classes in a per-machine one.
Root: HKA; Subkey: "Software\Classes\.lmz"; ValueType: string; ValueName: ""; ValueData: "{#ProgId}"; Flags: uninsdeletevalue uninsdeletekeyifempty
Root: HKA; Subkey: "Software\Classes\.lmz"; ValueType: string; ValueName: "Content Type"; ValueData: "application/x-lmarchive"; Flags: uninsdeletevalue uninsdeletekeyifempty
Root: HKA; Subkey: "Software\Classes\.lmz\OpenWithProgids"; ValueType: string; ValueName: "{#ProgId}"; ValueData: ""; Flags: uninsdeletevalue uninsdeletekeyifempty
; The ProgID: name, icon (the GUI executable's embedded icon) and the open command with a quoted %1.
Root: HKA; Subkey: "Software\Classes\{#ProgId}"; ValueType: string; ValueName: ""; ValueData: "LM Archive archive"; Flags: uninsdeletekey
Root: HKA; Subkey: "Software\Classes\{#ProgId}\DefaultIcon"; ValueType: string; ValueName: ""; ValueData: "{app}\{#GuiExe},0"
Root: HKA; Subkey: "Software\Classes\{#ProgId}\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\{#GuiExe}"" ""%1"""
; The application itself, so "Open with" lists it by name with its supported type.
Root: HKA; Subkey: "Software\Classes\Applications\{#GuiExe}"; ValueType: string; ValueName: "FriendlyAppName"; ValueData: "{#AppName}"; Flags: uninsdeletekey
Root: HKA; Subkey: "Software\Classes\Applications\{#GuiExe}\SupportedTypes"; ValueType: string; ValueName: ".lmz"; ValueData: ""
Root: HKA; Subkey: "Software\Classes\Applications\{#GuiExe}\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\{#GuiExe}"" ""%1"""

[Run]
Filename: "{app}\{#GuiExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

