"""The shop's URLs: the JSON API (shop/views.py) and the admin."""

from django.contrib import admin
from django.urls import path
from shop import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("customers", views.create_customer),
    path("customers/<str:customer>/product-viewed", views.product_viewed),
    path("customers/<str:customer>/cart", views.cart_updated),
    path("customers/<str:customer>/orders", views.order_placed),
    path("customers/<str:customer>/reviews", views.review_posted),
    path("customers/<str:customer>/events", views.event),
    path("customers/<str:customer>/journey", views.journey),
    path("orders/<int:order>/delivered", views.delivered),
    path("webhooks/payment", views.payment_webhook),
    path("status-rows/<str:customer>", views.bare_status),  # the benchmark's baseline
]
