"""hakmem's release version: the launcher's --version, the library's file
name (libhakmem.so.VERSION), its soname (libhakmem.so.SOVERSION) and
hakmem.pc all come from here."""

HAKMEM_VERSION = "0.1.0"

# Bumped when the hak_* ABI changes incompatibly.
HAKMEM_SOVERSION = "0"
