"""FlexAttention for a 7 x 7 neighbourhood: the blocks `ylg-masks order` predicts against the
time torch's kernel takes, in row-major and in the order ranked first, next to SDPA with a mask.

Usage:  .venv/bin/python benchmarks/bench_flex_gpu.py [--device cuda] [--sides 64,128]
            [--dtypes float32,bfloat16] [--spec neighborhood:kernel=7] [--reps 10]
            [--json out.json]
        .venv/bin/python benchmarks/bench_flex_gpu.py --smoke     # tiny, on CPU, forward only

For each side S (N = S * S tokens, batch 4, one head a step, head size 64) and dtype, it builds
the pattern `--spec` (default NATTEN's 7 x 7 neighbourhood; `axial` is one whose best order is not
row-major) as a mask set and times, forward
and backward (the backward of the output's sum; forward only on CPU, where torch's flex has
no backward):

- `flex-rowmajor`: compiled `flex_attention` with the block mask over row-major tokens;
- `flex-best`: the same in the token order `ifg.blocks.order` ranks first
  (`ylg.attention.flex.ordered_flex_mask`: the tensors renumbered, the output put back);
- `sdpa-mask`: `F.scaled_dot_product_attention` with the dense boolean (N, N) mask.

Each row gives the computed 128 x 128 blocks `ifg` predicts for the order and the blocks torch's
`BlockMask` holds (they must agree), the median time over `--reps` calls after a warm-up, and
the time per computed block. This is #26's step 1 (docs/benchmarks.md, "On a GPU").
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings

import torch
import torch.nn.functional as F


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _time(fn, device: str, reps: int) -> float:
    fn()  # warm-up (compiles on the first call)
    _sync(device)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run(device: str, side: int, dtype: torch.dtype, spec: str, reps: int,
        backward: bool, compile_flex: bool) -> list[dict]:
    import ifg
    from ifg.blocks import order
    from ifg.maskset import to_maskset
    from ylg.attention.flex import ordered_flex_mask

    masks = to_maskset(ifg.pattern(spec, grid=(side, side)), query_grid=(side, side))
    n, batch, heads, d = side * side, 4, masks.num_heads, 64
    predicted = {o["enumeration"]: o["computed"] for o in order(masks, 128).orders}
    gen = torch.Generator(device="cpu").manual_seed(0)
    q, k, v = (torch.randn(batch, heads, n, d, generator=gen).to(device, dtype).requires_grad_(backward)
               for _ in range(3))
    from torch.nn.attention.flex_attention import flex_attention

    flex = torch.compile(flex_attention) if compile_flex else flex_attention
    rows = []
    for name in ("rowmajor", "auto"):
        fm = ordered_flex_mask(masks, name, device=device)
        bm = fm.block_mask
        held = int(bm.kv_num_blocks.sum() + bm.full_kv_num_blocks.sum())

        def call(fm=fm):
            out = fm.attend(q, k, v, kernel=flex)
            if backward:
                out.sum().backward()
            return out

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            seconds = _time(call, device, reps)
        rows.append({"method": f"flex-{'best' if name == 'auto' else name}",
                     "order": fm.enumeration, "predicted_blocks": predicted[fm.enumeration],
                     "blocks": held, "seconds": seconds})
    dense = torch.from_numpy(masks.to_dense()).to(device)[None]  # (1, heads, N, N)

    def sdpa():
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=dense)
        if backward:
            out.sum().backward()
        return out

    rows.append({"method": "sdpa-mask", "order": "rowmajor", "predicted_blocks": None,
                 "blocks": None, "seconds": _time(sdpa, device, reps)})
    for r in rows:
        r.update(spec=spec, side=side, n=n, dtype=str(dtype).removeprefix("torch."),
                 device=device, backward=backward)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--sides", default="64,128")
    ap.add_argument("--dtypes", default="float32,bfloat16")
    ap.add_argument("--spec", default="neighborhood:kernel=7")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--json", default=None)
    ap.add_argument("--smoke", action="store_true", help="tiny, on CPU, forward only, eager")
    args = ap.parse_args()
    if args.smoke:
        args.device, args.sides, args.dtypes, args.reps = "cpu", "16", "float32", 1
    on_cpu = args.device == "cpu"
    if args.device.startswith("cuda"):
        print(f"device: {torch.cuda.get_device_name()}")
    rows = []
    for side in (int(s) for s in args.sides.split(",")):
        for dt in args.dtypes.split(","):
            rows += run(args.device, side, getattr(torch, dt), args.spec, args.reps,
                        backward=not on_cpu, compile_flex=not args.smoke)
    print(f"{args.spec}, batch 4, head size 64, {'forward only' if on_cpu else 'fwd+bwd'}\n")
    print("| tokens | dtype | method | order | blocks predicted | blocks in BlockMask | "
          "ms | us / block | vs flex-rowmajor |")
    print("|---|---|---|---|---:|---:|---:|---:|---:|")
    for r in rows:
        base = next(x for x in rows if x["side"] == r["side"] and x["dtype"] == r["dtype"]
                    and x["method"] == "flex-rowmajor")
        per = f"{r['seconds'] / r['blocks'] * 1e6:.1f}" if r["blocks"] else "-"
        print(f"| {r['side']}x{r['side']} | {r['dtype']} | {r['method']} | {r['order']} | "
              f"{r['predicted_blocks'] or '-'} | {r['blocks'] or '-'} | "
              f"{r['seconds'] * 1e3:.2f} | {per} | {base['seconds'] / r['seconds']:.2f}x |")
        if r["blocks"] is not None and r["blocks"] != r["predicted_blocks"]:
            print(f"  (!) torch holds {r['blocks']} blocks where ifg predicted "
                  f"{r['predicted_blocks']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
