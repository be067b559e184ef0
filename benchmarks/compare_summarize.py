"""``summarize`` of this checkout against the one at a git revision, side by side in one
process, on the tensors that stress different paths (random floats, ReLU outputs with half
exact zeros, scattered NaN, narrow floats):

    .venv/bin/python benchmarks/compare_summarize.py --ref 0da8b78
    .venv/bin/python benchmarks/compare_summarize.py --ref HEAD~3 --size 1e7 --repeats 5

The other revision's ``py_backend/tensorpeek`` is extracted with ``git archive`` into a
temporary directory and imported as ``tensorpeek_ref`` (its absolute imports rewritten), so
both run on the same tensors, interleaved in every repeat; medians are printed, with
``x.sum()`` as the one-pass floor. The statistics of both are compared too: counts must be
equal, moments within 1e-6.
"""

from __future__ import annotations

import argparse
import math
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
ALIAS = "tensorpeek_ref"


def import_revision(ref: str, into: Path) -> Callable[..., object]:
    """``summarize`` of revision ``ref``, importable next to this checkout's."""
    archive = subprocess.run(
        ["git", "archive", ref, "py_backend/tensorpeek"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    tar_path = into / "ref.tar"
    tar_path.write_bytes(archive)
    with tarfile.open(tar_path) as tar:
        tar.extractall(into, filter="data")
    package = into / ALIAS
    (into / "py_backend" / "tensorpeek").rename(package)
    pattern = re.compile(r"\btensorpeek(?=[.\s]|$)", re.MULTILINE)
    for path in package.rglob("*.py"):
        path.write_text(pattern.sub(ALIAS, path.read_text()))
    for source in package.rglob("csrc/reduce.c"):
        build_kernel(source, source.parent.parent / "_reduce.so")
    sys.path.insert(0, str(into))
    module = __import__(ALIAS, fromlist=["summarize"])
    return module.summarize  # type: ignore[no-any-return]


def build_kernel(source: Path, target: Path) -> None:
    """Compile the revision's fused kernel the way ``hatch_build.py`` does, beside its
    ``native`` module, so both sides run their kernel (not one of them the torch path)."""
    sys.path.insert(0, str(ROOT))
    from hatch_build import ATTEMPTS, FLAGS, _compiler

    sys.path.remove(str(ROOT))
    cc = _compiler()
    if cc is None:
        print(f"note: no C compiler; {source} not built, the reference runs its torch path")
        return
    for extra in ATTEMPTS:
        cmd = [cc, *FLAGS, *extra, "-o", str(target), str(source), "-lpthread", "-lm"]
        if subprocess.run(cmd, capture_output=True, check=False).returncode == 0:
            return
    print(f"note: {source} did not compile; the reference runs its torch path")


def cases(n: int) -> dict[str, Callable[[], torch.Tensor]]:
    def scattered_nan() -> torch.Tensor:
        x = torch.randn(n, generator=torch.Generator().manual_seed(0))
        where = torch.randint(0, n, (n // 100,), generator=torch.Generator().manual_seed(1))
        x[where] = math.nan
        return x

    def normal() -> torch.Tensor:
        return torch.randn(n, generator=torch.Generator().manual_seed(0))

    return {
        "f32 randn": normal,
        "bf16 randn": lambda: normal().bfloat16(),
        "f16 randn": lambda: normal().half(),
        "f32 relu": lambda: torch.relu(normal()),
        "bf16 relu": lambda: torch.relu(normal()).bfloat16(),
        "f32 1% NaN": scattered_nan,
    }


def agree(a: object, b: object) -> bool:
    for key in ("nan", "posinf", "neginf", "zeros", "finite", "min", "max"):
        if getattr(a, key) != getattr(b, key):
            return False
    for key in ("mean", "std", "norm", "absmean"):
        x, y = getattr(a, key), getattr(b, key)
        if (x is None) != (y is None) or (x is not None and abs(x - y) > 1e-6 * abs(y) + 1e-12):
            return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ref", required=True, help="git revision to compare with")
    parser.add_argument("--size", default="5e7", help="elements per tensor")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    from tensorpeek import summarize

    with tempfile.TemporaryDirectory() as tmp:
        reference = import_revision(args.ref, Path(tmp))
        ref_native = sys.modules.get(f"{ALIAS}.native") or sys.modules.get(
            f"{ALIAS}.summary.native"
        )
        if ref_native is not None:
            print(f"{args.ref}: {ref_native.status()}")  # type: ignore[attr-defined]
        n = int(float(args.size))
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
              f"medians of {args.repeats} interleaved repeats; {n / 1e6:g}M elements")  # fmt: skip
        print(f"{'tensor':12s} {'x.sum()':>9s} {args.ref[:10]:>10s} {'this':>9s} "
              f"{'speedup':>8s}  agree")  # fmt: skip
        for name, make in cases(n).items():
            ms, same = time_case(make(), reference, summarize, args.repeats)
            print(f"{name:12s} {ms['sum']:7.2f}ms {ms['ref']:8.1f}ms {ms['this']:7.1f}ms "
                  f"{ms['ref'] / ms['this']:7.2f}x  {'yes' if same else 'NO'}")  # fmt: skip


def time_case(
    x: torch.Tensor,
    reference: Callable[..., object],
    summarize: Callable[..., object],
    repeats: int,
) -> tuple[dict[str, float], bool]:
    """Median milliseconds of ``x.sum()``, the reference and this checkout, interleaved."""
    contenders: dict[str, Callable[[], object]] = {
        "sum": lambda: x.sum(),
        "ref": lambda: reference(x),
        "this": lambda: summarize(x),
    }
    for fn in contenders.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in contenders}
    for _ in range(repeats):
        for key, fn in contenders.items():
            t0 = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - t0)
    ms = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    return ms, agree(summarize(x), reference(x))


if __name__ == "__main__":
    main()
