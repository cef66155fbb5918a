"""API input and output shapes. Input validation delegates to predictions.validation.

The declared fields of FeaturesSerializer document the nine features in the OpenAPI schema
(types, ranges, choices); `to_internal_value` replaces DRF's field-by-field validation with
`validate_features`, so the API, the form and the batch scorer accept exactly the same rows.
"""

from __future__ import annotations

from collections.abc import Mapping

from rest_framework import serializers

from training.features import BY_NAME, FEATURES

from .validation import (
    IGNORED_FIELDS,
    IMPLAUSIBLE_DAY,
    NON_FIELD,
    unknown_field_errors,
    validate_features,
)


def _feature_field(feature):
    unit = f" ({feature.unit})" if feature.unit else ""
    help_text = f"{feature.minimum:g} to {feature.maximum:g}{unit}." if feature.unit else ""
    if feature.kind == "category":
        return serializers.ChoiceField(
            choices=list(feature.choices),
            help_text=f"One of {', '.join(feature.choices)} (case-insensitive).",
        )
    options = {"min_value": feature.minimum, "max_value": feature.maximum, "help_text": help_text}
    if feature.kind == "int":
        return serializers.IntegerField(**options)
    return serializers.FloatField(**options)


class FeaturesSerializer(serializers.Serializer):
    """The nine features of one student (Kaggle names); Student_ID and Depression are ignored."""

    def get_fields(self):
        fields = {feature.name: _feature_field(feature) for feature in FEATURES}
        # The dataset's other two columns are accepted and ignored (validation.IGNORED_FIELDS).
        for name in sorted(IGNORED_FIELDS):
            fields[name] = serializers.JSONField(
                required=False, help_text="A column of the dataset: accepted and ignored."
            )
        return fields

    def to_internal_value(self, data):
        # A day over 24 hours is answered with an implausible_day warning, not refused.
        clean, errors = validate_features(data, allow_long_day=True)
        if errors:
            raise serializers.ValidationError(errors)
        return clean


class WrappedFeaturesSerializer(serializers.Serializer):
    """The original API's shape: {"features": {...}}."""

    features = FeaturesSerializer()


def split_store(data):
    """(data without "store", the store choice or None, errors): the API's consent.

    `"store": true` or `false` next to the features (flat or wrapped); absent means the
    original behaviour (stored, consent not asked).
    """
    if not isinstance(data, Mapping) or "store" not in data:
        return data, None, {}
    rest = {key: value for key, value in data.items() if key != "store"}
    store = data["store"]
    if not isinstance(store, bool):
        return rest, None, {"store": ["Must be true or false."]}
    return rest, store, {}


class PredictInputSerializer(serializers.Serializer):
    """The nine features, flat or wrapped in "features"."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping) and "features" in data:
            extra = [key for key in data if key != "features"]
            if extra:
                raise serializers.ValidationError(unknown_field_errors(extra, "Unknown field."))
            data = data["features"]
            if not isinstance(data, Mapping):
                raise serializers.ValidationError({"features": ["Expected an object."]})
        return FeaturesSerializer().to_internal_value(data)


class _Binary(serializers.IntegerField):
    """0 or 1, as an integer (true/false and "1" are refused, like booleans in the features)."""

    default_error_messages = {"invalid": "Must be 0 or 1."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int) or data not in (0, 1):
            self.fail("invalid")
        return data

    def __init__(self, **kwargs):
        super().__init__(min_value=0, max_value=1, **kwargs)


class FeedbackByIdSerializer(serializers.Serializer):
    prediction_id = serializers.UUIDField(help_text="The id returned by POST /api/predict.")
    actual = _Binary(help_text="The actual outcome: 1 depressed, 0 not.")


class FeedbackWithFeaturesSerializer(serializers.Serializer):
    features = FeaturesSerializer()
    prediction = _Binary(
        help_text="The prediction the client was shown (checked, not stored: the stored "
        "record holds the active model's own answer)."
    )
    actual = _Binary(help_text="The actual outcome: 1 depressed, 0 not.")


class FlatFeedbackSerializer(serializers.Serializer):
    """The original Streamlit client's shape: the nine features and "actual", side by side."""

    def get_fields(self):
        fields = FeaturesSerializer().get_fields()
        fields["prediction"] = _Binary(required=False, help_text="Optional; checked, not stored.")
        fields["actual"] = _Binary(help_text="The actual outcome: 1 depressed, 0 not.")
        return fields


