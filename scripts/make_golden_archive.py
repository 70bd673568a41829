"""Regenerate tests/data/golden-1.0.lmz (only when the format or a model changes on purpose).

The golden archive pins format 1.0 and the cm2 model: tests/test_golden.py decodes it, so any
change that would make old archives unreadable fails the test suite.
"""

from __future__ import annotations

import hashlib
import os
import random
import tempfile
from pathlib import Path

import lmarchive
from lmarchive.container import ContainerReader

TARGET = Path(__file__).resolve().parent.parent / "tests" / "data" / "golden-1.0.lmz"
STAMP = 1_700_000_000_000_000_000
WORDS = (
    "the of and to in a is that for it as was with be by on not he this are or his from at which but "
    "have an they you were her she there one all we their"
).split()


def main() -> None:
    rnd = random.Random(7)
    text = " ".join(rnd.choice(WORDS) for _ in range(1500)).encode()
    uni = " ".join(rnd.choice(["héllo", "wörld", "日本語", "ünïcødé", "naïve", "straße"]) for _ in range(300))
    noise = bytes(rnd.getrandbits(8) for _ in range(3000))
    block = bytes(rnd.getrandbits(8) for _ in range(300))
    TARGET.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "folder"
        folder.mkdir()
        os.chmod(folder, 0o755)
        os.utime(folder, ns=(STAMP, STAMP))
        with lmarchive.open(TARGET, "w") as archive:
            archive.write(folder, "folder")
            archive.writestr("folder/words.txt", text, mtime_ns=STAMP)
            archive.writestr("folder/ünïcødé 日本語.txt", uni.encode(), mtime_ns=STAMP)
            archive.writestr("noise.bin", noise, mtime_ns=STAMP)
            archive.writestr("repeat.bin", block * 40, mtime_ns=STAMP)
            archive.writestr("empty", b"", mtime_ns=STAMP)
    with ContainerReader(TARGET) as reader:
        for e in reader.entries:
            print(e.name, e.size, e.packed, e.method.name, [c.method.name for c in e.chunks])
    print(hashlib.sha256(TARGET.read_bytes()).hexdigest())


if __name__ == "__main__":
    main()
