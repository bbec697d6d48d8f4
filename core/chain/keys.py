"""Encrypted keys on disk: Ethereum keystore v3 files (scrypt) in the user's data directory.

One file per key, ``NAME.json``, written by eth-account's ``Account.encrypt`` and read back by
``Account.decrypt``; the folder is ``keys/`` in the user data dir, ``$QUORUM_KEYS_DIR``, or the one
given. The address is stored in clear in each file, so listing needs no password.

What this module must never do: let a private key, a password or a mnemonic reach a log, the
database, the screen or an exception message. Secrets travel as pydantic ``SecretStr``; every
error is built from names and paths only and raised ``from None``. A key is decrypted only in
``Keystore.unlock``, and the executor is its only caller: the CLI creates, imports and lists keys
but never unlocks one. The signer ``unlock`` returns shows only its address and refuses to be
pickled, so a decrypted key cannot be shipped to another process or into Ray's object store.
"""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile
from pathlib import Path
from string import hexdigits
from typing import Any, NamedTuple

import platformdirs
from eth_account import Account
from eth_account.datastructures import SignedMessage, SignedTransaction
from eth_account.messages import SignableMessage
from eth_account.signers.local import LocalAccount
from eth_utils import is_hex_address, to_checksum_address
from pydantic import SecretStr

from core.errors import OperationalError
from core.logging import get_logger

KEYS_DIR_ENV = "QUORUM_KEYS_DIR"
DEFAULT_SCRYPT_N = 2**18
"""eth-account's own default scrypt work factor (262,144; r=8, p=1): about a second per unlock."""
SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_LOOKS_LIKE_KEY = re.compile(r"(0[xX])?[0-9a-fA-F]{64}")

log = get_logger(__name__)


class KeystoreError(OperationalError):
    """A key cannot be created, imported, listed or unlocked; the message never holds a secret."""


class KeyEntry(NamedTuple):
    """One key file as ``list`` shows it: no secret, nothing decrypted."""

    name: str
    address: str
    path: Path


class KeySigner:
    """A decrypted key that signs. Shows only its name and address; never pickled or copied."""

    __slots__ = ("_account", "address", "name")

    def __init__(self, name: str, account: LocalAccount) -> None:
        self.name = name
        self.address: str = account.address
        self._account = account

    def sign_transaction(self, transaction: dict[str, Any]) -> SignedTransaction:
        """Sign a transaction dict (as web3 builds it); send ``.raw_transaction``."""
        return self._account.sign_transaction(transaction)

    def sign_message(self, message: SignableMessage) -> SignedMessage:
        """Sign an EIP-191 message (see ``eth_account.messages.encode_defunct``)."""
        return self._account.sign_message(message)

    def __repr__(self) -> str:
        return f"KeySigner(name={self.name!r}, address={self.address})"

    __str__ = __repr__

    def __reduce__(self):
        raise TypeError("a KeySigner is never pickled or copied: unlock the key in the process "
                        "that signs (the executor)")


def default_keys_dir() -> Path:
    """``$QUORUM_KEYS_DIR`` if set, else ``keys/`` in the user's data directory."""
    override = os.environ.get(KEYS_DIR_ENV, "").strip()
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_data_dir("quorum")) / "keys"


def check_name(name: str) -> None:
    """Refuse a name that is not a safe file name, or that looks like a private key."""
    if _LOOKS_LIKE_KEY.fullmatch(name):
        raise KeystoreError("that key name looks like a private key, so it is refused and not "
                            "shown; choose a plain name such as 'ops' or 'devnet'")
    if not _NAME.fullmatch(name):
        raise KeystoreError(f"key name {name!r}: use 1-64 letters, digits, '-' or '_', "
                            "starting with a letter or digit")


def validate_private_key(private_key: SecretStr | str) -> None:
    """Check a private key's form (64 hex digits, 0x optional, in the curve's range)."""
    _private_key_bytes(private_key)


