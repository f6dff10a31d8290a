def test_upsert_then_get(api):
    response = api.post("/api/v1/customers", {"customer": {"external_id": "cust_1", "name": "Acme"}})
    assert response.status_code == 200, response.content
    assert api.get("/api/v1/customers/cust_1").json()["customer"]["name"] == "Acme"
