"""The Vyper build: every contract compiles, and the artifact cache is keyed by the source."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core.chain.compile import (
    CONTRACT_NAMES,
    CONTRACTS_DIR,
    compile_all,
    compile_contract,
)
from core.chain.errors import ContractCompileError


def test_every_contract_compiles_to_bytecode_and_abi(contract_cache: Path) -> None:
    artifacts = compile_all(cache_dir=contract_cache)
    assert set(artifacts) == set(CONTRACT_NAMES)
    for artifact in artifacts.values():
        assert artifact.bytecode.startswith("0x") and len(artifact.bytecode) > 100
        assert artifact.blueprint_bytecode.startswith("0x")
        assert any(entry["type"] == "function" for entry in artifact.abi)


def test_second_compile_of_an_unchanged_source_is_a_cache_hit(tmp_path: Path) -> None:
    first = compile_contract("Token", cache_dir=tmp_path)
    second = compile_contract("Token", cache_dir=tmp_path)
    assert (first.from_cache, second.from_cache) == (False, True)
    assert second.bytecode == first.bytecode and second.abi == first.abi
    assert [p.name for p in tmp_path.iterdir()] == [
        f"Token-{first.compiler_version}-{first.source_sha256}.json"
    ]


def test_an_edited_source_misses_the_cache_and_compiles_again(tmp_path: Path) -> None:
    sources = tmp_path / "contracts"
    shutil.copytree(CONTRACTS_DIR, sources)
    cache = tmp_path / "cache"
    before = compile_contract("Token", cache_dir=cache, contracts_dir=sources)
    token = sources / "Token.vy"
    token.write_text(token.read_text() + "\n# an edit\n")
    after = compile_contract("Token", cache_dir=cache, contracts_dir=sources)
    assert not after.from_cache
    assert after.source_sha256 != before.source_sha256


def test_an_unreadable_cache_file_is_compiled_again(tmp_path: Path) -> None:
    first = compile_contract("Token", cache_dir=tmp_path)
    (cache_file,) = tmp_path.iterdir()
    cache_file.write_text("{not json")
    again = compile_contract("Token", cache_dir=tmp_path)
    assert not again.from_cache and again.bytecode == first.bytecode
    assert compile_contract("Token", cache_dir=tmp_path).from_cache


def test_a_source_that_does_not_compile_is_an_error_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "Broken.vy").write_text("@external\ndef f() -> uint256:\n    return nope\n")
    with pytest.raises(ContractCompileError, match=r"Broken\.vy: does not compile") as caught:
        compile_contract("Broken", cache_dir=tmp_path / "cache", contracts_dir=tmp_path)
    assert "nope" in str(caught.value)


def test_a_missing_source_is_an_error_naming_the_path(tmp_path: Path) -> None:
    with pytest.raises(ContractCompileError, match="Nothing.vy: no such contract source"):
        compile_contract("Nothing", cache_dir=tmp_path, contracts_dir=tmp_path)
