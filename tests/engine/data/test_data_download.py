"""Downloads against a local HTTP server on 127.0.0.1 (never the network): MD5 checks, atomic
writes, resuming with Range, mirrors, offline errors, and the datasets' download=True."""

from __future__ import annotations

import gzip
import hashlib
import io
import socket
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from test_data_files import idx_bytes, make_cifar

from engine.data import ChecksumError, DownloadError
from engine.data.datasets import CIFAR10, MNIST, download_url


class FileServer:
    """Serves ``files`` (path -> bytes). ``cut[path] = k``: the next response for that path
    promises the whole file but stops after k bytes; ``ignore_range`` answers every request with
    the whole file (status 200)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.cut: dict[str, int] = {}
        self.ignore_range = False
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                rng = self.headers.get("Range")
                server.requests.append((self.path, rng))
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404, "Not Found")
                    return
                start = 0
                if rng and not server.ignore_range:
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range",
                                     f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                part = body[start:]
                self.send_header("Content-Length", str(len(part)))
                self.end_headers()
                k = server.cut.pop(self.path, None)
                self.wfile.write(part if k is None else part[:k])
                if k is not None:
                    self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FileServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[FileServer]:
    with FileServer() as s:
        yield s


def _payload(n: int = 200_000) -> bytes:
    return np.random.default_rng(0).integers(0, 256, n, dtype=np.uint8).tobytes()


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_download_verifies_and_writes_atomically(server: FileServer, tmp_path: Path) -> None:
    data = _payload()
    server.files["/f.bin"] = data
    seen = []
    dest = download_url(server.url + "/f.bin", tmp_path / "sub" / "f.bin", _md5(data),
                        progress=lambda got, total: seen.append((got, total)))
    assert dest.read_bytes() == data
    assert not (tmp_path / "sub" / "f.bin.part").exists()
    assert seen[-1] == (len(data), len(data))
    download_url(server.url + "/f.bin", dest, _md5(data))  # already there: no request
    assert len(server.requests) == 1


def test_interrupted_download_resumes_with_range(server: FileServer, tmp_path: Path) -> None:
    data = _payload()
    server.files["/f.bin"] = data
    server.cut["/f.bin"] = 70_000
    dest = download_url(server.url + "/f.bin", tmp_path / "f.bin", _md5(data))
    assert dest.read_bytes() == data
    assert server.requests[0][1] is None
    assert server.requests[1][1] == "bytes=70000-"


def test_part_file_left_by_a_killed_process_is_resumed(server: FileServer,
                                                       tmp_path: Path) -> None:
    data = _payload()
    server.files["/f.bin"] = data
    (tmp_path / "f.bin.part").write_bytes(data[:12345])
    download_url(server.url + "/f.bin", tmp_path / "f.bin", _md5(data))
    assert (tmp_path / "f.bin").read_bytes() == data
    assert server.requests == [("/f.bin", "bytes=12345-")]


def test_server_ignoring_range_restarts_cleanly(server: FileServer, tmp_path: Path) -> None:
    data = _payload()
    server.files["/f.bin"] = data
    server.ignore_range = True
    (tmp_path / "f.bin.part").write_bytes(b"stale bytes")
    download_url(server.url + "/f.bin", tmp_path / "f.bin", _md5(data))
    assert (tmp_path / "f.bin").read_bytes() == data


def test_complete_part_file_answered_416(server: FileServer, tmp_path: Path) -> None:
    data = _payload(1000)
    server.files["/f.bin"] = data
    (tmp_path / "f.bin.part").write_bytes(data)
    download_url(server.url + "/f.bin", tmp_path / "f.bin", _md5(data))
    assert (tmp_path / "f.bin").read_bytes() == data


def test_md5_mismatch_leaves_nothing_behind(server: FileServer, tmp_path: Path) -> None:
    server.files["/f.bin"] = _payload(5000)
    with pytest.raises(ChecksumError, match=r"has MD5 [0-9a-f]{32} but 0{32} was expected"):
        download_url(server.url + "/f.bin", tmp_path / "f.bin", "0" * 32)
    assert list(tmp_path.iterdir()) == []


def test_http_404_and_repeated_interruptions(server: FileServer, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="HTTP 404"):
        download_url(server.url + "/missing", tmp_path / "m.bin")
    data = _payload()
    server.files["/f.bin"] = data

    class Cutter:  # cut every response short
        def __init__(self, inner):
            self.inner = inner

        def open(self, req, timeout):
            server.cut["/f.bin"] = 1000
            return self.inner.open(req, timeout=timeout)

    import urllib.request

    with pytest.raises(DownloadError, match=r"gave up after 2 attempts; the 2000 bytes received "
                                            r"are kept in .*f.bin.part"):
        download_url(server.url + "/f.bin", tmp_path / "f.bin", _md5(data), retries=1,
                     opener=Cutter(urllib.request.build_opener()))
    download_url(server.url + "/f.bin", tmp_path / "f.bin", _md5(data))  # resumes and finishes
    assert (tmp_path / "f.bin").read_bytes() == data
    assert server.requests[-1][1] == "bytes=2000-"


def test_offline_download_fails_fast(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/f.bin"
    with pytest.raises(DownloadError, match="Connection refused|refused"):
        download_url(url, tmp_path / "f.bin", timeout=5)
    assert not (tmp_path / "f.bin").exists()


class _NoDNS:
    """An opener whose every request fails as a machine without DNS fails (no network used)."""

    def open(self, request, timeout=None):  # noqa: ANN001 - urllib's opener interface
        import urllib.error

        raise urllib.error.URLError(socket.gaierror(-2, "Name or service not known"))


def test_an_offline_machine_is_told_so_not_shown_an_errno(tmp_path: Path) -> None:
    url = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    with pytest.raises(DownloadError) as info:
        download_url(url, tmp_path / "cifar-10-python.tar.gz", opener=_NoDNS())
    msg = str(info.value)
    assert "Errno" not in msg and "cannot reach www.cs.toronto.edu" in msg
    assert "looks offline" in msg and "name or service not known" in msg
    assert url in msg and str(tmp_path) in msg  # where to put a copy fetched elsewhere
    assert not list(tmp_path.iterdir())


def _mnist_files() -> dict[str, bytes]:
    rng = np.random.default_rng(3)
    files = {}
    for prefix, n in (("train", 10), ("t10k", 6)):
        files[f"{prefix}-images-idx3-ubyte.gz"] = gzip.compress(
            idx_bytes(rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)))
        files[f"{prefix}-labels-idx1-ubyte.gz"] = gzip.compress(
            idx_bytes(rng.integers(0, 10, n).astype(np.uint8)))
    return files


def test_mnist_download_tries_mirrors_in_turn(server: FileServer, tmp_path: Path) -> None:
    files = _mnist_files()
    for name, data in files.items():
        server.files[f"/good/{name}"] = data

    class LocalMNIST(MNIST):
        mirrors = [server.url + "/dead/", server.url + "/good/"]
        resources = [(name, _md5(data)) for name, data in files.items()]

    ds = LocalMNIST(tmp_path, train=True, download=True)
    assert len(ds) == 10 and len(LocalMNIST(tmp_path, train=False)) == 6
    raw = tmp_path / "LocalMNIST" / "raw"
    assert (raw / "train-images-idx3-ubyte").is_file()
    assert (raw / "train-images-idx3-ubyte.gz").is_file()
    assert not list(raw.glob("*.part"))
    count = len(server.requests)
    LocalMNIST(tmp_path, download=True)  # everything present: no more requests
    assert len(server.requests) == count


def test_mnist_download_offline_names_files_and_folder(tmp_path: Path) -> None:
    port = _closed_port()

    class OfflineMNIST(MNIST):
        mirrors = [f"http://127.0.0.1:{port}/a/", f"http://127.0.0.1:{port}/b/"]

    with pytest.raises(DownloadError) as info:
        OfflineMNIST(tmp_path, download=True)
    msg = str(info.value)
    assert "train-images-idx3-ubyte.gz" in msg and "t10k-labels-idx1-ubyte.gz" in msg
    assert str(tmp_path / "OfflineMNIST" / "raw") in msg
    assert f"127.0.0.1:{port}/a/" in msg and f"127.0.0.1:{port}/b/" in msg


def test_cifar_download_and_extract(server: FileServer, tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_cifar(src, n=3)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(src / CIFAR10.base_folder, arcname=CIFAR10.base_folder)
    archive = buf.getvalue()
    server.files["/cifar.tar.gz"] = archive
    root = tmp_path / "root"

    class LocalCIFAR(CIFAR10):
        url = server.url + "/cifar.tar.gz"
        tgz_md5 = _md5(archive)

    ds = LocalCIFAR(root, download=True)
    assert len(ds) == 15 and ds.data.shape == (15, 32, 32, 3)
    assert sorted(p.name for p in root.iterdir()) == [CIFAR10.base_folder, CIFAR10.filename]


def test_cifar_archive_with_unsafe_member_is_refused(server: FileServer, tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("../escape.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    server.files["/bad.tar.gz"] = buf.getvalue()

    class BadCIFAR(CIFAR10):
        url = server.url + "/bad.tar.gz"
        tgz_md5 = _md5(buf.getvalue())

    with pytest.raises(Exception, match="unexpected member '../escape.txt'"):
        BadCIFAR(tmp_path / "root", download=True)
    assert not (tmp_path / "escape.txt").exists()
    assert not (tmp_path / "root" / CIFAR10.base_folder).exists()
