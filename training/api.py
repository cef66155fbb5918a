"""The retrain API, for staff: ask for a retrain (202 with the run id), then follow its status.

Authentication: the admin's session (with its CSRF token), an API token
(`Authorization: Token <key>`, created in the admin under "Auth Token") or HTTP Basic.
Anonymous callers get 401/403 and authenticated non-staff users 403.
"""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from predictions.parsers import StrictJSONParser

from . import retrain, selectors
from .models import RetrainRun


class JSONOnlyParser(StrictJSONParser):
    """JSON bodies only, parsed as strictly as the public API's (predictions.parsers)."""


class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField()


class InvalidSerializer(serializers.Serializer):
    detail = serializers.CharField()
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Messages per field (absent when the body is not valid JSON).",
    )


class QueueDownSerializer(serializers.Serializer):
    detail = serializers.CharField()
    run_id = serializers.IntegerField(help_text="The request, recorded as a failed run.")


class RetrainQueuedSerializer(serializers.Serializer):
    run_id = serializers.IntegerField()
    status_url = serializers.URLField()
    decision = serializers.ChoiceField(choices=RetrainRun.Decision.choices)


class RetrainRunSerializer(serializers.Serializer):
    run_id = serializers.IntegerField(source="pk")
    trigger = serializers.CharField()
    decision = serializers.ChoiceField(choices=RetrainRun.Decision.choices)
    finished = serializers.SerializerMethodField()
    requested_by = serializers.CharField(source="requested_by.get_username", allow_null=True)
    note = serializers.CharField()
    reason = serializers.CharField()
    triggers = serializers.JSONField(help_text="Each trigger's measured value vs threshold.")
    selection_metric = serializers.CharField()
    champion_version = serializers.IntegerField(source="champion.version", allow_null=True)
    champion_score = serializers.FloatField(allow_null=True)
    challenger_score = serializers.FloatField(allow_null=True)
    new_version = serializers.IntegerField(source="new_version.version", allow_null=True)
    new_version_status = serializers.CharField(source="new_version.status", allow_null=True)
    candidates = serializers.JSONField()
    rows_reference = serializers.IntegerField()
    rows_production = serializers.IntegerField()
    rows_merged = serializers.IntegerField()
    duplicates_removed = serializers.IntegerField()
    step_seconds = serializers.JSONField()
    archive_path = serializers.CharField()
    error = serializers.CharField()
    queued_at = serializers.DateTimeField(allow_null=True)
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)

    def get_finished(self, run) -> bool:
        return run.decision not in (RetrainRun.Decision.QUEUED, RetrainRun.Decision.RUNNING)


class StaffAPIView(APIView):
    permission_classes = [permissions.IsAdminUser]


class RetrainCreateApi(StaffAPIView):
    parser_classes = [JSONOnlyParser]

    class InputSerializer(serializers.Serializer):
        # Not trimmed: the schema's maxLength is the length checked.
        note = serializers.CharField(
            max_length=500,
            required=False,
            allow_blank=True,
            trim_whitespace=False,
            help_text="Why you ask (kept).",
        )

        def to_internal_value(self, data):
            # As the schema says: no other key, and a note that is a string (DRF's CharField
            # would turn a number into one).
            if isinstance(data, dict) and set(data) - {"note"}:
                unknown = sorted(str(key)[:64] for key in set(data) - {"note"})[:10]
                raise serializers.ValidationError({key: ["Unknown field."] for key in unknown})
            if isinstance(data, dict) and not isinstance(data.get("note", ""), str):
                raise serializers.ValidationError({"note": ["Must be a string."]})
            return super().to_internal_value(data)

    @extend_schema(
        operation_id="retrain_create",
        summary="Ask for a retrain now (staff only)",
        description="Records a queued retrain run and queues it for a worker; the retrain "
        "itself runs in the background. Follow it at `status_url`. A staff request always "
        "retrains (the manual trigger), and the new model is promoted only if it is not worse "
        "than the model in service on the same held-out split.",
        request=InputSerializer,
        responses={
            202: RetrainQueuedSerializer,
            400: OpenApiResponse(InvalidSerializer, description="Invalid input, per field."),
            401: OpenApiResponse(DetailSerializer, description="Not authenticated."),
            403: OpenApiResponse(DetailSerializer, description="Not staff."),
            415: OpenApiResponse(DetailSerializer, description="The body is not JSON."),
            503: OpenApiResponse(QueueDownSerializer, description="The task queue is down."),
        },
        examples=[
            OpenApiExample("Request", value={"note": "new semester data"}, request_only=True),
            OpenApiExample(
                "Queued",
                value={
                    "run_id": 12,
                    "status_url": "https://mindpulse.example.org/api/retrain/12",
                    "decision": "queued",
                },
                response_only=True,
                status_codes=["202"],
            ),
        ],
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        note = serializer.validated_data.get("note", "")
        try:
            run = retrain.retrain_request(requested_by=request.user, note=note)
        except retrain.QueueUnavailable as exc:
            return Response(
                {"detail": str(exc), "run_id": exc.run.pk},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
            )
        url = request.build_absolute_uri(reverse("training:api-retrain-detail", args=[run.pk]))
        body = {"run_id": run.pk, "status_url": url, "decision": run.decision}
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": url})


class RetrainDetailApi(StaffAPIView):
    @extend_schema(
        operation_id="retrain_status",
        summary="Status of a retrain run (staff only)",
        description="`decision` is queued, running, promoted, rejected, failed, "
        "skipped_no_trigger or skipped_already_running; `finished` is true once it is final.",
        responses={
            200: RetrainRunSerializer,
            401: OpenApiResponse(DetailSerializer, description="Not authenticated."),
            403: OpenApiResponse(DetailSerializer, description="Not staff."),
            404: OpenApiResponse(DetailSerializer, description="No such run."),
        },
    )
    def get(self, request, pk: int):
        try:
            run = selectors.retrain_run(pk)
        except RetrainRun.DoesNotExist:
            return Response({"detail": "No such retrain run."}, status=status.HTTP_404_NOT_FOUND)
        return Response(RetrainRunSerializer(run).data)
