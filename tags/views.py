"""Console: the tag library (read-only until the tag console issue)."""

from django.contrib.auth.decorators import login_required, permission_required
from django.db.models import Count, Prefetch
from django.shortcuts import render

from tags.models import Tag, TagGroup


@login_required
@permission_required("tags.view_tag", raise_exception=True)
def tag_index(request):
    """Tag groups with their tags and how many customers carry each."""
    tags = Tag.objects.annotate(customer_count=Count("customer_tags")).order_by("name")
    groups = TagGroup.objects.prefetch_related(Prefetch("tags", queryset=tags)).order_by("name")
    return render(request, "tags/index.html", {"groups": groups})
