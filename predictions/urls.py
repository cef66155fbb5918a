from django.urls import path
from drf_spectacular.utils import extend_schema, extend_schema_view

from . import api, views

app_name = "predictions"


def _compat(view_class, method, **attributes):
    """The original API's path: the same view, left out of the schema (no duplicate operation)."""
    hidden = extend_schema_view(**{method: extend_schema(exclude=True)})
    return hidden(type(f"Compat{view_class.__name__}", (view_class,), attributes)).as_view()


urlpatterns = [
    path("", views.home, name="home"),
    path("predictions/batch/", views.batch_page, name="batch"),
    path("predictions/batch/template.csv", views.batch_template, name="batch-template"),
    path("predictions/<uuid:pk>/", views.result, name="result"),
    path("predictions/<uuid:pk>/feedback/", views.feedback, name="feedback"),
    path("predictions/<uuid:pk>/thanks/", views.thanks, name="thanks"),
    path("predictions/<uuid:pk>/delete/", views.erase, name="erase"),
    path("api/predict", api.PredictView.as_view(), name="api-predict"),
    path("api/predict/batch", api.BatchPredictView.as_view(), name="api-predict-batch"),
    path("api/feedback", api.FeedbackView.as_view(), name="api-feedback"),
    path("api/health", api.HealthView.as_view(), name="api-health"),
    path("api/predictions/<uuid:pk>", api.PredictionDetailView.as_view(), name="api-prediction"),
    # The original Flask API's paths, so that its Streamlit client works unchanged.
    path("predict", _compat(api.PredictView, "post"), name="compat-predict"),
    path("feedback", _compat(api.FeedbackView, "post", created_status=200), name="compat-feedback"),
    path("health", _compat(api.HealthView, "get"), name="compat-health"),
]
