"""The OpenAPI document: served, valid, and naming every route and method the API has."""

import dataclasses

import falcon.inspect
import falcon.testing
from openapi_spec_validator import validate

from drop.app import create_app
from drop.resources.api_openapi import api_document

DOCUMENT = "/api/v1.0/openapi.json"
OPERATION_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def app_routes(app: falcon.App) -> dict[str, set[str]]:
    """Each route's path and the methods its resource answers (not Falcon's own 405/OPTIONS)."""
    return {
        route.path: {method.method for method in route.methods if not method.internal}
        for route in falcon.inspect.inspect_routes(app)
    }


def documented_routes(document: dict) -> dict[str, set[str]]:
    return {
        path: {method.upper() for method in item if method in OPERATION_METHODS}
        for path, item in document["paths"].items()
    }


def test_the_document_is_valid_openapi_3_1(config):
    document = api_document(config)
    assert document["openapi"].startswith("3.1.")
    validate(document)


def test_the_document_is_served_as_json(client, config):
    response = client.simulate_get(DOCUMENT)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json == api_document(config)


def test_every_api_route_and_method_is_documented_and_nothing_else(app, config):
    def api_only(routes):
        return {path: methods for path, methods in routes.items() if path.startswith("/api/")}

    assert api_only(app_routes(app)) == api_only(documented_routes(api_document(config)))


def test_every_documented_path_outside_the_api_is_a_route_with_those_methods(app, config):
    routes = app_routes(app)
    for path, methods in documented_routes(api_document(config)).items():
        assert methods <= routes.get(path, set()), path


def test_the_document_states_the_configured_limits(config, clock, immediate_huey):
    limited = dataclasses.replace(
        config, max_expires_in=3600, default_expires_in=60, max_downloads=5
    )
    served = falcon.testing.TestClient(create_app(limited, clock=clock)).simulate_get(DOCUMENT)
    form = served.json["components"]["schemas"]["UploadForm"]["properties"]
    assert form["expires_in"]["maximum"] == 3600
    assert form["max_downloads"]["maximum"] == 5


def test_uploads_take_an_optional_bearer_token_and_document_its_401(client, config):
    document = api_document(config)
    assert document["components"]["securitySchemes"]["apiToken"] == {
        **document["components"]["securitySchemes"]["apiToken"],
        "type": "http",
        "scheme": "bearer",
    }
    for method in ("put", "post"):
        operation = document["paths"]["/api/v1.0/file"][method]
        assert operation["security"] == [{}, {"apiToken": []}]  # anonymous, or with a token
        assert operation["responses"]["401"] == {
            "$ref": "#/components/responses/UploadUnauthorized"
        }
    refused = client.simulate_put(
        "/api/v1.0/file", headers={"Authorization": "Bearer drop_" + "0" * 40}
    )
    assert refused.status_code == 401
    assert "WWW-Authenticate" in refused.headers
