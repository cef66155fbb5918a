from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from .metrics import metrics_view

urlpatterns = [
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("metrics", metrics_view, name="metrics"),
    path("", include("training.urls")),
    path("", include("monitoring.urls")),
    path("", include("predictions.urls")),
    path("", include("privacy.urls")),
]

# A database outage answers 503 "temporarily unavailable", never a 500; the API's 404s are
# JSON (mindpulse.errors).
handler404 = "mindpulse.errors.page_not_found"
handler500 = "mindpulse.errors.server_error"
