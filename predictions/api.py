"""The REST API: thin views over predictions.services (one APIView per operation).

Error bodies: every error has a "detail" string; a validation error (400) also has
"errors": {field: [messages]} with `non_field_errors` for the 24-hour sum rule. Views raise;
mindpulse.errors.api_exception_handler writes the body.
"""

from __future__ import annotations

import time

from django.db import connection
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import permissions, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from mindpulse.auth import TokenAuthentication
from mindpulse.throttling import client_key
from privacy.access import access_record, can_see_answers
from training import serving
from training.features import EXAMPLE_STUDENT, FEATURE_NAMES

from . import batch, erasure, messaging, selectors, services
from . import serializers as s
from .models import Feedback, Prediction
from .parsers import BoundedMultiPartParser, CSVParser, StrictJSONParser, check_body_size

CSV_PATTERN = r"^" + ",".join(FEATURE_NAMES) + r"\r?\n(?:.|\n)*[0-9A-Za-z]"
NO_MODEL = "No model is in service yet: the service is not ready. Try again later."

_ERRORS = {
    400: OpenApiResponse(
        s.PredictionsValidationErrorSerializer, description="Invalid input, per field."
    ),
    411: OpenApiResponse(
        s.PredictionsErrorSerializer, description="A chunked body without Content-Length."
    ),
    413: OpenApiResponse(
        s.PredictionsErrorSerializer, description="Body larger than MAX_REQUEST_BYTES."
    ),
    415: OpenApiResponse(s.PredictionsErrorSerializer, description="Unsupported Content-Type."),
    429: OpenApiResponse(
        s.PredictionsErrorSerializer, description="Rate limit reached: see Retry-After."
    ),
}
_NO_MODEL = {503: OpenApiResponse(s.PredictionsErrorSerializer, description="No model is active.")}
_EXAMPLE_FEATURES = EXAMPLE_STUDENT


def unavailable() -> Response:
    refused = serving.refusal()
    detail = f"{refused} The service is not ready. Try again later." if refused else NO_MODEL
    return Response({"detail": detail}, status=status.HTTP_503_SERVICE_UNAVAILABLE)


def prediction_body(prediction: Prediction, version: int) -> dict:
    return {
        "prediction": int(prediction.label),
        "probability": prediction.probability,
        "threshold": prediction.threshold,
        "model_version": version,
        "prediction_id": str(prediction.pk),
        "warnings": prediction.warnings,
    }


class PublicAPIView(APIView):
    """Anonymous JSON endpoints: no session, hence no CSRF check, and a body-size limit."""

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]
    parser_classes = [StrictJSONParser]

    def initial(self, request, *args, **kwargs):
        check_body_size(request)
        super().initial(request, *args, **kwargs)


class PredictView(PublicAPIView):
    throttle_scope = "predict"  # THROTTLE_PREDICT (mindpulse.throttling)

    @extend_schema(
        operation_id="predict",
        summary="Estimate the depression risk of one student",
        description='The nine features flat, or wrapped as {"features": {...}} (the original '
        "API's shape). The response's `prediction` key is kept from the original API. Values "
        "inside the plausible range but outside the training range are accepted and listed in "
        '`warnings`. `"store": false` (next to the features) keeps the answers out of the '
        "database (NO_CONSENT_STORAGE: a minimal row with the estimate only, or nothing) and "
        "answers `prediction_id: null`; without `store` (the original client) the answers are "
        "stored as before. Also served at POST /predict.",
        request=PolymorphicProxySerializer(
            component_name="PredictRequest",
            serializers=[s.FeaturesSerializer, s.WrappedFeaturesSerializer],
            resource_type_field_name=None,
        ),
        responses={200: s.PredictOutputSerializer, **_ERRORS, **_NO_MODEL},
        examples=[OpenApiExample("Flat", value=_EXAMPLE_FEATURES, request_only=True)],
    )
    def post(self, request):
        started = time.perf_counter()
        data, store, errors = s.split_store(request.data)
        serializer = s.PredictInputSerializer(data=data)
        if errors or not serializer.is_valid():
            raise ValidationError({**errors, **(serializer.errors if not errors else {})})
        try:
            prediction = services.prediction_create(
                serializer.validated_data,
                channel=Prediction.Channel.API,
                started=started,
                consent=store,
            )
        except services.ModelUnavailable:
            return unavailable()
        body = prediction_body(prediction, _version_number(prediction))
        if store is False:
            body["prediction_id"] = None  # nothing to come back to: no feedback, no deletion
        return Response(body)


def _version_number(prediction: Prediction) -> int:
    loaded = serving.get_active_model()
    if loaded is not None and loaded.version_id == prediction.model_version_id:
        return loaded.version
    return prediction.model_version.version


