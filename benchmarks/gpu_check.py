"""One-shot GPU check: device tests on cuda:0, every op against the CPU, training throughput
against PyTorch CUDA with a per-op profile of the engine's step and the kernels each step
launches, and an NCCL smoke test; a short table is printed last.

Made for a bare GPU machine (NumPy, CuPy, PyTorch, safetensors; maybe no pytest, no pip, no Qt)
and a budget of five minutes:

    python benchmarks/gpu_check.py [--device cuda:0] [--with-slow] [--skip-tests]

Without CuPy or a GPU it says so and exits with status 0. ``--device cpu`` runs every stage on
the CPU instead (a dry run of the script itself). Exit status 1 when a check fails.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib.util
import inspect
import re
import statistics
import sys
import tempfile
import time
import traceback
import types
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
REL_TOL = 1e-4

Row = tuple[str, str, str]  # stage, what, result


# ----------------------------------------------------------------------------- device tests


def run_device_tests(device: str, with_slow: bool, use_pytest: bool = True) -> Row:
    """The test suite's device-parametrised tests, on ``device`` only (pytest if present)."""
    t0 = time.perf_counter()
    if use_pytest and importlib.util.find_spec("pytest") is not None:
        passed, failed, skipped = _run_with_pytest(device, with_slow)
    else:
        print("pytest is not installed: running the device tests with the built-in runner")
        passed, failed, skipped = _run_with_shim(device, with_slow)
    secs = time.perf_counter() - t0
    verdict = "ok" if failed == 0 else "FAIL"
    return ("tests", f"device tests on {device}",
            f"{verdict}: {passed} passed, {failed} failed, {skipped} skipped ({secs:.0f}s)")


def _run_with_pytest(device: str, with_slow: bool) -> tuple[int, int, int]:
    import pytest

    class KeepDevice:
        def __init__(self) -> None:
            self.counts = {"passed": 0, "failed": 0, "skipped": 0}

        def pytest_collection_modifyitems(self, config: Any, items: list[Any]) -> None:
            keep, drop = [], []
            for item in items:
                params = getattr(getattr(item, "callspec", None), "params", {})
                slow = item.get_closest_marker("slow") is not None
                ok = params.get("device") == device and (with_slow or not slow)
                (keep if ok else drop).append(item)
            items[:] = keep
            config.hook.pytest_deselected(items=drop)

        def pytest_collectreport(self, report: Any) -> None:
            if report.failed:  # a test module that does not even import on this machine
                self.counts["failed"] += 1

        def pytest_runtest_logreport(self, report: Any) -> None:
            # Count each test once: its call, or the setup/teardown that failed or skipped it.
            if report.when == "call" or report.outcome != "passed":
                self.counts[report.outcome] += 1

    plugin = KeepDevice()
    pytest.main([str(ROOT / "tests" / "engine"), "-q", "-p", "no:cacheprovider"],
                plugins=[plugin])
    c = plugin.counts
    return c["passed"], c["failed"], c["skipped"]


class _Skip(Exception):
    pass


