"""Encrypted MindIR, as ``mindspore.export(..., enc_key=..., enc_mode=...)`` writes it (MindSpore 2.x).

MindSpore's ``Encrypt`` (``mindspore/core/utils/crypto.cc``) cuts the plain stream into blocks of at
most 64 MiB and writes, per block, little-endian::

    magic u32 (0x7F3A5ED8 AES-GCM, 0x7F3A5ED9 AES-CBC, 0x7F3A5EDA SM4-CBC)
    tag[16]                    -- AES-GCM only
    block_size i32             -- bytes that follow in this block
    iv_len i32 (always 16), iv[iv_len], cipher_len i32, ciphertext[cipher_len]

AES-GCM takes the first 12 bytes of the 16-byte IV field as its nonce, with no associated data (the
crypto.cc revision read, a64e3b7, sets a 16-byte IV length, but MindSpore 2.10.0's own exports
authenticate with the first 12 bytes only -- established by decrypting them; tests/data/checkpoints
pins it). AES-CBC uses the whole IV and PKCS#7 padding. The split layout (``*_graph.mindir`` plus
``*_variables/data_N``) encrypts the graph file this way, and each weight file as a *sequence* of such
streams (its 64-byte header, then one per parameter); the ``external_data`` offsets count bytes of the
decrypted concatenation.

The ciphers are the ``cryptography`` package's (the ``mindinfer[crypto]`` extra), never our own.
Keys live only in :class:`DecryptionKey`, whose ``repr`` and ``str`` never show them; plaintext
stays in memory.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._tensors import ExternalData
from .errors import MindIRError

__all__ = ["MODES", "DecryptionKey", "cipher_mode", "decrypt", "decrypted_external_data", "make_key"]

MAGIC = {0x7F3A5ED8: "AES-GCM", 0x7F3A5ED9: "AES-CBC", 0x7F3A5EDA: "SM4-CBC"}
#: Modes mindinfer decrypts (SM4-CBC is recognised, so that its error can say what it is).
MODES = ("AES-GCM", "AES-CBC")
_TAG = 16
_IV = 16
_GCM_NONCE = 12
_INSTALL = "pip install 'mindinfer[crypto]' (the cryptography package)"


@dataclass(frozen=True)
class DecryptionKey:
    """A key and mode for an encrypted model. ``repr``/``str`` never show the key bytes."""

    mode: str
    _key: bytes = field(repr=False)

    def __repr__(self) -> str:
        return f"DecryptionKey(mode={self.mode!r}, {len(self._key) * 8}-bit key hidden)"

    __str__ = __repr__

    def __reduce__(self) -> str | tuple[Any, ...]:  # never pickled into a log, a cache or another process by accident
        raise TypeError("a DecryptionKey cannot be pickled")


def make_key(dec_key: object, dec_mode: object) -> DecryptionKey:
    """Check ``dec_key``/``dec_mode`` as ``mindspore.load`` takes them (bytes; 16, 24 or 32 bytes)."""
    if not isinstance(dec_key, (bytes, bytearray, memoryview)):
        raise MindIRError(
            f"dec_key must be bytes (as for mindspore.load), not {type(dec_key).__name__}; "
            "read it from a file opened in binary mode"
        )
    if not isinstance(dec_mode, str) or dec_mode not in MODES:
        raise MindIRError(f"dec_mode {dec_mode!r} is not supported; use one of {', '.join(MODES)}")
    key = bytes(dec_key)
    if len(key) not in (16, 24, 32):
        raise MindIRError(
            f"dec_key has {len(key)} bytes; {dec_mode} keys have 16, 24 or 32 bytes "
            "(a key file holds the raw key bytes, with no trailing newline)"
        )
    return DecryptionKey(dec_mode, key)


def cipher_mode(data: bytes | memoryview) -> str | None:
    """The mode an encrypted stream starts with (its first block's magic), or None if it is not one."""
    if len(data) < 4:
        return None
    return MAGIC.get(struct.unpack_from("<I", data, 0)[0])


def decrypt(data: bytes | memoryview, key: DecryptionKey, where: str) -> memoryview:
    """The plaintext of a whole encrypted stream (one or more blocks), read-only, or a :class:`MindIRError`.

    Every block header is checked first; then each block is decrypted straight into one buffer
    (``update_into``), which avoids a copy per block and a final join of the pieces.
    """
    found = cipher_mode(data)
    if found is None:
        raise MindIRError(f"{where}: a key was given but the file is not encrypted; drop dec_key/--dec-key-file")
    if found != key.mode:
        raise MindIRError(
            f"{where}: the file is encrypted with {found}, but dec_mode is {key.mode}; pass dec_mode={found!r}"
            + ("" if found in MODES else f" ({found} is not supported by mindinfer; only {', '.join(MODES)})")
        )
    blocks = list(_blocks(memoryview(data), key.mode, where))
    run = _cipher(key)
    out = bytearray(sum(len(b.ct) for b in blocks) + 16)  # update_into wants a block of slack
    view = memoryview(out)
    n = 0
    for b in blocks:
        n += run(b, view[n:])
    return view[:n].toreadonly()


@dataclass(frozen=True)
class _Block:
    iv: bytes
    tag: bytes
    ct: memoryview
    where: str


def _blocks(view: memoryview, mode: str, where: str) -> Any:
    """Every block of the stream, its header checked against the bytes present."""
    head = 4 + (_TAG if mode == "AES-GCM" else 0) + 4
    pos, n = 0, 0
    while pos < len(view):
        n += 1
        block = f"{where}: encrypted block {n} (byte {pos})"
        if pos + head > len(view):
            raise MindIRError(f"{block}: the file ends inside a block header; it is truncated")
        magic = struct.unpack_from("<I", view, pos)[0]
        if MAGIC.get(magic) != mode:
            raise MindIRError(f"{block}: bad block magic 0x{magic:08X}; the file is corrupt or truncated")
        tag = bytes(view[pos + 4 : pos + 4 + _TAG]) if mode == "AES-GCM" else b""
        size = struct.unpack_from("<i", view, pos + head - 4)[0]
        body = pos + head
        if size <= 0 or body + size > len(view):
            raise MindIRError(f"{block}: block of {size} bytes does not fit the file; it is truncated or corrupt")
        (iv_len,) = struct.unpack_from("<i", view, body)
        if iv_len != _IV or size < 4 + _IV + 4:
            raise MindIRError(f"{block}: IV length {iv_len} (MindSpore writes {_IV}); the file is corrupt")
        (clen,) = struct.unpack_from("<i", view, body + 4 + _IV)
        if clen <= 0 or 4 + _IV + 4 + clen != size:
            raise MindIRError(
                f"{block}: ciphertext length {clen} disagrees with block size {size}; the file is corrupt"
            )
        if mode == "AES-CBC" and clen % 16:
            raise MindIRError(f"{block}: AES-CBC ciphertext of {clen} bytes is not whole blocks; the file is corrupt")
        yield _Block(bytes(view[body + 4 : body + 4 + _IV]), tag, view[body + 8 + _IV : body + size], block)
        pos = body + size


def _cipher(key: DecryptionKey) -> Callable[[_Block, memoryview], int]:
    """A function decrypting one block into a buffer and returning the plaintext length."""
    try:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives import padding
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    except ImportError:
        raise MindIRError(f"this model is encrypted ({key.mode}); decrypting it needs {_INSTALL}") from None

    aes = algorithms.AES(key._key)  # the one place the key bytes are used

    def run_gcm(b: _Block, out: memoryview) -> int:
        dec = Cipher(aes, modes.GCM(b.iv[:_GCM_NONCE], b.tag)).decryptor()
        n = dec.update_into(b.ct, out)
        try:
            dec.finalize()
        except InvalidTag:
            raise MindIRError(
                f"{b.where}: AES-GCM authentication failed: the key is wrong, or the file was tampered with or damaged"
            ) from None
        return int(n)

    def run_cbc(b: _Block, out: memoryview) -> int:
        dec = Cipher(aes, modes.CBC(b.iv)).decryptor()
        n = dec.update_into(b.ct, out)
        dec.finalize()
        # PKCS#7 padding lives in the last 16 bytes: the library's unpadder checks them.
        unpad = padding.PKCS7(128).unpadder()
        try:
            tail = unpad.update(bytes(out[n - 16 : n])) + unpad.finalize()
        except ValueError:
            raise MindIRError(
                f"{b.where}: AES-CBC padding is invalid after decryption: the key is wrong, or the file was "
                "tampered with or damaged"
            ) from None
        return int(n - 16 + len(tail))

    return run_gcm if key.mode == "AES-GCM" else run_cbc


def decrypted_external_data(model_path: Path, key: DecryptionKey) -> ExternalData:
    """External weight files of an encrypted split-layout model, decrypted into memory (never to disk)."""
    return _DecryptedExternalData(model_path, key)


@dataclass
class _DecryptedExternalData(ExternalData):
    key: DecryptionKey | None = None

    def _map(self, fh: Any, where: str) -> memoryview:
        assert self.key is not None
        return decrypt(fh.read(), self.key, f"{where}: weight file {Path(fh.name).name}")
