"""Compile Quorum's Vyper contracts, caching the artifacts by the source's SHA-256.

The cache is a folder of JSON files, one per (contract, vyper version, source hash), in the
user's cache directory (``platformdirs``) or the folder given; editing a source or upgrading
vyper compiles again, anything else is read back. A cache file that cannot be read is compiled
again and rewritten. This module never deploys anything and never touches a chain.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from core.chain.errors import ContractCompileError
from core.logging import get_logger

CONTRACTS_DIR = Path(__file__).resolve().parent / "contracts"
CACHE_DIR_ENV = "QUORUM_CONTRACT_CACHE"
CONTRACT_NAMES = ("Token", "Pair", "Factory", "Router", "LendingPool", "AToken")

log = get_logger(__name__)


@dataclass(frozen=True)
class Artifact:
    """One compiled contract: its ABI, its deploy bytecode and its blueprint deploy bytecode."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    blueprint_bytecode: str
    source_sha256: str
    compiler_version: str
    from_cache: bool


def default_cache_dir() -> Path:
    """``$QUORUM_CONTRACT_CACHE``, else ``contracts/`` in the user's cache directory."""
    override = os.environ.get(CACHE_DIR_ENV)
    if override:
        return Path(override)
    return Path(platformdirs.user_cache_dir("quorum")) / "contracts"


def compile_contract(
    name: str, *, cache_dir: Path | None = None, contracts_dir: Path = CONTRACTS_DIR
) -> Artifact:
    """The artifact of ``contracts_dir/NAME.vy``, from the cache when its source is unchanged."""
    import vyper  # imported here: loading the compiler costs about half a second

    source_path = contracts_dir / f"{name}.vy"
    try:
        source = source_path.read_bytes()
    except FileNotFoundError:
        raise ContractCompileError(f"{source_path}: no such contract source") from None
    digest = hashlib.sha256(source).hexdigest()
    cache_path = (cache_dir or default_cache_dir()) / f"{name}-{vyper.__version__}-{digest}.json"
    cached = _read_cache(cache_path)
    if cached is not None:
        log.debug("chain.compile.cache_hit", contract=name, sha256=digest)
        return Artifact(**cached, from_cache=True)
    fields = _compile(name, source_path, source.decode(), vyper)
    fields.update(source_sha256=digest, compiler_version=vyper.__version__)
    _write_cache(cache_path, fields)
    log.info("chain.compile.compiled", contract=name, sha256=digest, vyper=vyper.__version__)
    return Artifact(**fields, from_cache=False)


def compile_all(*, cache_dir: Path | None = None) -> dict[str, Artifact]:
    """Every contract Quorum deploys, by name."""
    return {name: compile_contract(name, cache_dir=cache_dir) for name in CONTRACT_NAMES}


def _compile(name: str, source_path: Path, source: str, vyper: Any) -> dict[str, Any]:
    try:
        out = vyper.compile_code(
            source,
            contract_path=source_path.name,
            output_formats=["abi", "bytecode", "blueprint_bytecode"],
        )
    except vyper.exceptions.VyperException as error:
        raise ContractCompileError(f"{source_path}: does not compile:\n{error}") from None
    return {
        "name": name,
        "abi": out["abi"],
        "bytecode": out["bytecode"],
        "blueprint_bytecode": out["blueprint_bytecode"],
    }


def _read_cache(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        log.warning("chain.compile.cache_unreadable", path=str(path), error=str(error))
        return None
    expected = {
        "name",
        "abi",
        "bytecode",
        "blueprint_bytecode",
        "source_sha256",
        "compiler_version",
    }
    if not isinstance(data, dict) or set(data) != expected:
        log.warning("chain.compile.cache_unreadable", path=str(path), error="unexpected fields")
        return None
    return data


def _write_cache(path: Path, fields: dict[str, Any]) -> None:
    # Written beside the target and renamed over it, so a reader never sees half a file.
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(fields, handle)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
