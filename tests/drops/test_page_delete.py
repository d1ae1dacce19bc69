"""/d/<token>/delete?key=…: the uploader deletes from the browser; a GET never deletes."""

from drop.db.models import Drop
from tests.support.page import FORM, delete_key, page_upload, share_token


def uploaded(client):
    response = page_upload(client)
    return share_token(response), delete_key(response)


def test_opening_the_delete_link_asks_first_and_deletes_nothing(client, blobs):
    token, key = uploaded(client)
    response = client.simulate_get(f"/d/{token}/delete", params={"key": key})
    assert response.status_code == 200
    assert ">Delete the file</button>" in response.text
    assert Drop.get(Drop.token == token).status == "live"
    assert blobs.exists(token)


def test_confirming_deletes_the_drop_and_its_blob(client, blobs):
    token, key = uploaded(client)
    response = client.simulate_post(f"/d/{token}/delete", body=f"key={key}", headers=FORM)
    assert response.status_code == 200
    assert "Deleted" in response.text
    assert Drop.get(Drop.token == token).status == "deleted"
    assert not blobs.exists(token)
    assert client.simulate_get(f"/d/{token}").status_code == 410


def test_wrong_delete_key_is_403_and_deletes_nothing(client):
    token, _ = uploaded(client)
    for key in ("", "0" * 32, "junk"):
        response = client.simulate_post(f"/d/{token}/delete", body=f"key={key}", headers=FORM)
        assert response.status_code == 403
        assert "Not allowed" in response.text
    assert client.simulate_get(f"/d/{token}/delete", params={"key": "0" * 32}).status_code == 403
    assert Drop.get(Drop.token == token).status == "live"


def test_deleting_twice_is_410(client):
    token, key = uploaded(client)
    client.simulate_post(f"/d/{token}/delete", body=f"key={key}", headers=FORM)
    again = client.simulate_post(f"/d/{token}/delete", body=f"key={key}", headers=FORM)
    assert again.status_code == 410