def _install_pytest_shim() -> types.ModuleType:
    """A minimal ``pytest`` (marks, fixtures, raises, warns, importorskip, approx) so the test
    modules import and run where pytest is not installed."""
    shim = types.ModuleType("pytest")

    class _Mark:
        def __init__(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            self.name, self.args, self.kwargs = name, args, kwargs

        def __call__(self, fn: Any) -> Any:
            fn.__dict__.setdefault("_marks", []).append(self)
            return fn

    class _MarkFactory:
        def __getattr__(self, name: str) -> Callable[..., _Mark]:
            def make(*args: Any, **kwargs: Any) -> Any:
                if name in ("slow",) and len(args) == 1 and callable(args[0]):
                    return _Mark(name, (), {})(args[0])
                return _Mark(name, args, kwargs)
            return make

        @property
        def slow(self) -> _Mark:
            return _Mark("slow", (), {})

    def fixture(fn: Any = None, **kwargs: Any) -> Any:
        def wrap(f: Any) -> Any:
            f._shim_fixture = kwargs.get("params")
            return f
        return wrap(fn) if callable(fn) else wrap

    class raises:  # noqa: N801 - pytest's name
        def __init__(self, exc: Any, match: str | None = None) -> None:
            self.exc, self.match = exc, match

        def __enter__(self) -> raises:
            return self

        def __exit__(self, typ: Any, value: Any, tb: Any) -> bool:
            if typ is None:
                raise AssertionError(f"DID NOT RAISE {self.exc}")
            if not issubclass(typ, self.exc):
                return False
            if self.match and not re.search(self.match, str(value)):
                raise AssertionError(f"{str(value)!r} does not match {self.match!r}")
            return True

    @contextlib.contextmanager
    def warns(category: Any = Warning, match: str | None = None) -> Iterator[None]:
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            yield
        if not any(issubclass(w.category, category) and (not match or re.search(
                match, str(w.message))) for w in rec):
            raise AssertionError(f"no {category.__name__} matching {match!r} was emitted")

    def importorskip(name: str, *a: Any, **k: Any) -> Any:
        try:
            return __import__(name, fromlist=["_"])
        except ImportError as exc:
            raise _Skip(f"{name} not importable") from exc

    def skip(reason: str = "") -> None:
        raise _Skip(reason)

    def approx(v: Any, rel: float = 1e-6, abs: float = 1e-12) -> Any:  # noqa: A002
        class _A:
            def __eq__(self, other: Any) -> bool:
                return bool(np.allclose(other, v, rtol=rel, atol=abs))
        return _A()

    shim.mark = _MarkFactory()
    shim.fixture, shim.raises, shim.warns = fixture, raises, warns
    shim.importorskip, shim.skip, shim.approx = importorskip, skip, approx
    shim.FixtureRequest = shim.MonkeyPatch = object
    sys.modules["pytest"] = shim
    return shim


def _expand(fn: Any) -> list[dict[str, Any]]:
    """The parameter sets of a test from its stacked ``parametrize`` marks."""
    cases: list[dict[str, Any]] = [{}]
    for mark in reversed(fn.__dict__.get("_marks", [])):
        if mark.name != "parametrize":
            continue
        arg = mark.args[0]
        names = [n.strip() for n in arg.split(",")] if isinstance(arg, str) else list(arg)
        new = []
        for case in cases:
            for values in mark.args[1]:
                vals = values if len(names) > 1 else (values,)
                new.append({**case, **dict(zip(names, vals))})
        cases = new
    return cases


def _run_with_shim(device: str, with_slow: bool) -> tuple[int, int, int]:
    _install_pytest_shim()
    fixtures: dict[str, Any] = {}
    counts = [0, 0, 0]
    for path in sorted((ROOT / "tests" / "engine").rglob("test_*.py")):
        conftests = [p for p in (ROOT / "tests" / "conftest.py", path.parent / "conftest.py")
                     if p.exists()]
        local = dict(fixtures)
        if str(path.parent) not in sys.path:  # sibling helper modules, as pytest's rootdir
            sys.path.insert(0, str(path.parent))
        try:
            for cf in conftests:
                local.update(_fixtures_of(_load(cf)))
            module = _load(path)
        except Exception as exc:  # a module that can't import without pytest's machinery
            print(f"  skip {path.relative_to(ROOT)}: {type(exc).__name__}: {exc}")
            continue
        local.update(_fixtures_of(module))
        for name, fn in list(vars(module).items()):
            if not name.startswith("test_") or not callable(fn):
                continue
            marks = {m.name for m in fn.__dict__.get("_marks", [])}
            if "slow" in marks and not with_slow:
                continue
            params = inspect.signature(fn).parameters
            try:
                cases = _expand(fn)
            except Exception as exc:
                print(f"  skip {path.name}::{name}: can't expand its parameters ({exc})")
                continue
            for case in cases:
                if not _needs_device(params, case, local):
                    continue
                outcome = _call_test(fn, params, case, local, device)
                counts[outcome] += 1
                if outcome == 1:
                    print(f"  FAILED {path.name}::{name}[{case}]")
    return counts[0], counts[1], counts[2]


def _load(path: Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(f"_gpucheck_{path.stem}_{abs(hash(path))}",
                                                  path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fixtures_of(module: types.ModuleType) -> dict[str, Any]:
    return {n: f for n, f in vars(module).items() if hasattr(f, "_shim_fixture")}


def _needs_device(params: Any, case: dict[str, Any], fixtures: dict[str, Any]) -> bool:
    todo, seen = [p for p in params if p not in case], set()
    while todo:
        p = todo.pop()
        if p == "device":
            return True
        if p in fixtures and p not in seen:
            seen.add(p)
            todo += list(inspect.signature(fixtures[p]).parameters)
    return False


def _call_test(fn: Any, params: Any, case: dict[str, Any], fixtures: dict[str, Any],
               device: str) -> int:
    """0 passed, 1 failed, 2 skipped."""
    stack = contextlib.ExitStack()
    cache: dict[str, Any] = {"device": device}

    def resolve(name: str) -> Any:
        if name in cache:
            return cache[name]
        if name == "tmp_path":
            cache[name] = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            return cache[name]
        if name not in fixtures:
            raise _Skip(f"fixture {name!r} is not available without pytest")
        f = fixtures[name]
        value = f(**{p: resolve(p) for p in inspect.signature(f).parameters})
        if inspect.isgenerator(value):
            gen = value
            value = next(gen)
            stack.callback(lambda: next(gen, None))
        cache[name] = value
        return value

    try:
        import engine

        engine.manual_seed(0)
        np.random.seed(0)
        with stack:
            for mark in fn.__dict__.get("_marks", []):
                if mark.name == "skipif" and mark.args and mark.args[0]:
                    raise _Skip(mark.kwargs.get("reason", ""))
            kwargs = {p: case[p] if p in case else resolve(p) for p in params}
            fn(**kwargs)
        return 0
    except _Skip:
        return 2
    except Exception:
        traceback.print_exc(limit=3)
        return 1


# ----------------------------------------------------------------------------- op parity


def _op_cases() -> list[tuple[str, Callable[..., Any], list[tuple[int, ...]]]]:
    """(name, fn(*tensors), float input shapes): every op of the engine core and issue 3."""
    import engine
    import engine.nn.functional as F

    idx = np.array([[1, 2, 1], [0, 7, 1]])
    target = np.array([1, 0, 3, 2])

    def dev_of(t: Any) -> Any:
        return t.device

    return [
        ("add/mul/div broadcast", lambda a, b: (a + b) * b / (b * b + 1), [(4, 5), (5,)]),
        ("exp/log/sqrt", lambda a: (a.exp() + 1).log() + (a * a + 1).sqrt(), [(4, 5)]),
        ("tanh/sigmoid/relu", lambda a: a.tanh() + a.sigmoid() * a.relu(), [(4, 5)]),
        ("pow/abs/clamp", lambda a: a.abs() ** 1.5 + a.clamp(-0.5, 0.5), [(4, 5)]),
        ("matmul batched", lambda a, b: a @ b, [(3, 4, 5), (5, 6)]),
        ("sum/mean/var/max", lambda a: a.sum(1) + a.mean(0).sum() + a.var(1) + a.max(1)[0],
         [(4, 5)]),
        ("softmax/log_softmax", lambda a: a.softmax(1) + a.log_softmax(0), [(4, 5)]),
        ("reshape/permute/index/cat", lambda a: engine.cat(
            [a.permute(1, 0).reshape(4, 5), a[1:3].repeat(2, 1)], 0), [(4, 5)]),
        ("linear", lambda x, w, b: F.linear(x, w, b), [(8, 5), (3, 5), (3,)]),
        ("cross_entropy", lambda x: F.cross_entropy(
            x, engine.tensor(target, device=dev_of(x))), [(4, 5)]),
        ("mse_loss/gelu", lambda a, b: F.mse_loss(F.gelu(a), b), [(4, 5), (4, 5)]),
        ("conv2d s2 p1 g2", lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1, groups=2),
         [(2, 4, 9, 8), (6, 2, 3, 3), (6,)]),
        ("conv2d same dil2", lambda x, w: F.conv2d(x, w, padding="same", dilation=2),
         [(2, 3, 8, 7), (5, 3, 3, 3)]),
        ("conv1d", lambda x, w: F.conv1d(x, w, stride=2, padding=1), [(2, 3, 11), (4, 3, 3)]),
        ("conv_transpose2d", lambda x, w, b: F.conv_transpose2d(
            x, w, b, stride=2, padding=1, output_padding=1), [(2, 4, 5, 5), (4, 3, 3, 3), (3,)]),
        ("max_pool2d ceil", lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True),
         [(2, 3, 9, 8)]),
        ("avg_pool2d", lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False),
         [(2, 3, 9, 8)]),
        ("adaptive pools", lambda x: F.adaptive_avg_pool2d(x, (4, 3)).sum()
         + F.adaptive_max_pool2d(x, (4, 3)).sum(), [(2, 3, 9, 8)]),
        ("batch_norm train", lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
         [(4, 3, 5, 5), (3,), (3,)]),
        ("layer_norm", lambda x, w, b: F.layer_norm(x, (5,), w, b), [(4, 3, 5), (5,), (5,)]),
        ("group_norm", lambda x, w, b: F.group_norm(x, 2, w, b), [(4, 6, 5), (6,), (6,)]),
        ("embedding", lambda w: F.embedding(engine.tensor(idx, device=dev_of(w)), w),
         [(8, 4)]),
        ("interpolate bilinear", lambda x: F.interpolate(x, scale_factor=1.7, mode="bilinear"),
         [(2, 3, 5, 6)]),
        ("interpolate nearest", lambda x: F.interpolate(x, size=(7, 9)), [(2, 3, 5, 6)]),
    ]