class BatchPredictView(PublicAPIView):
    parser_classes = [StrictJSONParser, BoundedMultiPartParser, CSVParser]
    throttle_scope = "batch"

    @extend_schema(
        operation_id="predict_batch",
        summary="Score up to 10,000 students in one call",
        description="A JSON list of feature objects, or a CSV in the dataset's schema (multipart "
        "field `file`, or a raw text/csv body; extra columns are ignored). Invalid rows get "
        "`errors` and no prediction; the valid rows are scored in one vectorised call and "
        "stored with channel `batch`.",
        request={
            # Any list: each row is validated on its own and an invalid one gets `errors`.
            "application/json": {
                "type": "array",
                "maxItems": batch.MAX_ROWS,
                "items": {"description": "One row: the nine features (schema Features)."},
            },
            "multipart/form-data": s.BatchUploadSerializer,
            "text/csv": {
                "type": "string",
                "description": "A CSV whose first line names the dataset's columns, then at "
                "least one row (any column order and extra columns are accepted; the pattern "
                "shows the dataset's own header).",
                "pattern": CSV_PATTERN,
            },
        },
        responses={200: s.BatchOutputSerializer, **_ERRORS, **_NO_MODEL},
    )
    def post(self, request):
        data = request.data
        try:
            if isinstance(data, list):
                outcome = batch.score_rows(data, ignore_unknown=False)
            else:
                _header, _rows, outcome = batch.score_csv(_csv_bytes(request))
        except batch.BatchError as exc:
            raise ValidationError({s.NON_FIELD: [str(exc)]}) from None
        except services.ModelUnavailable:
            return unavailable()
        return Response(_batch_body(outcome))


def _csv_bytes(request) -> bytes:
    if isinstance(request.data, bytes):
        return request.data
    upload = request.data.get("file") if hasattr(request.data, "get") else None
    if upload is None or not hasattr(upload, "read"):
        raise batch.BatchError(
            "Send a JSON list of rows, or a CSV file in the multipart field `file`."
        )
    return upload.read()


def _batch_body(outcome: batch.BatchOutcome) -> dict:
    rows = []
    for result in outcome.results:
        if result.prediction is None:
            rows.append({"index": result.index, "errors": result.errors})
            continue
        prediction = result.prediction
        rows.append(
            {
                "index": result.index,
                "prediction_id": str(prediction.pk),
                "prediction": int(prediction.label),
                "probability": prediction.probability,
                "warnings": prediction.warnings,
            }
        )
    return {
        "model_version": outcome.version,
        "threshold": outcome.threshold,
        "rows": len(outcome.results),
        "scored": outcome.scored,
        "failed": len(outcome.results) - outcome.scored,
        "results": rows,
    }


class FeedbackView(PublicAPIView):
    throttle_scope = "feedback"
    # 201 on /api/feedback; the original path answers 200, the only status its client accepts.
    created_status = status.HTTP_201_CREATED

    @extend_schema(
        operation_id="feedback",
        summary="Report the actual outcome of a prediction",
        description='{"prediction_id", "actual"}, or the original API\'s shape '
        '{"features", "prediction", "actual"}, which first stores a prediction of the '
        "active model for those features (channel api). One feedback per prediction: a second "
        "one gets 409. When the labels a retrain may use (trusted sources, within a client's "
        "share, not yet used) reach RETRAIN_THRESHOLD, the retrain check is queued; "
        "`retrain_triggered` is true only if that message reached "
        "the broker. Also served at POST /feedback (the original path), which answers 200 "
        "instead of 201 and also takes the original client's flat shape (the nine features, "
        '"actual" and optionally "prediction").',
        request=PolymorphicProxySerializer(
            component_name="FeedbackRequest",
            serializers=[
                s.FeedbackByIdSerializer,
                s.FeedbackWithFeaturesSerializer,
                s.FlatFeedbackSerializer,
            ],
            resource_type_field_name=None,
        ),
        responses={
            201: s.FeedbackOutputSerializer,
            **_ERRORS,
            404: OpenApiResponse(
                s.PredictionsErrorSerializer, description="Unknown prediction id."
            ),
            409: OpenApiResponse(
                s.PredictionsErrorSerializer, description="Feedback already recorded."
            ),
            **_NO_MODEL,
        },
    )
    def post(self, request):
        serializer = s.FeedbackInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            if "features" in data:
                outcome = services.feedback_create_with_features(
                    data["features"], actual=bool(data["actual"]), client_key=client_key(request)
                )
            else:
                outcome = services.feedback_create(
                    prediction_id=data["prediction_id"],
                    actual=bool(data["actual"]),
                    source=Feedback.Source.STUDENT_LINK,
                    client_key=client_key(request),
                )
        except Prediction.DoesNotExist:
            raise NotFound("No prediction has this id.") from None
        except services.FeedbackExists:
            return Response(
                {"detail": "This prediction already has its feedback: it cannot be changed."},
                status=status.HTTP_409_CONFLICT,
            )
        except services.ModelUnavailable:
            return unavailable()
        body = {
            "status": "ok",
            "total_feedbacks": outcome.total_feedbacks,
            "retrain_triggered": outcome.retrain_triggered,
        }
        return Response(body, status=self.created_status)


