"""Console: campaigns and journeys (empty states until their issue lands)."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render


@login_required
def campaign_index(request):
    return render(request, "campaigns/index.html")


@login_required
def journey_index(request):
    return render(request, "campaigns/journeys.html")
