"""/healthz answers while the process lives; /readyz checks what drop depends on."""

import dataclasses

import falcon.testing

from drop.app import create_app
from tests.support.common import free_port
from tests.support.redis_server import OwnRedis


def test_healthz_is_ok(client):
    response = client.simulate_get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_readyz_is_ok_when_everything_answers(client, backend):
    response = client.simulate_get("/readyz")
    assert response.status_code == 200, response.json
    expected = {"database": "ok", "storage": "ok"}
    if backend == "postgres":
        expected["redis"] = "ok"
    assert response.json == {"status": "ok", "checks": expected}


def test_readyz_names_redis_while_it_is_down_and_recovers(config, clock, immediate_huey):
    with OwnRedis() as own:
        app = create_app(dataclasses.replace(config, redis_url=own.url), clock=clock)
        client = falcon.testing.TestClient(app)
        assert client.simulate_get("/readyz").status_code == 200

        own.stop()
        down = client.simulate_get("/readyz")
        assert down.status_code == 503
        assert down.json["failed"] == ["redis"]
        assert down.json["checks"]["redis"] == "unreachable"
        assert down.json["checks"]["database"] == "ok"

        own.start()
        back = client.simulate_get("/readyz")
        assert back.status_code == 200, back.json
        assert back.json["checks"]["redis"] == "ok"


def test_readyz_names_an_unreachable_database_and_healthz_does_not_care(
    config, clock, immediate_huey
):
    nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/drop"
    app = create_app(dataclasses.replace(config, database_url=nowhere), clock=clock)
    client = falcon.testing.TestClient(app)
    response = client.simulate_get("/readyz")
    assert response.status_code == 503
    assert response.json["failed"] == ["database"]
    assert client.simulate_get("/healthz").status_code == 200


def test_readyz_names_storage_that_cannot_be_written(app, client, config):
    temp = config.data_dir / "tmp"
    temp.rmdir()
    temp.write_text("a file where the temp directory should be")
    response = client.simulate_get("/readyz")
    assert response.status_code == 503
    assert response.json["failed"] == ["storage"]
    assert response.json["checks"]["storage"] == "not writable"