def _rel_err(a: Any, b: Any) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-6)) if b.size else 0.0


def _run_case(fn: Callable[..., Any], arrays: list[np.ndarray], device: str,
              weights: np.ndarray | None) -> tuple[np.ndarray, list[np.ndarray], np.ndarray]:
    import engine

    xs = [engine.tensor(a, device=device, requires_grad=True) for a in arrays]
    out = fn(*xs)
    if weights is None:
        weights = np.random.default_rng(1).standard_normal(out.shape).astype(np.float32)
    (out * engine.tensor(weights, device=device)).sum().backward()
    return out.detach().cpu().numpy(), [x.grad.cpu().numpy() for x in xs], weights


def check_ops(device: str) -> list[Row]:
    """Each op's output and input gradients on ``device`` against the CPU (float32)."""
    rows = []
    rng = np.random.default_rng(0)
    for name, fn, shapes in _op_cases() + _module_cases():
        arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
        try:
            ref_out, ref_grads, w = _run_case(fn, arrays, "cpu", None)
            out, grads, _ = _run_case(fn, arrays, device, w)
            err = max([_rel_err(out, ref_out)] + [_rel_err(g, r) for g, r in
                                                  zip(grads, ref_grads)])
            verdict = "ok" if err < REL_TOL else "FAIL"
            rows.append(("ops", name, f"{verdict}: rel err {err:.1e}"))
        except Exception as exc:
            rows.append(("ops", name, f"FAIL: {type(exc).__name__}: {str(exc)[:80]}"))
    return rows