class HealthView(PublicAPIView):
    throttle_scope = "health"

    @extend_schema(
        operation_id="health",
        summary="Database, broker and model status",
        description="200 with status ok when the database answers, the broker accepts a "
        "connection (2 s timeout; the file-system broker counts) and a model is loaded; "
        "otherwise 503 with status degraded and the same body. Also served at GET /health.",
        responses={200: s.HealthSerializer, 429: _ERRORS[429], 503: s.HealthSerializer},
    )
    def get(self, request):
        database = _database_ok()
        loaded = None
        if database:
            try:
                loaded = serving.get_active_model()
            except Exception:  # a database that fails between the two checks
                database = False
        broker = messaging.broker_ok()
        healthy = database and broker and loaded is not None
        body = {
            "status": "ok" if healthy else "degraded",
            "model_loaded": loaded is not None,
            "error": _health_error(database=database, broker=broker, model=loaded is not None),
            "model_version": loaded.version if loaded else None,
            "database": database,
            "broker": broker,
        }
        return Response(body, status=200 if healthy else status.HTTP_503_SERVICE_UNAVAILABLE)


def _health_error(*, database: bool, broker: bool, model: bool) -> str | None:
    """The original API's "error" key: None when healthy, else what is wrong, in one line."""
    problems = []
    if not database:
        problems.append("the database does not answer")
    if not broker:
        problems.append("the task queue (broker) does not answer")
    if database and not model:
        problems.append("no model is in service yet")
    return "; ".join(problems).capitalize() + "." if problems else None


def _database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return True
    except Exception:  # any driver error means "not reachable" for a health check
        return False


class CanViewPredictions(permissions.BasePermission):
    """Staff with the model permission predictions.view_prediction, as the admin asks."""

    message = "You do not have permission to view predictions (predictions.view_prediction)."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_staff and user.has_perm("predictions.view_prediction"))


class PredictionDetailView(APIView):
    """Staff only: a token first, so an anonymous caller gets 401 with a Token challenge."""

    authentication_classes = [TokenAuthentication, SessionAuthentication]
    permission_classes = [CanViewPredictions]

    @extend_schema(
        operation_id="prediction_detail",
        summary="One stored prediction with its feedback (staff only)",
        responses={
            200: s.PredictionRecordSerializer,
            401: OpenApiResponse(s.PredictionsErrorSerializer, description="Not authenticated."),
            403: OpenApiResponse(
                s.PredictionsErrorSerializer,
                description="Not staff, or without the predictions.view_prediction permission.",
            ),
            404: OpenApiResponse(
                s.PredictionsErrorSerializer, description="Unknown prediction id."
            ),
        },
    )
    def get(self, request, pk):
        try:
            prediction = selectors.prediction_with_feedback(pk)
        except Prediction.DoesNotExist:
            raise NotFound("No prediction has this id.") from None
        body = _record(prediction)
        answers = can_see_answers(request.user)
        if not answers:  # the warnings quote the answers too
            body["features"], body["warnings"] = None, None
        access_record(
            via="api",
            user=request.user,
            prediction_id=prediction.pk,
            answers_shown=answers,
            reason=request.query_params.get("reason", ""),
        )
        return Response(body)

    # DELETE is the student's withdrawal: whoever holds the id may delete (the id is the
    # capability, like the result page's link), rate-limited per client (THROTTLE_ERASE).
    def get_permissions(self):
        if self.request.method == "DELETE":
            return [permissions.AllowAny()]
        return super().get_permissions()

    def get_throttles(self):
        self.throttle_scope = "erase" if self.request.method == "DELETE" else None
        return super().get_throttles()

    @extend_schema(
        operation_id="prediction_delete",
        summary="Delete a prediction and its feedback (whoever holds its id)",
        description="The student's withdrawal: the prediction and its feedback are deleted and "
        "an erasure (id and time only) is recorded, so that the next retention run purges it "
        "from the retrain archives and exports. No later training run uses it.",
        responses={
            204: None,
            404: OpenApiResponse(
                s.PredictionsErrorSerializer, description="Unknown (or already deleted) id."
            ),
            429: _ERRORS[429],
        },
    )
    def delete(self, request, pk):
        try:
            erasure.prediction_erase(pk)
        except Prediction.DoesNotExist:
            raise NotFound("No prediction has this id.") from None
        return Response(status=status.HTTP_204_NO_CONTENT)


def _record(prediction: Prediction) -> dict:
    feedback = getattr(prediction, "feedback", None)
    return {
        "id": str(prediction.pk),
        "features": selectors.features_of(prediction),
        "probability": prediction.probability,
        "prediction": int(prediction.label),
        "threshold": prediction.threshold,
        "model_version": prediction.model_version.version,
        "channel": prediction.channel,
        "warnings": prediction.warnings,
        "latency_ms": prediction.latency_ms,
        "created_at": prediction.created_at.isoformat(),
        "feedback": None
        if feedback is None
        else {
            "actual": int(feedback.actual),
            "created_at": feedback.created_at.isoformat(),
            "consumed_by": feedback.consumed_by_id,
        },
    }
