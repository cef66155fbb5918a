from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "training"
    verbose_name = "Training and model registry"

    def ready(self):
        from . import checks  # noqa: F401 (registers the system checks)
