-- wrk script for the JSON API of the realistic apps: POST a small JSON
-- object to /items, which a pydantic model parses.
wrk.method = "POST"
wrk.body = '{"name": "widget", "price": 9.5, "quantity": 3, "tags": ["a", "b", "c"]}'
wrk.headers["Content-Type"] = "application/json"
