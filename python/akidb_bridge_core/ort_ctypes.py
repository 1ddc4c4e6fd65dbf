"""A minimal ctypes binding to the ONNX Runtime C API.

Why it exists: the bridge must run where pip is not available (the worker ships
the native library from the Microsoft.ML.OnnxRuntime NuGet package), so it
cannot count on the ``onnxruntime`` wheel. When the wheel *is* importable the
bridge prefers it (see runtime.py); this module is the fallback.

How the C API is reached: ``OrtGetApiBase()->GetApi(version)`` returns a
``struct OrtApi``, a table of function pointers in declaration order that only
ever grows at the end. We index it by slot number (``SLOTS``) and wrap each
pointer in a CFUNCTYPE with full argtypes/restype: without them ctypes passes
``size_t`` and ``int64_t*`` arguments as C ints and corrupts them.
tests/test_ort_slots.py re-derives every slot from the header (and from the C
compiler when one is present), so an ORT upgrade that moved one is caught.

Memory rules kept here:
* A non-NULL ``OrtStatus*`` is an error; its message is copied (c_char_p does
  that) before the status is released.
* ``CreateTensorWithDataAsOrtValue`` does not copy: the numpy arrays stay
  referenced until their OrtValues are released.
* Output data dies with its OrtValue, so results are copied out first.
* Names from the allocator are freed with ``AllocatorFree``.
"""

from __future__ import annotations

import ctypes
import os
import sys
from ctypes import (CFUNCTYPE, POINTER, Structure, byref, c_char_p, c_int, c_int64, c_size_t,
                    c_uint32, c_void_p, c_wchar_p)
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

import numpy as np

# Oldest API the binding needs: every slot used below exists in 1.16. Asking
# for this rather than the newest version lets older libraries work; GetApi
# returns NULL for a library older than this.
API_VERSION = 16

SLOTS: Dict[str, int] = {
    "CreateStatus": 0,
    "GetErrorCode": 1,
    "GetErrorMessage": 2,
    "CreateEnv": 3,
    "CreateSession": 7,
    "Run": 9,
    "CreateSessionOptions": 10,
    "DisableMemPattern": 17,
    "EnableCpuMemArena": 18,
    "DisableCpuMemArena": 19,
    "SetSessionLogSeverityLevel": 22,
    "SetSessionGraphOptimizationLevel": 23,
    "SetIntraOpNumThreads": 24,
    "SetInterOpNumThreads": 25,
    "AddSessionConfigEntry": 130,
    "SessionGetInputCount": 30,
    "SessionGetOutputCount": 31,
    "SessionGetInputName": 36,
    "SessionGetOutputName": 37,
    "CreateRunOptions": 39,
    "CreateTensorWithDataAsOrtValue": 49,
    "GetTensorMutableData": 51,
    "GetTensorElementType": 60,
    "GetDimensionsCount": 61,
    "GetDimensions": 62,
    "GetTensorTypeAndShape": 65,
    "CreateCpuMemoryInfo": 69,
    "AllocatorFree": 76,
    "GetAllocatorWithDefaultOptions": 78,
    "ReleaseEnv": 92,
    "ReleaseStatus": 93,
    "ReleaseMemoryInfo": 94,
    "ReleaseSession": 95,
    "ReleaseValue": 96,
    "ReleaseRunOptions": 97,
    "ReleaseTypeInfo": 98,
    "ReleaseTensorTypeAndShapeInfo": 99,
    "ReleaseSessionOptions": 100,
    "GetAvailableProviders": 125,
    "ReleaseAvailableProviders": 126,
    "SessionOptionsAppendExecutionProvider_CUDA_V2": 204,
    "CreateCUDAProviderOptions": 205,
    "UpdateCUDAProviderOptions": 206,
    "ReleaseCUDAProviderOptions": 208,
    "SessionOptionsAppendExecutionProvider": 216,
    "AddInitializer": 150,
    "AddRunConfigEntry": 165,
    "CreatePrepackedWeightsContainer": 166,
    "ReleasePrepackedWeightsContainer": 167,
    "CreateSessionWithPrepackedWeightsContainer": 168,
}

# Enum values from onnxruntime_c_api.h.
ORT_ENABLE_ALL = 99
OrtArenaAllocator = 1
OrtMemTypeDefault = 0
LOGGING_LEVELS = {"verbose": 0, "info": 1, "warning": 2, "error": 3, "fatal": 4}

