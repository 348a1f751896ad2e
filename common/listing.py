"""The console's one generic list view: filter set + filter form + table + pagination.

A page sets its filter set, templates and permission; htmx requests (the filter form and the
pager target the table) get the table partial only, full requests the whole page.
"""

from django.contrib.auth.mixins import LoginRequiredMixin, PermissionRequiredMixin
from django.views.generic import ListView


class FilteredListView(LoginRequiredMixin, PermissionRequiredMixin, ListView):
    filterset_class = None
    partial_template_name = ""
    paginate_by = 50
    max_page_size = 200

    def get_filterset(self):
        return self.filterset_class(self.request.GET or None, queryset=self.get_base_queryset())

    def get_base_queryset(self):
        return super().get_queryset()

    def get_queryset(self):
        self.filterset = self.get_filterset()
        if self.filterset.is_bound and not self.filterset.is_valid():
            return self.filterset.queryset.none()
        return self.filterset.qs

    def get_paginate_by(self, queryset):
        size = self.request.GET.get("page_size", "")
        if size.isdigit() and int(size) > 0:
            return min(int(size), self.max_page_size)
        return self.paginate_by

    def paginate_queryset(self, queryset, page_size):
        # An out-of-range page shows the last page rather than a 404.
        paginator = self.get_paginator(queryset, page_size, allow_empty_first_page=True)
        page = paginator.get_page(self.request.GET.get(self.page_kwarg))
        return paginator, page, page.object_list, page.has_other_pages()

    def get_template_names(self):
        if self.request.headers.get("HX-Request") and self.partial_template_name:
            return [self.partial_template_name]
        return super().get_template_names()

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["filterset"] = self.filterset
        context["filter_form"] = self.filterset.form
        params = self.request.GET.copy()
        params.pop(self.page_kwarg, None)
        context["query_string"] = params.urlencode()
        context["is_filtered"] = any(v for k, v in params.items() if k != "page_size")
        return context
