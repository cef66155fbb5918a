"""Names of the monitoring app's periodic tasks: read by the services that create the
schedules and by the alerts that watch them (alerts never import the services)."""

SCHEDULE_NAME = "monitoring: run reports"
