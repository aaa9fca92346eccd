"""The API's shapes: what a request may hold, how it is refused, how an answer looks.

A record is read field by field against the served model's own contract (recorded in its
file at training: ``heartml.contract``) and
every problem is named by its field, never quoted; a batch is Vertex AI's
``{"instances": [...]}``. The function's answers and the server's own refusals
(``heartml.serving.bounded_worker``) share ``error_body``. See openapi.yaml.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from heartml import config
from heartml.contract import Contract
from heartml.errors import RequestError
from heartml.serving.served_model import LoadedModel

MAX_BATCH = 1000
MAX_BODY_BYTES = 1_048_576  # 1 MiB: a full batch of 1,000 records is about 200 KB
TOP_LEVEL_KEYS = {"instances", "parameters"}  # Vertex AI's request shape
# Other servers' request shapes, refused with a pointer to ours rather than "<feature> is required".
FOREIGN_SHAPES = {
    "dataframe_records": "MLflow's",
    "dataframe_split": "MLflow's",
    "inputs": "MLflow's (or TensorFlow Serving's)",
}
# A record with more of its features missing (null, or an "unknown" code) than this share
# is refused: its answer would be mostly the training data's medians, not the patient.
MAX_MISSING_SHARE = config.SETTINGS["SERVE_MAX_MISSING_SHARE"].default  # a share of the features
MAX_PROBLEMS = 50  # listed in one error; a batch of 1,000 bad records says how many more


def error_body(
    field: str, message: str, problems: list[tuple[str, str]] | None = None
) -> dict[str, Any]:
    """The API's one error shape: the first problem as field and message, then every problem.

    The function's answers and the server's own refusals (bounded_worker) both use it.
    """
    listed = [{"field": f, "message": m} for f, m in (problems or [(field, message)])]
    return {"error": {"field": field, "message": message, "problems": listed}}


def parse_json(raw: bytes) -> Any:
    """Parse a request body, refusing a key given twice (which would silently win) by name.

    Integers are read as floats, so a 5,000-digit number is "not finite", named by its
    field, instead of tripping Python's integer-digit limit.
    """
    return json.loads(raw, object_pairs_hook=_unique_keys, parse_int=float)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise RequestError(key[:64], "is given twice; send each field once")
        seen[key] = value
    return seen


def _record_problems(
    body: Any, where: str, max_missing_share: float, contract: Contract
) -> tuple[list[float | None], list[tuple[str, str]]]:
    """Check one record: its values in the model's feature order (None = missing), and problems.

    Each feature must be present, and a finite number within the plausible limits that
    validation held the training data to (the model's contract), or null (imputed, up to
    ``max_missing_share`` of the features). Unknown keys are refused, so that a misspelt
    feature is not silently imputed.
    """
    if not isinstance(body, dict):
        where = where.rstrip(".") or "body"
        return [], [(where, f"expected a JSON object of features, got {_json_type(body)}")]
    problems: list[tuple[str, str]] = []
    values: list[float | None] = []
    features, specs = contract.names, contract.specs
    for name in features:
        value = body.get(name)
        values.append(None)
        if name not in body:
            problems.append((f"{where}{name}", "is required (a number, or null if unknown)"))
        elif value is None:
            continue
        elif isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(
                (f"{where}{name}", f"must be a number or null, got {_json_type(value)}")
            )
        else:
            try:
                number = float(value)  # an integer literal can exceed a float's range
            except OverflowError:
                number = math.inf
            if not math.isfinite(number):
                problems.append((f"{where}{name}", "must be a finite number"))
            elif not specs[name].is_valid(number):
                problems.append(
                    (
                        f"{where}{name}",
                        # The value itself is not quoted: errors are logged, values never.
                        f"is not a plausible {specs[name].description}: "
                        f"it must be {specs[name].limits()}",
                    )
                )
            else:
                values[-1] = number
    for key in sorted(set(body) - set(features)):
        close = [name for name in features if name == key.strip().lower()]
        hint = f" (did you mean {close[0]}?)" if close else ""
        problems.append((f"{where}{key[:64]}", f"is not a feature of this model{hint}"))
    if not problems:
        missing = [n for n, v in zip(features, values, strict=True) if specs[n].is_unknown(v)]
        if len(missing) > max_missing_share * len(features):
            problems.append(
                (
                    f"{where}{missing[0]}",
                    f"{len(missing)} of {len(features)} features are missing or unknown "
                    f"({', '.join(missing)}); at most {max_missing_share:.0%} may be imputed",
                )
            )
    return values, problems


def parse_record(
    body: Any, contract: Contract, where: str = "", max_missing_share: float = MAX_MISSING_SHARE
) -> list[float | None]:
    """Check one record; return its values in the model's feature order or raise every problem."""
    values, problems = _record_problems(body, where, max_missing_share, contract)
    if problems:
        raise RequestError.from_problems(problems)
    return values


