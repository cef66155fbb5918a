"""What encrypting a backup costs: Fernet in 1 MiB chunks (mindpulse.backup), on random bytes.

    .venv/bin/python -m bench.backup_encryption [--mib 64] [--runs 3]

Prints the median encrypt and decrypt throughput (MiB/s, one core) and the size of the stored
file relative to the clear one (Fernet: base64 of IV + ciphertext + HMAC).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mindpulse.settings.test")
    import django

    django.setup()
    from cryptography.fernet import Fernet

    from mindpulse import backup

    fernet = Fernet(Fernet.generate_key())
    encrypt, decrypt, ratio = [], [], 0.0
    with tempfile.TemporaryDirectory() as folder:
        for run in range(args.runs):
            clear = Path(folder) / f"clear-{run}"
            clear.write_bytes(os.urandom(args.mib * 1024 * 1024))
            started = time.perf_counter()
            _, stored_size = backup._encrypt_in_place(clear, fernet)
            encrypt.append(args.mib / (time.perf_counter() - started))
            started = time.perf_counter()
            backup._decrypt_to(clear, Path(folder) / f"back-{run}", fernet)
            decrypt.append(args.mib / (time.perf_counter() - started))
            ratio = stored_size / (args.mib * 1024 * 1024)
    print(
        f"{args.mib} MiB x {args.runs} runs: encrypt {statistics.median(encrypt):.0f} MiB/s, "
        f"decrypt {statistics.median(decrypt):.0f} MiB/s, stored/clear size {ratio:.3f}"
    )


if __name__ == "__main__":
    main()
