"""The exceptions microprop raises.

Every refused call raises a subclass of :class:`MicropropError` and leaves
the network exactly as it was (the same parameter bits, the same optimizer
state). Bad data is also a :class:`ValueError`, so code written for numpy
habits catches it.
"""


class MicropropError(Exception):
    """Base class of every microprop error."""


class InputError(MicropropError, ValueError):
    """The data of a call is unusable: a wrong shape or length, NaN or
    infinity, a label past the classes, labels that are not integers, an
    empty or oversized batch. Skipping the sample is safe."""


class SpecError(MicropropError, ValueError):
    """The spec text does not parse, or its layers do not form a network."""


class ModelError(MicropropError, ValueError):
    """The configuration does not make a model (an unknown loss or dtype,
    a loss the output width does not support)."""


class HyperparameterError(MicropropError, ValueError):
    """A learning rate, momentum, beta, epsilon, L2 or anchor strength is
    out of range, or the optimizer is unknown."""


class UnsupportedError(MicropropError, NotImplementedError):
    """The call is not supported by this network's configuration (Adam in
    fixed point, an anchor under fused SGD)."""


class OutOfOrderError(MicropropError, RuntimeError):
    """The call needs another call first."""


class BlobError(MicropropError, ValueError):
    """A device blob was refused: not a blob, another version or network,
    truncated, or holding a non-finite value."""


class CrcError(BlobError):
    """A device blob's CRC-32 does not match its bytes: it was corrupted."""


class SafetensorsError(MicropropError, ValueError):
    """A safetensors file does not hold this network's tensors (missing,
    extra or misshapen tensors, an unsupported dtype, a malformed file)."""


class DivergedError(MicropropError, ArithmeticError):
    """Training diverged and the guard gave up."""


class BackendError(MicropropError, RuntimeError):
    """The backend failed."""


__all__ = [
    "MicropropError",
    "InputError",
    "SpecError",
    "ModelError",
    "HyperparameterError",
    "UnsupportedError",
    "OutOfOrderError",
    "BlobError",
    "CrcError",
    "SafetensorsError",
    "DivergedError",
    "BackendError",
]
