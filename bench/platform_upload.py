"""Dataset upload and download throughput of the platform server (MB/s), for a 100 MB archive of real JPEGs.

    .venv/bin/python bench/platform_upload.py [--mb 100] [--repeat 3] [--verify-workers 0]

Builds a zip of coco128's train images repeated (renamed copies, each with its label file) until it
reaches --mb, starts `yoloforge server` as a process on 127.0.0.1 (SQLite, local storage), and times:
- upload: POST /api/v1/datasets until the 201 with the report: the transfer, the zip checks, the safe
  extraction, the library's label verification of every image, and the copy into storage;
- download: GET .../download of the stored archive (streamed, sha256 checked by the client).
Each figure is the best of --repeat runs (the machine is shared). MB = 10^6 bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.platform.support.archives import coco128_yaml  # noqa: E402
from tests.platform.support.server import clean_env, run_cli, start_server  # noqa: E402

COCO128 = ROOT.parent / "shared" / "datasets" / "coco128"


def build_archive(dest: Path, target_bytes: int) -> tuple[int, int]:
    """A YOLO dataset zip of coco128 train images repeated until `target_bytes`; returns (bytes, images)."""
    images = sorted((COCO128 / "images" / "train2017").glob("*.jpg"))
    n = 0
    with zipfile.ZipFile(dest, "w") as zf:
        zf.writestr("big/data.yaml", coco128_yaml(".").replace(b"train2017", b"train"))
        while dest.stat().st_size < target_bytes:
            for image in images:
                label = COCO128 / "labels" / "train2017" / (image.stem + ".txt")
                stem = f"r{n // len(images):03d}_{image.stem}"
                zf.write(image, f"big/images/train/{stem}.jpg", compress_type=zipfile.ZIP_STORED)  # JPEGs: no gain
                if label.exists():
                    zf.write(label, f"big/labels/train/{stem}.txt", compress_type=zipfile.ZIP_DEFLATED)
                n += 1
                if n % 64 == 0 and dest.stat().st_size >= target_bytes:
                    break
    return dest.stat().st_size, n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=100.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--verify-workers", type=int, default=0, help="server's verify_workers (1: in the request thread)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        archive = tmp / "big.zip"
        size, n_images = build_archive(archive, int(args.mb * 1e6))
        digest = hashlib.sha256(archive.read_bytes()).hexdigest()
        print(f"archive: {size / 1e6:.1f} MB, {n_images} images (coco128 train repeated)")
        home = tmp / "home"
        assert run_cli("server", "create-user", "bench", "--home", str(home), stdin="bench password\n").returncode == 0
        key = run_cli("server", "create-key", "bench", "--home", str(home)).stdout.strip()
        server = start_server(home, env=clean_env(YOLOFORGE_SERVER_VERIFY_WORKERS=str(args.verify_workers)))
        auth = {"Authorization": f"Bearer {key}"}
        up, down = [], []
        try:
            with httpx.Client(base_url=server.url, headers=auth, timeout=600) as client:
                for i in range(args.repeat):
                    t = time.perf_counter()
                    with open(archive, "rb") as f:
                        r = client.post("/api/v1/datasets", files={"file": ("big.zip", f)}, data={"name": "big"})
                    up.append(time.perf_counter() - t)
                    if r.status_code != 201:
                        raise SystemExit(f"upload failed: {r.status_code} {r.text[:500]}")
                    report = r.json()["report"]
                    h, t = hashlib.sha256(), time.perf_counter()
                    with client.stream("GET", f"/api/v1/datasets/bench/big/download?version={i + 1}") as resp:
                        for chunk in resp.iter_bytes(1 << 20):
                            h.update(chunk)
                    down.append(time.perf_counter() - t)
                    assert h.hexdigest() == digest == resp.headers["x-checksum-sha256"]
        finally:
            server.stop()
        print(f"report: {report['images']} images, {report['instances']} instances, {len(report['defects'])} defects")
        print(f"upload   (transfer + checks + extraction + verification + storage): {size / 1e6 / min(up):6.1f} MB/s "
              f"({min(up):.2f} s; runs: {', '.join(f'{x:.2f}' for x in up)})")  # fmt: skip
        print(f"download (streamed, sha256 checked):                               {size / 1e6 / min(down):6.1f} MB/s "
              f"({min(down):.2f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
