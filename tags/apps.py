from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TagsConfig(AppConfig):
    name = "tags"
    verbose_name = _("标签与人群")

    def ready(self):
        from customers.signals import customer_imported
        from tags.signals import tag_imported_customer

        customer_imported.connect(tag_imported_customer, dispatch_uid="tags-on-import")
