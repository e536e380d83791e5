#!/usr/bin/env python
"""Scaling benchmarks (issue 18). One subcommand per section:

* `ray-vs-local` (a): the same real JPEGs indexed from a cold workspace by `--engine local` and by
  `--engine ray` on this machine, each in a fresh process (models load inside the timing for both). Prints
  images/s of each and the ratio Ray / local (target >= 0.8: Ray's overhead must not eat a small machine);
  the cluster's start-up is timed apart (paid once per process, or never with `ray start --head`).
* `gpu-throughput` (d): images/s of open_clip ViT-B-32 (random weights) in fp16 on one GPU, end to end:
  Ray Data decode tasks running the indexer's own `prepare` (read, hash, decode, crop) on every CPU feed one
  GPU actor. Refuses without CUDA. Also prints the bare GPU forward on random input, the ceiling.

Usage:
  python scripts/bench_scale.py ray-vs-local [--images 2000] [--profile starter]
  python scripts/bench_scale.py gpu-throughput [--images 20000] [--side 256] [--batch-size 512]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_e2e import write_bench_corpus  # noqa: E402


# ------------------------------------------------------------------------------ (a) ray vs local
def run_engine_once(engine: str, corpus: Path, home: Path, profile: str, batch_size: int) -> dict:
    """Index `corpus` into a new workspace `home` with `engine`, in this process; the figures as a dict."""
    from indexer.pipeline.run import index_paths
    from indexer.workspace import Workspace

    cluster_s = 0.0
    if engine == "ray":
        import ray

        t0 = time.perf_counter()
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
        cluster_s = time.perf_counter() - t0
    ws = Workspace.open(home)
    t0 = time.perf_counter()
    summary = index_paths(ws, [str(corpus)], "bench", profile=profile, batch_size=batch_size, progress=False,
                          engine=engine)
    seconds = time.perf_counter() - t0
    return {"engine": engine, "images": summary.added + summary.duplicates, "failed": summary.failed,
            "seconds": seconds, "cluster_start_s": cluster_s}


def bench_ray_vs_local(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        paths = write_bench_corpus(root / "corpus", args.images)
        print(f"corpus: {len(paths)} JPEGs, longer side 1024 ({time.perf_counter() - t0:.0f} s to write); "
              f"{os.cpu_count()} CPUs; profile {args.profile}, batch {args.batch_size}", flush=True)
        results = {}
        for engine in args.order.split(","):
            child = [sys.executable, __file__, "_engine-run", engine, str(root / "corpus" / "jpegs"),
                     str(root / f"ws-{engine}"), args.profile, str(args.batch_size)]
            out = subprocess.run(child, check=True, capture_output=True, text=True)
            results[engine] = json.loads(out.stdout.strip().splitlines()[-1])
            r = results[engine]
            print(f"{engine:>5}: {r['images']} images in {r['seconds']:.1f} s = {r['images'] / r['seconds']:.1f} "
                  f"images/s" + (f" (+ {r['cluster_start_s']:.1f} s cluster start)" if engine == "ray" else ""),
                  flush=True)
    local, ray_r = results["local"], results["ray"]
    assert local["images"] == ray_r["images"] == args.images, (local, ray_r)
    ratio = local["seconds"] / ray_r["seconds"]
    with_start = local["seconds"] / (ray_r["seconds"] + ray_r["cluster_start_s"])
    print(f"ratio ray/local throughput: {ratio:.2f} (target >= 0.8); {with_start:.2f} counting the cluster start")


# ------------------------------------------------------------------------------ (d) GPU throughput
class ClipFp16Actor:
    """One GPU actor: open_clip ViT-B-32 with random weights, fp16; uint8 crops in, unit vectors out."""

    def __init__(self, mean: tuple, std: tuple) -> None:
        import open_clip
        import torch

        self.torch = torch
        self.model = open_clip.create_model("ViT-B-32", pretrained=None).half().cuda().eval()
        self.mean = torch.tensor(mean, device="cuda", dtype=torch.float16).view(1, 3, 1, 1)
        self.std = torch.tensor(std, device="cuda", dtype=torch.float16).view(1, 3, 1, 1)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        torch = self.torch
        with torch.inference_mode():
            x = torch.from_numpy(batch["px"]).cuda(non_blocking=True).permute(0, 3, 1, 2).half().div_(255)
            v = self.model.encode_image((x - self.mean) / self.std)
            v = torch.nn.functional.normalize(v.float(), dim=-1)
        return {"dim": np.full(len(v), v.shape[1]), "norm_ok": (v.norm(dim=-1) > 0.99).cpu().numpy()}


def decode_for_clip(batch: dict[str, np.ndarray], recipe) -> dict[str, np.ndarray]:  # noqa: ANN001
    """The indexer's own per-file work (`prepare`: read, sha256, decode, crop) for each path."""
    from indexer.pipeline.prepare import PrepareTask, prepare

    done = [prepare(PrepareTask(str(p), (("clip", recipe),), 1024)) for p in batch["path"]]
    return {"px": np.stack([d.pixels["clip"] for d in done if d.ok])}


