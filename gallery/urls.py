from django.urls import path

from gallery import apis

urlpatterns = [
    path("domains", apis.DomainListApi.as_view(), name="api-domains"),
    path("domains/<slug:slug>/persons", apis.PersonListApi.as_view(), name="api-persons"),
    path("domains/<slug:slug>/persons/<int:person_id>", apis.PersonDetailApi.as_view(), name="api-person"),
    path("domains/<slug:slug>/persons/<int:person_id>/images", apis.PersonImagesApi.as_view(), name="api-person-images"),
    path(
        "domains/<slug:slug>/persons/<int:person_id>/images/<int:photo_id>",
        apis.PhotoDetailApi.as_view(),
        name="api-person-image",
    ),
    path("domains/<slug:slug>/images", apis.DomainImagesApi.as_view(), name="api-images"),
    path("domains/<slug:slug>/clusters", apis.ClusterListApi.as_view(), name="api-clusters"),
    path("domains/<slug:slug>/clusters/<int:cluster_id>/assign", apis.ClusterAssignApi.as_view(), name="api-cluster-assign"),
    path("domains/<slug:slug>/clusters/<int:cluster_id>/dismiss", apis.ClusterDismissApi.as_view(), name="api-cluster-dismiss"),
    path(
        "domains/<slug:slug>/clusters/<int:cluster_id>/faces/<int:face_id>",
        apis.ClusterFaceRemoveApi.as_view(),
        name="api-cluster-face",
    ),
    path("domains/<slug:slug>/images/<int:photo_id>", apis.PhotoDetailApi.as_view(), name="api-image"),
    path("tasks/<uuid:task_id>", apis.TaskDetailApi.as_view(), name="api-task"),
]
