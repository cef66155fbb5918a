from django.urls import path

from . import api, views

app_name = "training"

urlpatterns = [
    path("models/v<int:version>/", views.model_card, name="model-card"),
    path("api/retrain", api.RetrainCreateApi.as_view(), name="api-retrain"),
    path("api/retrain/<int:pk>", api.RetrainDetailApi.as_view(), name="api-retrain-detail"),
]
