"""The console's URLs (``ROOT_URLCONF``), and its error pages."""

from __future__ import annotations

from django.urls import include, path

from office.console import (
    card_views,
    customer_views,
    merge_views,
    record_views,
    transfer_views,
    views,
    voucher_views,
)

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
    path("customers/", customer_views.customers, name="customers"),
    path("customers/new", customer_views.customer_new, name="customer_new"),
    path("customers/import", transfer_views.import_page, name="import"),
    path("customers/duplicates", merge_views.duplicates, name="duplicates"),
    path("stock/", transfer_views.stock, name="stock"),
    path("customers/merge", merge_views.merge, name="merge"),
    path("customers/export.csv", transfer_views.customers_export, {"fmt": "csv"},
         name="customers_csv"),
    path("customers/export.xlsx", transfer_views.customers_export, {"fmt": "xlsx"},
         name="customers_xlsx"),
    path("vehicles/export.csv", transfer_views.vehicles_export, {"fmt": "csv"},
         name="vehicles_csv"),
    path("vehicles/export.xlsx", transfer_views.vehicles_export, {"fmt": "xlsx"},
         name="vehicles_xlsx"),
    path("customers/<str:customer_id>/", customer_views.customer, name="customer"),
    path("customers/<str:customer_id>/edit", customer_views.customer_edit,
         name="customer_edit"),
    path("customers/<str:customer_id>/consent", customer_views.customer_consent,
         name="customer_consent"),
    path("customers/<str:customer_id>/issue", customer_views.card_issue, name="card_issue"),
    path("customers/<str:customer_id>/close", customer_views.customer_close,
         name="customer_close"),
    path("card/<str:card_id>/", card_views.card, name="card"),
    path("card/<str:card_id>/status", card_views.card_status, name="card_status"),
    path("card/<str:card_id>/reissue", card_views.card_reissue, name="card_reissue"),
    path("card/<str:card_id>/limit", card_views.card_limit, name="card_limit"),
    path("card/<str:card_id>/wallet", card_views.wallet_add, name="wallet_add"),
    path("wallets/<str:wallet_id>/", card_views.wallet, name="wallet"),
    path("wallets/<str:wallet_id>/post", card_views.wallet_post, name="wallet_post"),
    path("vehicles/", record_views.vehicles, name="vehicles"),
    path("vehicles/new", record_views.vehicle_new, name="vehicle_new"),
    path("vehicles/<str:vehicle_id>/", record_views.vehicle, name="vehicle"),
    path("groups/", record_views.groups, name="groups"),
    path("groups/new", record_views.group_new, name="group_new"),
    path("groups/<str:group_id>/", record_views.group, name="group"),
    path("groups/<str:group_id>/limit", record_views.group_limit, name="group_limit"),
    path("groups/<str:group_id>/member", record_views.group_member, name="group_member"),
    path("vouchers/", voucher_views.vouchers, name="vouchers"),
    path("vouchers/issue", voucher_views.voucher_issue, name="voucher_issue"),
    path("vouchers/exceptions/", voucher_views.voucher_exceptions, name="voucher_exceptions"),
    path("vouchers/exceptions/<int:exception_id>/settle", voucher_views.voucher_settle,
         name="voucher_settle"),
    path("vouchers/<str:batch_id>/", voucher_views.voucher_batch, name="voucher_batch"),
    path("vouchers/<str:batch_id>/codes.csv", voucher_views.voucher_csv, name="voucher_csv"),
    path("vouchers/<str:batch_id>/codes.pdf", voucher_views.voucher_pdf, name="voucher_pdf"),
]

urlpatterns = [
    path("", include((console_patterns, "console"))),
    path("i18n/", include("django.conf.urls.i18n")),
]

handler403 = views.forbidden
handler404 = views.not_found
handler500 = views.server_error