def _module_cases() -> list[tuple[str, Callable[..., Any], list[tuple[int, ...]]]]:
    """Recurrent layers with identical weights on both devices (parameters built on the CPU)."""
    import engine
    from engine import nn

    def make(cls: Any, **kw: Any) -> Callable[..., Any]:
        engine.manual_seed(0)
        base = cls(5, 6, **kw)
        state = {k: v.detach().cpu().numpy().copy() for k, v in base.state_dict().items()}
        cache: dict[str, Any] = {}

        def fn(x: Any) -> Any:
            key = str(x.device)
            if key not in cache:
                m = cls(5, 6, **kw)
                m.load_state_dict(state)
                cache[key] = m.to(x.device)
            out, _ = cache[key](x)
            return out
        return fn

    return [
        ("LSTM 2 layers bidirectional", make(nn.LSTM, num_layers=2, bidirectional=True),
         [(7, 3, 5)]),
        ("GRU batch_first", make(nn.GRU, batch_first=True), [(3, 7, 5)]),
        ("RNN relu", make(nn.RNN, nonlinearity="relu"), [(7, 3, 5)]),
    ]


# ----------------------------------------------------------------------------- throughput


def _sync(lib: str, device: str) -> None:
    if device == "cpu":
        return
    if lib == "engine":
        import engine

        engine.cuda.synchronize(device)
    else:
        import torch

        torch.cuda.synchronize()