def bench_gpu_throughput(args: argparse.Namespace) -> None:
    import torch

    if not torch.cuda.is_available():
        sys.exit("gpu-throughput needs a CUDA GPU (torch.cuda.is_available() is False here); run it on a GPU "
                 "machine with the ray extra installed")
    import open_clip
    import ray
    import ray.data

    from indexer.encoders.preprocess import Preprocess

    recipe = Preprocess(size=224, crop="center", resize_to=224, mean=open_clip.OPENAI_DATASET_MEAN,
                        std=open_clip.OPENAI_DATASET_STD)
    with tempfile.TemporaryDirectory(prefix="bench-gpu-") as tmp:
        paths = write_bench_corpus(Path(tmp), args.images, side=args.side)
        ray.init(address=args.ray_address, include_dashboard=False, log_to_driver=False)
        bare = _bare_forward(args.batch_size)
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        ds = ray.data.from_items([{"path": str(p)} for p in paths], override_num_blocks=min(len(paths) // 64 + 1, 2000))
        ds = ds.map_batches(decode_for_clip, fn_kwargs={"recipe": recipe}, batch_size=64, batch_format="numpy",
                            num_cpus=1, memory=256 * 2**20)
        ds = ds.map_batches(ClipFp16Actor, fn_constructor_kwargs={"mean": recipe.mean, "std": recipe.std},
                            batch_size=args.batch_size, batch_format="numpy", num_gpus=1,
                            compute=ray.data.ActorPoolStrategy(size=1))
        t0 = time.perf_counter()
        n = sum(len(b["dim"]) for b in ds.iter_batches(batch_size=None, batch_format="numpy"))
        seconds = time.perf_counter() - t0
    print(f"{n} JPEGs of longer side {args.side}, {int(ray.cluster_resources().get('CPU', 0))} CPUs + 1 GPU "
          f"({torch.cuda.get_device_name(0)}): {n / seconds:,.0f} images/s end to end (target >= 5,000), "
          f"bare fp16 forward {bare:,.0f} images/s; actor start-up included")


def _bare_forward(batch_size: int, rounds: int = 20) -> float:
    """images/s of the fp16 ViT-B-32 forward alone on random input already on the GPU."""
    import open_clip
    import torch

    model = open_clip.create_model("ViT-B-32", pretrained=None).half().cuda().eval()
    x = torch.randn(batch_size, 3, 224, 224, device="cuda", dtype=torch.float16)
    with torch.inference_mode():
        for _ in range(3):
            model.encode_image(x)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(rounds):
            model.encode_image(x)
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    del model
    torch.cuda.empty_cache()
    return rounds * batch_size / seconds


# ------------------------------------------------------------------------------ command line
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="section", required=True)
    p = sub.add_parser("ray-vs-local", help="(a) Ray vs local indexing throughput on this machine")
    p.add_argument("--images", type=int, default=2000)
    p.add_argument("--profile", default="starter", choices=["starter", "tiny", "full"])
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--order", default="local,ray", help="engines in the order they run")
    p.set_defaults(func=bench_ray_vs_local)
    p = sub.add_parser("gpu-throughput", help="(d) open_clip ViT-B-32 fp16 images/s on one GPU, decoding included")
    p.add_argument("--images", type=int, default=20000)
    p.add_argument("--side", type=int, default=256, help="longer side of the generated JPEGs")
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--ray-address", help="join this cluster (default: start one on this machine)")
    p.set_defaults(func=bench_gpu_throughput)
    return parser


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_engine-run"]:  # the child process of ray-vs-local: one engine, cold
        engine, corpus, home, profile, batch = argv[1:6]
        print(json.dumps(run_engine_once(engine, Path(corpus), Path(home), profile, int(batch))))
        return
    args = build_parser().parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
