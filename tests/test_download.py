"""Downloading Fashion-MNIST through torchvision's downloader, against a local HTTP server that
serves good, truncated, corrupted and refused (403, 503) files."""
import hashlib
import http.server
import threading
from functools import partial

import numpy as np
import pytest
import torch
from torchvision import datasets as torchvision_datasets

from dlfs_common import dataset_files
from numpy_impl import datasets as numpy_datasets
from torch_impl.datasets import load_mnist as torch_load_mnist


class Handler(http.server.BaseHTTPRequestHandler):
    """/good/NAME: the real file; /truncated/NAME: its first half; /corrupted/NAME: one byte flipped;
    /403/NAME and /503/NAME: those statuses."""

    def __init__(self, *args, files, **kwargs):
        self.files = files
        super().__init__(*args, **kwargs)

    def do_GET(self):
        _, kind, name = self.path.split("/", 2)
        if kind in ("403", "503") or name not in self.files:
            self.send_error(int(kind) if kind in ("403", "503") else 404)
            return
        body = self.files[name]
        if kind == "truncated":
            body = body[:len(body) // 2]
        elif kind == "corrupted":
            body = body[:100] + bytes([body[100] ^ 0xFF]) + body[101:]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except ConnectionError:  # the client gave up (it may, on a failed checksum)
            pass

    def log_message(self, *args):
        pass


@pytest.fixture
def mirror(fashion_mnist, monkeypatch, cache_dir, tmp_path):
    """A function setting FashionMNIST's mirrors to kinds of this server ('good', '503', ...). The
    server's files are the system copy's, whose gzip bytes (and so MD5 sums) differ from the
    upstream ones torchvision lists: its list is set to theirs."""
    files = {path.name: path.read_bytes() for path in fashion_mnist.values()}
    monkeypatch.setattr(torchvision_datasets.FashionMNIST, "resources",
                        [(name, hashlib.md5(body).hexdigest()) for name, body in files.items()])
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, files=files))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(dataset_files, "SYSTEM_DATA_DIR", tmp_path / "no-system-copy")
    base = f"http://127.0.0.1:{server.server_address[1]}"

    def use(*kinds):
        monkeypatch.setattr(torchvision_datasets.FashionMNIST, "mirrors", [f"{base}/{kind}/" for kind in kinds])
    yield use
    server.shutdown()


def test_a_download_is_what_the_system_copy_holds(mirror, fashion_mnist):
    mirror("503", "good")  # the first mirror fails, the second serves
    (x, t), (x_test, t_test) = numpy_datasets.load_mnist(download=True)
    reference = numpy_datasets.read_dataset(fashion_mnist)
    assert np.array_equal((x * 255).round().astype(np.uint8).reshape(-1, 28, 28), reference["train_img"])
    assert np.array_equal(t, reference["train_label"]) and np.array_equal(t_test, reference["test_label"])
    (tx, tt), _ = torch_load_mnist(download=True)  # found where the first download put it
    assert torch.equal(tx, torch.from_numpy(x)) and torch.equal(tt, torch.from_numpy(t))


@pytest.mark.parametrize("kinds, reason", [(("truncated",), "corrupted"), (("corrupted",), "corrupted"),
                                           (("403",), "403"), (("503", "403"), "503")])
def test_a_failed_download_says_why_and_leaves_nothing_behind(mirror, cache_dir, kinds, reason):
    mirror(*kinds)
    with pytest.raises(dataset_files.DatasetError, match=f"could not download fashion-mnist's .*{reason}"):
        numpy_datasets.load_mnist(download=True)
    downloads = cache_dir / "downloads"
    assert not any(downloads.rglob("*")) if downloads.exists() else True
    with pytest.raises(dataset_files.DatasetError, match="could not download"):
        torch_load_mnist(download=True)


def test_nothing_is_downloaded_unless_asked(mirror):
    mirror("good")
    with pytest.raises(FileNotFoundError, match=r"load_mnist\(download=True\)"):
        numpy_datasets.load_mnist()


@pytest.mark.slow
def test_the_experiments_download_on_request(mirror, tmp_path, capsys):
    from experiments.__main__ import main
    mirror("403")
    argv = ["run", "train_neuralnet", "--quick", "--no-progress", "--out", str(tmp_path / "run")]
    assert main(argv + ["--download"]) == 2
    assert "could not download fashion-mnist" in capsys.readouterr().err
    mirror("good")
    assert main(argv) == 2  # not asked to download
    assert "--download" in capsys.readouterr().err
    assert main(argv + ["--download"]) == 0
