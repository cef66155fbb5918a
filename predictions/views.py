from django.shortcuts import render

from training import selectors as training_selectors


def home(request):
    return render(request, "home.html", {"active": training_selectors.active_model_version()})