def _models(nn: Any) -> dict[str, Callable[[], Any]]:
    from benchmarks.bench_models import lenet
    from benchmarks.cnn_models import resnet18

    return {"MLP 784-128-10": lambda: nn.Sequential(nn.Flatten(), nn.Linear(784, 128),
                                                     nn.ReLU(), nn.Linear(128, 10)),
            "LeNet-5": lambda: lenet(nn),
            "ResNet-18": lambda: resnet18(nn)}


def time_training(device: str, batch: int = 256, steps: int = 40, rounds: int = 5) -> list[Row]:
    """Training samples/s of the MLP and LeNet-5 at ``batch`` and of ResNet-18 (CIFAR form) at
    batch 32, engine vs PyTorch CUDA, in alternating rounds (median)."""
    import engine
    import engine.nn
    import engine.optim
    from benchmarks._timing import interleaved_rates
    from benchmarks.bench_models import image_data
    from benchmarks.cnn_models import CIFAR_BATCH, cifar_data

    try:
        import torch

        tdev = "cuda" if device != "cpu" else "cpu"
        has_torch = device == "cpu" or torch.cuda.is_available()
    except ImportError:
        has_torch = False
    rows = []
    for name, build in _models(engine.nn).items():
        cnn = name == "ResNet-18"
        n = CIFAR_BATCH if cnn else batch
        xn, yn = cifar_data(n) if cnn else image_data(n)
        n_steps = max(1, steps // 8) if cnn and device == "cpu" else steps  # a CPU dry run
        engine.manual_seed(0)
        model = build().to(device)
        opt = engine.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        loss_fn = engine.nn.CrossEntropyLoss()
        x, y = engine.tensor(xn, device=device), engine.tensor(yn, device=device)

        def step(model: Any = model, opt: Any = opt, loss_fn: Any = loss_fn, x: Any = x,
                 y: Any = y) -> None:
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()

        steps_by_lib: dict[str, Callable[[], None]] = {"engine": step}
        if has_torch:
            tmodel = _models(torch.nn)[name]().to(tdev)
            topt = torch.optim.SGD(tmodel.parameters(), lr=0.01, momentum=0.9)
            tloss = torch.nn.CrossEntropyLoss()
            tx, ty = torch.from_numpy(xn).to(tdev), torch.from_numpy(yn).to(tdev)

            def tstep(m: Any = tmodel, o: Any = topt, lf: Any = tloss, tx: Any = tx,
                      ty: Any = ty) -> None:
                o.zero_grad()
                lf(m(tx), ty).backward()
                o.step()

            steps_by_lib["torch"] = tstep
        # Alternating rounds: one run of 50 steps per library swung from 0.48x to 0.80x
        # between two H200 sessions for the same code (the host side of a launch-bound step is
        # sensitive to whatever else the machine's CPUs do).
        libs = list(steps_by_lib)
        rates = dict(zip(libs, interleaved_rates(
            [steps_by_lib[lib] for lib in libs], n, n_steps, rounds, settle_s=0.1,
            syncs=[functools.partial(_sync, lib, device) for lib in libs])))
        eng = statistics.median(rates["engine"])
        text = f"engine {eng:.0f}"
        if "torch" in rates:
            ref = statistics.median(rates["torch"])
            per_round = [e / t for e, t in zip(rates["engine"], rates["torch"])]
            text += (f", torch {ref:.0f}, ratio {eng / ref:.2f} (rounds "
                     f"{min(per_round):.2f}-{max(per_round):.2f})")
        rows.append(("speed", f"{name} b{n} samples/s", text + f", median of {rounds}"))
    return rows


def profile_steps(device: str, batch: int = 256) -> list[Row]:
    """Host vs device-synchronised time per engine step, and the costliest ops, for LeNet-5 and
    the LSTM: the next thing to optimise on this device (see ``benchmarks/op_profile.py``)."""
    from benchmarks.op_profile import device_sync, engine_step, op_times, summary

    rows = []
    for which, b in (("lenet", batch), ("lstm", 64)):
        report = op_times(engine_step(which, b, device), device_sync(device))
        rows.append(("profile", f"{which} b{b} engine step", summary(report, top=4)))
    return rows


def count_launches(device: str, batch: int = 256) -> list[Row]:
    """Kernels launched per training step of LeNet-5 and the LSTM, engine and PyTorch, counted
    by CUPTI through ``torch.profiler`` (it sees CuPy's kernels too). Why: a small network's
    GPU step is bound by launches, so this count is the figure to lower."""
    if device == "cpu":
        return [("launches", "kernels per step", "skipped on the CPU")]
    try:
        import torch
        from torch.profiler import ProfilerActivity, profile
    except ImportError:
        return [("launches", "kernels per step", "skipped: needs torch with CUDA")]
    from benchmarks.bench_models import (
        image_data,
        lenet,
        lstm_classifier,
        sequence_data,
        train_step,
    )
    from benchmarks.op_profile import device_sync, engine_step

    def per_step(step: Callable[[], None], sync: Callable[[], None], n: int = 3) -> float:
        for _ in range(3):
            step()
        sync()
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            for _ in range(n):
                step()
            sync()
        return sum(e.device_type.name == "CUDA" for e in prof.events()) / n

    rows = []
    for which, b in (("lenet", batch), ("lstm", 64)):
        eng = per_step(engine_step(which, b, device), device_sync(device))
        torch.manual_seed(0)
        model = (lenet(torch.nn) if which == "lenet" else lstm_classifier(torch.nn)).cuda()
        xn, yn = image_data(b) if which == "lenet" else sequence_data(b)
        tstep = train_step(torch, model, torch.from_numpy(xn).cuda(),
                           torch.from_numpy(yn).cuda())
        ref = per_step(tstep, torch.cuda.synchronize)
        rows.append(("launches", f"{which} b{b} kernels per step",
                     f"engine {eng:.0f}, torch {ref:.0f}"))
    return rows


# ----------------------------------------------------------------------------- NCCL


def nccl_smoke(device: str) -> Row:
    """All-reduce a vector across every GPU (one process, one communicator per device)."""
    if device == "cpu":
        return ("nccl", "all-reduce", "skipped on the CPU")
    try:
        import cupy
        from cupy.cuda import nccl
    except ImportError as exc:
        return ("nccl", "all-reduce", f"skipped: {exc}")
    n = cupy.cuda.runtime.getDeviceCount()
    try:
        comms = nccl.NcclCommunicator.initAll(list(range(n)))
        bufs = []
        for d in range(n):
            with cupy.cuda.Device(d):
                bufs.append(cupy.full(1024, d + 1, dtype=cupy.float32))
        nccl.groupStart()
        for d, comm in enumerate(comms):
            with cupy.cuda.Device(d):
                comm.allReduce(bufs[d].data.ptr, bufs[d].data.ptr, 1024, nccl.NCCL_FLOAT32,
                               nccl.NCCL_SUM, cupy.cuda.Stream.null.ptr)
        nccl.groupEnd()
        expect = n * (n + 1) / 2
        for d in range(n):
            with cupy.cuda.Device(d):
                cupy.cuda.Device(d).synchronize()
                if not bool((bufs[d] == expect).all()):
                    return ("nccl", f"all-reduce over {n} GPU(s)", f"FAIL on device {d}")
        return ("nccl", f"all-reduce over {n} GPU(s)", "ok")
    except Exception as exc:
        return ("nccl", "all-reduce", f"FAIL: {type(exc).__name__}: {exc}")


def engine_nccl_check(device: str) -> Row:
    """The engine's own NCCL path (bucketed all-reduce, broadcast, DataParallel over the GPUs
    against a float64 CPU run), via ``engine.parallel.nccl_self_check``."""
    if device == "cpu":
        return ("nccl", "engine.parallel.nccl_self_check", "skipped on the CPU")
    try:
        from engine.parallel import nccl_self_check

        report = nccl_self_check(verbose=True)
    except Exception as exc:
        traceback.print_exc()
        return ("nccl", "engine.parallel.nccl_self_check", f"FAIL: {type(exc).__name__}: {exc}")
    return ("nccl", "engine.parallel.nccl_self_check",
            f"ok: {report.get('gpus')} GPU(s), NCCL {report.get('nccl_version')}")


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--with-slow", action="store_true", help="also the slow tests")
    parser.add_argument("--skip-tests", action="store_true", help="skip the test suite stage")
    parser.add_argument("--steps", type=int, default=50,
                        help="timed training steps per round (five alternating rounds)")
    parser.add_argument("--no-pytest", action="store_true",
                        help="use the built-in test runner even when pytest is installed")
    args = parser.parse_args(argv)
    import engine

    if args.device != "cpu" and not engine.cuda.is_available():
        print(f"gpu_check: no usable CUDA GPU here ({engine.cuda.unavailable_reason()}); "
              f"nothing to check. Run it on a machine with a GPU and CuPy.")
        return 0
    if args.device != "cpu":
        print(f"gpu_check on {args.device}: {engine.cuda.get_device_name(args.device)}, "
              f"{engine.cuda.device_count()} GPU(s)")
    t0 = time.perf_counter()
    rows: list[Row] = []
    stages: list[tuple[str, Callable[[], Any]]] = [
        ("ops", lambda: check_ops(args.device)),
        ("speed", lambda: time_training(args.device, 256, args.steps)),
        ("profile", lambda: profile_steps(args.device)),
        ("launches", lambda: count_launches(args.device)),
        ("nccl", lambda: [nccl_smoke(args.device), engine_nccl_check(args.device)]),
    ]
    if not args.skip_tests:
        stages.insert(0, ("tests", lambda: [run_device_tests(args.device, args.with_slow,
                                                           not args.no_pytest)]))
    for stage, run in stages:
        try:
            rows += run()
        except Exception as exc:  # one broken stage must not hide the others' results
            traceback.print_exc()
            rows.append((stage, "stage crashed", f"FAIL: {type(exc).__name__}: {exc}"))
    if args.device != "cpu":
        rows.append(("memory", "engine.cuda.memory_allocated()",
                     f"{engine.cuda.memory_allocated(args.device) / 2**20:.1f} MiB"))
    rows.append(("total", "wall time", f"{time.perf_counter() - t0:.0f}s"))
    width = max(len(r[1]) for r in rows) + 2
    print("\n" + "=" * (width + 51))
    for stage, what, result in rows:
        print(f"{stage:<9}{what:<{width}}{result}")
    failed = [r for r in rows if "FAIL" in r[2]]
    print(f"{len(failed)} failure(s)" if failed else "all checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
