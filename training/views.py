"""The public model card of a version: how an estimate is made (linked from the result page)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404, render
from django.utils.translation import gettext_lazy as _

from predictions.labels import CHOICE_LABELS

from . import card as cards
from .fairness import GROUP_METRICS
from .models import ModelVersion

METRIC_LABELS = {
    "roc_auc": _("ROC AUC (ranks a depressed student above one who is not)"),
    "accuracy": _("Accuracy"),
    "precision": _("Precision (flagged students who were depressed)"),
    "recall": _("Recall (depressed students who were flagged)"),
    "f1": _("F1"),
    "false_positive_rate": _("False-positive rate"),
    "brier": _("Brier score (lower is better)"),
    "ece": _("Expected calibration error (lower is better)"),
    "prevalence": _("Prevalence"),
}
FEATURE_LABELS = {"Gender": _("Gender"), "Department": _("Department")}
GROUP_LABELS = CHOICE_LABELS  # the groups are the choices of Gender and Department
EVENT_LABELS = {"registered": _("registered"), "activated": _("activated"), "retired": _("retired")}
SHORT_LABELS = {
    "prevalence": _("Prevalence"),
    "recall": _("Recall"),
    "false_positive_rate": _("False-positive rate"),
    "precision": _("Precision"),
    "roc_auc": _("ROC AUC"),
}


def card_context(version: ModelVersion) -> dict:
    """The card of `version` with every label in the current language (public and admin)."""
    card = cards.model_card(version)
    for row in card["metrics"]:
        row["label"] = METRIC_LABELS.get(row["name"], row["name"])
    card["plain_percent"] = {
        k: None if v is None else round(v * 100) for k, v in card["plain"].items()
    }
    groups = {}
    for feature, part in card["groups"].items():
        groups[feature] = {
            "label": FEATURE_LABELS.get(feature, feature),
            "recall_gap": part.get("recall_gap"),
            "groups": [
                {
                    "label": GROUP_LABELS.get(row["group"], row["group"]),
                    "n": row["n"],
                    "cells": [row[m] for m in GROUP_METRICS],
                }
                for row in part["groups"]
            ],
        }
    card["groups"] = groups
    for event in card["history"]:
        event["label"] = EVENT_LABELS[event["what"]]
    return {"card": card, "version": version, "group_labels": list(SHORT_LABELS.values())}


def model_card(request, version: int):
    row = get_object_or_404(ModelVersion.objects.select_related("run"), version=version)
    return render(request, "training/model_card.html", card_context(row))
