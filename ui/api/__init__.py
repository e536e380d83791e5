"""The HTTP API (`stylelens serve`): a FastAPI app over the same library calls as the CLI and the Studio.

`app.create_app` builds it for one workspace; `schemas` is the wire format (the OpenAPI document), `search`,
`images` and `collections` are the routers, `security` the token and write switches, `metrics` the
Prometheus counters. Everything a route does is one call into `retrieval` / `indexer`.
"""
