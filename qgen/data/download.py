"""Fetch the official data files, or copy them from a local mirror (`QGEN_DATA_MIRROR` / `--mirror`) on offline machines.

Files land under DEST with the mirror's layout (that of ../shared/data: `jglue/jsquad-v1.3/valid-v1.3.json`, …), so
DEST can itself serve as a mirror or as QGEN_DATA_DIR. Every copy is atomic and, where the sha256 is known, verified
before it replaces anything. Checksums are recorded only for files whose copy in the local mirror could be hashed here;
the others are None (their sha256 is printed after download so it can be recorded) — never guessed.
"""

from __future__ import annotations

import hashlib
import http.client
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from qgen.core.errors import PathArg
from qgen.core.files import atomic_write

MIRROR_ENV = "QGEN_DATA_MIRROR"
# JGLUE has no release tags for the data files; the v1.3 files are versioned by name on the main branch.
_JGLUE = "https://raw.githubusercontent.com/yahoojapan/JGLUE/main/datasets"
_JAQKET = "https://jaqket.s3.ap-northeast-1.amazonaws.com/data/aio_01"  # JAQKET v1.0 (first AI王 competition)
_KORQUAD = "https://korquad.github.io/dataset"
_JAQUAD = "https://raw.githubusercontent.com/SkelterLabsInc/JaQuAD/23f5d72cc273c49b35e2d9efe0f51757aa1770bd/data"


@dataclass(frozen=True)
class Source:
    """One file of a data set, with the hash that lets an offline mirror be trusted as much as the web."""

    relpath: str  # path under DEST and under the mirror
    url: str
    sha256: str | None = None  # None: not available offline to hash, see module docstring
    size: int | None = None  # bytes, when known