class Keystore:
    """The folder of keystore v3 files; ``scrypt_n`` exists for fast tests, keep the default."""

    def __init__(self, directory: Path | str | None = None, *,
                 scrypt_n: int = DEFAULT_SCRYPT_N) -> None:
        if scrypt_n < 2 or scrypt_n & (scrypt_n - 1):
            raise KeystoreError(f"scrypt_n {scrypt_n}: must be a power of two above 1")
        self.directory = Path(directory).expanduser() if directory else default_keys_dir()
        self.scrypt_n = scrypt_n

    def path(self, name: str) -> Path:
        """Where the key called ``name`` lives (whether or not it exists)."""
        check_name(name)
        return self.directory / f"{name}.json"

    def check_free(self, name: str) -> None:
        """Refuse a bad name or one already taken, before anything asks for a password."""
        path = self.path(name)
        if path.exists():
            raise _taken(name, path)

    def new(self, name: str, password: SecretStr | str) -> str:
        """Create a random key, store it encrypted under ``name``; return its address."""
        self.path(name)  # a bad name fails before any work; a taken one fails at the write
        account = Account.create()
        address = self._write(name, account.key, password)
        log.info("keys.created", name=name, address=address, path=str(self.path(name)))
        return address

    def import_key(self, name: str, private_key: SecretStr | str,
                   password: SecretStr | str) -> str:
        """Store an existing private key (hex, 0x optional) encrypted; return its address."""
        self.path(name)
        address = self._write(name, _private_key_bytes(private_key), password)
        log.info("keys.imported", name=name, address=address, path=str(self.path(name)))
        return address

    def list(self) -> list[KeyEntry]:
        """Every key in the folder, by name, with its address; nothing is decrypted."""
        if not self.directory.is_dir():
            return []
        entries = []
        for path in sorted(self.directory.glob("*.json")):
            name = path.stem
            if not _NAME.fullmatch(name) or _LOOKS_LIKE_KEY.fullmatch(name):
                continue
            try:
                entries.append(KeyEntry(name, _stored_address(_load(path), path), path))
            except KeystoreError as exc:
                log.warning("keys.unreadable", path=str(path), problem=str(exc))
        return entries

    def address(self, name: str) -> str:
        """The address of the key called ``name``, read without a password."""
        path = self._existing(name)
        return _stored_address(_load(path), path)

    def unlock(self, name: str, password: SecretStr | str) -> KeySigner:
        """Decrypt the key called ``name`` into a signer. Only the executor calls this.

        Decrypting takes about a second at the default work factor; call it once, in the
        process that signs, and keep the signer there.
        """
        path = self._existing(name)
        keyfile = _load(path)
        expected = _stored_address(keyfile, path)
        try:
            key = Account.decrypt(keyfile, _reveal(password, what="password"))
        except ValueError as exc:
            if str(exc) == "MAC mismatch":
                log.warning("keys.unlock_refused", name=name, reason="wrong password")
                raise KeystoreError(f"wrong password for key '{name}'") from None
            raise KeystoreError(f"{path}: cannot be decrypted: damaged or not a keystore v3 "
                                "file") from None
        except (KeyError, TypeError):
            raise KeystoreError(f"{path}: cannot be decrypted: damaged or not a keystore v3 "
                                "file") from None
        account = Account.from_key(key)
        if account.address != expected:
            raise KeystoreError(f"{path}: its address field {expected} does not match the key it "
                                "holds; the file was edited, do not use it")
        log.info("keys.unlocked", name=name, address=account.address)
        return KeySigner(name, account)

    def ensure_devnet_key(self, name: str, password: SecretStr | str) -> str:
        """The devnet key's address, creating the key on first run.

        An existing key is not decrypted here, so a wrong password shows only when the
        executor unlocks it.
        """
        if self.path(name).exists():
            return self.address(name)
        address = self.new(name, password)
        log.info("keys.devnet_key_created", name=name, address=address)
        return address

    def _existing(self, name: str) -> Path:
        path = self.path(name)
        if not path.is_file():
            raise KeystoreError(f"no key named '{name}' in {self.directory} "
                                "(see `quorum keys list`)")
        return path

    def _write(self, name: str, key: bytes, password: SecretStr | str) -> str:
        secret = _reveal(password, what="password")
        keyfile = Account.encrypt(key, secret, kdf="scrypt", iterations=self.scrypt_n)
        path = self.path(name)
        try:
            self._make_directory()
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=self.directory)
        except OSError as exc:
            raise KeystoreError(f"{self.directory}: cannot write a key there: "
                                f"{exc.strerror or exc}") from None
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                os.fchmod(handle.fileno(), 0o600)
                json.dump(keyfile, handle, indent=2)
                handle.flush()
                os.fsync(handle.fileno())
            os.link(tmp, path)  # unlike a rename, fails instead of replacing an existing key
        except FileExistsError:
            raise _taken(name, path) from None
        finally:
            Path(tmp).unlink(missing_ok=True)
        _fsync_directory(self.directory)
        return _stored_address(keyfile, path)

    def _make_directory(self) -> None:
        if not self.directory.exists():
            self.directory.mkdir(parents=True, mode=0o700)
            os.chmod(self.directory, 0o700)
            return
        mode = stat.S_IMODE(self.directory.stat().st_mode)
        if mode & 0o077:
            log.warning("keys.directory_not_private", path=str(self.directory), mode=oct(mode))


def _taken(name: str, path: Path) -> KeystoreError:
    return KeystoreError(f"a key named '{name}' already exists ({path}); keys are never "
                         "overwritten: pick another name")


def _reveal(secret: SecretStr | str, *, what: str) -> str:
    value = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    if not isinstance(value, str):
        raise KeystoreError(f"the {what} must be text, not {type(value).__name__}")
    if not value:
        raise KeystoreError(f"the {what} is empty")
    return value


def _private_key_bytes(private_key: SecretStr | str) -> bytes:
    text = _reveal(private_key, what="private key").strip()
    if text[:2] in ("0x", "0X"):
        text = text[2:]
    if len(text) != 64:
        raise KeystoreError("a private key is 64 hex digits (32 bytes), with or without 0x; "
                            f"this one has {len(text)} characters")
    if any(c not in hexdigits for c in text):
        raise KeystoreError("a private key is 64 hex digits (32 bytes), with or without 0x; "
                            "this one has characters that are not hex digits")
    if not 0 < int(text, 16) < SECP256K1_ORDER:
        raise KeystoreError("not a valid secp256k1 private key: it must be above zero and "
                            "below the curve order")
    return bytes.fromhex(text)


def _load(path: Path) -> dict[str, Any]:
    try:
        keyfile = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise KeystoreError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    except ValueError:
        raise KeystoreError(f"{path}: not JSON, so not a keystore v3 file") from None
    if not isinstance(keyfile, dict) or keyfile.get("version") != 3 or "crypto" not in keyfile:
        raise KeystoreError(f"{path}: not a keystore v3 file (expected version 3 and crypto)")
    return keyfile


def _stored_address(keyfile: dict[str, Any], path: Path) -> str:
    raw = keyfile.get("address")
    if not isinstance(raw, str):
        raise KeystoreError(f"{path}: no address field")
    address = raw if raw[:2].lower() == "0x" else "0x" + raw
    if not is_hex_address(address):
        raise KeystoreError(f"{path}: address field is not a 20-byte hex address")
    return to_checksum_address(address)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