# ONNXTensorElementDataType <-> numpy
_NUMPY_TO_ONNX = {np.dtype(np.float32): 1, np.dtype(np.int32): 6, np.dtype(np.int64): 7,
                  np.dtype(np.float16): 10, np.dtype(np.float64): 11}
_ONNX_TO_NUMPY = {v: k for k, v in _NUMPY_TO_ONNX.items()}
# Weight-only element types (never inputs or outputs): int8/uint8 quantised weights, int16, bool.
_EXTRA_WEIGHT_TYPES = {np.dtype(np.int8): 3, np.dtype(np.uint8): 2, np.dtype(np.int16): 5, np.dtype(np.bool_): 9}

# ORTCHAR_T is wchar_t on Windows and char elsewhere.
_PATH_T = c_wchar_p if sys.platform == "win32" else c_char_p

_H = c_void_p  # every ORT handle is opaque to us
_PH = POINTER(c_void_p)
_STATUS = c_void_p

# name -> (restype, argtypes)
_PROTOTYPES: Dict[str, tuple] = {
    "GetErrorCode": (c_int, [_H]),
    "GetErrorMessage": (c_char_p, [_H]),
    "CreateEnv": (_STATUS, [c_int, c_char_p, _PH]),
    "CreateSession": (_STATUS, [_H, _PATH_T, _H, _PH]),
    "Run": (_STATUS, [_H, _H, POINTER(c_char_p), _PH, c_size_t, POINTER(c_char_p), c_size_t, _PH]),
    "CreateSessionOptions": (_STATUS, [_PH]),
    "DisableMemPattern": (_STATUS, [_H]),
    "EnableCpuMemArena": (_STATUS, [_H]),
    "DisableCpuMemArena": (_STATUS, [_H]),
    "SetSessionLogSeverityLevel": (_STATUS, [_H, c_int]),
    "SetSessionGraphOptimizationLevel": (_STATUS, [_H, c_int]),
    "SetIntraOpNumThreads": (_STATUS, [_H, c_int]),
    "SetInterOpNumThreads": (_STATUS, [_H, c_int]),
    "AddSessionConfigEntry": (_STATUS, [_H, c_char_p, c_char_p]),
    "SessionGetInputCount": (_STATUS, [_H, POINTER(c_size_t)]),
    "SessionGetOutputCount": (_STATUS, [_H, POINTER(c_size_t)]),
    "SessionGetInputName": (_STATUS, [_H, c_size_t, _H, _PH]),
    "SessionGetOutputName": (_STATUS, [_H, c_size_t, _H, _PH]),
    "CreateTensorWithDataAsOrtValue": (_STATUS, [_H, c_void_p, c_size_t, POINTER(c_int64), c_size_t,
                                                 c_int, _PH]),
    "GetTensorMutableData": (_STATUS, [_H, _PH]),
    "GetTensorElementType": (_STATUS, [_H, POINTER(c_int)]),
    "GetDimensionsCount": (_STATUS, [_H, POINTER(c_size_t)]),
    "GetDimensions": (_STATUS, [_H, POINTER(c_int64), c_size_t]),
    "GetTensorTypeAndShape": (_STATUS, [_H, _PH]),
    "CreateCpuMemoryInfo": (_STATUS, [c_int, c_int, _PH]),
    "AllocatorFree": (_STATUS, [_H, c_void_p]),
    "GetAllocatorWithDefaultOptions": (_STATUS, [_PH]),
    "ReleaseEnv": (None, [_H]),
    "ReleaseStatus": (None, [_H]),
    "ReleaseMemoryInfo": (None, [_H]),
    "ReleaseSession": (None, [_H]),
    "ReleaseValue": (None, [_H]),
    "ReleaseTensorTypeAndShapeInfo": (None, [_H]),
    "ReleaseSessionOptions": (None, [_H]),
    "GetAvailableProviders": (_STATUS, [POINTER(POINTER(c_char_p)), POINTER(c_int)]),
    "ReleaseAvailableProviders": (_STATUS, [POINTER(c_char_p), c_int]),
    "SessionOptionsAppendExecutionProvider_CUDA_V2": (_STATUS, [_H, _H]),
    "CreateCUDAProviderOptions": (_STATUS, [_PH]),
    "UpdateCUDAProviderOptions": (_STATUS, [_H, POINTER(c_char_p), POINTER(c_char_p), c_size_t]),
    "ReleaseCUDAProviderOptions": (None, [_H]),
    "SessionOptionsAppendExecutionProvider": (_STATUS, [_H, c_char_p, POINTER(c_char_p),
                                                        POINTER(c_char_p), c_size_t]),
    "CreateRunOptions": (_STATUS, [_PH]),
    "ReleaseRunOptions": (None, [_H]),
    "AddRunConfigEntry": (_STATUS, [_H, c_char_p, c_char_p]),
    "AddInitializer": (_STATUS, [_H, c_char_p, _H]),
    "CreatePrepackedWeightsContainer": (_STATUS, [_PH]),
    "ReleasePrepackedWeightsContainer": (None, [_H]),
    "CreateSessionWithPrepackedWeightsContainer": (_STATUS, [_H, _PATH_T, _H, _H, _PH]),
}

