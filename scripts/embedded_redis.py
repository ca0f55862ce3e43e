"""A Redis-protocol server in pure Python (fakeredis), for machines without redis-server.

Used by ``make run`` only; it keeps nothing on disk. Production uses real Redis.
"""

from __future__ import annotations

import argparse

from fakeredis import TcpFakeServer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=6390)
    args = parser.parse_args()
    server = TcpFakeServer((args.host, args.port), server_type="redis")
    print(f"embedded Redis listening on {args.host}:{args.port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
