"""lrcast: learning-rate schedules as a service.

The schedule language (Pydantic models), its vectorised numpy evaluator and run timelines. The
HTTP client and the PyTorch and Keras shims build on these.

>>> import lrcast
>>> lrcast.evaluate({"type": "cosine", "start": 0.1, "steps": 100}, 50)
0.05000000000000001
"""

from lrcast._durations import MAX_STEP, Context, Duration
from lrcast._errors import ErrorDetail, EvaluationError, LrcastError, ScheduleValidationError
from lrcast._evaluate import (
    CompiledDocument,
    compile_document,
    evaluate,
    parse_curve,
    parse_document,
)
from lrcast._expression import ExpressionError
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

__version__ = "0.1.0"

__all__ = [
    "CURVE_TYPES",
    "MAX_CURVES",
    "MAX_DEPTH",
    "MAX_DOCUMENT_BYTES",
    "MAX_LIST",
    "MAX_STEP",
    "WSD",
    "CompiledDocument",
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
    "Interpolate",
    "InverseSqrt",
    "InverseTime",
    "Linear",
    "LrcastError",
    "MultiStep",
    "OneCycle",
    "Piecewise",
    "Polynomial",
    "Product",
    "ScheduleDocument",
    "ScheduleValidationError",
    "Segment",
    "Sequence",
    "Step",
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
