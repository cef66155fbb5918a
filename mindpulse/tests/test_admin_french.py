"""MindPulse's own admin pages in French, in Debian's Chromium: titles, column headers, list
filters, actions, fieldsets and messages are translated, and no English string of ours (nor
Django's) is left in them.

"Left in English" is decided by the catalogue itself: a text on the page that the French
catalogue translates into something else is a text that should have been translated.
"""

from __future__ import annotations

import pytest
from django.utils import timezone, translation

from mindpulse.testing import SAMPLE_FEATURES
from monitoring.models import Alert, MonitoringReport
from predictions import services
from predictions.models import Prediction
from predictions.tests.test_browser import chromium_page  # noqa: F401 (the fixture)
from training.models import RetrainRun

PASSWORD = "a long pass phrase for the french admin"
# What a list page is made of, where our words show.
LIST_PARTS = (
    "#result_list thead th",
    "#changelist-filter h3",
    "#changelist-filter summary",
    "#changelist-filter li a",
    "select[name=action] option",
    ".object-tools a, .object-tools button",
    "#content h1",
    ".breadcrumbs a",
)


def untranslated(texts: list[str]) -> list[str]:
    """The texts the French catalogue would have translated (as shown, or as the lower-case
    msgid of a capitalised column header)."""
    left = []
    with translation.override("fr"):
        for raw in texts:
            text = " ".join(raw.split())
            for candidate in (text, text[:1].lower() + text[1:]):
                if candidate and translation.gettext(candidate) != candidate:
                    left.append(text)
                    break
    return left


def fits_1280(page) -> bool:
    """Nothing to scroll sideways at 1280 px: neither the page nor the list's own box."""
    page_width = page.evaluate("document.documentElement.scrollWidth")
    table = page.locator("#result_list")
    inner = table.evaluate("t => t.parentElement.scrollWidth <= t.parentElement.clientWidth")
    return page_width <= 1280 and inner


def texts(page, selectors=LIST_PARTS) -> list[str]:
    found = []
    for selector in selectors:
        # text_content, not inner_text: the admin's CSS upper-cases some headers.
        found += [" ".join(t.split()) for t in page.locator(selector).all_text_contents()]
    return [text for text in found if text]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_it_shows_mindpulses_admin_pages_in_french(
    live_server,
    active_model,
    chromium_page,  # noqa: F811
    django_user_model,
):
    django_user_model.objects.create_superuser("chef", "chef@example.org", PASSWORD)
    services.prediction_create(SAMPLE_FEATURES, channel=Prediction.Channel.FORM)
    run = RetrainRun.objects.create(
        trigger=RetrainRun.Trigger.MANUAL,
        decision=RetrainRun.Decision.REJECTED,
        finished_at=timezone.now(),
        triggers={"manual": {"value": 1, "rule": ">=", "threshold": 1, "fired": True}},
        step_seconds={"total": 1.25},
    )
    Alert.objects.create(
        kind="drift", severity=Alert.Severity.WARNING, message="x", dedup_key="drift"
    )
    MonitoringReport.objects.create(
        kind=MonitoringReport.Kind.DATA_DRIFT, status=MonitoringReport.Status.OK, summary={}
    )

    page = chromium_page
    page.set_viewport_size({"width": 1280, "height": 900})
    page.context.add_cookies([{"name": "django_language", "value": "fr", "url": live_server.url}])
    page.goto(live_server.url + "/admin/login/?next=/admin/predictions/prediction/")
    page.fill("#id_username", "chef")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/predictions/prediction/")
    assert page.locator("html").get_attribute("lang") == "fr"

    # The prediction list: title, column headers, the estimate filter's labels.
    assert "prédiction" in page.text_content("#content h1")
    headers = texts(page, ["#result_list thead th"])
    assert {"Créé le", "Canal", "Version du modèle", "Estimation"} <= set(headers)
    assert "Par estimation" in texts(page, ["#changelist-filter summary"])
    choices = texts(page, ["#changelist-filter li a"])
    assert "à risque" in choices and "pas à risque" in choices
    assert untranslated(texts(page)) == []
    assert fits_1280(page), (page.url, page.evaluate("document.documentElement.scrollWidth"))

    # Model versions: the rollback action; alerts: the two actions and the state filter.
    page.goto(live_server.url + "/admin/training/modelversion/")
    options = page.locator("select[name=action] option").all_inner_texts()
    assert "Mettre cette version en service (retour arrière)" in options
    assert untranslated(texts(page)) == []
    assert fits_1280(page), (page.url, page.evaluate("document.documentElement.scrollWidth"))
    page.goto(live_server.url + "/admin/monitoring/alert/")
    options = page.locator("select[name=action] option").all_inner_texts()
    assert {"Acquitter les alertes sélectionnées", "Renvoyer les alertes sélectionnées"} <= set(
        options
    )
    assert untranslated(texts(page)) == []
    assert fits_1280(page), (page.url, page.evaluate("document.documentElement.scrollWidth"))

    # An action's message.
    page.check("#result_list input[name=_selected_action]")
    page.select_option("select[name=action]", "acknowledge")
    page.click("button[name=index]")
    page.wait_for_selector(".messagelist")
    assert "1 alerte(s) acquittée(s)." in page.text_content(".messagelist")

    # Retrain runs: the "Retrain now" link, then one run's fieldsets and its tables.
    page.goto(live_server.url + "/admin/training/retrainrun/")
    assert "Réentraîner maintenant" in texts(page, [".object-tools a"])
    assert untranslated(texts(page)) == []
    assert fits_1280(page), (page.url, page.evaluate("document.documentElement.scrollWidth"))
    page.goto(live_server.url + f"/admin/training/retrainrun/{run.pk}/change/")
    fieldsets = texts(page, ["fieldset h2"])
    assert "Déclencheurs : valeur mesurée face au seuil" in fieldsets
    labels = texts(page, ["fieldset .form-row label"])
    assert untranslated(fieldsets + labels) == []
    assert "DÉCLENCHÉ" in page.text_content("#content")

    # A model version's JSON fields (metrics, intervals, groups...) read as tables.
    page.goto(live_server.url + f"/admin/training/modelversion/{active_model.pk}/change/")
    assert page.locator("table.mp-json").count() >= 5
    assert '{"' not in page.text_content("#content-main fieldset")

    # Monitoring reports: the page's own links.
    page.goto(live_server.url + "/admin/monitoring/monitoringreport/")
    tools = texts(page, [".object-tools a, .object-tools button"])
    assert {"Vue d’ensemble de la surveillance", "Lancer les rapports maintenant"} <= set(tools)
    assert untranslated(texts(page)) == []
    assert fits_1280(page), (page.url, page.evaluate("document.documentElement.scrollWidth"))


def test_it_would_flag_an_english_column_header():
    """The check itself: an English header of ours is caught, a French one is not."""
    assert untranslated(["Created at", "Retrain now", "Home"]) == [
        "Created at",
        "Retrain now",
        "Home",
    ]
    assert untranslated(["Créé le", "Réentraîner maintenant", "OK"]) == []
