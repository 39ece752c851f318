"""The admin, and one async view that moves a journey through ``sync_to_async``."""

import json

from asgiref.sync import sync_to_async
from django.contrib import admin
from django.db import connection, transaction
from django.http import HttpRequest, JsonResponse
from django.urls import path

from journeyfsm.contrib.django import service


def _place(key: str, sku: str) -> dict[str, object]:
    # the host's row and the move in one atomic block, in Django's sync thread
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO orders (customer, sku) VALUES (%s, %s)", [key, sku])
        outcome = service("shop").handle(key, "add_to_cart", {"sku": sku}, event_id=f"o-{sku}")
    return {"status": outcome.status, "dest": outcome.dest}


async def add_to_cart(request: HttpRequest, key: str) -> JsonResponse:
    body = json.loads(request.body or b"{}")
    return JsonResponse(await sync_to_async(_place)(key, str(body.get("sku", "item"))))


urlpatterns = [
    path("admin/", admin.site.urls),
    path("async/<str:key>/cart", add_to_cart),
]
