"""Ask the Ray autoscaler for N GPUs now and wait until they have joined; `0` withdraws the request.

An autoscaling cluster starts with no GPU node (min_workers 0), and the search checks at start-up that one
trial fits the cluster; this bridges the two: run it on the head before the search, and with 0 afterwards
(a standing request keeps the nodes alive, so forgetting it keeps paying for them).

    python ~/selfre/cluster/request_gpus.py 8          # 8 x {GPU: 1, CPU: 1} bundles, wait up to 20 min
    python ~/selfre/cluster/request_gpus.py 0          # release: idle nodes go after idle_timeout_minutes
"""

from __future__ import annotations

import argparse
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("gpus", type=int, help="GPUs to hold (one {GPU: 1, CPU: 1} bundle each); 0 releases")
    parser.add_argument("--address", default="auto", help="Ray cluster address (default: auto, the local head)")
    parser.add_argument("--wait", type=float, default=1200, metavar="SECONDS", help="give up after this long")
    args = parser.parse_args(argv)

    import ray
    from ray.autoscaler.sdk import request_resources

    ray.init(address=args.address, logging_level="WARNING")
    request_resources(bundles=[{"GPU": 1, "CPU": 1}] * args.gpus)  # replaces any earlier request
    deadline = time.time() + args.wait
    while (have := ray.cluster_resources().get("GPU", 0)) < args.gpus:
        if time.time() > deadline:
            print(f"only {have:g} of {args.gpus} GPUs joined in {args.wait:g}s; check `ray status`", file=sys.stderr)
            return 1
        time.sleep(10)
    print(f"cluster holds {ray.cluster_resources().get('GPU', 0):g} GPU(s); requested {args.gpus}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
