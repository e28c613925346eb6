"""The console's URLs (``ROOT_URLCONF``), and its error pages."""

from __future__ import annotations

from django.urls import include, path

from office.console import views

console_patterns = [
    path("", views.home, name="home"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("stations/", views.stations, name="stations"),
    path("sales/", views.sales, name="sales"),
    path("sales/export.csv", views.sales_csv, name="sales_csv"),
    path("sales/export.xlsx", views.sales_xlsx, name="sales_xlsx"),
    path("cards/", views.cards, name="cards"),
    path("cards/export.csv", views.cards_export, {"fmt": "csv"}, name="cards_csv"),
    path("cards/export.xlsx", views.cards_export, {"fmt": "xlsx"}, name="cards_xlsx"),
    path("cards/<str:card_id>/block", views.card_block, name="card_block"),
    path("cards/<str:card_id>/unblock", views.card_unblock, name="card_unblock"),
    path("quarantine/", views.quarantine, name="quarantine"),
    path("refused/", views.refused, name="refused"),
    path("audit/", views.audit_trail, name="audit"),
    path("audit/export.csv", views.audit_export, {"fmt": "csv"}, name="audit_csv"),
    path("audit/export.xlsx", views.audit_export, {"fmt": "xlsx"}, name="audit_xlsx"),
    path("users/", views.users, name="users"),
]

urlpatterns = [
    path("", include((console_patterns, "console"))),
    path("i18n/", include("django.conf.urls.i18n")),
]

handler403 = views.forbidden
handler404 = views.not_found
handler500 = views.server_error