@dataclass
class ParsedRequest:
    """The records of a request, whether it was a batch, whether it asks for explanations,
    and what it asked that is not used."""

    records: list[list[float | None]]
    batch: bool
    explain: bool = False
    notes: list[str] = field(default_factory=list)


EXPLAIN_PARAMETER = "explain"


def parse_explain_query(value: str | None) -> bool:
    """Read ``?explain=`` (how a single record, whose body holds only features, asks)."""
    if value is None:
        return False
    if value.strip().lower() in {"true", "1", "yes"}:
        return True
    if value.strip().lower() in {"false", "0", "no", ""}:
        return False
    raise RequestError("explain", "must be true or false")


def parse_request(
    body: Any,
    contract: Contract,
    max_missing_share: float = MAX_MISSING_SHARE,
    explain: bool = False,
) -> ParsedRequest:
    """Read one record (the tutorial's shape) or ``{"instances": [...]}`` (Vertex AI's).

    ``explain`` is the query string's ask; a batch may also ask with Vertex AI's
    ``"parameters": {"explain": true}``.
    """
    if isinstance(body, dict):
        for key, whose in FOREIGN_SHAPES.items():
            if key in body and "instances" not in body:
                raise RequestError(
                    key,
                    f"is {whose} request shape; use "
                    f'{{"instances": [{{"{contract.names[0]}": ..., ...}}, ...]}}, '
                    "or send one record",
                )
    if not (isinstance(body, dict) and "instances" in body):
        return ParsedRequest(
            [parse_record(body, contract, "", max_missing_share)], batch=False, explain=explain
        )
    problems = [
        (key[:64], "is not allowed beside instances") for key in sorted(set(body) - TOP_LEVEL_KEYS)
    ]
    parameters = body.get("parameters", {})
    if not isinstance(parameters, dict):
        problems.append(("parameters", f"must be an object, got {_json_type(parameters)}"))
        parameters = {}
    asked = parameters.get(EXPLAIN_PARAMETER, False)
    if not isinstance(asked, bool):
        problems.append(("parameters.explain", f"must be true or false, got {_json_type(asked)}"))
    instances = body["instances"]
    if not isinstance(instances, list):
        problems.append(("instances", f"must be an array of records, got {_json_type(instances)}"))
    elif not instances:
        problems.append(("instances", "is empty; send 1 to 1000 records"))
    elif len(instances) > MAX_BATCH:
        problems.append(("instances", f"has {len(instances)} records; at most {MAX_BATCH}"))
    if problems:
        raise RequestError.from_problems(problems)
    records = []
    for i, record in enumerate(instances):
        values, found = _record_problems(record, f"instances[{i}].", max_missing_share, contract)
        records.append(values)
        problems.extend(found)
    if problems:
        if len(problems) > MAX_PROBLEMS:
            more = len(problems) - MAX_PROBLEMS + 1
            problems = [*problems[: MAX_PROBLEMS - 1], ("instances", f"and {more} more problems")]
        raise RequestError.from_problems(problems)
    notes = [
        f"parameters.{key[:64]} is not used: the only parameter is {EXPLAIN_PARAMETER}"
        for key in sorted(parameters)
        if key != EXPLAIN_PARAMETER
    ]
    return ParsedRequest(records, batch=True, explain=explain or asked is True, notes=notes)


def predict(model: LoadedModel, request: ParsedRequest) -> dict[str, Any]:
    """Shape the answer: one shape for both, a single record's answer also at top level.

    Every answer carries ``predictions`` (one per record), ``run_id`` and ``trained_at``;
    for a single record its prediction's fields are repeated at top level, as the
    tutorial's clients read them.
    """
    contract = model.contract
    predictions = [
        {
            # As predict(): a tie at 0.5 goes to class 0.
            "diagnosis": contract.answers[int(p > 0.5)],
            "probability": p,
            "out_of_range": model.out_of_range(row),
            "imputed": [
                n
                for n, v in zip(contract.names, row, strict=True)
                if contract.specs[n].is_unknown(v)
            ],
        }
        for p, row in zip(model.probabilities(request.records), request.records, strict=True)
    ]
    if request.explain:
        for prediction, row in zip(predictions, request.records, strict=True):
            prediction["explanation"] = model.explain(row)
    answer: dict[str, Any] = {} if request.batch else dict(predictions[0])
    answer.update(predictions=predictions, **model.identity())
    if request.notes:
        answer["notes"] = request.notes
    return answer


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