# Run option (onnxruntime_run_options_config_keys.h): at the end of the run, free the CPU arena's unused regions.
SHRINK_CPU_ARENA = (b"memory.enable_memory_arena_shrinkage", b"cpu:0")


class OrtError(RuntimeError):
    """An error reported by ONNX Runtime through an OrtStatus."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class _OrtApiBase(Structure):
    _fields_ = [("GetApi", CFUNCTYPE(c_void_p, c_uint32)),
                ("GetVersionString", CFUNCTYPE(c_char_p))]


def _c_strings(values: Sequence[str]) -> Any:
    return (c_char_p * len(values))(*[v.encode("utf-8") for v in values])


class OrtLibrary:
    """One loaded libonnxruntime and its function table."""

    def __init__(self, path: str) -> None:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"ONNX Runtime library {path!r} does not exist")
        self.path = path
        self._lib = ctypes.CDLL(path)
        get_base = self._lib.OrtGetApiBase
        get_base.restype = POINTER(_OrtApiBase)
        get_base.argtypes = []
        base = get_base().contents
        self.version: str = (base.GetVersionString() or b"unknown").decode("utf-8", "replace")
        api = base.GetApi(API_VERSION)
        if not api:
            raise OrtError(-1, f"{path} (ONNX Runtime {self.version}) does not provide C API version "
                               f"{API_VERSION}; ONNX Runtime 1.{API_VERSION} or newer is needed")
        table = ctypes.cast(api, POINTER(c_void_p))
        self._fn: Dict[str, Callable[..., Any]] = {}
        for name, (restype, argtypes) in _PROTOTYPES.items():
            address = table[SLOTS[name]]
            if not address:
                raise OrtError(-1, f"OrtApi::{name} is NULL in {path}")
            self._fn[name] = CFUNCTYPE(restype, *argtypes)(address)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        try:
            return self.__dict__["_fn"][name]
        except KeyError:
            raise AttributeError(name) from None

    def check(self, status: Optional[int]) -> None:
        if not status:
            return
        code = self.GetErrorCode(status)
        message = self.GetErrorMessage(status)  # c_char_p: already copied into a bytes object
        self.ReleaseStatus(status)
        raise OrtError(code, (message or b"").decode("utf-8", "replace"))

    def available_providers(self) -> List[str]:
        out = POINTER(c_char_p)()
        count = c_int()
        self.check(self.GetAvailableProviders(byref(out), byref(count)))
        try:
            return [out[i].decode("utf-8") for i in range(count.value)]
        finally:
            self.check(self.ReleaseAvailableProviders(out, count))


class Env:
    """The process-wide OrtEnv. ORT hands back the same instance on a second
    CreateEnv anyway; holding one explicitly keeps its lifetime obvious."""

    def __init__(self, lib: OrtLibrary, log_level: str = "warning", log_id: str = "akidb-bridge") -> None:
        self.lib = lib
        handle = c_void_p()
        lib.check(lib.CreateEnv(LOGGING_LEVELS[log_level], log_id.encode(), byref(handle)))
        self.handle = handle

    def close(self) -> None:
        if self.handle:
            self.lib.ReleaseEnv(self.handle)
            self.handle = c_void_p()


class SessionOptions:
    def __init__(self, lib: OrtLibrary, intra_op_threads: int = 0, inter_op_threads: int = 0,
                 log_level: str = "warning", config: Optional[Mapping[str, str]] = None) -> None:
        self.lib = lib
        handle = c_void_p()
        lib.check(lib.CreateSessionOptions(byref(handle)))
        self.handle = handle
        try:
            lib.check(lib.SetIntraOpNumThreads(handle, int(intra_op_threads)))
            lib.check(lib.SetInterOpNumThreads(handle, int(inter_op_threads)))
            lib.check(lib.SetSessionGraphOptimizationLevel(handle, ORT_ENABLE_ALL))
            lib.check(lib.SetSessionLogSeverityLevel(handle, LOGGING_LEVELS[log_level]))
            for key, value in (config or {}).items():
                lib.check(lib.AddSessionConfigEntry(handle, key.encode(), str(value).encode()))
        except BaseException:
            self.close()
            raise

    def add_initializer(self, name: str, value: "c_void_p") -> None:
        """The session uses this caller-owned tensor instead of loading its own copy (see SharedTensors)."""
        self.lib.check(self.lib.AddInitializer(self.handle, name.encode("utf-8"), value))

    def append_cuda(self, options: Optional[Mapping[str, str]] = None) -> None:
        lib = self.lib
        cuda = c_void_p()
        lib.check(lib.CreateCUDAProviderOptions(byref(cuda)))
        try:
            if options:
                keys, values = list(options), [str(options[k]) for k in options]
                lib.check(lib.UpdateCUDAProviderOptions(cuda, _c_strings(keys), _c_strings(values), len(keys)))
            lib.check(lib.SessionOptionsAppendExecutionProvider_CUDA_V2(self.handle, cuda))
        finally:
            # The session options keep their own copy of the CUDA settings.
            lib.ReleaseCUDAProviderOptions(cuda)

    def append_provider(self, name: str, options: Optional[Mapping[str, str]] = None) -> None:
        """Generic ``SessionOptionsAppendExecutionProvider`` (CoreML, XNNPACK, ...)."""
        keys = list(options or {})
        values = [str((options or {})[k]) for k in keys]
        self.lib.check(self.lib.SessionOptionsAppendExecutionProvider(
            self.handle, name.encode(), _c_strings(keys), _c_strings(values), len(keys)))

    def close(self) -> None:
        if self.handle:
            self.lib.ReleaseSessionOptions(self.handle)
            self.handle = c_void_p()


class SharedTensors:
    """OrtValues over caller-owned weight arrays plus a prepacked-weights container: what several sessions of one
    model share (weights.py says why). Must outlive every session created with it."""

    def __init__(self, lib: OrtLibrary, arrays: Sequence[Any]) -> None:
        self.lib = lib
        self._arrays = []  # ORT reads these buffers in place for as long as the values live
        self.values: List[Any] = []
        self.container = c_void_p()
        memory_info = c_void_p()
        lib.check(lib.CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault, byref(memory_info)))
        try:
            for name, array in arrays:
                if array.dtype not in _NUMPY_TO_ONNX and array.dtype not in _EXTRA_WEIGHT_TYPES:
                    continue
                element = _NUMPY_TO_ONNX.get(array.dtype) or _EXTRA_WEIGHT_TYPES[array.dtype]
                shape = (c_int64 * array.ndim)(*array.shape)
                value = c_void_p()
                lib.check(lib.CreateTensorWithDataAsOrtValue(memory_info, array.ctypes.data, array.nbytes, shape,
                                                             array.ndim, element, byref(value)))
                self.values.append((name, value))
                self._arrays.append(array)
            lib.check(lib.CreatePrepackedWeightsContainer(byref(self.container)))
        except BaseException:
            self.close()
            raise
        finally:
            lib.ReleaseMemoryInfo(memory_info)

    def apply(self, options: SessionOptions) -> None:
        for name, value in self.values:
            options.add_initializer(name, value)

    def close(self) -> None:
        """Only once every session that used these is closed."""
        for _, value in self.values:
            self.lib.ReleaseValue(value)
        self.values = []
        self._arrays = []
        if self.container:
            self.lib.ReleasePrepackedWeightsContainer(self.container)
            self.container = c_void_p()


class Session:
    def __init__(self, env: Env, model_path: str, options: SessionOptions,
                 shared: Optional[SharedTensors] = None) -> None:
        lib = self.lib = env.lib
        self.env = env  # sessions must not outlive their env
        self.shared = shared  # nor the tensors they borrow
        path: Any = model_path if _PATH_T is c_wchar_p else os.fsencode(model_path)
        handle = c_void_p()
        if shared is not None:
            shared.apply(options)
            lib.check(lib.CreateSessionWithPrepackedWeightsContainer(env.handle, path, options.handle,
                                                                     shared.container, byref(handle)))
        else:
            lib.check(lib.CreateSession(env.handle, path, options.handle, byref(handle)))
        self.handle = handle
        self._shrink = c_void_p()
        try:
            lib.check(lib.CreateRunOptions(byref(self._shrink)))
            lib.check(lib.AddRunConfigEntry(self._shrink, *SHRINK_CPU_ARENA))
            allocator = c_void_p()
            lib.check(lib.GetAllocatorWithDefaultOptions(byref(allocator)))
            self._allocator = allocator  # owned by ORT; never released
            self.input_names = self._names(lib.SessionGetInputCount, lib.SessionGetInputName)
            self.output_names = self._names(lib.SessionGetOutputCount, lib.SessionGetOutputName)
            memory_info = c_void_p()
            lib.check(lib.CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault, byref(memory_info)))
            self._memory_info = memory_info
        except BaseException:
            self.close()
            raise

    def _names(self, count_fn: Callable[..., Any], name_fn: Callable[..., Any]) -> List[str]:
        lib = self.lib
        count = c_size_t()
        lib.check(count_fn(self.handle, byref(count)))
        names = []
        for i in range(count.value):
            ptr = c_void_p()
            lib.check(name_fn(self.handle, i, self._allocator, byref(ptr)))
            try:
                names.append(ctypes.string_at(ptr.value).decode("utf-8"))
            finally:
                lib.check(lib.AllocatorFree(self._allocator, ptr))
        return names

    def run(self, output_name: str, feeds: Mapping[str, np.ndarray], shrink_arena: bool = False) -> np.ndarray:
        """Runs the model on ``feeds`` and returns one output, copied into numpy.

        Only the names in ``feeds`` are passed; the caller decides which of the
        model's declared inputs to fill. ``shrink_arena`` frees the CPU arena's
        unused memory when the run ends (the arena otherwise keeps the peak of
        the largest batch).
        """
        lib = self.lib
        names = list(feeds)
        # Keep every array referenced until its OrtValue is released: ORT reads
        # the numpy buffer in place.
        arrays = []
        for name in names:
            a = np.ascontiguousarray(feeds[name])
            if a.dtype not in _NUMPY_TO_ONNX:
                raise TypeError(f"input {name!r} has dtype {a.dtype}, which the binding does not map")
            arrays.append(a)
        values = (c_void_p * len(arrays))()
        outputs = (c_void_p * 1)()
        try:
            for i, a in enumerate(arrays):
                shape = (c_int64 * a.ndim)(*a.shape)
                value = c_void_p()
                lib.check(lib.CreateTensorWithDataAsOrtValue(
                    self._memory_info, a.ctypes.data, a.nbytes, shape, a.ndim,
                    _NUMPY_TO_ONNX[a.dtype], byref(value)))
                values[i] = value.value
            lib.check(lib.Run(self.handle, self._shrink if shrink_arena else None, _c_strings(names), values, len(arrays),
                              _c_strings([output_name]), 1, outputs))
            return self._copy_out(outputs[0])
        finally:
            if outputs[0]:
                lib.ReleaseValue(outputs[0])
            for v in values:
                if v:
                    lib.ReleaseValue(v)
            del arrays

    def _copy_out(self, value: int) -> np.ndarray:
        lib = self.lib
        info = c_void_p()
        lib.check(lib.GetTensorTypeAndShape(value, byref(info)))
        try:
            element = c_int()
            lib.check(lib.GetTensorElementType(info, byref(element)))
            rank = c_size_t()
            lib.check(lib.GetDimensionsCount(info, byref(rank)))
            dims = (c_int64 * rank.value)()
            lib.check(lib.GetDimensions(info, dims, rank.value))
        finally:
            lib.ReleaseTensorTypeAndShapeInfo(info)
        dtype = _ONNX_TO_NUMPY.get(element.value)
        if dtype is None:
            raise OrtError(-1, f"output element type {element.value} is not supported by the bridge")
        shape = tuple(int(d) for d in dims)
        count = int(np.prod(shape, dtype=np.int64))
        if count == 0:
            return np.zeros(shape, dtype=np.float32)
        data = c_void_p()
        lib.check(lib.GetTensorMutableData(value, byref(data)))
        raw = (ctypes.c_char * (count * dtype.itemsize)).from_address(data.value)
        # The copy detaches the result from ORT memory before the value dies.
        return np.frombuffer(raw, dtype=dtype).reshape(shape).astype(np.float32, copy=True)

    def close(self) -> None:
        if getattr(self, "_shrink", None):
            self.lib.ReleaseRunOptions(self._shrink)
            self._shrink = c_void_p()
        if getattr(self, "_memory_info", None):
            self.lib.ReleaseMemoryInfo(self._memory_info)
            self._memory_info = c_void_p()
        if self.handle:
            self.lib.ReleaseSession(self.handle)
            self.handle = c_void_p()
