"""anvil: found where npm puts it, started on a free loopback port, stopped cleanly."""

from __future__ import annotations

import socket
import stat
import traceback
from pathlib import Path

import httpx
import pytest

from core.chain.anvil import Anvil, find_anvil, http_web3, increase_time
from core.chain.errors import AnvilNotFound, AnvilStartError, NodeUnreachable


def test_the_native_binary_is_found_not_the_node_wrapper(anvil_binary: Path) -> None:
    assert anvil_binary.name == "anvil"
    assert anvil_binary.resolve().name != "bin.mjs"


def test_missing_anvil_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no anvil, no npm
    with pytest.raises(AnvilNotFound, match=r"npm install @foundry-rs/anvil"):
        find_anvil(search_dirs=(tmp_path,))


def test_anvil_under_node_modules_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, anvil_binary: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    bin_dir = tmp_path / "node_modules" / ".bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "anvil").symlink_to(anvil_binary)
    assert find_anvil(search_dirs=(tmp_path,)).resolve() == anvil_binary.resolve()


def test_started_anvil_answers_on_loopback_and_stops(anvil_binary: Path) -> None:
    node = Anvil.start(binary=anvil_binary)
    try:
        assert node.rpc_url.startswith("http://127.0.0.1:")
        w3 = node.web3()
        assert w3.eth.chain_id == 31337
        before = w3.eth.get_block("latest")["timestamp"]
        increase_time(w3, 3600)
        assert w3.eth.get_block("latest")["timestamp"] >= before + 3600
    finally:
        node.stop()
    assert node.process.poll() is not None
    with pytest.raises(httpx.TransportError):
        httpx.post(node.rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"})


def test_an_anvil_that_dies_at_start_is_an_error_with_its_log(tmp_path: Path) -> None:
    fake = tmp_path / "anvil"
    fake.write_text("#!/bin/sh\necho 'error: cannot bind' >&2\nexit 3\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    with pytest.raises(AnvilStartError, match=r"exited with code 3(.|\n)*cannot bind"):
        Anvil.start(binary=fake, log_dir=tmp_path)


def test_a_fork_url_never_reaches_the_error_message(tmp_path: Path) -> None:
    fake = tmp_path / "anvil"
    fake.write_text('#!/bin/sh\necho "error: could not fetch block with args $*" >&2\nexit 1\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    url = "https://eth.example/v2/SECRET-API-KEY"
    with pytest.raises(AnvilStartError) as caught:
        Anvil.start(binary=fake, fork_url=url, log_dir=tmp_path)
    assert "--fork-url <fork URL>" in str(caught.value)
    assert "SECRET-API-KEY" not in str(caught.value)
    assert "--chain-id" not in str(caught.value)  # a fork keeps the chain id it forks


def test_stopping_removes_the_log_folder_it_made(anvil_binary: Path) -> None:
    node = Anvil.start(binary=anvil_binary)
    folder = node.log_path.parent
    assert folder.is_dir()
    node.stop()
    assert not folder.exists()


def test_a_node_that_does_not_answer_is_an_error_that_never_shows_the_url() -> None:
    """Every chain client is built by http_web3: a transport failure names the request and the
    error's class, and neither its message nor its traceback quotes the URL's API key."""
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    w3 = http_web3(f"http://127.0.0.1:{port}/v2/KEY-abc123?apikey=KEY-abc123", timeout_s=2)
    with pytest.raises(NodeUnreachable, match="eth_blockNumber: ConnectionError") as raised:
        w3.eth.get_block_number()
    assert "KEY-abc123" not in "".join(traceback.format_exception(raised.value))


def test_anvils_started_at_once_are_each_their_own_node(anvil_binary: Path) -> None:
    """A port found free and passed to anvil could be taken by another anvil starting at the same
    time, and the readiness check then answered by that node: two test workers once shared one
    chain, and a nonce was "used by a transaction that is not ours". anvil now picks its port."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        nodes = list(pool.map(lambda _: Anvil.start(binary=anvil_binary), range(4)))
    try:
        assert len({node.port for node in nodes}) == 4
        for node in nodes:
            assert f"Listening on 127.0.0.1:{node.port}" in node.log_path.read_text()
        nodes[0].web3().provider.make_request("evm_mine", [])
        assert [node.web3().eth.block_number for node in nodes] == [1, 0, 0, 0]
    finally:
        for node in nodes:
            node.stop()
