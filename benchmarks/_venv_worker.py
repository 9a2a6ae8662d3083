"""Runs inside the peers' virtual environment (NumPy 1.26: scikit-rmt and freealg pin it).

One JSON request per line on stdin, one JSON answer per line on stdout. Each answer carries the
values and the seconds of the bare call (mean of ``repeat`` calls, timed here so that the pipe
costs nothing). Started and spoken to by :mod:`benchmarks.peer_venv`; not for direct use.
"""

import json
import sys
import time
import warnings

import numpy as np

warnings.filterwarnings("ignore")


def _call(op, a):
    x = np.asarray(a.get("x", []), dtype=float)
    if op == "skrmt_mp":
        from skrmt.ensemble.spectral_law import MarchenkoPasturDistribution

        law = MarchenkoPasturDistribution(ratio=a["ratio"], beta=1, sigma=1.0)
        return lambda: getattr(law, a["fn"])(x)
    if op == "freealg_mp_pdf":
        from freealg.distributions import MarchenkoPastur

        law = MarchenkoPastur(a["ratio"])
        return lambda: law.density(x)
    if op == "freealg_cfp":
        from freealg.distributions import CompoundFreePoisson

        return lambda: CompoundFreePoisson(a["t"], a["w"], a["lam"]).density(x)
    if op == "freealg_dmp":
        from freealg.distributions import DeformedMarchenkoPastur

        return lambda: DeformedMarchenkoPastur(a["t"], a["w"], a["c"]).density(x)
    raise ValueError(f"unknown op {op!r}")


def main():
    for line in sys.stdin:
        req = json.loads(line)
        try:
            if req["op"] == "versions":
                out = {}
                for name in ("numpy", "skrmt", "freealg"):
                    try:
                        out[name] = __import__(name).__version__
                    except Exception as exc:  # noqa: BLE001
                        out[name] = f"unavailable ({type(exc).__name__})"
                ans = {"ok": True, "values": out, "seconds": 0.0}
            else:
                f = _call(req["op"], req)
                val = f()                                   # warm-up, and the values
                r = int(req.get("repeat", 1))
                t0 = time.perf_counter()
                for _ in range(r):
                    val = f()
                sec = (time.perf_counter() - t0) / r
                val = np.asarray(val[0] if isinstance(val, tuple) else val, dtype=float)
                ans = {"ok": True, "seconds": sec,
                       "values": np.where(np.isfinite(val), val, np.nan).tolist()}
        except Exception as exc:  # noqa: BLE001 - report, keep serving
            ans = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(ans, allow_nan=True) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
