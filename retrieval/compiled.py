"""The one place that decides how hot loops are compiled.

numba is a dependency; without it (an unusual install) the same functions run as plain Python,
correct but only fit for small corpora.
"""

from __future__ import annotations

import importlib
import os
import threading

try:
    import numba
except ImportError:  # pragma: no cover - exercised only where numba is missing
    numba = None


def kernel(func):
    """Compile *func* with numba (cached on disk, GIL released) or keep it as plain Python."""
    if numba is None:
        return func
    return numba.njit(cache=True, nogil=True)(func)


# numba's threading layers that several threads may start parallel loops from at once (its own
# work queue aborts the process when two do). OpenMP first: it is the one measured here, and
# comes with the C compiler's runtime (Debian's libgomp1).
_THREADSAFE_LAYERS = {"omp": "numba.np.ufunc.omppool", "tbb": "numba.np.ufunc.tbbpool"}


def _choose_threading_layer() -> str | None:
    """The thread-safe layer parallel loops run on ("tbb" or "omp"), or None where numba is
    missing or neither loads (loops then run on the calling thread).

    A layer asked for by name (``NUMBA_THREADING_LAYER``) is left to numba; otherwise numba is
    told to take the one found. Why a layer and not a pool of Python threads: handing a part of
    a question to a sleeping thread cost 0.1-0.2 ms on this project's virtual machines (the idle
    core has to be woken), as much as the part itself; OpenMP's workers wait for the next loop
    spinning for a moment and take it in microseconds.
    """
    if numba is None or numba.config.DISABLE_JIT:
        return None
    asked = str(numba.config.THREADING_LAYER).lower()
    if asked not in ("default", "threadsafe", *_THREADSAFE_LAYERS):
        return None
    for name, module in _THREADSAFE_LAYERS.items():
        if asked in ("default", "threadsafe", name):
            try:
                if name == "tbb":  # numba refuses TBB releases it was not built for
                    from numba.np.ufunc.parallel import _check_tbb_version_compatible

                    _check_tbb_version_compatible()
                importlib.import_module(module)
            except Exception:  # no libgomp or TBB on the machine, or a TBB numba refuses
                continue
            if asked == "default":
                numba.config.THREADING_LAYER = name
            return name
    return None


PARALLEL_LAYER = _choose_threading_layer()
PARALLEL = PARALLEL_LAYER is not None
# GNU OpenMP cannot start threads in a child forked from a process that has (numba ends the
# child instead: "fork() called from a process already using GNU OpenMP"). A process forked
# from this one (a prefork server, multiprocessing's default on Linux) runs every loop on its
# own thread instead. Process state, not configuration: set once, in the child, by the fork.
_forked = False


def _after_fork_in_child() -> None:
    global _forked
    _forked = True


if PARALLEL_LAYER == "omp":
    os.register_at_fork(after_in_child=_after_fork_in_child)


def may_split() -> bool:
    """Whether parallel loops may start threads in this process."""
    return PARALLEL and not _forked


# A plain range where loops are not compiled in parallel (numba then treats prange as range).
prange = numba.prange if numba is not None else range


def parallel_kernel(func):
    """Like :func:`kernel`, with the iterations of its ``prange`` loops run on several threads
    where :data:`PARALLEL` (one after another otherwise, with the same results)."""
    if numba is None:
        return func
    # numba's disk cache does not tell a parallel build from a serial one: only parallel builds
    # are cached, or a process without a thread-safe layer could load one (and numba's work
    # queue aborts the process when two threads start its loops at once). Without one, these
    # small functions are compiled at each start.
    return numba.njit(cache=PARALLEL, nogil=True, parallel=PARALLEL)(func)


def _no_prefetch(array, index) -> None:  # pragma: no cover - exercised only where numba is missing
    """Plain Python has no use for a prefetch."""


def _prefetch_intrinsic():
    """``prefetch(array, index)`` for compiled kernels: asks the CPU to start loading the cache
    line of ``array[index]`` without waiting for it (LLVM's ``llvm.prefetch``).

    A kernel that gathers records from all over a large array knows a few iterations ahead
    which ones it will read; the out-of-order core alone overlaps only the loads of the next
    iteration or two, so most of a thousand scattered records are waited for one at a time.
    The index is not checked (a prefetch of any address is harmless and loads nothing wrong).
    """
    from llvmlite import binding, ir
    from numba.core import cgutils, types
    from numba.extending import intrinsic

    # LLVM 15 made pointers opaque, which renamed the intrinsic's pointer overload.
    name = "llvm.prefetch.p0" if binding.llvm_version_info >= (15,) else "llvm.prefetch.p0i8"

    @intrinsic
    def prefetch(typingctx, array, index):
        if not isinstance(array, types.Array) or not isinstance(index, types.Integer):
            return None

        def codegen(context, builder, signature, args):
            array_type, index_type = signature.args
            view = context.make_array(array_type)(context, builder, args[0])
            at = context.cast(builder, args[1], index_type, types.intp)
            pointer = cgutils.get_item_pointer(context, builder, array_type, view, [at], wraparound=False)
            byte_pointer = ir.IntType(8).as_pointer()
            i32 = ir.IntType(32)
            function = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), [byte_pointer, i32, i32, i32]), name
            )
            # Read access, keep in all cache levels, data cache.
            builder.call(function, [builder.bitcast(pointer, byte_pointer), i32(0), i32(3), i32(1)])
            return context.get_dummy_value()

        return types.void(array, index), codegen

    return prefetch


_ADD_LOCK = threading.Lock()


def _locked_add(array, index, value):  # pragma: no cover - exercised only where numba is missing
    """Plain Python's :func:`fetch_add`: kernels run as Python may switch threads anywhere."""
    with _ADD_LOCK:
        old = array[index]
        array[index] = old + value
        return old


def _fetch_add_intrinsic():
    """``fetch_add(array, index, value)`` for compiled kernels: adds *value* to ``array[index]``
    as one atomic step and returns what was there before.

    Threads running the same kernel take turns of work from a shared counter this way without
    going back to Python (and its lock) between turns.
    """
    from numba.core import cgutils, types
    from numba.extending import intrinsic

    @intrinsic
    def fetch_add(typingctx, array, index, value):
        if (
            not isinstance(array, types.Array)
            or not isinstance(array.dtype, types.Integer)
            or not isinstance(index, types.Integer)
            or not isinstance(value, types.Integer)
        ):
            return None

        def codegen(context, builder, signature, args):
            array_type, index_type, value_type = signature.args
            view = context.make_array(array_type)(context, builder, args[0])
            at = context.cast(builder, args[1], index_type, types.intp)
            pointer = cgutils.get_item_pointer(context, builder, array_type, view, [at], wraparound=False)
            amount = context.cast(builder, args[2], value_type, array_type.dtype)
            return builder.atomic_rmw("add", pointer, amount, "seq_cst")

        return array.dtype(array, index, value), codegen

    return fetch_add


# NUMBA_DISABLE_JIT runs the kernels as Python, where an intrinsic cannot be called.
_PLAIN = numba is None or numba.config.DISABLE_JIT
prefetch = _no_prefetch if _PLAIN else _prefetch_intrinsic()
fetch_add = _locked_add if _PLAIN else _fetch_add_intrinsic()
