"""The pages: the screening form, the result with its feedback form, the thank-you, the batch
scorer. Thin views over predictions.services; usable without JavaScript."""

from __future__ import annotations

import base64
import time

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from mindpulse.throttling import client_key, throttle_posts
from training import serving
from training.features import MAX_DAY_HOURS

from . import batch, erasure, explanations, ranges, selectors, services
from .forms import BatchForm, FeedbackForm, ScreeningForm
from .labels import LABELS, accepted_values
from .models import Feedback, Prediction

_SESSION_KEY = "mindpulse_feedback"


@require_http_methods(["GET", "POST"])
@throttle_posts("forms")  # THROTTLE_FORMS: 429 with Retry-After
def home(request):
    started = time.perf_counter()
    loaded = serving.get_active_model()
    form = ScreeningForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and loaded is not None and form.is_valid():
        try:
            prediction = services.prediction_create(
                form.cleaned_data,
                channel=Prediction.Channel.FORM,
                started=started,
                consent=form.consent_given,
            )
        except services.ModelUnavailable:
            loaded = None
        else:
            if form.consent_given:
                return redirect("predictions:result", pk=prediction.pk)
            # No consent: the estimate is shown now and has no link (nothing to come back to).
            context = {**_result_context(prediction, None, kept=False)}
            return render(request, "predictions/result.html", context)
    status = 503 if loaded is None and request.method == "POST" else 200
    return render(
        request, "predictions/form.html", {"form": form, "ready": loaded is not None}, status=status
    )


def _result_context(
    prediction: Prediction, feedback_form: FeedbackForm | None, *, kept: bool = True
) -> dict:
    has_feedback = kept and hasattr(prediction, "feedback")
    return {
        "kept": kept,
        "prediction": prediction,
        "version": prediction.model_version,
        "percent": round(prediction.probability * 100),
        "threshold_percent": round(prediction.threshold * 100),
        "factors": explanations.factors_for(prediction),
        "warnings": _warnings(prediction),
        "feedback": prediction.feedback if has_feedback else None,
        "feedback_form": None if has_feedback or not kept else (feedback_form or FeedbackForm()),
    }


def _warnings(prediction: Prediction) -> list[dict]:
    shown = []
    for warning in prediction.warnings:
        name = warning.get("feature", "")
        entry = {"label": LABELS.get(name, name), "value": warning.get("value")}
        if warning.get("code") == ranges.OUTSIDE_RANGE:
            entry.update(low=warning.get("training_min"), high=warning.get("training_max"))
        shown.append(entry)
    return shown


def _prediction_or_404(pk) -> Prediction:
    try:
        return selectors.prediction_with_answers(pk)
    except Prediction.DoesNotExist:
        raise Http404("No prediction has this id.") from None


@require_POST
@throttle_posts("forms")
def erase(request, pk):
    """The result page's "Delete my answers": the prediction and its feedback go, an erasure
    is recorded (predictions.erasure)."""
    try:
        erasure.prediction_erase(pk)
    except Prediction.DoesNotExist:
        raise Http404("No prediction has this id.") from None
    return render(request, "predictions/erased.html")


@require_safe
def result(request, pk):
    prediction = _prediction_or_404(pk)
    return render(request, "predictions/result.html", _result_context(prediction, None))


@require_POST
@throttle_posts("forms")
def feedback(request, pk):
    prediction = _prediction_or_404(pk)
    form = FeedbackForm(request.POST)
    if not form.is_valid():
        context = _result_context(prediction, form)
        return render(request, "predictions/result.html", context, status=400)
    try:
        outcome = services.feedback_create(
            prediction_id=prediction.pk,
            actual=bool(form.cleaned_data["actual"]),
            source=Feedback.Source.STUDENT_LINK,
            client_key=client_key(request),
        )
    except services.FeedbackExists:
        messages.info(request, _("The outcome of this estimate was already recorded."))
        return redirect("predictions:result", pk=prediction.pk)
    # The thank-you page reads it back: a redirect keeps a reload from posting twice.
    request.session[_SESSION_KEY] = {
        "prediction": str(prediction.pk),
        "retrain_triggered": outcome.retrain_triggered,
    }
    return redirect("predictions:thanks", pk=prediction.pk)


@require_safe
def thanks(request, pk):
    prediction = get_object_or_404(Prediction.objects.select_related("feedback"), pk=pk)
    if not hasattr(prediction, "feedback"):
        return redirect("predictions:result", pk=prediction.pk)
    stored = request.session.get(_SESSION_KEY) or {}
    context = {
        "prediction": prediction,
        "total_feedbacks": selectors.feedback_count(),
        "retrain_triggered": stored.get("prediction") == str(prediction.pk)
        and stored.get("retrain_triggered", False),
    }
    return render(request, "predictions/thanks.html", context)


@require_http_methods(["GET", "POST"])
@throttle_posts("forms")
def batch_page(request):
    ready = serving.get_active_model() is not None
    bound = request.method == "POST"
    form = BatchForm(request.POST if bound else None, request.FILES if bound else None)
    context = {"form": form, "accepted": accepted_values(), "max_day_hours": MAX_DAY_HOURS}
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            header, rows, outcome = batch.score_csv(form.cleaned_data["file"].read())
        except batch.BatchError as exc:
            form.add_error("file", str(exc))
        except services.ModelUnavailable:
            ready = False
        else:
            context["summary"] = _batch_summary(
                outcome, batch.write_csv(header, rows, outcome.results)
            )
        if "summary" not in context:
            status = 400 if ready else 503
    elif request.method == "POST":
        status = 400
    context["ready"] = ready
    return render(request, "predictions/batch.html", context, status=status)


@require_safe
def batch_template(request):
    response = HttpResponse(batch.template_csv(), content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="mindpulse-batch-template.csv"'
    return response


# Refused rows listed on the page (all of them are in the download's error column).
REFUSED_SHOWN = 50


def _batch_summary(outcome: batch.BatchOutcome, scored_csv: str) -> dict:
    """The counts, the first refused rows with why, and the scored file as a data: URL: the
    download is handed back in the page, never kept on the server (it may hold the uploaded
    names or ids)."""
    refused = outcome.refused
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    return {
        "rows": len(outcome.results),
        "scored": outcome.scored,
        "positives": outcome.positives,
        "refused_count": len(refused),
        # Line 1 of the file is its header: row i is on line i + 2.
        "refused": [
            {"line": r.index + 2, "why": batch.error_text(r.errors)}
            for r in refused[:REFUSED_SHOWN]
        ],
        "refused_more": max(0, len(refused) - REFUSED_SHOWN),
        "version": outcome.version,
        "download_url": "data:text/csv;charset=utf-8;base64,"
        + base64.b64encode(scored_csv.encode()).decode(),
        "download_name": f"mindpulse-scores-{stamp}.csv",
    }
