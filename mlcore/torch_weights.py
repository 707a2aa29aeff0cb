"""Read a PyTorch state dict saved in the legacy (non-zip) format, without PyTorch.

The legacy file is five pickles and raw bytes in a row: a magic number, the protocol version, system info,
the state dict (tensors refer to storages by key), the list of storage keys, then each storage as a
little-endian int64 element count followed by its elements. Only what a state dict of plain tensors needs is
rebuilt; any other class in the pickle stops the read, so a file cannot run code while it loads.
"""

import collections
import pickle
from pathlib import Path

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
STORAGE_DTYPES = {
    "FloatStorage": np.dtype("<f4"),
    "DoubleStorage": np.dtype("<f8"),
    "HalfStorage": np.dtype("<f2"),
    "LongStorage": np.dtype("<i8"),
    "IntStorage": np.dtype("<i4"),
    "ByteStorage": np.dtype("u1"),
}


class WeightsFileError(ValueError):
    """The file is not a legacy PyTorch state dict of plain tensors."""


class _TensorRef:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)


class _StateDictUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return lambda storage, offset, size, stride, *rest: _TensorRef(storage, offset, size, stride)
        if module == "torch" and name in STORAGE_DTYPES:
            return name
        raise WeightsFileError(f"unexpected object {module}.{name} in a weights file")

    def persistent_load(self, pid):
        kind, storage_type, key, _location, count = pid[:5]
        if kind != "storage" or storage_type not in STORAGE_DTYPES:
            raise WeightsFileError(f"unexpected storage {pid[:2]!r} in a weights file")
        return (storage_type, key, count)


def read_state_dict(path) -> dict[str, np.ndarray]:
    """The file's tensors as numpy arrays, by name, in the file's order."""
    path = Path(path)
    try:
        with path.open("rb") as file:
            if _load(file) != LEGACY_MAGIC:
                raise WeightsFileError(f"{path} is not a legacy PyTorch weights file")
            _load(file)  # protocol version
            _load(file)  # system info: sizes and byte order of the machine that saved it
            state = _load(file)
            declared = {ref.storage[1]: ref.storage for ref in state.values() if isinstance(ref, _TensorRef)}
            storages = {key: _read_storage(file, declared.get(key)) for key in _load(file)}
    except WeightsFileError:
        raise
    except Exception as error:  # pickle raises many kinds of error for a damaged or foreign file
        raise WeightsFileError(f"{path} could not be read as PyTorch weights: {error}") from error
    return {name: _tensor(ref, storages, name, path) for name, ref in state.items()}


def _load(file):
    return _StateDictUnpickler(file).load()


def _read_storage(file, declared) -> bytes:
    count = int.from_bytes(file.read(8), "little")
    if declared is None or count != declared[2]:
        raise WeightsFileError("a storage does not match the tensors that use it")
    data = file.read(count * STORAGE_DTYPES[declared[0]].itemsize)
    if len(data) != count * STORAGE_DTYPES[declared[0]].itemsize:
        raise WeightsFileError("the file ends inside a storage")
    return data


def _tensor(ref, storages, name, path) -> np.ndarray:
    if not isinstance(ref, _TensorRef):
        raise WeightsFileError(f"{path}: {name} is not a tensor")
    storage_type, key, count = ref.storage
    dtype = STORAGE_DTYPES[storage_type]
    flat = np.frombuffer(storages[key], dtype=dtype)
    strides = tuple(step * dtype.itemsize for step in ref.stride)
    view = np.lib.stride_tricks.as_strided(flat[ref.offset :], shape=ref.size, strides=strides, writeable=False)
    return np.array(view, dtype=dtype.newbyteorder("="))