SOURCES: dict[str, list[Source]] = {
    "jsquad": [
        Source("jglue/jsquad-v1.3/train-v1.3.json", f"{_JGLUE}/jsquad-v1.3/train-v1.3.json"),  # 62,697 questions
        Source("jglue/jsquad-v1.3/valid-v1.3.json", f"{_JGLUE}/jsquad-v1.3/valid-v1.3.json",
               "fb0a57a35281ff03bbe7f0e878cff5b577985fbe6fcb242e7e8ddb63d1c0ab11", 1976638),
    ],
    "jcommonsenseqa": [
        Source("jglue/jcommonsenseqa-v1.3/train-v1.3.json", f"{_JGLUE}/jcommonsenseqa-v1.3/train-v1.3.json",
               "9b55fae5ecb3aedd6f8ce5bc09196c3b629864668ec6c18eee4d65c0aa48229e", 1879961),
        Source("jglue/jcommonsenseqa-v1.3/valid-v1.3.json", f"{_JGLUE}/jcommonsenseqa-v1.3/valid-v1.3.json",
               "0d8d76f3bfa0d174866939882faccdd01fbc2bcd5a76c43748ba0c40a7b3b8d4", 235633),
    ],
    "jaqket": [
        Source("jaqket/train_questions.json", f"{_JAQKET}/train_questions.json"),
        Source("jaqket/dev1_questions.json", f"{_JAQKET}/dev1_questions.json"),
        Source("jaqket/dev2_questions.json", f"{_JAQKET}/dev2_questions.json"),
    ],
    "jaquad": [  # JaQuAD 0.1.0 at commit 23f5d72 (30 train + 4 dev shards; LICENSE: CC BY-SA 3.0)
        Source("jaquad/train/jaquad_train_0000.json", f"{_JAQUAD}/train/jaquad_train_0000.json",
               "7c76df56ad78b2e083eddfa79d0d2af216b9ef6f7d8d5f9cf58104319cbdbabd", 790020),
        Source("jaquad/train/jaquad_train_0001.json", f"{_JAQUAD}/train/jaquad_train_0001.json",
               "e1228d84518af8d818eb904a4b24ac1469859b966d6ef1ad531c327da016be55", 814618),
        Source("jaquad/train/jaquad_train_0002.json", f"{_JAQUAD}/train/jaquad_train_0002.json",
               "fb6184f5e935f56176de4ee5d8fd8792eca857fdcf60307d8a547a868bd215bd", 843609),
        Source("jaquad/train/jaquad_train_0003.json", f"{_JAQUAD}/train/jaquad_train_0003.json",
               "7671092aa3ff751757ed98fb702c2c2a16453d70ff309e21d5314a3e84c83f61", 658016),
        Source("jaquad/train/jaquad_train_0004.json", f"{_JAQUAD}/train/jaquad_train_0004.json",
               "c62b1b1a1fb074aff496db6005a5b7786bb52509765d9ad20c6478d8d14a8bb3", 790560),
        Source("jaquad/train/jaquad_train_0005.json", f"{_JAQUAD}/train/jaquad_train_0005.json",
               "ec9e0d43eb689581e081248ee9ac231900b517a77950ec4a36705e6f981f9618", 775597),
        Source("jaquad/train/jaquad_train_0006.json", f"{_JAQUAD}/train/jaquad_train_0006.json",
               "d88329741cf61424795b9a29a1cce891a2db53c4336a2cfbb6fc8f03da6a602f", 717697),
        Source("jaquad/train/jaquad_train_0007.json", f"{_JAQUAD}/train/jaquad_train_0007.json",
               "f12f859043a9c83b1079ff82922b7e3b1a329022524f39a123519f45c8fe7a25", 800496),
        Source("jaquad/train/jaquad_train_0008.json", f"{_JAQUAD}/train/jaquad_train_0008.json",
               "2a302ed2cb0ed592530b9ea7875cdee66025086ec86fe60d7aa7ae3426230b39", 752172),
        Source("jaquad/train/jaquad_train_0009.json", f"{_JAQUAD}/train/jaquad_train_0009.json",
               "4531612d3164d72f3c0f9ad935157f3e4ff79ef7647268c80b615a9a8b0a3ff7", 796964),
        Source("jaquad/train/jaquad_train_0010.json", f"{_JAQUAD}/train/jaquad_train_0010.json",
               "dec81ba04ff3fe719e51f8fb4fd9d0eec276963a639e38de3007ad47fc7c1947", 797173),
        Source("jaquad/train/jaquad_train_0011.json", f"{_JAQUAD}/train/jaquad_train_0011.json",
               "1af7da9c0643e29360f0611ff42e74ec7bb477110c891a833e7ea8fb876d9892", 785342),
        Source("jaquad/train/jaquad_train_0012.json", f"{_JAQUAD}/train/jaquad_train_0012.json",
               "9af2a3a32100323d5fcb71183d4b0c31600e36d4bfca278f29764d40a881b853", 579524),
        Source("jaquad/train/jaquad_train_0013.json", f"{_JAQUAD}/train/jaquad_train_0013.json",
               "9ef3c3c8b2af358edaa59a909224a68b9ad7548d07190f2298c137d075601365", 742690),
        Source("jaquad/train/jaquad_train_0014.json", f"{_JAQUAD}/train/jaquad_train_0014.json",
               "4b2ed95653f64b724879c091710360b72e9c93b40c71b4281d64e7a56a3ae3f7", 728197),
        Source("jaquad/train/jaquad_train_0015.json", f"{_JAQUAD}/train/jaquad_train_0015.json",
               "0ac78419e6196fb9fd0cfb690a6fb9cf5ab7c95ceb509cbdc02947d926952a60", 757375),
        Source("jaquad/train/jaquad_train_0016.json", f"{_JAQUAD}/train/jaquad_train_0016.json",
               "a64b45cf5b2c080dbd6ecbc6c9e8f41ddeb5411f1b1b690cce4b8537a1003819", 762747),
        Source("jaquad/train/jaquad_train_0017.json", f"{_JAQUAD}/train/jaquad_train_0017.json",
               "b4cd902d2c85417369e83990f48d87f60191c2444b9747160f9f89d3a2943c96", 771769),
        Source("jaquad/train/jaquad_train_0018.json", f"{_JAQUAD}/train/jaquad_train_0018.json",
               "5c9b12ec323ecd5156bab3babc2538db9d822ab58d08ad30a35833f1e3052aab", 807423),
        Source("jaquad/train/jaquad_train_0019.json", f"{_JAQUAD}/train/jaquad_train_0019.json",
               "c034bf47fab11ac6619f6778416d93397b25492691d2b81872159e7431ff123d", 795900),
        Source("jaquad/train/jaquad_train_0020.json", f"{_JAQUAD}/train/jaquad_train_0020.json",
               "72b68f6eb8a6ca80ee0d9b8c55577720c8b105249764b1307222caea84bcaf20", 775251),
        Source("jaquad/train/jaquad_train_0021.json", f"{_JAQUAD}/train/jaquad_train_0021.json",
               "be072517a36dbf5ccce7d47960e577ca64f4687de5a8f1a075f033c551fe3c39", 803654),
        Source("jaquad/train/jaquad_train_0022.json", f"{_JAQUAD}/train/jaquad_train_0022.json",
               "9ca6aa5628dc299f9f4071779051f3218aba896f6c5f4688d2a1770f8997813e", 855399),
        Source("jaquad/train/jaquad_train_0023.json", f"{_JAQUAD}/train/jaquad_train_0023.json",
               "a32c64bdd7860dd47a2aef47316443cf5d3b0c5e2fd472c4ef1058f70ebdd968", 745120),
        Source("jaquad/train/jaquad_train_0024.json", f"{_JAQUAD}/train/jaquad_train_0024.json",
               "25051484c69c99bcd8eb2ce4687599a40d070e544a672231b935cdeb048d6b4d", 770649),
        Source("jaquad/train/jaquad_train_0025.json", f"{_JAQUAD}/train/jaquad_train_0025.json",
               "98b5c1320d3626eef8a312186b04695fce476a73f90877ffdaccf66d22cf9b8a", 778422),
        Source("jaquad/train/jaquad_train_0026.json", f"{_JAQUAD}/train/jaquad_train_0026.json",
               "fa3f3207aa6835b80ed60f0c82a1ab610e91d318bb722460a99d38cf872b73b4", 763484),
        Source("jaquad/train/jaquad_train_0027.json", f"{_JAQUAD}/train/jaquad_train_0027.json",
               "10eb3445245974b2eb667ece0aeae7a3d60430c179bc5517b2988eb71ae8e3c4", 762216),
        Source("jaquad/train/jaquad_train_0028.json", f"{_JAQUAD}/train/jaquad_train_0028.json",
               "c814d1818ded64be1489982d06860bd1f530b6a5d33341895d93645762758908", 945484),
        Source("jaquad/train/jaquad_train_0029.json", f"{_JAQUAD}/train/jaquad_train_0029.json",
               "ec85984d650271cd2ca697058ec8c26fca306dfab2249b505efd727c5e959232", 245699),
        Source("jaquad/dev/jaquad_dev_0000.json", f"{_JAQUAD}/dev/jaquad_dev_0000.json",
               "8712bc34623c6fec856f170ff0b8566421c3c261752b1797b94938f48c1f7bc4", 855457),
        Source("jaquad/dev/jaquad_dev_0001.json", f"{_JAQUAD}/dev/jaquad_dev_0001.json",
               "6d777275f61b0250eb2d8f595bf6c602afecb7b7406e7c0c9c3b9d763027068d", 800689),
        Source("jaquad/dev/jaquad_dev_0002.json", f"{_JAQUAD}/dev/jaquad_dev_0002.json",
               "b9c6cc23e5ae647eba6286189bac293a16a28b01ca707e1dc956bfcb13a04389", 745518),
        Source("jaquad/dev/jaquad_dev_0003.json", f"{_JAQUAD}/dev/jaquad_dev_0003.json",
               "041fe1fdcb32d95974afaae0fb151aed8ee9394889349bb0b5a1c921391cb1d0", 620520),
        Source("jaquad/LICENSE", _JAQUAD.removesuffix("/data") + "/LICENSE",
               "075dad5e5fc96c27014fabc269f4f5732909cffd178a486f546d982b6cf86b74", 22239),
    ],
    "korquad": [
        Source("korquad/KorQuAD_v1.0_train.json", f"{_KORQUAD}/KorQuAD_v1.0_train.json"),
        Source("korquad/KorQuAD_v1.0_dev.json", f"{_KORQUAD}/KorQuAD_v1.0_dev.json",
               "25ffeb51e6c51ec02c071b60a10188e10005c144110f0d876b26079d80a35bdf", 3881058),
    ],
}


