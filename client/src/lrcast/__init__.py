"""lrcast: learning-rate schedules as a service.

The schedule language (Pydantic models), its vectorised numpy evaluator, run timelines, and the
HTTP client (:class:`Client`, :class:`AsyncClient`). The PyTorch and Keras shims live in
``lrcast.torch`` and ``lrcast.keras`` and import their framework only when used.

>>> import lrcast
>>> lrcast.evaluate({"type": "cosine", "start": 0.1, "steps": 100}, 50)
0.05000000000000001
"""

from lrcast._client import AsyncClient, Client
from lrcast._config import Retry, Timeout
from lrcast._durations import MAX_STEP, Context, Duration
from lrcast._errors import ErrorDetail, EvaluationError, LrcastError, ScheduleValidationError
from lrcast._evaluate import (
    CompiledDocument,
    compile_document,
    evaluate,
    parse_curve,
    parse_document,
)
from lrcast._exceptions import (
    ApiError,
    ConflictError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    PreconditionFailedError,
    ServerError,
    ServiceUnavailableError,
    TooManyRequestsError,
    TransportError,
    UnauthorizedError,
)
from lrcast._expression import ExpressionError
from lrcast._lease import OutageWarning
from lrcast._models import (
    CURVE_TYPES,
    MAX_CURVES,
    MAX_DEPTH,
    MAX_DOCUMENT_BYTES,
    MAX_LIST,
    WSD,
    Constant,
    Cosine,
    CosineRestarts,
    Curve,
    Cyclic,
    Exponential,
    ExpressionCurve,
    Interpolate,
    InverseSqrt,
    InverseTime,
    Linear,
    MultiStep,
    OneCycle,
    Piecewise,
    Polynomial,
    Product,
    ScheduleDocument,
    Sequence,
    Step,
    Warmup,
)
from lrcast._timeline import Segment, segment_block, segment_for
from lrcast._validation import error_details, validation_errors
from lrcast._version import __version__

__all__ = [
    "CURVE_TYPES",
    "MAX_CURVES",
    "MAX_DEPTH",
    "MAX_DOCUMENT_BYTES",
    "MAX_LIST",
    "MAX_STEP",
    "WSD",
    "ApiError",
    "AsyncClient",
    "Client",
    "CompiledDocument",
    "ConflictError",
    "Constant",
    "Context",
    "Cosine",
    "CosineRestarts",
    "Curve",
    "Cyclic",
    "Duration",
    "ErrorDetail",
    "EvaluationError",
    "Exponential",
    "ExpressionCurve",
    "ExpressionError",
    "ForbiddenError",
    "Interpolate",
    "InvalidRequestError",
    "InverseSqrt",
    "InverseTime",
    "Linear",
    "LrcastError",
    "MultiStep",
    "NotFoundError",
    "OneCycle",
    "OutageWarning",
    "Piecewise",
    "Polynomial",
    "PreconditionFailedError",
    "Product",
    "Retry",
    "ScheduleDocument",
    "ScheduleValidationError",
    "Segment",
    "Sequence",
    "ServerError",
    "ServiceUnavailableError",
    "Step",
    "Timeout",
    "TooManyRequestsError",
    "TransportError",
    "UnauthorizedError",
    "Warmup",
    "__version__",
    "compile_document",
    "error_details",
    "evaluate",
    "parse_curve",
    "parse_document",
    "segment_block",
    "segment_for",
    "validation_errors",
]
