def test_healthz_answers_while_alive(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_checks_database_broker_and_model(db, client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json()["checks"] == {"database": "ok", "broker": "ok", "model": "ok"}


def test_readyz_is_503_with_details_when_the_model_is_missing(db, client, settings):
    settings.FACEREC_DEFAULT_MODEL = "ArcFace"  # no weights on this machine

    response = client.get("/readyz")

    assert response.status_code == 503
    assert "arcface_weights.h5" in response.json()["checks"]["model"]
