"""Fixtures for the data tests: format-exact fake datasets, and no network at all."""

from __future__ import annotations

import shutil
import socket
import urllib.request

import pytest

from neuro.data import fixtures

ALL = ("shd", "ssc", "dvsgesture", "nmnist", "cifar10dvs")


class NetworkAttempt(AssertionError):
    pass


@pytest.fixture(autouse=True)
def no_network(monkeypatch, request):
    """Any connection or urlopen raises and fails the test (unless marked ``network_attempt_expected``)."""
    attempts = []
    real_connect = socket.socket.connect

    def refuse(*args, **kwargs):
        attempts.append(args[:2])
        raise OSError(f"network blocked in tests: {args[:2]}")

    def connect(sock, address):
        if sock.family == getattr(socket, "AF_UNIX", None):  # DataLoader workers talk over local sockets
            return real_connect(sock, address)
        return refuse(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    yield attempts
    if attempts and not request.node.get_closest_marker("network_attempt_expected"):
        raise NetworkAttempt(f"the test tried to reach the network: {attempts}")


def pytest_configure(config):
    config.addinivalue_line("markers", "network_attempt_expected: the test checks what happens when a download is attempted")


@pytest.fixture(scope="session")
def fixture_root(tmp_path_factory):
    """All five datasets, extracted and with their archives, written once (treat as read-only)."""
    root = tmp_path_factory.mktemp("neuro_data")
    for name in ALL:
        if name == "cifar10dvs" and not aedat_tools():
            continue  # its tests skip themselves
        fixtures.make_fixture(name, root)
    return root


def aedat_tools() -> bool:
    """CIFAR10-DVS needs ``aedat`` (tonic reads with it) and ``dv-processing`` (the fixtures write with it)."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("aedat", "dv_processing"))


@pytest.fixture(autouse=True)
def _skip_cifar10dvs_without_aedat(request):
    callspec = getattr(request.node, "callspec", None)
    if callspec is not None and callspec.params.get("name") == "cifar10dvs" and not aedat_tools():
        pytest.skip("CIFAR10-DVS needs `pip install aedat dv-processing`")


@pytest.fixture
def data_copy(fixture_root, tmp_path):
    """A private copy of one dataset's folder: ``data_copy("nmnist")`` -> root."""

    def copy(name: str):
        from neuro.data import get_spec

        folder = get_spec(name).folder_name()
        shutil.copytree(fixture_root / folder, tmp_path / folder)
        return tmp_path

    return copy
