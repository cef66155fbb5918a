"""Timings of the database storage backend (filestore.postgres): write, verified read, a
deduplicated write and a delete, for files of several sizes.

    DATABASE_URL=postgres://…/throwaway .venv/bin/python -m bench.storage [--sizes 1,16,64]

It migrates the configured database and writes under its own namespace ("bench"), which it
deletes at the end: point it at a throw-away database.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,16,64", help="file sizes in MiB")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mindpulse.settings.main")
    os.environ.setdefault("SECRET_KEY", "bench-" + "x" * 60)
    import django

    django.setup()
    from django.core.files.base import ContentFile
    from django.core.management import call_command
    from django.db import connection

    from filestore.postgres import PostgresBlobStorage

    call_command("migrate", verbosity=0, interactive=False)
    storage = PostgresBlobStorage(namespace="bench")
    results = []
    for mib in (int(s) for s in args.sizes.split(",")):
        data = os.urandom(mib << 20)
        name = f"bench-{mib}.bin"
        storage.delete(name)
        timings = {}
        started = time.perf_counter()
        storage.save(name, ContentFile(data))
        timings["write_s"] = time.perf_counter() - started
        started = time.perf_counter()
        with storage.open(name) as handle:
            if handle.read() != data:
                raise SystemExit(f"{name}: the bytes read back differ from the bytes written")
        timings["read_s"] = time.perf_counter() - started
        started = time.perf_counter()
        storage.save(f"{name}.copy", ContentFile(data))
        timings["dedupe_write_s"] = time.perf_counter() - started
        started = time.perf_counter()
        storage.delete(f"{name}.copy")
        storage.delete(name)
        timings["delete_both_s"] = time.perf_counter() - started
        row = {"mib": mib, **{k: round(v, 3) for k, v in timings.items()}}
        row["write_mib_s"] = round(mib / timings["write_s"], 1)
        row["read_mib_s"] = round(mib / timings["read_s"], 1)
        results.append(row)
        print(
            f"{mib:>4} MiB: write {row['write_s']:.3f} s ({row['write_mib_s']} MiB/s), "
            f"verified read {row['read_s']:.3f} s ({row['read_mib_s']} MiB/s), "
            f"same bytes again {row['dedupe_write_s']:.3f} s, two deletes "
            f"{row['delete_both_s']:.3f} s"
        )
    load = os.getloadavg()[0]
    print(json.dumps({"engine": connection.vendor, "load_average_1m": load, "sizes": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
