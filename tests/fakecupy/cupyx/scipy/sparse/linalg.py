"""``cupyx.scipy.sparse.linalg`` of the CuPy stand-in: ``LinearOperator`` and
``aslinearoperator`` with CuPy's interface (SciPy's, on device arrays) and ``cg`` with CuPy's
signature and stopping rule (``‖r‖ ≤ max(tol·‖b‖, atol)``); the other solvers are not
implemented."""

from cupy import _standin as _s
from cupy._names import NAMES as _NAMES


class LinearOperator:
    """``LinearOperator(shape, matvec, rmatvec=None, matmat=None, dtype=None, rmatmat=None)``,
    or a subclass defining ``_matvec`` / ``_matmat`` (CuPy's and SciPy's interface)."""

    ndim = 2

    def __new__(cls, *args, **kwargs):
        if cls is LinearOperator:
            return super().__new__(_CustomLinearOperator)
        return super().__new__(cls)

    def __init__(self, dtype, shape):
        import numpy  # noqa: PLC0415
        shape = tuple(int(n) for n in shape)
        if len(shape) != 2:
            raise ValueError(f"invalid shape {shape!r} (must be 2-d)")
        self.dtype = None if dtype is None else numpy.dtype(dtype)
        self.shape = shape

    def _init_dtype(self):
        if self.dtype is None:
            import cupy  # noqa: PLC0415
            self.dtype = self.matvec(cupy.zeros(self.shape[-1])).dtype

    def _matmat(self, X):
        import cupy  # noqa: PLC0415
        return cupy.hstack([self.matvec(col.reshape(-1, 1)) for col in X.T])

    def _matvec(self, x):
        return self.matmat(x.reshape(-1, 1))

    def matvec(self, x):
        M, N = self.shape
        if x.shape not in ((N,), (N, 1)):
            raise ValueError("dimension mismatch")
        y = self._matvec(x)
        return y.reshape(M) if x.ndim == 1 else y.reshape(M, 1)

    def rmatvec(self, x):
        M, N = self.shape
        if x.shape not in ((M,), (M, 1)):
            raise ValueError("dimension mismatch")
        y = self._rmatvec(x)
        return y.reshape(N) if x.ndim == 1 else y.reshape(N, 1)

    def _rmatvec(self, x):
        raise NotImplementedError

    def matmat(self, X):
        if X.ndim != 2:
            raise ValueError(f"expected 2-d ndarray or matrix, not {X.ndim}-d")
        if X.shape[0] != self.shape[1]:
            raise ValueError(f"dimension mismatch: {self.shape!r}, {X.shape!r}")
        return self._matmat(X)

    def rmatmat(self, X):
        if X.ndim != 2:
            raise ValueError(f"expected 2-d ndarray or matrix, not {X.ndim}-d")
        import cupy  # noqa: PLC0415
        return cupy.hstack([self.rmatvec(col.reshape(-1, 1)) for col in X.T])

    def __call__(self, x):
        return self @ x

    def dot(self, x):
        return self.matvec(x) if x.ndim == 1 else self.matmat(x)

    def __matmul__(self, x):
        return self.dot(x)

    def adjoint(self):
        raise NotImplementedError("adjoint is not implemented by the stand-in")

    H = property(adjoint)
    transpose = adjoint
    T = property(adjoint)

    def __repr__(self):
        return f"<{self.shape[0]}x{self.shape[1]} {type(self).__name__} with dtype={self.dtype}>"


class _CustomLinearOperator(LinearOperator):
    def __init__(self, shape, matvec, rmatvec=None, matmat=None, dtype=None, rmatmat=None):
        super().__init__(dtype, shape)
        self.__matvec_impl = matvec
        self.__rmatvec_impl = rmatvec
        self.__matmat_impl = matmat
        self._init_dtype()

    def _matmat(self, X):
        if self.__matmat_impl is not None:
            return self.__matmat_impl(X)
        return super()._matmat(X)

    def _matvec(self, x):
        return self.__matvec_impl(x)

    def _rmatvec(self, x):
        if self.__rmatvec_impl is None:
            raise NotImplementedError("rmatvec is not defined")
        return self.__rmatvec_impl(x)


def aslinearoperator(A):
    """``A`` as a LinearOperator (an operator as is; a device matrix through ``@``)."""
    if isinstance(A, LinearOperator):
        return A
    if isinstance(A, _s.ndarray) and A.ndim == 2:
        return LinearOperator(A.shape, matvec=lambda v: A @ v, rmatvec=lambda v: A.T @ v,
                              matmat=lambda V: A @ V, dtype=A.dtype)
    raise TypeError("type not understood")


def cg(A, b, x0=None, tol=1e-5, maxiter=None, M=None, callback=None, atol=None):
    """Preconditioned conjugate gradients on device arrays, CuPy's signature (``tol`` is the
    relative tolerance; ``info`` is 0 on convergence, else the iterations done)."""
    import cupy  # noqa: PLC0415

    A = aslinearoperator(A)
    M = None if M is None else aslinearoperator(M)
    n = A.shape[0]
    maxiter = n * 10 if maxiter is None else int(maxiter)
    x = cupy.zeros_like(b) if x0 is None else x0.astype(b.dtype, copy=True)
    stop = max(tol * float(cupy.linalg.norm(b)), 0.0 if atol is None else float(atol))
    r = b - A.matvec(x)
    z = r if M is None else M.matvec(r)
    p = z.copy()
    rz = float(cupy.dot(r, z))
    for _ in range(maxiter):
        if float(cupy.linalg.norm(r)) <= stop:
            return x, 0
        q = A.matvec(p)
        alpha = rz / float(cupy.dot(p, q))
        x = x + alpha * p
        r = r - alpha * q
        if callback is not None:
            callback(x)
        z = r if M is None else M.matvec(r)
        rz_new = float(cupy.dot(r, z))
        p = z + (rz_new / rz) * p
        rz = rz_new
    return x, (0 if float(cupy.linalg.norm(r)) <= stop else maxiter)


LinearOperator.__module__ = "cupyx.scipy.sparse.linalg"
for _name in _NAMES["cupyx.scipy.sparse.linalg"]:
    if _name not in ("LinearOperator", "aslinearoperator", "cg"):
        globals()[_name] = _s.Placeholder(f"cupyx.scipy.sparse.linalg.{_name}")
