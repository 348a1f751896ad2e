from django.urls import path
from rest_framework.routers import SimpleRouter

from customers import api

router = SimpleRouter()
router.register("customers", api.CustomerViewSet, basename="api-customer")

urlpatterns = [
    path("customers/upsert", api.CustomerUpsertView.as_view(), name="api-customer-upsert"),
    path("events/batch", api.EventBatchView.as_view(), name="api-event-batch"),
    path("orders/batch", api.OrderBatchView.as_view(), name="api-order-batch"),
    path("customers/<int:pk>/points/earn", api.PointsEarnView.as_view(), name="api-points-earn"),
    path(
        "customers/<int:pk>/points/redeem",
        api.PointsRedeemView.as_view(),
        name="api-points-redeem",
    ),
    *router.urls,
]
