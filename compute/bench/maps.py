"""``python -m compute.bench maps``: KPCovR maps, ours next to scikit-matter.

Prints, side by side:

1. full kernel PCovR (rbf, 2 components) fit + transform at 4,000 samples, ours and
   scikit-matter's ``KernelPCovR`` (same kernel, centring, ``KernelRidge(alpha)`` regressor);
2. our Nyström KPCovR at 100,000 samples x 200 features, M = 1,000 FPS active samples
   (scikit-matter has no sparse KPCovR; its full model would need an 80 GB kernel);
3. a mixing re-fit (slider move) at 10,000 samples, against a fresh fit.

Data are synthetic but shaped like descriptors: 200 smooth, correlated features generated from
an 8-dimensional latent manifold (SOAP features of real structures are similarly
low-dimensional), plus noise, and a smooth non-linear target. Peak memory is the process's
maximum resident set size (``resource.getrusage``), measured in a fresh subprocess per case.
``--quick`` divides the sizes by 10.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np


def make_data(n, n_features=200, seed=0):
    rng = np.random.default_rng(seed)
    L = rng.normal(size=(n, 8))
    A = rng.normal(size=(8, n_features)) / np.sqrt(8)
    X = np.tanh(L @ A) + 0.05 * rng.normal(size=(n, n_features))
    X -= X.mean(axis=0)
    X /= X.std(axis=0)
    y = np.sin(L[:, 0]) + 0.5 * L[:, 1] ** 2 - 0.3 * L[:, 2] * L[:, 3]
    y = (y - y.mean()) / y.std()
    return X, y


def _peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _case_full(n, which):
    from sklearn.metrics.pairwise import rbf_kernel

    X, y = make_data(n)
    gamma = 1.0 / X.shape[1]
    t0 = time.perf_counter()
    if which == "ours":
        from compute.decomposition import KernelPCovR

        m = KernelPCovR(mixing=0.5, n_components=2, gamma=gamma, regularization=1e-6).fit(X, y)
        T = m.transform(X)
    else:
        import warnings

        from sklearn.kernel_ridge import KernelRidge
        from skmatter.decomposition import KernelPCovR as SkKPCovR
        from skmatter.preprocessing import KernelNormalizer

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # same model as ours: centred rbf kernel, KRR regressor; skmatter's own centring
            # (KernelNormalizer) also divides by the trace, so centre the kernel outside
            K = rbf_kernel(X, gamma=gamma)
            Kc = KernelNormalizer(with_trace=False).fit_transform(K)
            m = SkKPCovR(mixing=0.5, n_components=2, kernel="precomputed", center=False,
                         regressor=KernelRidge(alpha=1e-6, kernel="precomputed")).fit(Kc, y)
            T = m.transform(Kc)
    dt = time.perf_counter() - t0
    return {"time_s": dt, "peak_mb": _peak_mb(), "T": np.asarray(T[:200]).tolist()}


def _case_sparse(n, m_active):
    from compute.decomposition import KernelPCovR

    X, y = make_data(n)
    t0 = time.perf_counter()
    model = KernelPCovR(mixing=0.5, n_components=2, gamma=1.0 / X.shape[1], n_active=m_active)
    model.fit(X, y)
    t_fit = time.perf_counter() - t0
    T = model.transform(X)
    dt = time.perf_counter() - t0
    r2 = 1 - np.sum((model.predict(X[:20000]) - y[:20000]) ** 2) / np.sum(y[:20000] ** 2)
    return {"time_s": dt, "fit_s": t_fit, "peak_mb": _peak_mb(), "T_shape": list(T.shape), "r2_train": float(r2)}


def _case_refit(n, m_active):
    from compute.decomposition import KernelPCovR

    X, y = make_data(n)
    out = {}
    t0 = time.perf_counter()
    model = KernelPCovR(mixing=0.5, n_components=2, gamma=1.0 / X.shape[1], n_active=m_active).fit(X, y)
    out["sparse_fit_s"] = time.perf_counter() - t0
    times = []
    for mixing in (0.1, 0.3, 0.7, 0.9):
        t0 = time.perf_counter()
        model.refit(mixing)
        _ = model.embedding_
        times.append(time.perf_counter() - t0)
    out["sparse_refit_s"] = float(np.median(times))
    n_full = min(n, 4000)
    t0 = time.perf_counter()
    full = KernelPCovR(mixing=0.5, n_components=2, gamma=1.0 / X.shape[1]).fit(X[:n_full], y[:n_full])
    out["full_fit_s"] = time.perf_counter() - t0
    times = []
    for mixing in (0.1, 0.9):
        t0 = time.perf_counter()
        full.refit(mixing)
        times.append(time.perf_counter() - t0)
    out["full_refit_s"] = float(np.median(times))
    out["full_n"] = n_full
    out["peak_mb"] = _peak_mb()
    return out


def _run_case(args):
    """Run one case in a fresh interpreter so that its peak RSS is its own."""
    cmd = [sys.executable, "-m", "compute.bench.maps", "--_case", json.dumps(args)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"benchmark case {args} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m compute.bench maps", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="sizes divided by 10")
    parser.add_argument("--no-skmatter", action="store_true", help="skip the scikit-matter runs")
    parser.add_argument("--_case", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._case:
        c = json.loads(args._case)
        kind = c.pop("kind")
        res = {"full": _case_full, "sparse": _case_sparse, "refit": _case_refit}[kind](**c)
        print(json.dumps(res))
        return 0

    div = 10 if args.quick else 1
    n_full, n_sparse, m_active, n_refit = 4000 // div, 100_000 // div, 1000 // div, 10_000 // div
    print("data: synthetic descriptor-like features (8-dim latent manifold -> 200 features), smooth target")
    print("kernel: rbf, gamma = 1/n_features; 2 components; mixing 0.5; regularization 1e-6")
    print()
    print(f"1. full KPCovR fit + transform, {n_full} samples x 200 features")
    ours = _run_case({"kind": "full", "n": n_full, "which": "ours"})
    print(f"   {'ours':<14} {ours['time_s']:8.2f} s   peak RSS {ours['peak_mb']:8.0f} MB")
    if not args.no_skmatter:
        try:
            sk = _run_case({"kind": "full", "n": n_full, "which": "skmatter"})
            a, b = np.array(ours["T"]), np.array(sk["T"])
            a = a * np.sign((a * b).sum(0))
            diff = np.linalg.norm(a - b) / np.linalg.norm(b)
            print(f"   {'scikit-matter':<14} {sk['time_s']:8.2f} s   peak RSS {sk['peak_mb']:8.0f} MB"
                  f"   (maps differ by {diff:.1e} relative; skmatter uses randomized SVD above 500 samples)")
        except (RuntimeError, ImportError) as exc:
            print(f"   scikit-matter: not run ({str(exc).splitlines()[0]})")
    print()
    print(f"2. Nystrom KPCovR fit + transform, {n_sparse} samples x 200 features, M = {m_active} (FPS)")
    sp = _run_case({"kind": "sparse", "n": n_sparse, "m_active": m_active})
    print(f"   {'ours':<14} {sp['time_s']:8.2f} s (fit {sp['fit_s']:.2f} s)   peak RSS {sp['peak_mb']:8.0f} MB"
          f"   train R2 {sp['r2_train']:.3f}")
    print(f"   {'scikit-matter':<14} n/a (no sparse KPCovR; full needs {n_sparse**2 * 8 / 1e9:.0f} GB per kernel)")
    print()
    print(f"3. mixing re-fit (slider move), {n_refit} samples")
    rf = _run_case({"kind": "refit", "n": n_refit, "m_active": m_active})
    print(f"   Nystrom M={m_active}: fit {rf['sparse_fit_s']:.2f} s, re-fit {rf['sparse_refit_s'] * 1e3:.1f} ms")
    print(f"   full ({rf['full_n']} samples): fit {rf['full_fit_s']:.2f} s, re-fit {rf['full_refit_s'] * 1e3:.1f} ms")
    print("   (scikit-matter has no re-fit: each slider move is a full fit)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
