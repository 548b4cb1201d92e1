from django.urls import path

from recognition import apis, legacy, web

urlpatterns = [
    # The existing front end's route (the old server's answer shape).
    path("recognize", legacy.LegacyRecognizeApi.as_view(), name="legacy-recognize"),
    # The web page: session login, CSRF-protected form posts (recognition/web.py).
    path("", web.index, name="web-index"),
    path("web/recognize", web.recognize, name="web-recognize"),
    path("web/compare", web.compare, name="web-compare"),
    path("api/v1/recognize", apis.RecognizeApi.as_view(), name="api-recognize"),
    path("api/v1/detect", apis.DetectApi.as_view(), name="api-detect"),
    path("api/v1/compare", apis.CompareApi.as_view(), name="api-compare"),
    path("api/v1/domains/<slug:slug>/recognize-batch", apis.RecognizeBatchApi.as_view(), name="api-recognize-batch"),
    path(
        "api/v1/domains/<slug:slug>/recognize-batch/<uuid:task_id>",
        apis.RecognizeBatchResultsApi.as_view(),
        name="api-recognize-batch-results",
    ),
]