class FetchError(Exception):
    """A file could not be fetched or did not match its checksum (nothing was written)."""


def sha256_file(path: PathArg) -> str:
    """The file's SHA-256 read in chunks, so a multi-GB download is hashed in constant memory."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _copy_verified(reader: BinaryIO, target: Path, source: Source) -> str:
    """Stream `reader` into `target` atomically; the file appears only if size and sha256 match. Returns the sha256."""
    h, size = hashlib.sha256(), 0
    with atomic_write(target, "wb") as out:
        for block in iter(lambda: reader.read(1 << 20), b""):
            h.update(block)
            size += len(block)
            out.write(block)
        if source.size is not None and size != source.size:
            raise FetchError(f"{source.relpath}: size {size} bytes, expected {source.size}")
        if source.sha256 is not None and h.hexdigest() != source.sha256:
            raise FetchError(f"{source.relpath}: sha256 {h.hexdigest()}, expected {source.sha256}")
    return h.hexdigest()


def fetch(source: Source, dest: PathArg, mirror: PathArg | None = None, *, force: bool = False, timeout: float = 60.0) -> str:
    """Put `source` under `dest`; returns a status line. Raises FileNotFoundError (not in mirror) or FetchError."""
    target = Path(dest) / source.relpath
    if target.is_file() and not force:
        if source.sha256 is None:
            return f"present {source.relpath} (no known checksum; sha256 {sha256_file(target)})"
        if sha256_file(target) == source.sha256:
            return f"present {source.relpath} (sha256 ok)"
    if mirror is not None:
        src = Path(mirror) / source.relpath
        if not src.is_file():
            raise FileNotFoundError(source.relpath)
        with open(src, "rb") as f:
            digest = _copy_verified(f, target, source)
        how = f"copied {source.relpath} from {mirror}"
    else:
        try:
            with urllib.request.urlopen(source.url, timeout=timeout) as response:
                digest = _copy_verified(response, target, source)
        except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
            raise FetchError(f"{source.relpath}: cannot download {source.url}: {getattr(e, 'reason', e)}") from None
        how = f"downloaded {source.relpath}"
    check = "sha256 ok" if source.sha256 else f"no known checksum; sha256 {digest}"
    return f"{how} ({check})"
