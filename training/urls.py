from django.urls import path

from . import api

app_name = "training"

urlpatterns = [
    path("api/retrain", api.RetrainCreateApi.as_view(), name="api-retrain"),
    path("api/retrain/<int:pk>", api.RetrainDetailApi.as_view(), name="api-retrain-detail"),
]
