"""The HTTP API, `stockledger serve`: Litestar on uvicorn.

- `app.py` builds the application from `settings.py` and opens the engine;
- `intake.py` is POST /commands, the storefronts' intake, behind `auth.py`'s tokens;
- `writer.py` is the engine's one thread: every submit goes through it, batched;
- `health.py` is GET /health; `reads.py` is the read API's router.
"""