class FeedbackInputSerializer(serializers.Serializer):
    """{"prediction_id", "actual"}, {"features", "prediction", "actual"}, or the nine features
    flat with "actual" (and optionally "prediction"), as the original client sends them.

    Errors come back flat, one list per field, the features' under their own names (as for
    POST /api/predict): {"Age": [...], "actual": [...]}.
    """

    def to_internal_value(self, data):
        if not isinstance(data, Mapping):
            raise serializers.ValidationError({NON_FIELD: ["Expected a JSON object."]})
        with_features = "features" in data
        flat = not with_features and "prediction_id" not in data and any(k in BY_NAME for k in data)
        if flat:
            return self._flat(data)
        if with_features:
            labels = _FeedbackLabels(data={k: v for k, v in data.items() if k != "features"})
            features, errors = validate_features(data["features"], allow_long_day=True)
            if not isinstance(data["features"], Mapping):
                errors = {"features": ["Expected an object with the nine features."]}
        else:
            labels = FeedbackByIdSerializer(data=data)
            features, errors = None, {}
        if not labels.is_valid():
            errors.update(labels.errors)
        allowed = set(labels.fields) | ({"features"} if with_features else set())
        errors.update(
            unknown_field_errors([key for key in data if key not in allowed], "Unknown field.")
        )
        if errors:
            raise serializers.ValidationError(errors)
        clean = dict(labels.validated_data)
        if with_features:
            clean["features"] = features
        return clean

    def _flat(self, data):
        labels = _FlatLabels(data={k: v for k, v in data.items() if k not in BY_NAME})
        features, errors = validate_features(
            {k: v for k, v in data.items() if k in BY_NAME}, allow_long_day=True
        )
        if not labels.is_valid():
            errors.update(labels.errors)
        # The dataset's Student_ID and Depression are accepted and ignored, as in the
        # schema (FeaturesSerializer) and on /predict.
        allowed = set(labels.fields) | set(BY_NAME) | set(IGNORED_FIELDS)
        errors.update({key: ["Unknown field."] for key in data if key not in allowed})
        if errors:
            raise serializers.ValidationError(errors)
        return {**labels.validated_data, "features": features}


class _FeedbackLabels(serializers.Serializer):
    prediction = _Binary()
    actual = _Binary()


class _FlatLabels(serializers.Serializer):
    prediction = _Binary(required=False)
    actual = _Binary()


# --- Outputs (documentation of the JSON the views build) ----------------------------------


class WarningSerializer(serializers.Serializer):
    feature = serializers.CharField()
    code = serializers.ChoiceField(
        choices=["outside_training_range", "unseen_category", IMPLAUSIBLE_DAY],
        help_text=f"`{IMPLAUSIBLE_DAY}`: sleep + study + social media over 24 hours (accepted, "
        "counted by data-quality monitoring).",
    )
    value = serializers.JSONField()
    training_min = serializers.FloatField(required=False)
    training_max = serializers.FloatField(required=False)
    message = serializers.CharField()


class PredictOutputSerializer(serializers.Serializer):
    prediction = serializers.IntegerField(help_text="1: at risk (probability >= threshold).")
    probability = serializers.FloatField()
    threshold = serializers.FloatField()
    model_version = serializers.IntegerField(help_text="The version number that answered.")
    prediction_id = serializers.UUIDField()
    warnings = WarningSerializer(many=True)


class BatchRowSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="0-based position of the row in the request.")
    prediction_id = serializers.UUIDField(required=False)
    prediction = serializers.IntegerField(required=False)
    probability = serializers.FloatField(required=False)
    warnings = WarningSerializer(many=True, required=False)
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Present instead of the prediction when the row is invalid.",
    )


class BatchOutputSerializer(serializers.Serializer):
    model_version = serializers.IntegerField()
    threshold = serializers.FloatField()
    rows = serializers.IntegerField()
    scored = serializers.IntegerField()
    failed = serializers.IntegerField()
    results = BatchRowSerializer(many=True)


class BatchUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="A CSV in the dataset's schema (UTF-8, header line).")


class FeedbackOutputSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok"])
    total_feedbacks = serializers.IntegerField()
    retrain_triggered = serializers.BooleanField(
        help_text="True only when the retrain check was actually queued on the broker."
    )


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "degraded"])
    model_loaded = serializers.BooleanField()
    error = serializers.CharField(
        allow_null=True, help_text="The original API's key: null when healthy, else why not."
    )
    model_version = serializers.IntegerField(allow_null=True)
    database = serializers.BooleanField()
    broker = serializers.BooleanField()


class FeedbackRecordSerializer(serializers.Serializer):
    actual = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    consumed_by = serializers.IntegerField(allow_null=True, help_text="The retrain run id.")


class PredictionRecordSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    features = FeaturesSerializer()
    probability = serializers.FloatField()
    prediction = serializers.IntegerField()
    threshold = serializers.FloatField()
    model_version = serializers.IntegerField()
    channel = serializers.ChoiceField(choices=["form", "api", "batch"])
    warnings = WarningSerializer(many=True)
    latency_ms = serializers.FloatField(allow_null=True)
    created_at = serializers.DateTimeField()
    feedback = FeedbackRecordSerializer(allow_null=True)


class PredictionsValidationErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text=f"Messages per field (Kaggle names); `{NON_FIELD}` holds the rules that span "
        "several fields (the 24-hour sum). Absent when the body itself could not be parsed "
        "(malformed JSON): `detail` says why.",
    )


class PredictionsErrorSerializer(serializers.Serializer):
    """Every error body has a "detail" message."""

    detail = serializers.CharField()
