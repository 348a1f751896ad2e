"""Console: the channel accounts (read-only until the channels issue)."""

from django.contrib.auth.decorators import login_required, permission_required
from django.shortcuts import render

from channels.models import ChannelAccount


@login_required
@permission_required("channels.view_channelaccount", raise_exception=True)
def channel_index(request):
    accounts = ChannelAccount.objects.order_by("kind", "code")
    return render(request, "channels/index.html", {"accounts": accounts})
