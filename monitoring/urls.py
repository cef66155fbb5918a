"""No public routes: the monitoring pages and report files live inside the admin.

See `MonitoringReportAdmin.get_urls` (report viewer, report HTML, "Run reports now") and
`OverviewAdmin` (/admin/monitoring/overview/).
"""

app_name = "monitoring"

urlpatterns: list = []
