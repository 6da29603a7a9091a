"""Benchmark of attachments (docs/benchmarks.md).

1. A 1 GB file uploaded (multipart, `curl -F`) to and downloaded (`curl -o`) from a real
   `formcase serve` (SQLite, local storage), against the same file sent with curl to the floor:
   bench/floor_server.py, the plainest ASGI app on the same uvicorn, writing the body to disk
   and sending a file back. The floor leaves its file in the page cache; formcase syncs to
   disk before an upload counts as stored. `sync` runs before every timed transfer, so that
   no run's write-back lands in the next one. Peak RSS of the server is sampled throughout.
2. Merging 100 one-page PDFs and 20 JPEGs into one PDF (GET /v1/attachments?ids=…), against
   `qpdf --empty --pages … --` on the same inputs (the JPEGs made into PDFs beforehand, since
   qpdf reads only PDFs).

    .venv/bin/python bench/attachments.py [--size-mb 1024] [--repeat 3]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import img2pdf
import pikepdf
import psutil
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent / "formcase"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(url: str) -> None:
    for _ in range(300):
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not answer")


class PeakRSS:
    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = self.process.memory_info().rss
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.done.wait(0.02):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def stop(self) -> int:
        self.done.set()
        self.thread.join()
        return self.peak


def timed(command: list[str]) -> float:
    os.sync()  # no earlier run's dirty pages left for the disk to write during this one
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def formcase_server(data_dir: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    env = {
        **os.environ,
        "FORMCASE_DATA_DIR": str(data_dir),
        "FORMCASE_RATE_LIMIT_TOKEN": "",
        "FORMCASE_RATE_LIMIT_CLIENT": "",
    }
    env.pop("FORMCASE_DATABASE_URL", None)

    def run(*args: str) -> str:
        return subprocess.run(
            [str(BIN), *args], env=env, check=True, capture_output=True, text=True
        ).stdout

    run("db", "upgrade")
    run("workspace", "create", "bench", "--name", "Bench")
    token = run("token", "create", "--workspace", "bench", "--name", "bench").split()[-1]
    port = free_port()
    process = subprocess.Popen(
        [str(BIN), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    wait_for(f"{base}/healthz")
    return process, base, token


def transfer(work: Path, size_mb: int, repeat: int) -> dict[str, float]:
    big = work / "big.bin"
    block = os.urandom(1 << 20)
    with open(big, "wb") as file:
        for _ in range(size_mb):
            file.write(block)
    floor_root = work / "floor"
    floor_root.mkdir()
    port = free_port()
    floor = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "floor_server:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=ROOT / "bench",
        env={**os.environ, "FLOOR_ROOT": str(floor_root)},
    )
    server, base, token = formcase_server(work / "formcase")
    auth = f"Authorization: Bearer {token}"
    results: dict[str, list[float]] = {k: [] for k in ("floor_up", "floor_down", "up", "down")}
    peaks = []
    try:
        wait_for(f"http://127.0.0.1:{port}/x")
        for _ in range(repeat):
            results["floor_up"].append(
                timed(["curl", "-sf", "-T", str(big), f"http://127.0.0.1:{port}/big.bin"])
            )
            results["floor_down"].append(
                timed(["curl", "-sf", "-o", "/dev/null", f"http://127.0.0.1:{port}/big.bin"])
            )
            before = psutil.Process(server.pid).memory_info().rss
            sampler = PeakRSS(server.pid)
            os.sync()
            started = time.perf_counter()
            uploaded = subprocess.run(
                ["curl", "-sf", "-H", auth, "-F", f"file=@{big}", f"{base}/v1/attachments"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            results["up"].append(time.perf_counter() - started)
            attachment = json.loads(uploaded)["id"]
            results["down"].append(
                timed(
                    [
                        "curl",
                        "-sf",
                        "-o",
                        "/dev/null",
                        "-H",
                        auth,
                        "-H",
                        "Accept: application/octet-stream",
                        f"{base}/v1/attachments/{attachment}",
                    ]
                )
            )
            peaks.append(sampler.stop() - before)
    finally:
        server.terminate()
        floor.terminate()
        server.wait()
        floor.wait()
    mb = size_mb * 1024 * 1024 / 1e6
    for name, times in results.items():
        print(f"{name:<10} " + " ".join(f"{mb / t:6.0f}" for t in times) + " MB/s", flush=True)
    figures = {name: mb / statistics.median(times) for name, times in results.items()}
    figures["peak_rss_growth_mb"] = max(peaks) / 1e6
    return figures


def merge_inputs(work: Path) -> tuple[list[Path], list[Path]]:
    """100 one-page PDFs and 20 JPEGs; and the same as 120 PDFs for qpdf."""
    pdfs, jpegs = [], []
    for number in range(100):
        document = pikepdf.new()
        document.add_blank_page(page_size=(595, 842))
        path = work / f"page{number:03}.pdf"
        document.save(path)
        pdfs.append(path)
    for number in range(20):
        out = io.BytesIO()
        Image.effect_noise((1600, 1200), 60 + number).convert("RGB").save(out, "JPEG", quality=85)
        path = work / f"photo{number:02}.jpg"
        path.write_bytes(out.getvalue())
        jpegs.append(path)
    return pdfs, jpegs


def merge(work: Path, repeat: int) -> dict[str, float]:
    pdfs, jpegs = merge_inputs(work)
    as_pdf = []
    for jpeg in jpegs:
        path = jpeg.with_suffix(".pdf")
        path.write_bytes(img2pdf.convert(jpeg.read_bytes()))
        as_pdf.append(path)
    qpdf_times = [
        timed(
            ["qpdf", "--empty", "--pages", *map(str, pdfs + as_pdf), "--", str(work / "qpdf.pdf")]
        )
        for _ in range(repeat)
    ]
    server, base, token = formcase_server(work / "formcase-merge")
    headers = {"Authorization": f"Bearer {token}"}
    try:
        ids = []
        with httpx.Client(headers=headers, timeout=120) as client:
            for path in pdfs + jpegs:
                response = client.post(
                    f"{base}/v1/attachments", files={"file": (path.name, path.read_bytes())}
                )
                ids.append(response.json()["id"])
            url = f"{base}/v1/attachments?ids={','.join(ids)}"
            client.get(url)  # warm up
            times = []
            for _ in range(repeat):
                started = time.perf_counter()
                merged = client.get(url)
                times.append(time.perf_counter() - started)
            assert merged.headers["x-page-count"] == "120", merged.headers
    finally:
        server.terminate()
        server.wait()
    return {"formcase_s": statistics.median(times), "qpdf_s": statistics.median(qpdf_times)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for tool in ("curl", "qpdf"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is needed: make apt-bench")
    with tempfile.TemporaryDirectory(prefix="formcase-bench-") as folder:
        work = Path(folder)
        moved = transfer(work, args.size_mb, args.repeat)
        merged = merge(work, args.repeat)
    print(
        f"\n{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, {os.cpu_count()} cores; "
        f"{args.size_mb} MiB file, median of {args.repeat}"
    )
    print(
        f"upload   formcase {moved['up']:7.0f} MB/s   floor {moved['floor_up']:7.0f} MB/s   "
        f"{moved['up'] / moved['floor_up']:5.0%}"
    )
    print(
        f"download formcase {moved['down']:7.0f} MB/s   floor {moved['floor_down']:7.0f} MB/s   "
        f"{moved['down'] / moved['floor_down']:5.0%}"
    )
    print(f"server peak RSS growth during a transfer: {moved['peak_rss_growth_mb']:.0f} MB")
    print(
        f"merge of 100 PDFs + 20 JPEGs: formcase {merged['formcase_s']:.2f} s, "
        f"qpdf {merged['qpdf_s']:.2f} s, {merged['formcase_s'] / merged['qpdf_s']:.1f}x"
    )
    checks = [
        ("upload >= 50% of floor", moved["up"] >= 0.5 * moved["floor_up"]),
        ("download >= 50% of floor", moved["down"] >= 0.5 * moved["floor_down"]),
        ("merge <= 2x qpdf", merged["formcase_s"] <= 2 * merged["qpdf_s"]),
    ]
    for label, met in checks:
        print(f"  {label:<28} {'met' if met else 'NOT MET'}")


if __name__ == "__main__":
    main()
